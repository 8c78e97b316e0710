package e2e

// The admin and account pages' device actions in Debian's Chromium: the
// confirmation step with JavaScript off, two alike devices told apart, an
// admin resetting a user's risk, a person removing their own device, and
// the site's 404 page.

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
)

// noScript turns JavaScript off in the browser's tab.
func (b *browser) noScript() {
	b.t.Helper()
	b.do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	}))
}

// shortOf is the part of a device ID the pages show.
func shortOf(id string) string {
	_, rest, _ := strings.Cut(id, "_")
	return rest[:6]
}

func TestBrowserAdminConfirmsARevokeAndResetsRisk(t *testing.T) {
	e := newEnv(t)
	hana := e.addUser("hana", "correct horse battery")
	// Two devices alike: "vm · linux" both.
	for range 2 {
		if _, err := e.device("vm").Enroll(e.ctx, e.link("hana")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.srv.AddUser(e.ctx, server.NewUser{Login: "root", Password: "correct horse battery", Email: "root@example.com", Groups: []string{"admins"}}); err != nil {
		t.Fatal(err)
	}
	admin := e.device("root-phone")
	if _, err := admin.Enroll(e.ctx, e.link("root")); err != nil {
		t.Fatal(err)
	}
	devs, err := e.st.ListDevices(e.ctx, hana.ID)
	if err != nil || len(devs) != 2 {
		t.Fatalf("hana's devices = %v, %v", devs, err)
	}
	first, second := devs[0], devs[1]

	b := newBrowser(t, e)
	b.signIn("root", admin)
	b.noScript()
	b.open("/admin")
	b.page("admin")
	row := b.text("#user-hana")
	for _, d := range devs {
		if !strings.Contains(row, "ID "+shortOf(d.ID)) {
			t.Fatalf("hana's row does not show the ID %s of a device:\n%s", shortOf(d.ID), row)
		}
	}
	if !strings.Contains(row, "Added ") || !strings.Contains(row, "Last seen ") {
		t.Fatalf("hana's row does not say when devices were added and last seen:\n%s", row)
	}

	// Revoke, then Cancel: nothing happens.
	b.click("revoke-" + first.ID)
	b.page("confirm")
	if got := b.text("#confirm-id"); got != shortOf(first.ID) {
		t.Fatalf("the confirmation names the device %q, want %q", got, shortOf(first.ID))
	}
	if got := b.text("#confirm-owner"); got != "hana" {
		t.Fatalf("the confirmation names the owner %q", got)
	}
	b.click("cancel")
	b.page("admin")
	if d, _ := e.st.GetDevice(e.ctx, first.ID); !d.RevokedAt.IsZero() {
		t.Fatal("Cancel revoked the device")
	}
	// Revoke, then confirm: that device only, without JavaScript.
	b.click("revoke-" + first.ID)
	b.page("confirm")
	b.click("confirm")
	b.page("admin")
	b.do(chromedp.WaitVisible(chromedp.ID("revoked-" + first.ID)))
	if d, _ := e.st.GetDevice(e.ctx, first.ID); d.RevokedAt.IsZero() {
		t.Fatal("the confirmed revoke did not revoke the device")
	}
	if d, _ := e.st.GetDevice(e.ctx, second.ID); !d.RevokedAt.IsZero() {
		t.Fatal("the other device was revoked too")
	}
	// The confirmation of a revoked device goes back to the users page.
	b.open("/admin/devices/" + first.ID + "/revoke")
	b.page("admin")

	// Risk: hana reported a push; the admin resets it.
	if _, err := e.st.UpdateUser(e.ctx, hana.ID, func(u *store.User) error { u.Risk, u.RiskSince = "high", e.clock.Now(); return nil }); err != nil {
		t.Fatal(err)
	}
	b.open("/admin")
	b.page("admin")
	if got := b.text("#risk-hana"); got != "high" {
		t.Fatalf("hana's risk shows %q", got)
	}
	b.click("reset-risk-hana")
	b.page("admin")
	if n := b.text("#notice"); !strings.Contains(n, "risk of hana was reset to low") {
		t.Fatalf("notice = %q", n)
	}
	if got := b.text("#risk-hana"); got != "low" || b.exists("#reset-risk-hana") {
		t.Fatalf("after the reset hana's risk shows %q", got)
	}
	if u := mustUser(t, e, "hana"); u.Risk != "low" {
		t.Fatalf("the store says hana's risk is %q", u.Risk)
	}
	b.open("/admin/audit")
	b.page("audit")
	if first := b.text("#audit tbody tr"); !strings.Contains(first, "user.risk_reset") || !strings.Contains(first, "admin root") {
		t.Fatalf("newest audit event = %q", first)
	}
	evs, err := e.st.ListAudit(e.ctx, store.AuditFilter{UserID: hana.ID, Types: []string{"device.revoked"}})
	if err != nil || len(evs) != 1 {
		t.Fatalf("%d device.revoked events for hana, %v; want one", len(evs), err)
	}
}

func TestBrowserPersonRemovesTheirOwnDevice(t *testing.T) {
	e := newEnv(t)
	_, phone, _ := e.enrolled("ivo")
	spare := e.device("ivo-tablet")
	if _, err := spare.Enroll(e.ctx, e.link("ivo")); err != nil {
		t.Fatal(err)
	}
	u := mustUser(t, e, "ivo")
	devs, err := e.st.ListDevices(e.ctx, u.ID)
	if err != nil || len(devs) != 2 {
		t.Fatalf("ivo's devices = %v, %v", devs, err)
	}
	tablet := devs[1]
	b := newBrowser(t, e)
	b.signIn("ivo", phone)
	b.noScript()

	b.click("remove-device-" + tablet.ID)
	b.page("confirm")
	if got := b.text("#confirm-name"); got != "ivo-tablet" {
		t.Fatalf("the confirmation names %q", got)
	}
	if b.exists("#last-device") {
		t.Fatal("the confirmation warns of the last device while there are two")
	}
	b.click("cancel")
	b.page("account")
	if !b.exists("#device-" + tablet.ID) {
		t.Fatal("Keep it removed the device")
	}
	b.click("remove-device-" + tablet.ID)
	b.page("confirm")
	b.click("confirm")
	b.page("account")
	if n := b.text("#notice"); !strings.Contains(n, "The device was removed.") {
		t.Fatalf("notice = %q", n)
	}
	if b.exists("#device-" + tablet.ID) {
		t.Fatal("the account page still lists the removed device")
	}
	if d, _ := e.st.GetDevice(e.ctx, tablet.ID); d.RevokedAt.IsZero() {
		t.Fatal("the store has the device active")
	}
	// The removed device is refused by the server.
	if _, err := spare.Challenges(e.ctx); err == nil {
		t.Fatal("the removed device still reads its challenges")
	}
	// Another person's device ID in the address: the unknown-device answer.
	e.enrolled("zoe")
	zoes, _ := e.st.ListDevices(e.ctx, mustUser(t, e, "zoe").ID)
	b.open("/account/devices/" + zoes[0].ID + "/remove")
	b.page("account")
	if msg := b.errorText(); !strings.Contains(msg, "There is no such device on your account.") {
		t.Fatalf("another person's device = %q", msg)
	}
	// The last device: the confirmation warns.
	b.click("remove-device-" + devs[0].ID)
	b.page("confirm")
	if !b.exists("#last-device") {
		t.Fatal("the confirmation of the last device does not warn")
	}
}

func TestBrowserMistypedAddressGetsTheSitesPage(t *testing.T) {
	e := newEnv(t)
	b := newBrowser(t, e)
	resp := run(b, chromedp.NavigateResponse(e.url+"/acount"))
	if resp.Status != http.StatusNotFound {
		t.Fatalf("/acount = %d, want 404", resp.Status)
	}
	b.page("notfound")
	if title := b.eval(`document.title`); title != "Page not found · Example Org" {
		t.Fatalf("title = %q", title)
	}
	if brand := b.text(".brand"); !strings.Contains(brand, "Example Org") {
		t.Fatalf("the 404 page lacks the site's header: %q", brand)
	}
	b.click("back")
	if p := b.path(); p != "/signin" {
		t.Fatalf("the 404 page's button leads to %q, want sign-in (via /account)", p)
	}
	// The APIs keep their JSON.
	resp = run(b, chromedp.NavigateResponse(e.url+"/v1/nothing"))
	if resp.Status != http.StatusNotFound || resp.MimeType != "application/json" {
		t.Fatalf("/v1/nothing = %d %s, want a JSON 404", resp.Status, resp.MimeType)
	}
	if body := b.eval(`document.body.innerText`); !strings.Contains(body, `"error":"not_found"`) {
		t.Fatalf("/v1/nothing says %q", body)
	}
}
