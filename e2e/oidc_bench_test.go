package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"github.com/seed-3a5b824e/assent/server"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	assentoidc "github.com/seed-3a5b824e/assent/server/oidc"
)

// BenchmarkOIDCCodeExchange measures the token endpoint over real HTTP:
// each operation exchanges one code (client secret and PKCE checked, the
// code claimed in the store, an access and a refresh token stored, an
// RS256 ID token signed, the audit event written). Next to it, the same
// run measures how fast one core signs RS256 with a 2048-bit key, and
// reports the ratio: how many exchanges cost one signature's time, so
// that the figure says how much the store and HTTP add to the signature
// whatever the machine. The codes are made beforehand, untimed (single
// sign-on: authorize, login step, callback).
func BenchmarkOIDCCodeExchange(b *testing.B) {
	e, _ := newOIDCEnv(b, assentoidc.Options{}, func(o *server.Options) { o.Limits.SourceRate = -1 })
	_, d, _ := e.enrolled("bench")
	rp := newRelyingParty(b, e, "grafana", nil)
	br := newWebBrowser(b, e)
	br.signInTo(rp, "bench", d)
	tokenURL := e.url + assentoidc.PathToken

	type code struct{ code, verifier string }
	codes := make([]code, b.N)
	for i := range codes {
		pg := br.get(rp.authURL())
		codes[i] = code{rp.codeFrom(pg.away), rp.pkce}
	}
	client := &http.Client{Timeout: 30 * time.Second}
	b.ResetTimer()
	start := time.Now()
	for _, c := range codes {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {c.code}, "code_verifier": {c.verifier}, "redirect_uri": {rp.conf.RedirectURL}}
		req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(rp.app.ID), url.QueryEscape(rp.secret))
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("exchange answered %d", resp.StatusCode)
		}
	}
	exchanges := float64(b.N) / time.Since(start).Seconds()
	b.StopTimer()

	signs := rs256SignRate(b)
	b.ReportMetric(exchanges, "exchanges/s")
	b.ReportMetric(signs, "rs256-signs/s")
	b.ReportMetric(exchanges/signs, "exchanges/sign")
}

// rs256SignRate is RS256 signatures a second on one core, over a payload
// the size of an ID token's.
func rs256SignRate(b *testing.B) float64 {
	key, err := rsa.GenerateKey(rand.Reader, assentoidc.RSAKeyBits)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 600)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}
	n := 0
	start := time.Now()
	for time.Since(start) < time.Second || n < 50 {
		if _, err := signer.Sign(payload); err != nil {
			b.Fatal(err)
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds()
}
