// Package webshot is what the screenshot programs e2e/webshots and
// e2e/adminshots share: headless Chromium driven page by page against a
// running demo assentd (--dev), PNG files named web-NAME.png, and headless
// app/core devices that enroll with a link and answer pushes.
// scripts/screenshot-web.sh starts the server and runs both programs.
//
// It is for those programs only: every failure ends the process with a
// message (log.Fatal), as a command-line tool does.
package webshot

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/enroll"
)

// Chromium is the browser to drive: $ASSENT_CHROMIUM, else chromium or
// chromium-browser on the PATH.
func Chromium() (string, error) {
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

// Device enrolls a headless app/core device, named name, with an
// enrollment link; its home is a new folder inside work.
func Device(ctx context.Context, work, name, link string) *core.Core {
	home, err := os.MkdirTemp(work, strings.NewReplacer(" ", "-", "'", "").Replace(name)+"-")
	if err != nil {
		log.Fatal(err)
	}
	c, err := core.Open(core.Options{
		Home: home, KeyStore: core.KeyStoreFile,
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

// WaitPrompt waits up to 30 seconds for a device's newest prompt.
func WaitPrompt(ctx context.Context, d *core.Core) core.Prompt {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if ps, err := d.Challenges(ctx); err == nil && len(ps) > 0 {
			return ps[len(ps)-1]
		}
		time.Sleep(200 * time.Millisecond)
	}
	log.Fatal("no push arrived on the device")
	return core.Prompt{}
}

// Approve waits for the device's prompt and approves it with the number.
func Approve(ctx context.Context, d *core.Core, number int) {
	if _, err := d.Approve(ctx, WaitPrompt(ctx, d), number); err != nil {
		log.Fatalf("approve: %v", err)
	}
}

// Browser is one tab of headless Chromium at the demo server's URL, saving
// screenshots in a folder.
type Browser struct {
	ctx       context.Context
	base, out string
}

// Start starts headless Chromium, with its profile in work, at desktop
// width, for the server at base; screenshots go to the folder out, which
// it makes. stop ends the browser.
func Start(ctx context.Context, work, base, out string) (b *Browser, stop func()) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		log.Fatal(err)
	}
	path, err := Chromium()
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
	bctx, cancel := chromedp.NewContext(actx)
	stop = func() { cancel(); cancelAlloc() }
	// The first call starts the browser; it must have no deadline.
	if err := chromedp.Do(bctx); err != nil {
		stop()
		log.Fatalf("start Chromium: %v", err)
	}
	b = &Browser{ctx: bctx, base: strings.TrimRight(base, "/"), out: out}
	b.Desktop()
	return b, stop
}

// Tab opens another tab of the same browser (the same cookies), at
// desktop width; close ends it.
func (b *Browser) Tab() (tab *Browser, close func()) {
	ctx, cancel := chromedp.NewContext(b.ctx)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		log.Fatalf("open a tab: %v", err)
	}
	tab = &Browser{ctx: ctx, base: b.base, out: b.out}
	tab.Desktop()
	return tab, cancel
}

// Desktop sets a 1280×860 viewport.
func (b *Browser) Desktop() { b.Do(chromedp.EmulateViewport(1280, 860)) }

// Phone sets a 390×844 viewport at twice the pixels, a phone's.
func (b *Browser) Phone() { b.Do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2))) }

// Do runs steps, within a minute; on failure it says where the browser
// was and what the page said, and ends the process.
func (b *Browser) Do(steps ...chromedp.Action[chromedp.Void]) {
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		body, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body.innerText`))
		log.Fatalf("browser at %s: %v\n%s", loc, err, body)
	}
}

// Open goes to a path of the server.
func (b *Browser) Open(path string) { b.Do(chromedp.Navigate(b.base + path)) }

// Page waits for the page named name (its main element's data-page).
func (b *Browser) Page(name string) {
	b.Do(chromedp.WaitVisible(chromedp.CSS(`main[data-page="` + name + `"]`)))
}

// PageAfter waits for a page other than the one named and says which.
func (b *Browser) PageAfter(name string) string {
	b.Do(chromedp.WaitVisible(chromedp.CSS(`main[data-page]:not([data-page="` + name + `"])`)))
	return b.Eval(`document.querySelector("main").dataset.page`)
}

// SignIn opens the sign-in page at path (/signin and its query) and signs
// in with a login and password up to the choice of a second factor.
func (b *Browser) SignIn(path, login, password string) {
	b.Open(path)
	b.Page("signin")
	b.Fill("login", login)
	b.Click("next")
	b.Page("password")
	b.Fill("passcode", password)
	b.Click("verify")
	b.Page("select")
}

// Eval evaluates a JavaScript expression whose value is a string.
func (b *Browser) Eval(js string) string {
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		log.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// Attr is the attribute name of the first element css selects.
func (b *Browser) Attr(css, name string) string {
	return b.Eval(fmt.Sprintf(`document.querySelector(%q).getAttribute(%q)`, css, name))
}

// Fill sets the value of the field with the id.
func (b *Browser) Fill(id, v string) {
	b.Do(chromedp.WaitVisible(chromedp.ID(id)), chromedp.SetValue(chromedp.ID(id), v))
}

// Click clicks the element with the id and waits for the page it loads.
func (b *Browser) Click(id string) { b.follow(id, chromedp.Click(chromedp.ID(id))) }

// ClickCSS clicks the first element css selects and waits for the page
// it loads.
func (b *Browser) ClickCSS(css string) { b.follow(css, chromedp.Click(chromedp.CSS(css))) }

func (b *Browser) follow(what string, click chromedp.Action[chromedp.Void]) {
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, click)); err != nil {
		log.Fatalf("click %s: %v", what, err)
	}
}

// Text is the text of the first element css selects, trimmed.
func (b *Browser) Text(css string) string {
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	t, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(css)))
	if err != nil {
		log.Fatalf("read %s: %v", css, err)
	}
	return strings.TrimSpace(t)
}

// Number is the number the push page shows.
func (b *Browser) Number() int {
	var n int
	if _, err := fmt.Sscan(b.Text("#push-number"), &n); err != nil {
		log.Fatalf("the push page's number: %v", err)
	}
	return n
}

// Shot saves the viewport as web-NAME.png, after moving the focus off the
// fields so that no caret blinks into the picture.
func (b *Browser) Shot(name string) {
	b.Do(chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur && document.activeElement.blur()`))
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
