// Package assets holds what Assent ships besides code — the icon, and the
// hosted pages' templates, stylesheet and script under web/ — embedded
// with go:embed so that every binary is self-contained.
package assets

import "embed"

// FS is every asset, by its file name; web/*.html are the hosted pages'
// templates, web/style.css their one stylesheet, and web/*.js their scripts
// (app.js on every page, the others only on the pages that use them).
//
//go:embed icon.svg icon.png web/*.html web/style.css web/*.js
var FS embed.FS

// Icon is the app icon, 512×512 PNG (rendered from icon.svg with
// `rsvg-convert -w 512 -h 512 icon.svg -o icon.png`).
//
//go:embed icon.png
var Icon []byte
