package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
)

func TestAServerWhoseKeyDoesNotMatchTheLinksPinIsRefusedWithAClearMessage(t *testing.T) {
	h := newHarness(t)
	h.addUser("mallory")
	l := h.link("mallory")
	other, err := crypto.NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	if l.Pin, err = crypto.Thumbprint(&other.PublicKey); err != nil {
		t.Fatal(err)
	}
	h.app.Clipboard().SetContent(l.String())
	h.tap("Add")
	h.tap("Paste link from clipboard")
	h.waitForText("Server refused")
	h.mustShow("does not match the one in the enrollment link")
	if n := len(h.core.Accounts()); n != 0 {
		t.Fatalf("%d accounts after a refused enrollment", n)
	}
}

func TestConnectionStateAndClockDriftAreShown(t *testing.T) {
	h := newHarness(t, deviceClockOff(45*time.Second))
	h.enrollThroughTheApp("kim")
	h.mustShow("Example Org · "+strings.TrimPrefix(h.url, "http://")+" — connected", "kim · push: connected")
	h.waitForText("This device's clock is 45s ahead of Example Org's")

	// The server goes away: the app says it is reconnecting.
	h.srv.Close()
	h.waitForText("reconnecting")
}

func TestTheTrayOffersCodesShowAndQuit(t *testing.T) {
	h := newHarness(t)
	if _, err := h.core.AddOTP(githubURI); err != nil {
		t.Fatal(err)
	}
	h.tick(0)
	m := h.u.trayMenu()
	var labels []string
	for _, it := range m.Items {
		labels = append(labels, it.Label)
	}
	got := strings.Join(labels, "|")
	if got != "Copy code|Show Assent||Quit" {
		t.Fatalf("tray menu %q", got)
	}
	if !m.Items[len(m.Items)-1].IsQuit {
		t.Fatal("Quit is not the quit item")
	}
	m.Items[0].ChildMenu.Items[0].Action()
	if got := h.app.Clipboard().Content(); got != h.codeNow(githubURI) {
		t.Fatalf("the tray copied %q", got)
	}
}
