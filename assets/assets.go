// Package assets holds what Assent ships besides code — the icon now; web
// templates and CSS as the hosted pages arrive — embedded with go:embed so
// that every binary is self-contained.
package assets

import "embed"

// FS is every asset, by its file name.
//
//go:embed icon.svg icon.png
var FS embed.FS

// Icon is the app icon, 512×512 PNG (rendered from icon.svg with
// `rsvg-convert -w 512 -h 512 icon.svg -o icon.png`).
//
//go:embed icon.png
var Icon []byte
