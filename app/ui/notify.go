package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// noNotificationsText is said once when the desktop shows no
// notifications: sign-in requests then reach the person only in the window.
// noNotificationsPhoneText says it on a phone (Fyne's mobile build where
// the platform gives it no notifications, such as its simulation), where
// there is no "desktop" and no window to keep open, only the app in front.
const (
	noNotificationsText      = "This desktop shows no notifications, so sign-in requests appear only in this window: keep Assent open to see them."
	noNotificationsPhoneText = "Assent cannot show notifications here, so sign-in requests appear only while it is open: open Assent when you sign in."
)

// noticeNoNotifications puts the one-time notice above the accounts when
// notifications are unavailable and it was not said before.
func (u *UI) noticeNoNotifications() {
	if u.opts.HasNotifications() || u.core.Settings().NoNotificationsSaid {
		return
	}
	text := noNotificationsText
	if u.opts.IsMobile() {
		text = noNotificationsPhoneText
	}
	msg := widget.NewLabel(text)
	msg.Wrapping = fyne.TextWrapWord
	msg.Importance = widget.WarningImportance
	ok := widget.NewButton("Got it", func() {
		u.touch()
		s := u.core.Settings()
		s.NoNotificationsSaid = true
		if err := u.core.SetSettings(s); err != nil {
			u.log.Warn("save that the notifications notice was read", "err", err)
		}
		u.notice.Objects = nil
		u.notice.Refresh()
	})
	ok.Importance = widget.LowImportance
	u.notice.Objects = []fyne.CanvasObject{container.NewBorder(nil, nil, widget.NewIcon(theme.InfoIcon()), container.NewCenter(ok), msg)}
	u.notice.Refresh()
}
