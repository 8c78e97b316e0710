package ui

import (
	"hash/fnv"
	"image/color"
	"strings"
	"unicode"
	"unicode/utf8"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// tapArea is a card that reacts to a tap (and a right click) anywhere on
// it, with a hover highlight: an account row, a prompt's number.
type tapArea struct {
	widget.BaseWidget
	content     fyne.CanvasObject
	bg          *canvas.Rectangle
	onTap       func()
	onSecondary func(*fyne.PointEvent)
	fill        color.Color
	hover       color.Color
	disabled    bool
}

func newTapArea(content fyne.CanvasObject, fill, hover color.Color, radius float32, onTap func()) *tapArea {
	t := &tapArea{content: content, onTap: onTap, fill: fill, hover: hover}
	t.bg = canvas.NewRectangle(fill)
	t.bg.CornerRadius = radius
	t.ExtendBaseWidget(t)
	return t
}

func (t *tapArea) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(container.NewStack(t.bg, t.content))
}

func (t *tapArea) Tapped(*fyne.PointEvent) {
	if t.onTap != nil && !t.disabled {
		t.onTap()
	}
}

func (t *tapArea) TappedSecondary(ev *fyne.PointEvent) {
	if t.onSecondary != nil && !t.disabled {
		t.onSecondary(ev)
	}
}

func (t *tapArea) MouseIn(*desktop.MouseEvent) {
	if !t.disabled {
		t.bg.FillColor = t.hover
		t.bg.Refresh()
	}
}

func (t *tapArea) MouseMoved(*desktop.MouseEvent) {}

func (t *tapArea) MouseOut() {
	t.bg.FillColor = t.fill
	t.bg.Refresh()
}

func (t *tapArea) Cursor() desktop.Cursor {
	if t.disabled {
		return desktop.DefaultCursor
	}
	return desktop.PointerCursor
}

func (t *tapArea) setDisabled(d bool) {
	t.disabled = d
	if d {
		t.bg.FillColor = t.fill
	}
	t.bg.Refresh()
}

// avatar is a coloured disc with the issuer's initial, as in Aegis.
func avatar(name string, size float32) fyne.CanvasObject {
	disc := canvas.NewCircle(colorFor(name))
	r, _ := utf8.DecodeRuneInString(strings.TrimSpace(name))
	if r == utf8.RuneError {
		r = '?'
	}
	letter := canvas.NewText(string(unicode.ToUpper(r)), color.White)
	letter.TextStyle = fyne.TextStyle{Bold: true}
	letter.TextSize = size * 0.45
	letter.Alignment = fyne.TextAlignCenter
	return container.NewGridWrap(fyne.NewSize(size, size), container.NewStack(disc, container.NewCenter(letter)))
}

// palette holds calm, readable colours for avatars.
var palette = []color.NRGBA{
	{0x2f, 0x6f, 0xed, 0xff}, {0x0f, 0x9d, 0x58, 0xff}, {0xdb, 0x44, 0x37, 0xff}, {0xf4, 0x8f, 0x00, 0xff},
	{0x8e, 0x44, 0xad, 0xff}, {0x00, 0x89, 0x7b, 0xff}, {0xc2, 0x18, 0x5b, 0xff}, {0x5d, 0x6d, 0x7e, 0xff},
}

func colorFor(name string) color.Color {
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(name)))
	return palette[h.Sum32()%uint32(len(palette))]
}

// ring is a TOTP countdown: a shrinking ring with the seconds left.
type ring struct {
	arc  *canvas.Arc
	text *canvas.Text
	obj  fyne.CanvasObject
}

func newRing(size float32) *ring {
	track := canvas.NewArc(0, 360, 0.72, theme.Color(theme.ColorNameSeparator))
	r := &ring{arc: canvas.NewArc(0, 360, 0.72, theme.Color(theme.ColorNamePrimary))}
	r.text = canvas.NewText("", theme.Color(theme.ColorNameForeground))
	r.text.TextSize = 12
	r.text.TextStyle = fyne.TextStyle{Bold: true}
	r.text.Alignment = fyne.TextAlignCenter
	r.obj = container.NewGridWrap(fyne.NewSize(size, size), container.NewStack(track, r.arc, container.NewCenter(r.text)))
	return r
}

// set shows remaining seconds of a period.
func (r *ring) set(remaining, period int) {
	if period <= 0 {
		period = 30
	}
	r.arc.EndAngle = 360 * float32(remaining) / float32(period)
	c := theme.Color(theme.ColorNamePrimary)
	if remaining <= 5 {
		c = theme.Color(theme.ColorNameError)
	}
	r.arc.FillColor = c
	r.text.Text = itoa(remaining)
	r.arc.Refresh()
	r.text.Refresh()
}

// bigText is a canvas text of a given size and style.
func bigText(s string, size float32, bold bool, c color.Color) *canvas.Text {
	t := canvas.NewText(s, c)
	t.TextSize = size
	t.TextStyle = fyne.TextStyle{Bold: bold}
	return t
}

// secondary is a small dim label.
func secondary(s string) *widget.Label {
	l := widget.NewLabel(s)
	l.Importance = widget.LowImportance
	l.SizeName = theme.SizeNameCaptionText
	l.Truncation = fyne.TextTruncateEllipsis
	return l
}

// heading is a bold label.
func heading(s string) *widget.Label {
	l := widget.NewLabelWithStyle(s, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	l.Truncation = fyne.TextTruncateEllipsis
	return l
}

// wrapped is a label that wraps.
func wrapped(s string) *widget.Label {
	l := widget.NewLabel(s)
	l.Wrapping = fyne.TextWrapWord
	return l
}

// showMessage shows a titled message that wraps, with an OK button.
func showMessage(w fyne.Window, title, msg string) {
	dialog.NewCustom(title, "OK", fixedWidth(340, wrapped(msg)), w).Show()
}

// fixedWidth lays out objects one under the other at a set width, so that
// wrapping text wraps there instead of squeezing to one word a line.
func fixedWidth(width float32, objs ...fyne.CanvasObject) *fyne.Container {
	return container.New(&widthLayout{width: width}, objs...)
}

type widthLayout struct{ width float32 }

func (l *widthLayout) MinSize(objs []fyne.CanvasObject) fyne.Size {
	h := float32(0)
	for i, o := range objs {
		if !o.Visible() {
			continue
		}
		o.Resize(fyne.NewSize(l.width, o.MinSize().Height))
		h += o.MinSize().Height
		if i > 0 {
			h += theme.Padding()
		}
	}
	return fyne.NewSize(l.width, h)
}

func (l *widthLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	y := float32(0)
	for _, o := range objs {
		if !o.Visible() {
			continue
		}
		o.Resize(fyne.NewSize(size.Width, o.MinSize().Height))
		h := o.MinSize().Height
		o.Move(fyne.NewPos(0, y))
		o.Resize(fyne.NewSize(size.Width, h))
		y += h + theme.Padding()
	}
}

// padded puts space around content.
func padded(content fyne.CanvasObject, pad float32) fyne.CanvasObject {
	return container.New(layout.NewCustomPaddedLayout(pad, pad, pad, pad), content)
}

func itoa(n int) string {
	if n < 0 {
		return "-" + itoa(-n)
	}
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// groupCode splits a code for reading: 123 456, 1234 5678.
func groupCode(code string) string {
	switch len(code) {
	case 6:
		return code[:3] + " " + code[3:]
	case 8:
		return code[:4] + " " + code[4:]
	}
	return code
}

// thinBar is a slim progress bar for a countdown.
type thinBar struct {
	track, fill *canvas.Rectangle
	value       float64
	obj         *fyne.Container
}

func newThinBar() *thinBar {
	b := &thinBar{track: canvas.NewRectangle(theme.Color(theme.ColorNameInputBackground)), fill: canvas.NewRectangle(theme.Color(theme.ColorNamePrimary))}
	b.track.CornerRadius, b.fill.CornerRadius = 3, 3
	b.obj = container.New(&barLayout{b: b}, b.track, b.fill)
	return b
}

func (b *thinBar) set(v float64, urgent bool) {
	b.value = max(0, min(1, v))
	c := theme.Color(theme.ColorNamePrimary)
	if urgent {
		c = theme.Color(theme.ColorNameError)
	}
	b.fill.FillColor = c
	b.obj.Refresh()
	b.fill.Refresh()
}

type barLayout struct{ b *thinBar }

func (l *barLayout) MinSize([]fyne.CanvasObject) fyne.Size { return fyne.NewSize(40, 6) }

func (l *barLayout) Layout(_ []fyne.CanvasObject, size fyne.Size) {
	y := (size.Height - 6) / 2
	l.b.track.Move(fyne.NewPos(0, y))
	l.b.track.Resize(fyne.NewSize(size.Width, 6))
	l.b.fill.Move(fyne.NewPos(0, y))
	l.b.fill.Resize(fyne.NewSize(size.Width*float32(l.b.value), 6))
}
