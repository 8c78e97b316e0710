package ui

import (
	"context"
	"errors"
	"fmt"
	"image/color"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/push"
)

// accountRow is one account in the list: who it is for, its code and the
// countdown, tap to copy, and a menu to rename, move or delete it.
type accountRow struct {
	a    core.Account
	area *tapArea
	code *canvas.Text
	// codeBox draws code in the theme's colour
	codeBox *tinted
	ring    *ring
	push    *widget.Label // the push channel of an Assent account
	shown   string        // an HOTP code, once revealed
	step    int64
	// right holds the countdown (or HOTP's next button); remove is offered
	// instead once the server revoked the account.
	right  fyne.CanvasObject
	remove *widget.Button
	gone   *widget.Label // "Removed by your administrator", in the code's place
}

func (u *UI) buildAccountsView() {
	_, title := bigText("Assent", 20, true, theme.ColorNameForeground)
	logo := canvas.NewImageFromResource(appIcon)
	logo.FillMode = canvas.ImageFillContain
	logo.SetMinSize(fyne.NewSize(28, 28))
	add := widget.NewButtonWithIcon("Add", theme.ContentAddIcon(), func() { u.touch(); u.showAddDialog() })
	add.Importance = widget.HighImportance
	var more *widget.Button
	more = widget.NewButtonWithIcon("", theme.MoreVerticalIcon(), func() {
		u.touch()
		widget.ShowPopUpMenuAtRelativePosition(u.mainMenu(), u.win.Canvas(), fyne.NewPos(0, more.Size().Height), more)
	})
	more.Importance = widget.LowImportance
	top := container.NewBorder(nil, nil, container.NewHBox(logo, container.NewCenter(title)), container.NewHBox(add, more))

	u.search = widget.NewEntry()
	u.search.SetPlaceHolder("Search accounts")
	u.search.ActionItem = widget.NewIcon(theme.SearchIcon())
	u.search.OnChanged = func(q string) {
		u.touch()
		u.query = strings.TrimSpace(q)
		u.filterRows()
	}

	u.status = container.NewVBox()
	u.notice = container.NewVBox()
	u.list = container.NewVBox()
	u.empty = u.emptyState()
	u.toast = widget.NewLabel("")
	u.toast.Wrapping = fyne.TextWrapWord
	u.toast.Importance = widget.SuccessImportance
	u.toastIcon = widget.NewIcon(toastDoneIcon())
	u.toastBox = container.New(layout.NewCustomPaddedLayout(0, 4, 12, 12),
		container.NewBorder(nil, nil, container.NewCenter(u.toastIcon), nil, u.toast))
	u.toastBox.Hide()

	header := container.New(layout.NewCustomPaddedVBoxLayout(8), top, u.notice, u.search, u.status)
	body := container.NewVScroll(container.NewStack(u.list, u.empty))
	u.accountsUI = container.NewBorder(padded(header, 12), u.toastBox, nil, nil, container.New(layout.NewCustomPaddedLayout(0, 8, 12, 12), body))
}

func (u *UI) emptyState() fyne.CanvasObject {
	logo := canvas.NewImageFromResource(appIcon)
	logo.FillMode = canvas.ImageFillContain
	logo.SetMinSize(fyne.NewSize(96, 96))
	add := widget.NewButtonWithIcon("Add an account", theme.ContentAddIcon(), func() { u.touch(); u.showAddDialog() })
	add.Importance = widget.HighImportance
	msg := widget.NewLabel("Scan your organisation's enrollment QR code, or add any site's two-factor code. Import from Google Authenticator or Aegis too.")
	msg.Wrapping = fyne.TextWrapWord
	msg.Alignment = fyne.TextAlignCenter
	title := widget.NewLabelWithStyle("No accounts yet", fyne.TextAlignCenter, fyne.TextStyle{Bold: true})
	return container.NewVBox(layout.NewSpacer(), container.NewCenter(logo), title, msg, container.NewCenter(add), layout.NewSpacer())
}

// rebuildRows makes a row for every account.
func (u *UI) rebuildRows() {
	// A revealed HOTP code stays revealed: revealing it moved the counter,
	// which is what changed the list.
	shown := map[string]string{}
	for _, r := range u.rows {
		shown[r.a.ID] = r.shown
	}
	u.rows = u.rows[:0]
	var objs []fyne.CanvasObject
	for _, a := range u.accounts {
		r := u.newRow(a)
		r.shown = shown[a.ID]
		u.rows = append(u.rows, r)
		objs = append(objs, r.area)
	}
	u.list.Objects = objs
	u.filterRows()
	u.refreshCodes(u.opts.Now())
	u.renderStatus()
}

func (u *UI) newRow(a core.Account) *accountRow {
	r := &accountRow{a: a, step: -1}
	issuer := a.Issuer
	if issuer == "" {
		issuer = a.Name
	}
	name := a.Name
	if a.Kind == core.KindAssent {
		r.push = secondary("")
	}
	r.code, r.codeBox = bigText("", 28, true, theme.ColorNamePrimary)
	r.code.TextStyle.Monospace = true
	var right fyne.CanvasObject
	if a.Kind == core.KindHOTP {
		next := widget.NewButtonWithIcon("", theme.ViewRefreshIcon(), func() { u.touch(); u.copyCode(r) })
		next.Importance = widget.LowImportance
		right = next
	} else {
		r.ring = newRing(34)
		right = container.NewCenter(r.ring.obj)
	}
	r.right = right
	r.remove = widget.NewButtonWithIcon("Remove", theme.DeleteIcon(), func() { u.touch(); u.remove(r.a, false) })
	r.remove.Importance = widget.DangerImportance
	r.remove.Hide()
	var more *widget.Button
	more = widget.NewButtonWithIcon("", theme.MoreHorizontalIcon(), func() {
		u.touch()
		widget.ShowPopUpMenuAtRelativePosition(u.rowMenu(r), u.win.Canvas(), fyne.NewPos(0, more.Size().Height), more)
	})
	more.Importance = widget.LowImportance

	texts := container.New(layout.NewCustomPaddedVBoxLayout(0), heading(issuer))
	if r.push != nil {
		texts.Add(r.push) // "name · push: connected"
	} else if a.Issuer != "" {
		texts.Add(secondary(name)) // without an issuer the heading is the name already
	}
	// Labels pad their text; the code lines up with them.
	texts.Add(container.New(layout.NewCustomPaddedLayout(0, 0, theme.InnerPadding(), 0), r.codeBox))
	r.gone = widget.NewLabelWithStyle(revokedText, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	r.gone.Importance = widget.DangerImportance
	r.gone.Wrapping = fyne.TextWrapWord
	r.gone.Hide()
	texts.Add(r.gone)
	content := container.NewBorder(nil, nil,
		container.NewCenter(avatar(issuer, 40)),
		container.NewHBox(right, container.NewCenter(r.remove), container.NewCenter(more)),
		texts)
	r.area = newTapArea(padded(content, 6),
		theme.ColorNameInputBackground, theme.ColorNameHover, 10,
		func() { u.touch(); u.copyCode(r) })
	r.area.onSecondary = func(ev *fyne.PointEvent) {
		widget.ShowPopUpMenuAtPosition(u.rowMenu(r), u.win.Canvas(), ev.AbsolutePosition)
	}
	return r
}

// refreshCodes redraws every code and countdown for now.
func (u *UI) refreshCodes(now time.Time) {
	for _, r := range u.rows {
		if u.showRevoked(r) {
			continue
		}
		if r.a.Kind == core.KindHOTP {
			if r.shown != "" {
				r.code.Text = groupCode(r.shown)
			} else {
				r.code.Text = strings.Repeat("•", 3) + " " + strings.Repeat("•", 3)
			}
			r.code.Refresh()
			continue
		}
		code, err := core.TOTPCode(r.a, now)
		if err != nil {
			r.code.Text = "—"
			r.code.Refresh()
			continue
		}
		secs := int((code.Remaining + time.Second - 1) / time.Second)
		if txt := groupCode(code.Code); r.code.Text != txt {
			r.code.Text = txt
			r.code.Refresh()
		}
		r.ring.set(secs, r.a.Period)
		if r.push != nil {
			r.push.SetText(u.pushText(r.a))
		}
	}
}

func (u *UI) pushText(a core.Account) string {
	st := u.states[a.ID]
	if st == nil {
		return a.Name + " · push: starting"
	}
	return a.Name + " · push: " + string(st.state)
}

// revokedText is what a revoked account's card says.
const revokedText = "Removed by your administrator"

// revoked says whether an account's server removed this device: its own
// channel was refused with device_revoked, or the vault remembers that it
// was and no connection has worked since.
func (u *UI) revoked(a core.Account) bool {
	if a.Kind != core.KindAssent {
		return false
	}
	if st := u.states[a.ID]; st != nil {
		if st.state == push.StateConnected {
			return false
		}
		if core.IsRevoked(st.err) {
			return true
		}
	}
	return a.Revoked()
}

// showRevoked shows a row as revoked (no code, Remove offered) or as live,
// and says which.
func (u *UI) showRevoked(r *accountRow) bool {
	if r.push == nil {
		return false
	}
	if !u.revoked(r.a) {
		if r.remove.Visible() {
			r.remove.Hide()
			r.gone.Hide()
			r.right.Show()
			r.code.Show()
			r.codeBox.Show()
			r.code.Text = ""
		}
		return false
	}
	r.code.Text = ""
	r.code.Hide()
	r.codeBox.Hide()
	r.right.Hide()
	r.remove.Show()
	r.gone.Show()
	r.push.SetText(r.a.Name)
	return true
}

// filterRows shows the rows whose issuer or name matches the search.
func (u *UI) filterRows() {
	q := strings.ToLower(u.query)
	shown := 0
	for _, r := range u.rows {
		if q == "" || strings.Contains(strings.ToLower(r.a.Issuer+" "+r.a.Name), q) {
			r.area.Show()
			shown++
		} else {
			r.area.Hide()
		}
	}
	if len(u.rows) == 0 {
		u.empty.Show()
	} else {
		u.empty.Hide()
	}
	if shown == 0 && len(u.rows) > 0 {
		u.list.Objects = append(slices.DeleteFunc(u.list.Objects, isNoMatch), noMatch(u.query))
	} else {
		u.list.Objects = slices.DeleteFunc(u.list.Objects, isNoMatch)
	}
	u.list.Refresh()
}

type noMatchLabel struct{ widget.Label }

func noMatch(q string) fyne.CanvasObject {
	l := &noMatchLabel{}
	l.Text = fmt.Sprintf("No account matches “%s”.", q)
	l.Alignment = fyne.TextAlignCenter
	l.ExtendBaseWidget(l)
	return l
}

func isNoMatch(o fyne.CanvasObject) bool { _, ok := o.(*noMatchLabel); return ok }

// copyCode puts an account's code on the clipboard and clears it after
// ClipboardClearAfter, unless something else was copied meanwhile. An
// HOTP account's next code is revealed (which moves its counter on).
func (u *UI) copyCode(r *accountRow) {
	if u.guard.Locked() {
		u.render()
		return
	}
	if u.revoked(r.a) {
		u.showWarning(fmt.Sprintf("%s removed this device from %s: it has no codes any more. Remove it, or enroll again.", orName(r.a.Issuer, hostOf(r.a.Server)), r.a.Name))
		return
	}
	var code string
	if r.a.Kind == core.KindHOTP {
		c, err := u.core.Code(r.a.ID)
		if err != nil {
			u.showError("No code", err)
			return
		}
		code = c.Code
		r.shown = code
		r.a = c.Account
	} else {
		c, err := core.TOTPCode(r.a, u.opts.Now())
		if err != nil {
			u.showError("No code", err)
			return
		}
		code = c.Code
	}
	u.app.Clipboard().SetContent(code)
	if u.clipStop != nil {
		u.clipStop()
	}
	u.clip = code
	u.clipStop = u.opts.AfterFunc(ClipboardClearAfter, u.clearClipboard)
	u.refreshCodes(u.opts.Now())
	u.showToast(fmt.Sprintf("Copied the %s code. The clipboard clears in %d seconds.", labelOf(r.a), int(ClipboardClearAfter.Seconds())))
}

// clearClipboard empties the clipboard if it still holds the copied code.
func (u *UI) clearClipboard() {
	if u.clip != "" && u.app.Clipboard().Content() == u.clip {
		u.app.Clipboard().SetContent("")
	}
	u.clip = ""
	u.clipStop = nil
}

func (u *UI) clearClipboardNow() {
	if u.clipStop != nil {
		u.clipStop()
	}
	u.clearClipboard()
}

func labelOf(a core.Account) string {
	if a.Issuer == "" {
		return a.Name
	}
	return a.Issuer + " (" + a.Name + ")"
}

func (u *UI) rowMenu(r *accountRow) *fyne.Menu {
	idx := slices.IndexFunc(u.accounts, func(a core.Account) bool { return a.ID == r.a.ID })
	up := fyne.NewMenuItem("Move up", func() { u.move(r.a, idx-1) })
	up.Disabled = idx <= 0
	down := fyne.NewMenuItem("Move down", func() { u.move(r.a, idx+1) })
	down.Disabled = idx < 0 || idx >= len(u.accounts)-1
	copyItem := fyne.NewMenuItem("Copy code", func() { u.touch(); u.copyCode(r) })
	copyItem.Disabled = u.revoked(r.a)
	return fyne.NewMenu("",
		copyItem,
		fyne.NewMenuItem("Rename…", func() { u.touch(); u.rename(r.a) }),
		up, down,
		fyne.NewMenuItemSeparator(),
		fyne.NewMenuItem("Delete…", func() { u.touch(); u.confirmDelete(r.a) }),
	)
}

func (u *UI) move(a core.Account, to int) {
	u.touch()
	if err := u.core.Move(a.ID, to); err != nil {
		u.showError("Could not move the account", err)
		return
	}
	u.changed()
}

func (u *UI) rename(a core.Account) {
	issuer := widget.NewEntry()
	issuer.SetText(a.Issuer)
	name := widget.NewEntry()
	name.SetText(a.Name)
	f := newFormDialog(u.win, "Rename account", "Save", func(f *formDialog) bool {
		u.touch()
		n := strings.TrimSpace(name.Text)
		if n == "" {
			f.setError("name", "Enter a name, e.g. your email address at the site.")
			return false
		}
		if err := u.core.Rename(a.ID, strings.TrimSpace(issuer.Text), n); err != nil {
			summary, details := core.Explain(err, "")
			u.log.Warn("rename", "err", details)
			f.setError("", summary)
			return false
		}
		u.changed()
		return true
	})
	f.field("issuer", "Issuer", issuer)
	f.field("name", "Name", name)
	f.show(380)
}

// confirmDelete asks before deleting. An Assent account is revoked on its
// server first; if the server cannot be told, the person decides whether
// to forget it anyway.
func (u *UI) confirmDelete(a core.Account) {
	msg := fmt.Sprintf("Delete %s? Its codes will be gone from this device: make sure you can still sign in to %s another way.", labelOf(a), orName(a.Issuer, a.Name))
	if a.Kind == core.KindAssent {
		msg = fmt.Sprintf("Delete %s? This device will be revoked on %s and will no longer approve sign-ins or show codes for %s.", labelOf(a), a.Server, a.Name)
	}
	d := dialog.NewCustomConfirm("Delete account?", "Delete", "Cancel", fixedWidth(320, wrapped(msg)), func(ok bool) {
		if ok {
			u.remove(a, false)
		}
	}, u.win)
	d.SetConfirmImportance(widget.DangerImportance)
	d.Show()
}

func (u *UI) remove(a core.Account, force bool) {
	do := u.opts.Do
	ctx, cancel := context.WithTimeout(u.ctx, 30*time.Second)
	go func() {
		defer cancel()
		err := u.core.Remove(ctx, a.ID, force)
		do(func() {
			if err != nil {
				if a.Kind == core.KindAssent && !force {
					cause := errors.Unwrap(err)
					if cause == nil {
						cause = err
					}
					summary, details := core.Explain(cause, orName(a.Issuer, hostOf(a.Server)))
					u.log.Warn("revoke before delete", "account", a.Label(), "err", details)
					msg := fmt.Sprintf("%s could not be told to revoke this device. %s\n\nDelete it from this device anyway? The server will keep the device until an administrator removes it.", orName(a.Issuer, hostOf(a.Server)), summary)
					d := dialog.NewCustomConfirm("Server not reached", "Delete anyway", "Keep", fixedWidth(320, wrapped(msg)), func(ok bool) {
						if ok {
							u.remove(a, true)
						}
					}, u.win)
					d.SetConfirmImportance(widget.DangerImportance)
					d.Show()
					return
				}
				u.showErrorFor("Could not delete the account", err, orName(a.Issuer, hostOf(a.Server)))
				return
			}
			u.changed()
			u.showToast("Deleted " + labelOf(a) + ".")
		})
	}()
}

func orName(issuer, name string) string {
	if issuer != "" {
		return issuer
	}
	return name
}

// mainMenu is the ⋮ menu of the accounts view.
func (u *UI) mainMenu() *fyne.Menu {
	items := []*fyne.MenuItem{
		fyne.NewMenuItem("Add account…", u.showAddDialog),
		fyne.NewMenuItem("Import from another app…", u.openFileDialog),
		fyne.NewMenuItem("Settings…", u.showSettings),
	}
	if u.core.LockKind() != "" {
		items = append(items, fyne.NewMenuItem("Lock now", func() { u.guard.Lock(); u.render() }))
	}
	items = append(items, fyne.NewMenuItemSeparator(), fyne.NewMenuItem("Quit", u.quit))
	return fyne.NewMenu("", items...)
}

// setState records the push channel state of an account.
func (u *UI) setState(a core.Account, s push.ConnState, err error) {
	u.server(a) // the server's line, named
	st := u.states[a.ID]
	if st == nil {
		st = &accountState{}
		u.states[a.ID] = st
	}
	st.state, st.err = s, err
	if core.IsRevoked(err) || s == push.StateConnected {
		// core recorded the revocation (or its end) in the vault.
		u.reload(false)
	}
	u.renderStatus()
	u.refreshCodes(u.opts.Now())
	u.updateTray()
}

func (u *UI) setDrift(a core.Account, d time.Duration) {
	st := u.server(a)
	st.drift, st.known = d, true
	u.renderStatus()
}

func (u *UI) server(a core.Account) *serverState {
	st := u.servers[a.Server]
	if st == nil {
		st = &serverState{name: orName(a.Issuer, a.Server)}
		u.servers[a.Server] = st
	}
	return st
}

// stateRank orders channel states from best to worst: a server's line
// shows the best of its live accounts.
var stateRank = map[push.ConnState]int{push.StateConnected: 0, push.StateReconnecting: 1, push.StateConnecting: 2, push.StateOffline: 3}

// serverLine sums up the channels of a server's accounts that were not
// revoked; ok is false when every account on it was.
func (u *UI) serverLine(url string) (state push.ConnState, err error, ok bool) {
	state = push.StateConnecting
	best := 99
	for _, a := range u.accounts {
		if a.Kind != core.KindAssent || a.Server != url || u.revoked(a) {
			continue
		}
		ok = true
		st := u.states[a.ID]
		if st == nil {
			if best > stateRank[push.StateConnecting] {
				best, state = stateRank[push.StateConnecting], push.StateConnecting
			}
			continue
		}
		if r := stateRank[st.state]; r < best {
			best, state, err = r, st.state, st.err
		}
	}
	return state, err, ok
}

// renderStatus shows each server's connection and any clock drift.
func (u *UI) renderStatus() {
	var objs []fyne.CanvasObject
	var urls []string
	for url := range u.servers {
		if slices.ContainsFunc(u.accounts, func(a core.Account) bool { return a.Server == url }) {
			urls = append(urls, url)
		}
	}
	slices.Sort(urls)
	for _, url := range urls {
		st := u.servers[url]
		state, err, ok := u.serverLine(url)
		if !ok {
			continue // every account on it was revoked: their cards say so
		}
		st.state, st.err = state, err
		dot := tintCircle(canvas.NewCircle(color.Transparent), stateColor(st.state))
		line := secondary(fmt.Sprintf("%s · %s — %s", st.name, hostOf(url), stateText(st)))
		objs = append(objs, container.NewBorder(nil, nil, container.NewCenter(container.NewGridWrap(fyne.NewSize(10, 10), dot)), nil, line))
		if st.known && st.drift.Abs() > DriftWarning {
			dir := "ahead of"
			if st.drift < 0 {
				dir = "behind"
			}
			w := widget.NewLabel(fmt.Sprintf("This device's clock is %s %s %s's. Codes and sign-in approvals may fail: set the clock to update automatically.", st.drift.Abs().Round(time.Second), dir, st.name))
			w.Wrapping = fyne.TextWrapWord
			w.Importance = widget.WarningImportance
			objs = append(objs, container.NewBorder(nil, nil, widget.NewIcon(theme.WarningIcon()), nil, w))
		}
	}
	u.status.Objects = objs
	u.status.Refresh()
}

func stateText(st *serverState) string {
	switch st.state {
	case push.StateConnected:
		return "connected"
	case push.StateReconnecting:
		return "reconnecting…"
	case push.StateOffline:
		if st.err != nil {
			summary, _ := core.Explain(st.err, st.name)
			return "offline. " + summary
		}
		return "offline"
	}
	return "connecting…"
}

func stateColor(s push.ConnState) fyne.ThemeColorName {
	switch s {
	case push.StateConnected:
		return theme.ColorNameSuccess
	case push.StateReconnecting, push.StateConnecting:
		return theme.ColorNameWarning
	}
	return theme.ColorNameError
}

func hostOf(url string) string {
	h := strings.TrimPrefix(strings.TrimPrefix(url, "https://"), "http://")
	return strings.TrimSuffix(h, "/")
}
