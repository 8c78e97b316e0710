package ui

import (
	"fmt"
	"image/color"
	"math"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"
)

// relativeLuminance is WCAG 2's relative luminance of an opaque colour.
func relativeLuminance(c color.Color) float64 {
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	lin := func(v uint8) float64 {
		s := float64(v) / 255
		if s <= 0.04045 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(n.R) + 0.7152*lin(n.G) + 0.0722*lin(n.B)
}

// contrastRatio is WCAG 2's contrast ratio of two opaque colours, 1 to 21.
func contrastRatio(a, b color.Color) float64 {
	la, lb := relativeLuminance(a), relativeLuminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

func TestContrastRatioMatchesWCAGExamples(t *testing.T) {
	black, white := color.NRGBA{0, 0, 0, 0xff}, color.NRGBA{0xff, 0xff, 0xff, 0xff}
	for _, c := range []struct {
		a, b color.Color
		want float64
	}{
		{black, white, 21},
		{white, white, 1},
		{color.NRGBA{0x76, 0x76, 0x76, 0xff}, white, 4.54}, // the lightest grey that passes AA on white
		{color.NRGBA{0xff, 0x98, 0x00, 0xff}, white, 2.16}, // Fyne's orange warning
	} {
		if got := contrastRatio(c.a, c.b); math.Abs(got-c.want) > 0.01 {
			t.Errorf("contrast(%v, %v) = %.3f, want %.2f", c.a, c.b, got, c.want)
		}
	}
}

// Every colour the theme draws text in is read at 4.5:1 or better on every
// background that text is drawn on, in the light and the dark variant.
func TestEveryThemeTextColourMeetsWCAGAA(t *testing.T) {
	test.NewTempApp(t) // Fyne's theme looks its primary colour up in the app
	th := newTheme()
	onSurfaces := []fyne.ThemeColorName{
		theme.ColorNameForeground, theme.ColorNamePlaceHolder, theme.ColorNameDisabled,
		theme.ColorNamePrimary, theme.ColorNameHyperlink,
		theme.ColorNameError, theme.ColorNameWarning, theme.ColorNameSuccess,
	}
	surfaces := []fyne.ThemeColorName{
		theme.ColorNameBackground, theme.ColorNameInputBackground, theme.ColorNameOverlayBackground,
		theme.ColorNameMenuBackground, theme.ColorNameHeaderBackground, theme.ColorNameButton,
	}
	// Text on a coloured button: the label's colour on the button's.
	onColours := map[fyne.ThemeColorName]fyne.ThemeColorName{
		theme.ColorNameForegroundOnPrimary: theme.ColorNamePrimary,
		theme.ColorNameForegroundOnError:   theme.ColorNameError,
		theme.ColorNameForegroundOnWarning: theme.ColorNameWarning,
		theme.ColorNameForegroundOnSuccess: theme.ColorNameSuccess,
	}
	// A disabled button's label is exempt from the rule (WCAG 1.4.3), but
	// it is checked against its own background too, as it is the
	// secondary text's colour.
	const aa = 4.5
	checked := 0
	for _, v := range []fyne.ThemeVariant{theme.VariantLight, theme.VariantDark} {
		name := map[fyne.ThemeVariant]string{theme.VariantLight: "light", theme.VariantDark: "dark"}[v]
		check := func(text, bg fyne.ThemeColorName) {
			t.Helper()
			fg, back := th.Color(text, v), th.Color(bg, v)
			if _, _, _, a := back.RGBA(); a != 0xffff {
				t.Fatalf("%s: background %s is not opaque", name, bg)
			}
			checked++
			if r := contrastRatio(fg, back); r < aa {
				t.Errorf("%s: %s text %s on %s %s is %.2f:1, want at least %.1f:1", name, text, hex(fg), bg, hex(back), r, aa)
			}
		}
		for _, text := range onSurfaces {
			for _, bg := range surfaces {
				check(text, bg)
			}
		}
		for text, bg := range onColours {
			check(text, bg)
		}
		check(theme.ColorNameDisabled, theme.ColorNameDisabledButton)
	}
	if checked != 2*(len(onSurfaces)*len(surfaces)+len(onColours)+1) {
		t.Fatalf("checked %d pairs", checked)
	}
}

func hex(c color.Color) string {
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	return fmt.Sprintf("#%02x%02x%02x", n.R, n.G, n.B)
}
