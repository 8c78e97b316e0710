package oidc

// The provider's own pages (the device code form and its confirmation, the
// sign-out confirmation, and the error pages of the authorize endpoint)
// are drawn with the hosted pages' layout and stylesheet, under the same
// security headers. Their forms carry a CSRF token: the HMAC of what the
// form acts on under a key of the provider's own, kept sealed in the
// store so that every node agrees.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/seed-3a5b824e/assent/assets"
	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
)

//go:embed templates/*.html
var templateFS embed.FS

// pageCSP is the hosted pages' Content-Security-Policy.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

const pagesKeySecret = "oidc-pages-key"

type pages struct {
	s      *server.Server
	tmpl   map[string]*template.Template
	key    []byte
	secure bool
	origin string
}

// view is what the layout and the provider's templates read.
type view struct {
	// The layout's fields.
	Title   string
	Org     string
	Page    string
	Refresh string
	Wide    bool
	User    string
	Admin   bool
	Error   *pageMsg
	Notice  string
	Focus   bool
	// The provider's.
	Text     string
	Back     string
	BackText string
	CSRF     string
	Code     string
	App      string
	Login    string
	ID       string
	FromIP   string
	Expires  string
	// Next is where the continue page goes.
	Next string
}

type pageMsg struct{ Title, Detail string }

var pageNames = []string{"message", "device", "device_confirm", "logout"}

func newPages(ctx context.Context, s *server.Server) (*pages, error) {
	key, err := pagesKey(ctx, s)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(s.URL())
	if err != nil {
		return nil, err
	}
	p := &pages{s: s, tmpl: map[string]*template.Template{}, key: key, secure: u.Scheme == "https", origin: u.Scheme + "://" + u.Host}
	for _, name := range pageNames {
		t, err := template.New("layout.html").ParseFS(assets.FS, "web/layout.html")
		if err != nil {
			return nil, fmt.Errorf("pages: layout: %w", err)
		}
		if t, err = t.ParseFS(templateFS, "templates/"+name+".html"); err != nil {
			return nil, fmt.Errorf("pages: %s: %w", name, err)
		}
		p.tmpl[name] = t
	}
	t, err := template.ParseFS(templateFS, "templates/continue.html")
	if err != nil {
		return nil, fmt.Errorf("pages: continue: %w", err)
	}
	p.tmpl["continue"] = t
	return p, nil
}

// pagesKey is the provider's CSRF key: made once, sealed in the store.
func pagesKey(ctx context.Context, s *server.Server) ([]byte, error) {
	aad := []byte("assent:" + pagesKeySecret)
	sealed, err := s.Store().GetSecret(ctx, pagesKeySecret)
	if errors.Is(err, store.ErrNotFound) {
		sealed, err = s.Store().PutSecretIfAbsent(ctx, pagesKeySecret, s.Seal(crypto.RandomBytes(32), aad))
	}
	if err != nil {
		return nil, fmt.Errorf("pages key: %w", err)
	}
	key, err := s.Open(sealed, aad)
	if err != nil {
		return nil, fmt.Errorf("open the pages key: %w: the seal key is not the one this database was made with", err)
	}
	return key, nil
}

func setPageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

func (p *pages) render(w http.ResponseWriter, status int, name, page string, v *view) {
	t, ok := p.tmpl[name]
	if !ok {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	v.Page, v.Org = page, p.s.Org()
	v.Focus = v.Error == nil
	var buf bytes.Buffer
	root := "layout.html"
	if name == "continue" {
		root = "continue.html"
	}
	if err := t.ExecuteTemplate(&buf, root, v); err != nil {
		p.s.Logger().Error("openid connect: render page", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	setPageHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// message is a page that only says something.
func (p *pages) message(w http.ResponseWriter, status int, title, text string) {
	p.render(w, status, "message", "oidc-message", &view{Title: title, Text: text})
}

// goOn sends the browser on with a page that moves by itself (a meta
// refresh, and a button without one) rather than a redirect. A redirect
// that ends a form's post at another site is refused by the pages'
// Content-Security-Policy (form-action 'self' holds for every redirect
// after a form is sent); a new navigation from a page is not a form's.
func (p *pages) goOn(w http.ResponseWriter, page, title, text, next string) {
	p.render(w, http.StatusOK, "continue", page, &view{Title: title, Text: text, Next: next})
}

func (p *pages) unavailable(w http.ResponseWriter) {
	p.message(w, http.StatusServiceUnavailable, "Try again shortly", "The server cannot reach its database just now. Wait a moment and try again.")
}

func (p *pages) mac(binding string) string {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(binding))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkPost parses a bounded form and checks where it came from and its
// CSRF token.
func (p *pages) checkPost(w http.ResponseWriter, r *http.Request, binding string) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil || !p.sameOrigin(r) {
		return false
	}
	got := r.PostForm.Get("csrf")
	return binding != "" && got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(p.mac(binding))) == 1
}

// sameOrigin refuses a post from another site (browsers say where a form
// came from; under no-referrer its Origin is "null").
func (p *pages) sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" && o != "null" && o != p.origin {
		return false
	}
	if sfs := r.Header.Get("Sec-Fetch-Site"); sfs != "" && sfs != "same-origin" && sfs != "none" {
		return false
	}
	return true
}

func (p *pages) csrfRefused(w http.ResponseWriter) {
	p.message(w, http.StatusForbidden, "This form has expired",
		"The request was refused because it did not carry this page's security token. Go back, reload the page and try again.")
}

func (p *pages) cookieName() string {
	if p.secure {
		return "__Host-assent-oidc"
	}
	return "assent-oidc"
}

// browserNonce is a random value kept in a cookie, to bind the forms of a
// browser that is not signed in yet.
func (p *pages) browserNonce(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(p.cookieName()); err == nil && len(c.Value) == 43 && isBase64URL(c.Value) {
		return c.Value
	}
	v := crypto.RandomToken(32)
	http.SetCookie(w, &http.Cookie{Name: p.cookieName(), Value: v, Path: "/", HttpOnly: true, Secure: p.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int((24 * time.Hour).Seconds())})
	return v
}

func (p *pages) cookieNonce(r *http.Request) string {
	if c, err := r.Cookie(p.cookieName()); err == nil && len(c.Value) == 43 && isBase64URL(c.Value) {
		return c.Value
	}
	return ""
}
