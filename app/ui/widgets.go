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

	"github.com/seed-3a5b824e/assent/app/core"
)

// tapArea is a card that reacts to a tap (and a right click) anywhere on
// it, with a hover highlight: an account row, a prompt's number. Its
// colours are theme colour names, looked up when it is drawn, so that it
// follows a change between light and dark.
type tapArea struct {
	widget.BaseWidget
	content     fyne.CanvasObject
	bg          *canvas.Rectangle
	onTap       func()
	onSecondary func(*fyne.PointEvent)
	fill        fyne.ThemeColorName
	hover       fyne.ThemeColorName
	hovered     bool
	disabled    bool
}

func newTapArea(content fyne.CanvasObject, fill, hover fyne.ThemeColorName, radius float32, onTap func()) *tapArea {
	t := &tapArea{content: content, onTap: onTap, fill: fill, hover: hover}
	t.bg = canvas.NewRectangle(theme.Color(fill))
	t.bg.CornerRadius = radius
	t.ExtendBaseWidget(t)
	return t
}

func (t *tapArea) CreateRenderer() fyne.WidgetRenderer {
	return &tapAreaRenderer{t: t, stack: container.NewStack(t.bg, t.content)}
}

type tapAreaRenderer struct {
	t     *tapArea
	stack *fyne.Container
}

func (r *tapAreaRenderer) Destroy()                     {}
func (r *tapAreaRenderer) Layout(s fyne.Size)           { r.stack.Resize(s) }
func (r *tapAreaRenderer) MinSize() fyne.Size           { return r.stack.MinSize() }
func (r *tapAreaRenderer) Objects() []fyne.CanvasObject { return []fyne.CanvasObject{r.stack} }
func (r *tapAreaRenderer) Refresh() {
	r.t.paint()
	r.stack.Refresh()
}

// paint colours the card for its state in the theme's current variant.
func (t *tapArea) paint() {
	name := t.fill
	if t.hovered && !t.disabled {
		name = t.hover
	}
	t.bg.FillColor = theme.Color(name)
	t.bg.Refresh()
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
	t.hovered = true
	t.paint()
}

func (t *tapArea) MouseMoved(*desktop.MouseEvent) {}

func (t *tapArea) MouseOut() {
	t.hovered = false
	t.paint()
}

func (t *tapArea) Cursor() desktop.Cursor {
	if t.disabled {
		return desktop.DefaultCursor
	}
	return desktop.PointerCursor
}

func (t *tapArea) setDisabled(d bool) {
	t.disabled = d
	t.paint()
}

// tinted keeps a canvas object (a text, a rectangle, a disc) in a theme
// colour. The colour is looked up again each time it is refreshed — Fyne
// refreshes every widget when the theme or its light/dark variant
// changes — rather than once when it is built: the phone build learns the
// system's variant only with its first frame, after the views are built,
// and a colour taken before that is the other variant's ("Assent" drawn
// near-white on a white page).
type tinted struct {
	widget.BaseWidget
	obj   fyne.CanvasObject
	name  fyne.ThemeColorName
	apply func(color.Color)
}

func newTinted(obj fyne.CanvasObject, name fyne.ThemeColorName, apply func(color.Color)) *tinted {
	t := &tinted{obj: obj, name: name, apply: apply}
	apply(theme.Color(name))
	t.ExtendBaseWidget(t)
	return t
}

// tintText keeps a text in a theme colour.
func tintText(txt *canvas.Text, name fyne.ThemeColorName) *tinted {
	return newTinted(txt, name, func(c color.Color) { txt.Color = c })
}

// tintRect keeps a rectangle's fill in a theme colour.
func tintRect(r *canvas.Rectangle, name fyne.ThemeColorName) *tinted {
	return newTinted(r, name, func(c color.Color) { r.FillColor = c })
}

// tintCircle keeps a disc's fill in a theme colour.
func tintCircle(d *canvas.Circle, name fyne.ThemeColorName) *tinted {
	return newTinted(d, name, func(c color.Color) { d.FillColor = c })
}

// card is a rounded rectangle in the theme's input background, the
// background of the detail cards.
func card(radius float32) *tinted {
	r := canvas.NewRectangle(color.Transparent)
	r.CornerRadius = radius
	return tintRect(r, theme.ColorNameInputBackground)
}

// setColor changes the colour, by name.
func (t *tinted) setColor(name fyne.ThemeColorName) {
	if t.name != name {
		t.name = name
		t.Refresh()
	}
}

func (t *tinted) CreateRenderer() fyne.WidgetRenderer { return &tintedRenderer{t: t} }

type tintedRenderer struct{ t *tinted }

func (r *tintedRenderer) Destroy() {}
func (r *tintedRenderer) Layout(s fyne.Size) {
	r.t.obj.Move(fyne.NewPos(0, 0))
	r.t.obj.Resize(s)
}
func (r *tintedRenderer) MinSize() fyne.Size {
	if !r.t.obj.Visible() {
		return fyne.Size{}
	}
	return r.t.obj.MinSize()
}
func (r *tintedRenderer) Objects() []fyne.CanvasObject { return []fyne.CanvasObject{r.t.obj} }
func (r *tintedRenderer) Refresh() {
	r.t.apply(theme.Color(r.t.name))
	r.t.obj.Refresh()
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
	// the track, the arc and the seconds in theme colours (see tinted)
	track, fill, digits *tinted
}

func newRing(size float32) *ring {
	track := canvas.NewArc(0, 360, 0.72, color.Transparent)
	r := &ring{arc: canvas.NewArc(0, 360, 0.72, color.Transparent), text: canvas.NewText("", color.Transparent)}
	r.track = newTinted(track, theme.ColorNameSeparator, func(c color.Color) { track.FillColor = c })
	r.fill = newTinted(r.arc, theme.ColorNamePrimary, func(c color.Color) { r.arc.FillColor = c })
	r.digits = tintText(r.text, theme.ColorNameForeground)
	r.text.TextSize = 12
	r.text.TextStyle = fyne.TextStyle{Bold: true}
	r.text.Alignment = fyne.TextAlignCenter
	r.obj = container.NewGridWrap(fyne.NewSize(size, size), container.NewStack(r.track, r.fill, container.NewCenter(r.digits)))
	return r
}

// set shows remaining seconds of a period.
func (r *ring) set(remaining, period int) {
	if period <= 0 {
		period = 30
	}
	r.arc.EndAngle = 360 * float32(remaining) / float32(period)
	name := theme.ColorNamePrimary
	if remaining <= 5 {
		name = theme.ColorNameError
	}
	r.fill.name = name
	r.text.Text = itoa(remaining)
	r.fill.Refresh()
	r.digits.Refresh()
}

// bigText is a text of a given size and style in a theme colour: the
// canvas text to change, and the object to put on screen (see tinted).
func bigText(s string, size float32, bold bool, name fyne.ThemeColorName) (*canvas.Text, *tinted) {
	t := canvas.NewText(s, color.Transparent)
	t.TextSize = size
	t.TextStyle = fyne.TextStyle{Bold: bold}
	return t, tintText(t, name)
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

// groupCode spaces a code for reading, as core.GroupCode does: 123 456,
// 1234 5678, 123 4567, 123 456 789, 123 456 7890; a Steam code (five
// letters and digits) whole.
func groupCode(code string) string { return core.GroupCode(code) }

// thinBar is a slim progress bar for a countdown.
type thinBar struct {
	track, fill *canvas.Rectangle
	value       float64
	obj         *fyne.Container
	// the track and the bar in theme colours (see tinted)
	trackTint, fillTint *tinted
}

func newThinBar() *thinBar {
	b := &thinBar{track: canvas.NewRectangle(color.Transparent), fill: canvas.NewRectangle(color.Transparent)}
	b.track.CornerRadius, b.fill.CornerRadius = 3, 3
	b.trackTint = tintRect(b.track, theme.ColorNameInputBackground)
	b.fillTint = tintRect(b.fill, theme.ColorNamePrimary)
	b.obj = container.New(&barLayout{b: b}, b.trackTint, b.fillTint)
	return b
}

func (b *thinBar) set(v float64, urgent bool) {
	b.value = max(0, min(1, v))
	name := theme.ColorNamePrimary
	if urgent {
		name = theme.ColorNameError
	}
	b.fillTint.name = name
	b.obj.Refresh()
	b.fillTint.Refresh()
}

type barLayout struct{ b *thinBar }

func (l *barLayout) MinSize([]fyne.CanvasObject) fyne.Size { return fyne.NewSize(40, 6) }

func (l *barLayout) Layout(_ []fyne.CanvasObject, size fyne.Size) {
	y := (size.Height - 6) / 2
	l.b.trackTint.Move(fyne.NewPos(0, y))
	l.b.trackTint.Resize(fyne.NewSize(size.Width, 6))
	l.b.fillTint.Move(fyne.NewPos(0, y))
	l.b.fillTint.Resize(fyne.NewSize(size.Width*float32(l.b.value), 6))
}
