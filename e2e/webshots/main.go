// Command webshots takes the screenshots of the hosted pages in
// docs/screenshots: it drives headless Chromium through sign-in, the push
// page, code entry, profile, adding a device, recovery, the magic link,
// the dev mail sink and the admin area of a running demo assentd (--dev),
// and approves the pushes with real app/core devices. scripts/screenshot-web.sh
// starts the server and runs it (make screenshot-web).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromedp/cdproto/page"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/enroll"
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
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	work, err := os.MkdirTemp("", "webshots")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	ctx := context.Background()

	alice := device(ctx, work, "Alice's Pixel 8", *aliceLink)
	sam := device(ctx, work, "Sam's MacBook", *samLink)

	path, err := chromium()
	if err != nil {
		log.Fatal(err)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true), chromedp.UserDataDir(filepath.Join(work, "chromium")),
		chromedp.WindowSize(1280, 860))
	defer cancelAlloc()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	// The first call starts the browser; it must have no deadline.
	if err := chromedp.Do(bctx); err != nil {
		log.Fatalf("start Chromium: %v", err)
	}
	b := &browser{ctx: bctx, base: strings.TrimRight(*base, "/"), out: *out}
	b.do(chromedp.EmulateViewport(1280, 860))

	// Sign-in: the form, a wrong password, the choice of factor.
	b.open("/signin?app=intranet")
	b.page("signin")
	b.fill("login", "alice")
	b.shot("signin")
	b.click("next")
	b.page("password")
	b.fill("passcode", "not my password")
	b.click("verify")
	b.page("password")
	b.shot("signin-error")
	b.fill("passcode", "correct horse battery")
	b.click("verify")
	b.page("select")
	b.shot("choose")

	// The push page, on a desktop and on a phone, then the code page.
	b.click("choose-push")
	b.page("push")
	b.shot("push")
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	b.shot("push-phone")
	b.do(chromedp.EmulateViewport(1280, 860))
	b.click("use-code")
	b.page("code")
	b.shot("code")

	// Back to a push, approved on the phone; then the profile prompt.
	b.click("use-push")
	b.page("push")
	approve(ctx, alice, b.number())
	b.page("profile")
	b.fill("profile-department", "Research")
	b.shot("profile")
	b.click("save")
	b.page("account")

	// Adding a device: the first one agrees, then the QR code.
	b.click("add-device")
	b.page("select")
	b.click("choose-push")
	b.page("push")
	approve(ctx, alice, b.number())
	b.page("enroll")
	b.shot("enroll")
	link := b.text("#enroll-link")
	device(ctx, work, "Alice's iPad", link)
	b.page("account")
	b.shot("account")

	// Recovery: the request, then the new password.
	b.open("/signout")
	b.page("signout")
	b.click("signout")
	b.open("/recover")
	b.page("recover")
	b.fill("login", "alice")
	b.shot("recover")
	b.click("next")
	b.page("select")
	b.click("choose-push")
	b.page("push")
	approve(ctx, alice, b.number())
	b.page("reset")
	b.fill("passcode", "a long new passphrase")
	b.fill("confirm", "a long new passphrase")
	b.shot("reset")
	b.click("save")
	// The reset is one factor; the sign-in asks for the new password.
	b.page("password")
	b.fill("passcode", "a long new passphrase")
	b.shot("reset-signin")
	b.click("verify")
	b.page("account")

	// A magic link: the waiting page, the dev mail sink, the link's page.
	b.signInAgain("alice", "a long new passphrase")
	b.click("choose-email")
	b.page("email")
	b.shot("email")
	mctx, mcancel := chromedp.NewContext(bctx)
	if err := chromedp.Do(mctx); err != nil {
		log.Fatalf("open a tab: %v", err)
	}
	mail := &browser{ctx: mctx, base: b.base, out: b.out}
	mail.do(chromedp.EmulateViewport(1280, 860))
	mail.open("/dev/mail")
	mail.page("devmail")
	mail.shot("devmail")
	mail.run(chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(`a[href*="/v1/magic?token="]`))))
	mail.page("magic")
	mail.shot("magic")
	mail.click("confirm")
	mail.page("magic")
	mcancel()
	b.page("account")

	// Same-device sign-in: the shot is taken while the Assent app on this
	// computer waits for the person; then it approves.
	b.signInAgain("alice", "a long new passphrase")
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
	b.click("choose-samedevice")
	b.page("samedevice")
	b.shot("samedevice")
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	b.shot("samedevice-phone")
	b.do(chromedp.EmulateViewport(1280, 860))
	close(release)
	b.page("account")
	scancel()

	// A passkey (Chromium's virtual authenticator stands in for the
	// screen lock): the account's device agrees first, then the browser
	// makes it. The authenticator goes away before anyone else signs in,
	// or the sign-in page's autofill would offer alice's passkey.
	var authID cdpwebauthn.AuthenticatorID
	b.do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
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
	b.open("/account")
	b.page("account")
	b.click("add-passkey")
	b.page("select")
	b.click("choose-push")
	b.page("push")
	approve(ctx, alice, b.number())
	b.page("passkey-add")
	b.fill("passkey-name", "Alice's laptop")
	b.shot("passkey-add")
	b.do(chromedp.WaitVisible(chromedp.ID("passkey-create")), chromedp.Click(chromedp.ID("passkey-create")))
	b.page("account")
	b.shot("account-passkey")
	b.do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, cdpwebauthn.RemoveVirtualAuthenticator, cdpwebauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: authID})
		return err
	}))

	// The admin area.
	b.signInAgain("sam", "correct horse battery")
	b.click("choose-push")
	b.page("push")
	approve(ctx, sam, b.number())
	b.page("profile")
	b.fill("profile-department", "Operations")
	b.click("save")
	b.page("account")
	b.open("/admin")
	b.page("admin")
	b.shot("admin")
	b.open("/admin/apps")
	b.page("apps")
	b.shot("apps")
	// A command-line tool's sign-in: the page where the person types the
	// code it shows.
	b.open("/oidc/device")
	b.page("oidc-device")
	b.shot("oidc-device")
	b.open("/admin/audit")
	b.page("audit")
	b.shot("audit")
	log.Printf("screenshots saved in %s", *out)
}

// signInAgain signs the browser out, then in with a password up to the
// choice of a second factor.
func (b *browser) signInAgain(login, password string) {
	b.open("/signout")
	b.page("signout")
	b.click("signout")
	b.open("/signin")
	b.page("signin")
	b.fill("login", login)
	b.click("next")
	b.page("password")
	b.fill("passcode", password)
	b.click("verify")
	b.page("select")
}

func chromium() (string, error) {
	if p := os.Getenv("ASSENT_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("Chromium is not installed: run `make deps`")
}

// device enrolls a headless app/core device with a link.
func device(ctx context.Context, work, name, link string) *core.Core {
	c, err := core.Open(core.Options{
		Home: filepath.Join(work, strings.NewReplacer(" ", "-", "'", "").Replace(name)), KeyStore: core.KeyStoreFile,
		Passphrase: func() ([]byte, error) { return []byte("demo device"), nil },
		FileKDF:    crypto.Argon2Params{Time: 1, Memory: 64, Threads: 1}, DeviceName: name,
	})
	if err != nil {
		log.Fatal(err)
	}
	l, err := enroll.ParseLink(link)
	if err != nil {
		log.Fatalf("%s: %v", name, err)
	}
	if _, err := c.Enroll(ctx, l); err != nil {
		log.Fatalf("%s: enroll: %v", name, err)
	}
	return c
}

// approve waits for the device's prompt and approves it with the number.
func approve(ctx context.Context, d *core.Core, number int) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ps, err := d.Challenges(ctx)
		if err == nil && len(ps) > 0 {
			if _, err := d.Approve(ctx, ps[len(ps)-1], number); err != nil {
				log.Fatalf("approve: %v", err)
			}
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	log.Fatal("no push arrived on the device")
}

type browser struct {
	ctx       context.Context
	base, out string
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		body, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body.innerText`))
		log.Fatalf("browser at %s: %v\n%s", loc, err, body)
	}
}

func (b *browser) run(a chromedp.Action[page.EventLoadEventFired]) {
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	if _, err := chromedp.Run(ctx, a); err != nil {
		log.Fatalf("browser: %v", err)
	}
}

func (b *browser) open(path string) { b.do(chromedp.Navigate(b.base + path)) }

func (b *browser) page(name string) {
	b.do(chromedp.WaitVisible(chromedp.CSS(`main[data-page="` + name + `"]`)))
}

func (b *browser) fill(id, v string) {
	b.do(chromedp.WaitVisible(chromedp.ID(id)), chromedp.SetValue(chromedp.ID(id), v))
}

func (b *browser) click(id string) {
	b.run(chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.ID(id))))
}

func (b *browser) text(css string) string {
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	t, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(css)))
	if err != nil {
		log.Fatalf("read %s: %v", css, err)
	}
	return strings.TrimSpace(t)
}

func (b *browser) number() int {
	var n int
	if _, err := fmt.Sscan(b.text("#push-number"), &n); err != nil {
		log.Fatalf("the push page's number: %v", err)
	}
	return n
}

// shot saves the viewport, after moving the focus off the fields so that
// no caret blinks into the picture.
func (b *browser) shot(name string) {
	b.do(chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur && document.activeElement.blur()`))
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		log.Fatalf("screenshot %s: %v", name, err)
	}
	file := filepath.Join(b.out, "web-"+name+".png")
	if err := os.WriteFile(file, buf, 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("saved %s", file)
}
