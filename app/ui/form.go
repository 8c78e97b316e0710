package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// formDialog is a dialog with a form that stays open when what was typed
// is refused: each field shows its own problem under it (a problem about
// no one field shows above the buttons), and nothing typed is lost. Enter
// in a one-line field submits; Tab follows the fields in order, the
// Advanced ones only while they are shown.
type formDialog struct {
	win     fyne.Window
	d       *dialog.CustomDialog
	main    *fyne.Container
	adv     *fyne.Container
	advBtn  *widget.Button // shows and hides the Advanced fields
	rows    map[string]*formRow
	order   []string
	general *widget.Label
	note    fyne.CanvasObject // text above the fields
	submit  *widget.Button
	title   string
	// onSubmit checks and applies the form; it calls setError for what is
	// wrong, and the dialog closes only when it reports no error.
	onSubmit func(f *formDialog) bool
}

type formRow struct {
	label    *widget.Label
	err      *widget.Label
	box      *fyne.Container
	advanced bool
}

func newFormDialog(win fyne.Window, title, confirm string, onSubmit func(f *formDialog) bool) *formDialog {
	f := &formDialog{win: win, title: title, rows: map[string]*formRow{}, onSubmit: onSubmit}
	f.main = container.New(layout.NewFormLayout())
	f.general = widget.NewLabel("")
	f.general.Wrapping = fyne.TextWrapWord
	f.general.Importance = widget.DangerImportance
	f.general.Hide()
	f.submit = widget.NewButton(confirm, f.trySubmit)
	f.submit.Importance = widget.HighImportance
	return f
}

func errorLabel() *widget.Label {
	l := widget.NewLabel("")
	l.Wrapping = fyne.TextWrapWord
	l.Importance = widget.DangerImportance
	l.SizeName = theme.SizeNameCaptionText
	l.Hide()
	return l
}

// field adds a field; key names it for setError.
func (f *formDialog) field(key, label string, obj fyne.CanvasObject) *formRow {
	return f.add(f.main, key, label, obj)
}

// advancedField adds a field under the closed "Advanced" section.
func (f *formDialog) advancedField(key, label string, obj fyne.CanvasObject) *formRow {
	if f.adv == nil {
		f.adv = container.New(layout.NewFormLayout())
		f.adv.Hide()
		f.advBtn = widget.NewButtonWithIcon("Advanced", theme.MenuExpandIcon(), func() { f.showAdvanced(!f.adv.Visible()) })
		f.advBtn.Importance = widget.LowImportance
		f.advBtn.Alignment = widget.ButtonAlignLeading
	}
	r := f.add(f.adv, key, label, obj)
	r.advanced = true
	return r
}

func (f *formDialog) add(form *fyne.Container, key, label string, obj fyne.CanvasObject) *formRow {
	r := &formRow{err: errorLabel()}
	r.box = container.New(layout.NewCustomPaddedVBoxLayout(0), obj, r.err)
	r.label = widget.NewLabelWithStyle(label, fyne.TextAlignTrailing, fyne.TextStyle{Bold: true})
	form.Add(r.label)
	form.Add(r.box)
	f.rows[key] = r
	f.order = append(f.order, key)
	if e, ok := obj.(*widget.Entry); ok && !e.MultiLine {
		e.OnSubmitted = func(string) { f.trySubmit() }
	}
	return r
}

// showRow shows or hides a field with its label (Counter only for HOTP).
func (f *formDialog) showRow(key string, show bool) {
	r := f.rows[key]
	if r == nil {
		return
	}
	// The form layout leaves out a row whose label and field are hidden.
	if show {
		r.label.Show()
		r.box.Show()
	} else {
		r.label.Hide()
		r.box.Hide()
		r.err.Hide()
	}
	f.main.Refresh()
	if f.adv != nil {
		f.adv.Refresh()
	}
	f.relayout()
}

// setError shows msg under the field key ("" for a problem about no one
// field); an Advanced field's section opens so the problem is seen.
func (f *formDialog) setError(key, msg string) {
	r := f.rows[key]
	if r == nil {
		f.general.SetText(msg)
		f.general.Show()
		f.relayout()
		return
	}
	r.err.SetText(msg)
	r.err.Show()
	if r.advanced && !f.adv.Visible() {
		f.showAdvanced(true)
	}
	f.relayout()
}

// showAdvanced opens or closes the Advanced fields.
func (f *formDialog) showAdvanced(show bool) {
	if show {
		f.adv.Show()
		f.advBtn.SetIcon(theme.MenuDropDownIcon())
	} else {
		f.adv.Hide()
		f.advBtn.SetIcon(theme.MenuExpandIcon())
	}
	f.relayout()
}

// relayout fits the dialog to what it shows now (an error line, the
// Advanced fields): a dialog keeps its size by itself.
func (f *formDialog) relayout() {
	if f.d != nil {
		f.d.Resize(fyne.NewSize(0, 0)) // its minimum: what the content needs
	}
}

// errorText is the problem shown under a field ("" when none).
func (f *formDialog) errorText(key string) string {
	if r := f.rows[key]; r != nil && r.err.Visible() {
		return r.err.Text
	}
	if key == "" && f.general.Visible() {
		return f.general.Text
	}
	return ""
}

func (f *formDialog) clearErrors() {
	for _, r := range f.rows {
		r.err.SetText("")
		r.err.Hide()
	}
	f.general.SetText("")
	f.general.Hide()
	f.relayout()
}

func (f *formDialog) trySubmit() {
	f.clearErrors()
	if f.onSubmit(f) {
		f.d.Hide()
	}
}

// setNote puts text (and anything beside it, say a busy indicator) above
// the fields.
func (f *formDialog) setNote(text string, extra ...fyne.CanvasObject) {
	l := widget.NewLabel(text)
	l.Wrapping = fyne.TextWrapWord
	f.note = container.NewVBox(append([]fyne.CanvasObject{l}, extra...)...)
}

// show opens the dialog at width and focuses the first field.
func (f *formDialog) show(width float32) {
	var objs []fyne.CanvasObject
	if f.note != nil {
		objs = append(objs, f.note)
	}
	objs = append(objs, f.main)
	if f.adv != nil {
		objs = append(objs, f.advBtn, f.adv)
	}
	objs = append(objs, f.general)
	cancel := widget.NewButton("Cancel", func() { f.d.Hide() })
	f.d = dialog.NewCustomWithoutButtons(f.title, fixedWidth(width, objs...), f.win)
	f.d.SetButtons([]fyne.CanvasObject{cancel, f.submit})
	f.d.Show()
	for _, k := range f.order {
		if e, ok := f.rows[k].box.Objects[0].(*widget.Entry); ok {
			f.win.Canvas().Focus(e)
			break
		}
	}
}
