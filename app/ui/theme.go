package ui

import (
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"
)

// assentTheme is Fyne's theme in the icon's blue, light or dark as the
// system is.
type assentTheme struct{ fyne.Theme }

func newTheme() fyne.Theme { return &assentTheme{Theme: theme.DefaultTheme()} }

var (
	blue      = color.NRGBA{0x2f, 0x6f, 0xed, 0xff}
	lightBlue = color.NRGBA{0x6e, 0x9b, 0xff, 0xff}
)

func (t *assentTheme) Color(n fyne.ThemeColorName, v fyne.ThemeVariant) color.Color {
	switch n {
	case theme.ColorNamePrimary, theme.ColorNameHyperlink:
		if v == theme.VariantDark {
			return lightBlue
		}
		return blue
	case theme.ColorNameSelection:
		return color.NRGBA{0x2f, 0x6f, 0xed, 0x40}
	case theme.ColorNameDisabled:
		// Secondary text (account names, states) uses it: the default is
		// too faint to read.
		return t.Theme.Color(theme.ColorNamePlaceHolder, v)
	}
	return t.Theme.Color(n, v)
}
