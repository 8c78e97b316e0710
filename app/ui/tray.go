package ui

import (
	"fmt"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
)

// setupTray puts Assent in the system tray of a desktop.
func (u *UI) setupTray() {
	desk, ok := u.app.(desktop.App)
	if !ok {
		return
	}
	desk.SetSystemTrayIcon(appIcon)
	desk.SetSystemTrayMenu(u.trayMenu())
}

func (u *UI) updateTray() {
	if desk, ok := u.app.(desktop.App); ok {
		desk.SetSystemTrayMenu(u.trayMenu())
	}
}

// trayMenu lists the waiting prompts, a code to copy per account, Show,
// Lock now and Quit.
func (u *UI) trayMenu() *fyne.Menu {
	var items []*fyne.MenuItem
	if n := len(u.prompts); n > 0 {
		head := fyne.NewMenuItem(fmt.Sprintf("%s waiting", plural(n, "request")), nil)
		head.Disabled = true
		items = append(items, head)
		for _, p := range u.prompts {
			_, what := kindTitle(p.Kind)
			label := fmt.Sprintf("%s: %s (%s)", what, orName(p.Context.App, "unknown app"), p.Account.Name)
			items = append(items, fyne.NewMenuItem(label, u.show))
		}
		items = append(items, fyne.NewMenuItemSeparator())
	}
	var codes []*fyne.MenuItem
	for _, r := range u.rows {
		if u.revoked(r.a) {
			continue // no codes any more
		}
		codes = append(codes, fyne.NewMenuItem(labelOf(r.a), func() {
			if u.guard.Locked() {
				u.show() // the lock screen: codes stay behind it
				return
			}
			u.copyCode(r)
		}))
	}
	if len(codes) > 0 {
		copyItem := fyne.NewMenuItem("Copy code", nil)
		copyItem.ChildMenu = fyne.NewMenu("", codes...)
		items = append(items, copyItem)
	}
	items = append(items, fyne.NewMenuItem("Show Assent", u.show))
	if u.core.LockKind() != "" {
		items = append(items, fyne.NewMenuItem("Lock now", func() { u.guard.Lock(); u.render() }))
	}
	quit := fyne.NewMenuItem("Quit", u.quit)
	quit.IsQuit = true
	items = append(items, fyne.NewMenuItemSeparator(), quit)
	return fyne.NewMenu("Assent", items...)
}
