// Command webshots takes the screenshots of the hosted pages in
// docs/screenshots: it drives headless Chromium through sign-in, the push
// page, code entry, profile, adding a device, recovery, the magic link,
// the dev mail sink and the admin area of a running demo assentd (--dev),
// and approves the pushes with real app/core devices. scripts/screenshot-web.sh
// starts the server and runs it (make screenshot-web).
package main

import (
	"context"
	"flag"
	"log"
	"os"

	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/internal/webshot"
)

func main() {
	base := flag.String("url", "", "the demo server's URL")
	out := flag.String("out", "docs/screenshots", "folder for the PNG files")
	aliceLink := flag.String("alice", "", "an enrollment link for alice")
	samLink := flag.String("sam", "", "an enrollment link for sam (an admin)")
	flag.Parse()
	if *base == "" || *aliceLink == "" || *samLink == "" {
		log.Fatal("usage: webshots -url URL -alice LINK -sam LINK [-out DIR]")
	}
	work, err := os.MkdirTemp("", "webshots")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	ctx := context.Background()

	alice := webshot.Device(ctx, work, "Alice's Pixel 8", *aliceLink)
	sam := webshot.Device(ctx, work, "Sam's MacBook", *samLink)

	b, stop := webshot.Start(ctx, work, *base, *out)
	defer stop()

	// Sign-in: the form, a wrong password, the choice of factor.
	b.Open("/signin?app=intranet")
	b.Page("signin")
	b.Fill("login", "alice")
	b.Shot("signin")
	b.Click("next")
	b.Page("password")
	b.Fill("passcode", "not my password")
	b.Click("verify")
	b.Page("password")
	b.Shot("signin-error")
	b.Fill("passcode", "correct horse battery")
	b.Click("verify")
	b.Page("select")
	b.Shot("choose")

	// The push page, on a desktop and on a phone, then the code page.
	b.Click("choose-push")
	b.Page("push")
	b.Shot("push")
	b.Phone()
	b.Shot("push-phone")
	b.Desktop()
	b.Click("use-code")
	b.Page("code")
	b.Shot("code")

	// Back to a push, approved on the phone; then the profile prompt.
	b.Click("use-push")
	b.Page("push")
	webshot.Approve(ctx, alice, b.Number())
	b.Page("profile")
	b.Fill("profile-department", "Research")
	b.Shot("profile")
	b.Click("save")
	b.Page("account")

	// Adding a device: the first one agrees, then the QR code.
	b.Click("add-device")
	b.Page("select")
	b.Click("choose-push")
	b.Page("push")
	webshot.Approve(ctx, alice, b.Number())
	b.Page("enroll")
	b.Shot("enroll")
	link := b.Text("#enroll-link")
	webshot.Device(ctx, work, "Alice's iPad", link)
	b.Page("account")
	b.Shot("account")

	// Recovery: the request, then the new password.
	b.Open("/signout")
	b.Page("signout")
	b.Click("signout")
	b.Open("/recover")
	b.Page("recover")
	b.Fill("login", "alice")
	b.Shot("recover")
	b.Click("next")
	b.Page("select")
	b.Click("choose-push")
	b.Page("push")
	webshot.Approve(ctx, alice, b.Number())
	b.Page("reset")
	b.Fill("passcode", "a long new passphrase")
	b.Fill("confirm", "a long new passphrase")
	b.Shot("reset")
	b.Click("save")
	// The reset is one factor; the sign-in asks for the new password.
	b.Page("password")
	b.Fill("passcode", "a long new passphrase")
	b.Shot("reset-signin")
	b.Click("verify")
	b.Page("account")

	// A magic link: the waiting page, the dev mail sink, the link's page.
	signInAgain(b, "alice", "a long new passphrase")
	b.Click("choose-email")
	b.Page("email")
	b.Shot("email")
	mail, closeMail := b.Tab()
	mail.Open("/dev/mail")
	mail.Page("devmail")
	mail.Shot("devmail")
	mail.ClickCSS(`a[href*="/v1/magic?token="]`)
	mail.Page("magic")
	mail.Shot("magic")
	mail.Click("confirm")
	mail.Page("magic")
	closeMail()
	b.Page("account")

	// Same-device sign-in: the shot is taken while the Assent app on this
	// computer waits for the person; then it approves.
	signInAgain(b, "alice", "a long new passphrase")
	release := make(chan struct{})
	sctx, scancel := context.WithCancel(ctx)
	if _, err := alice.ServeSameDevice(sctx, func(ctx context.Context, _ core.SameDeviceAsk) (core.SameDeviceDecision, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return core.SameDeviceDecision{Approve: true}, nil
	}); err != nil {
		log.Fatalf("same-device: %v", err)
	}
	b.Click("choose-samedevice")
	b.Page("samedevice")
	b.Shot("samedevice")
	b.Phone()
	b.Shot("samedevice-phone")
	b.Desktop()
	close(release)
	b.Page("account")
	scancel()

	// A passkey (Chromium's virtual authenticator stands in for the
	// screen lock): the account's device agrees first, then the browser
	// makes it. The authenticator goes away before anyone else signs in,
	// or the sign-in page's autofill would offer alice's passkey.
	var authID cdpwebauthn.AuthenticatorID
	b.Do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, cdpwebauthn.Enable, cdpwebauthn.EnableParams{}); err != nil {
			return err
		}
		res, err := chromedp.Call(ctx, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{
			Options: &cdpwebauthn.VirtualAuthenticatorOptions{
				Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Ctap2version: cdpwebauthn.Ctap2versionCtap21,
				Transport: cdpwebauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
				IsUserVerified: true, AutomaticPresenceSimulation: true,
			}})
		authID = res.AuthenticatorID
		return err
	}))
	b.Open("/account")
	b.Page("account")
	b.Click("add-passkey")
	b.Page("select")
	b.Click("choose-push")
	b.Page("push")
	webshot.Approve(ctx, alice, b.Number())
	b.Page("passkey-add")
	b.Fill("passkey-name", "Alice's laptop")
	b.Shot("passkey-add")
	b.Do(chromedp.WaitVisible(chromedp.ID("passkey-create")), chromedp.Click(chromedp.ID("passkey-create")))
	b.Page("account")
	b.Shot("account-passkey")
	b.Do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, cdpwebauthn.RemoveVirtualAuthenticator, cdpwebauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: authID})
		return err
	}))

	// The admin area.
	signInAgain(b, "sam", "correct horse battery")
	b.Click("choose-push")
	b.Page("push")
	webshot.Approve(ctx, sam, b.Number())
	b.Page("profile")
	b.Fill("profile-department", "Operations")
	b.Click("save")
	b.Page("account")
	b.Open("/admin")
	b.Page("admin")
	b.Shot("admin")
	b.Open("/admin/apps")
	b.Page("apps")
	b.Shot("apps")
	// A command-line tool's sign-in: the page where the person types the
	// code it shows.
	b.Open("/oidc/device")
	b.Page("oidc-device")
	b.Shot("oidc-device")
	b.Open("/admin/audit")
	b.Page("audit")
	b.Shot("audit")
	log.Printf("screenshots saved in %s", *out)
}

// signInAgain signs the browser out, then in with a password up to the
// choice of a second factor.
func signInAgain(b *webshot.Browser, login, password string) {
	b.Open("/signout")
	b.Page("signout")
	b.Click("signout")
	b.SignIn("/signin", login, password)
}
