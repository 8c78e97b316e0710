package e2e

// OpenID Connect in Chromium: the relying party's link, the hosted pages
// with a real device approving the push, back to the relying party — with
// the pages' script and without it (the push page's "Check now", then a
// page that moves on by itself), and single sign-on to a second client.

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	assentoidc "github.com/seed-3a5b824e/assent/server/oidc"
)

// rpSite is a relying party's web site: its callback page only says it
// was reached (the test redeems the code).
func rpSite(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!doctype html><html lang="en"><head><title>RP</title></head><body><main data-page="rp-callback"><h1>Back at the app</h1></main></body></html>`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/callback"
}

// atRP waits for the relying party's callback page and returns its URL.
func (b *browser) atRP() *url.URL {
	b.t.Helper()
	b.do(chromedp.WaitVisible(chromedp.CSS(`main[data-page="rp-callback"]`)))
	u, err := url.Parse(run(b, chromedp.Location()))
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

func testOIDCInChromium(t *testing.T, script bool) {
	e, _ := newOIDCEnv(t, assentoidc.Options{})
	u, d, _ := e.enrolled("mia")
	site := rpSite(t)
	grafana := newRelyingParty(t, e, "grafana", map[string][]string{assentoidc.SettingRedirectURI: {site}})
	gitea := newRelyingParty(t, e, "gitea", map[string][]string{assentoidc.SettingRedirectURI: {site}, assentoidc.SettingIDTokenAlg: {"ES256"}})
	b := newBrowser(t, e)
	if !script {
		b.do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		}))
	}
	b.do(chromedp.Navigate(grafana.authURL()))
	b.page("signin")
	b.fill("login", "mia")
	b.click("next")
	b.page("password")
	b.fill("passcode", "correct horse battery")
	b.click("verify")
	b.page("select")
	b.click("choose-push")
	b.approve(d, b.pushNumber())
	if !script {
		b.click("check")
	}
	si := grafana.exchange(grafana.codeFrom(b.atRP()))
	if si.claims.Subject != u.ID || si.claims.ACR != assentoidc.ACRMFA {
		t.Fatalf("claims %+v", si.claims)
	}
	// Single sign-on: the second client's link comes straight back.
	b.do(chromedp.Navigate(gitea.authURL()))
	si2 := gitea.exchange(gitea.codeFrom(b.atRP()))
	if si2.claims.SID != si.claims.SID || si2.claims.AuthTime != si.claims.AuthTime {
		t.Fatalf("single sign-on claims %+v, first %+v", si2.claims, si.claims)
	}
	if ps, _ := d.Challenges(e.ctx); len(ps) != 0 {
		t.Fatal("single sign-on sent a push")
	}
}

func TestOIDCInChromium(t *testing.T) { testOIDCInChromium(t, true) }

func TestOIDCInChromiumWithoutJavaScript(t *testing.T) { testOIDCInChromium(t, false) }
