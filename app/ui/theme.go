package ui

import (
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"
)

// assentTheme is Fyne's theme in the icon's blue, light or dark as the
// system is, with every colour text is drawn in readable on every
// background it is drawn on (WCAG AA, 4.5:1; theme_test.go checks it).
type assentTheme struct{ fyne.Theme }

func newTheme() fyne.Theme { return &assentTheme{Theme: theme.DefaultTheme()} }

var (
	blue      = color.NRGBA{0x25, 0x63, 0xd9, 0xff}
	lightBlue = color.NRGBA{0x6e, 0x9b, 0xff, 0xff}
)

// textColors are the theme's text colours, light and dark. Fyne's own
// orange, red and green are bright signal colours that read at 1.6 to
// 3.7:1 on white; these are darker in the light variant and lighter in
// the dark one. On a coloured button (Danger, Warning, Success, High)
// the text is white in the light variant and near-black in the dark one.
var textColors = map[fyne.ThemeVariant]map[fyne.ThemeColorName]color.NRGBA{
	theme.VariantLight: {
		theme.ColorNameForeground:          {0x3d, 0x3d, 0x3d, 0xff},
		theme.ColorNamePlaceHolder:         {0x69, 0x69, 0x69, 0xff},
		theme.ColorNamePrimary:             blue,
		theme.ColorNameHyperlink:           blue,
		theme.ColorNameError:               {0xc6, 0x28, 0x28, 0xff},
		theme.ColorNameWarning:             {0x95, 0x52, 0x00, 0xff},
		theme.ColorNameSuccess:             {0x1b, 0x74, 0x31, 0xff},
		theme.ColorNameForegroundOnPrimary: {0xff, 0xff, 0xff, 0xff},
		theme.ColorNameForegroundOnError:   {0xff, 0xff, 0xff, 0xff},
		theme.ColorNameForegroundOnWarning: {0xff, 0xff, 0xff, 0xff},
		theme.ColorNameForegroundOnSuccess: {0xff, 0xff, 0xff, 0xff},
	},
	theme.VariantDark: {
		theme.ColorNameForeground:          {0xf3, 0xf3, 0xf3, 0xff},
		theme.ColorNamePlaceHolder:         {0xb2, 0xb2, 0xb2, 0xff},
		theme.ColorNamePrimary:             lightBlue,
		theme.ColorNameHyperlink:           lightBlue,
		theme.ColorNameError:               {0xff, 0x7b, 0x72, 0xff},
		theme.ColorNameWarning:             {0xff, 0xb0, 0x40, 0xff},
		theme.ColorNameSuccess:             {0x5c, 0xd6, 0x6e, 0xff},
		theme.ColorNameForegroundOnPrimary: {0x17, 0x17, 0x18, 0xff},
		theme.ColorNameForegroundOnError:   {0x17, 0x17, 0x18, 0xff},
		theme.ColorNameForegroundOnWarning: {0x17, 0x17, 0x18, 0xff},
		theme.ColorNameForegroundOnSuccess: {0x17, 0x17, 0x18, 0xff},
	},
}

func (t *assentTheme) Color(n fyne.ThemeColorName, v fyne.ThemeVariant) color.Color {
	if v != theme.VariantDark {
		v = theme.VariantLight
	}
	switch n {
	case theme.ColorNameSelection:
		return color.NRGBA{0x2f, 0x6f, 0xed, 0x40}
	case theme.ColorNameDisabled:
		// Secondary text (account names, states) uses it: the default is
		// too faint to read.
		n = theme.ColorNamePlaceHolder
	}
	if c, ok := textColors[v][n]; ok {
		return c
	}
	return t.Theme.Color(n, v)
}
