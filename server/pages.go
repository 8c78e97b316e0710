package server

// The hosted pages: sign-in, recovery, profile, enrollment, the account
// page, a small admin area and the development mail sink, rendered on the
// server from assets/web. They drive the same engine as the JSON API, in
// process, through (*Server).Step.
//
// Nodes keep no page state: a transaction's page state (its state handle,
// where to go when done, a message to show once, an enrollment link being
// offered) travels in a sealed cookie, and the keys for that cookie and for
// CSRF tokens are derived from the seal key, so every node agrees.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/hkdf"

	"github.com/seed-3a5b824e/assent/assets"
	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server/store"
)

// Paths of the hosted pages.
const (
	PathSignIn  = "/signin"
	PathRecover = "/recover"
	PathAccount = "/account"
	PathAdmin   = "/admin"
	PathSignOut = "/signout"
	PathDevMail = "/dev/mail"
	pathStep    = "/signin/step"
	pathPoll    = "/signin/poll"
)

// AdminGroup is the group whose members may use the admin pages.
const AdminGroup = "admins"

// PageCSP is the Content-Security-Policy of every hosted page: scripts,
// styles and connections from this origin only (and the Assent app's
// same-device ports on loopback), images from here or inline data (the
// enrollment QR code), forms posted only here, and no framing.
var PageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'" +
	sameDeviceSources() + "; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// sameDeviceSources lists the app's loopback ports for connect-src (CSP has
// no port ranges).
func sameDeviceSources() string {
	var b strings.Builder
	for port := push.SameDeviceFirstPort; port <= push.SameDeviceLastPort; port++ {
		fmt.Fprintf(&b, " http://%s:%d", push.SameDeviceHost, port)
	}
	return b.String()
}

// sameDevicePorts is the same range for the page's script.
func sameDevicePorts() string {
	var ports []string
	for port := push.SameDeviceFirstPort; port <= push.SameDeviceLastPort; port++ {
		ports = append(ports, strconv.Itoa(port))
	}
	return strings.Join(ports, ",")
}

// maxFormBytes bounds a page's form body.
const maxFormBytes = 64 << 10

// pages holds what the hosted pages need besides the engine.
type pages struct {
	s       *Server
	tmpl    map[string]*template.Template
	csrfKey []byte
	sealer  *crypto.Sealer
	secure  bool
	origin  string
	mail    *MailSink
	txLocks keyedMutex
}

// deriveKey derives a 32-byte key for one purpose from the seal key.
func deriveKey(secret []byte, purpose string) []byte {
	key := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, secret, nil, []byte("assent hosted pages: "+purpose)), key); err != nil {
		panic("hkdf: " + err.Error()) // only when asking for more than 255 blocks
	}
	return key
}

func newPages(s *Server) (*pages, error) {
	sealer, err := crypto.NewSealer(deriveKey(s.opts.SealKey, "cookies"))
	if err != nil {
		return nil, fmt.Errorf("hosted pages: %w", err)
	}
	tmpl, err := parseTemplates()
	if err != nil {
		return nil, fmt.Errorf("hosted pages: %w", err)
	}
	u, err := url.Parse(s.opts.URL)
	if err != nil {
		return nil, fmt.Errorf("hosted pages: server URL: %w", err)
	}
	p := &pages{
		s: s, tmpl: tmpl, csrfKey: deriveKey(s.opts.SealKey, "csrf"), sealer: sealer,
		secure: u.Scheme == "https", origin: u.Scheme + "://" + u.Host,
	}
	if ms, ok := s.opts.Mailer.(*MailSink); ok {
		p.mail = ms
	}
	return p, nil
}

func (p *pages) routes(m *http.ServeMux) {
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, PathAccount, http.StatusSeeOther)
	})
	m.HandleFunc("GET "+PathSignIn, p.handleStart)
	m.HandleFunc("GET "+PathRecover, p.handleStart)
	m.HandleFunc("GET "+pathStep, p.handleStepPage)
	m.HandleFunc("POST "+pathStep, p.handleStep)
	m.HandleFunc("POST "+pathPoll, p.handlePoll)
	m.HandleFunc("GET "+PathAccount, p.handleAccount)
	m.HandleFunc("POST "+PathAccount+"/devices", p.handleAddDevice)
	m.HandleFunc("GET "+PathAccount+"/devices/{id}/remove", p.handleRemoveDevicePage)
	m.HandleFunc("POST "+PathAccount+"/devices/{id}/remove", p.handleRemoveDevice)
	m.HandleFunc("POST "+PathAccount+"/signout-everywhere", p.handleSignOutEverywhere)
	m.HandleFunc("POST "+PathAccount+"/passkeys", p.handleAddPasskey)
	m.HandleFunc("POST "+PathAccount+"/passkeys/{id}/remove", p.handleRemovePasskey)
	m.HandleFunc("GET "+PathSignOut, p.handleSignOutPage)
	m.HandleFunc("POST "+PathSignOut, p.handleSignOut)
	m.HandleFunc("GET "+PathAdmin, p.handleAdminUsers)
	m.HandleFunc("GET "+PathAdmin+"/audit", p.handleAdminAudit)
	m.HandleFunc("GET "+PathAdmin+"/devices/{id}/revoke", p.handleAdminRevokePage)
	m.HandleFunc("POST "+PathAdmin+"/devices/{id}/revoke", p.handleAdminRevoke)
	m.HandleFunc("POST "+PathAdmin+"/users/{id}/reset-risk", p.handleAdminResetRisk)
	m.HandleFunc("POST "+PathAdmin+"/passkeys/{id}/remove", p.handleAdminRemovePasskey)
	m.HandleFunc("GET "+PathAdmin+"/apps", p.handleAdminApps)
	m.HandleFunc("POST "+PathAdmin+"/apps", p.handleAdminAddApp)
	m.HandleFunc("POST "+PathAdmin+"/apps/{name}/remove", p.handleAdminRemoveApp)
	m.HandleFunc("GET "+PathDevMail, p.handleDevMail)
}

// assetHandler serves /assets/ with the pages' security headers.
func assetHandler() http.Handler {
	files := http.StripPrefix("/assets/", http.FileServerFS(assets.FS))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header())
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", PageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// Templates.

func parseTemplates() (map[string]*template.Template, error) {
	names, err := fs.Glob(assets.FS, "web/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, file := range names {
		name := strings.TrimSuffix(path.Base(file), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(templateFuncs).ParseFS(assets.FS, "web/layout.html", file)
		if err != nil {
			return nil, err
		}
		out[name] = t
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no templates under assets/web")
	}
	return out, nil
}

var authTitles = map[string][2]string{
	sdk.AuthPassword:   {"Use my password", "Sign in with your password (and add a device if you have none)"},
	sdk.AuthPush:       {"Get a push notification", "Approve the request in the Assent app"},
	sdk.AuthTOTP:       {"Enter a code", "Type the 6-digit code the Assent app shows"},
	sdk.AuthEmail:      {"Email me a link", "Open a one-time link sent to your email"},
	sdk.AuthWebAuthn:   {"Use a passkey or security key", "Your screen lock, your phone, or a security key"},
	sdk.AuthSameDevice: {"Use the Assent app on this computer", "Confirm in the app running here; a push if it is not"},
}

var templateFuncs = template.FuncMap{
	"has": slices.Contains[[]string],
	"authTitle": func(a string) string {
		if t, ok := authTitles[a]; ok {
			return t[0]
		}
		return a
	},
	"authHint": func(a string) string { return authTitles[a][1] },
	"label":    attrLabel,
	"when":     formatWhen,
	"day":      func(t time.Time) string { return t.UTC().Format("2 Jan 2006") },
	"stamp":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
	"join":     strings.Join,
	"shortID":  shortID,
	"seen":     formatSeen,
	"switchTo": func(csrf, auth, id, label string) switchButton { return switchButton{csrf, auth, id, label} },
}

// switchButton is what the "switch" template draws: a button that
// changes the way to verify.
type switchButton struct{ CSRF, Auth, ID, Label string }

// formatWhen is how the pages show a time.
func formatWhen(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2 Jan 2006, 15:04 UTC")
}

// attrLabel turns a profile attribute name into a label.
func attrLabel(attr string) string {
	switch attr {
	case "email":
		return "Email address"
	case "phone", "mobile":
		return "Phone number"
	}
	var b strings.Builder
	for i, r := range attr {
		switch {
		case r == '_' || r == '-' || r == '.':
			b.WriteRune(' ')
		case i > 0 && unicode.IsUpper(r):
			b.WriteRune(' ')
			b.WriteRune(unicode.ToLower(r))
		case i == 0:
			b.WriteRune(unicode.ToUpper(r))
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// view is what every template receives; each page uses the fields it needs.
type view struct {
	// Page is the template's name, on <main data-page> for tests and
	// styles.
	Page   string
	Org    string
	CSRF   string
	Error  *pageMsg
	Notice string
	// User is the signed-in login, shown in the header.
	User  string
	Admin bool
	Wide  bool
	// Refresh is where a waiting page goes every few seconds when
	// JavaScript is off.
	Refresh string
	Focus   bool // focus the first field (no error to focus)

	// A transaction's pages.
	Kind      string
	App       string
	Login     string
	Number    int
	Options   []string
	Message   string
	QR        template.URL
	Link      template.URL
	LinkText  string
	Fields    []string
	MinLength int
	StartOver string
	Recover   string
	Title     string
	Text      string
	Back      string
	BackText  string
	// WebAuthn is the options for the browser's passkey call (JSON), read
	// by passkey.js; Passkey says an enroll transaction adds a passkey.
	WebAuthn string
	Passkey  bool
	// SameDevice is the challenge samedevice.js hands to the Assent app on
	// this computer, at one of SameDevicePorts (comma-separated).
	SameDevice      string
	SameDevicePorts string

	Account *accountView
	Users   []adminUser
	Audit   []auditRow
	Newer   string
	Older   string
	Mail    []mailView
	MailOn  bool
	// Token is the magic link a landing page confirms with a button.
	Token string
	// Apps are the registered apps, Kinds the types fronts add, and
	// Created the app just added with its secret, shown once (admin).
	Apps    []appRow
	Kinds   []AppKind
	Created *createdApp
	// Confirm is what a confirmation page asks (revoking or removing a
	// device).
	Confirm *confirmView
}

// confirmView is a page that asks before something that cannot be undone:
// the device it acts on, and a form that does it. Token is bound to the
// session, the action and the device, so only this page can make the post
// that does it.
type confirmView struct {
	Device     store.Device
	Owner      string
	Action     string
	Token      string
	Button     string
	Cancel     string
	CancelText string
	// Last says the device is the person's only one.
	Last bool
}

// appRow is a registered app with its settings as people read them.
type appRow struct {
	store.App
	Settings []AppSetting
}

// createdApp is an app just added, with the secret said this once.
type createdApp struct {
	Name, ID, Secret string
}

// pageMsg is an error shown at the top of a page.
type pageMsg struct {
	Title  string
	Detail string
}

func (p *pages) render(w http.ResponseWriter, status int, name string, v *view) {
	t, ok := p.tmpl[name]
	if !ok {
		p.s.log.Error("hosted pages: no template", "name", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	v.Page, v.Org = name, p.s.opts.Org
	v.Focus = v.Error == nil
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		p.s.log.Error("hosted pages: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	if status == http.StatusServiceUnavailable && h.Get("Retry-After") == "" {
		h.Set("Retry-After", strconv.Itoa(noSpaceRetry))
	}
	setSecurityHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// message renders a page that only says something.
func (p *pages) message(w http.ResponseWriter, status int, title, text, back, backText string) {
	p.render(w, status, "message", &view{Title: title, Text: text, Back: back, BackText: backText})
}

// notFound is the hosted pages' 404: the site's own page, which never
// repeats the address asked for (it would put the asker's words on a page
// with the organization's name).
func (p *pages) notFound(w http.ResponseWriter) {
	p.render(w, http.StatusNotFound, "notfound", &view{Title: "Page not found"})
}

// apiPrefixes are the paths of the JSON APIs (the engine's, the admin
// API, the device protocol), the OpenID Connect provider and the
// operator endpoints: an unknown address under them is answered in JSON.
var apiPrefixes = []string{"/v1/", "/oidc/", "/.well-known/", "/assets/", "/debug/"}

// apiPaths are single addresses answered in JSON.
var apiPaths = []string{"/v1", "/oidc", "/healthz", "/readyz", "/metrics"}

// handleNotFound answers a request no route takes. A person who mistyped
// a page's address (a GET or HEAD outside the APIs, from a client that
// takes HTML) gets the site's 404 page; an API client gets the JSON error
// the APIs always give.
func (p *pages) handleNotFound(w http.ResponseWriter, r *http.Request) {
	if wantsPage(r) {
		p.notFound(w)
		return
	}
	notFound(w, r)
}

// wantsPage says whether an unknown address is a hosted page's: asked for
// with GET or HEAD, outside the API paths, by a client that does not ask
// for JSON alone.
func wantsPage(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	path := r.URL.Path
	if slices.Contains(apiPaths, path) || slices.ContainsFunc(apiPrefixes, func(pre string) bool { return strings.HasPrefix(path, pre) }) {
		return false
	}
	accept := r.Header.Get("Accept")
	return !(strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html"))
}

// shortID is the part of a device's ID the pages show, enough to tell two
// devices of one person apart ("dev_Xy3…" shows as "Xy3k9Q").
func shortID(id string) string {
	if _, rest, ok := strings.Cut(id, "_"); ok {
		id = rest
	}
	if len(id) > 6 {
		id = id[:6]
	}
	return id
}

// formatSeen is how the pages say when a device was last seen.
func formatSeen(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return formatWhen(t)
}

func (p *pages) csrfRefused(w http.ResponseWriter) {
	p.message(w, http.StatusForbidden, "This form has expired",
		"The request was refused because it did not carry this page's security token. Go back, reload the page and try again.",
		PathSignIn, "Start again")
}

// Cookies.

func (p *pages) cookieName(name string) string {
	if p.secure {
		return "__Host-assent-" + name
	}
	return "assent-" + name
}

func (p *pages) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: p.cookieName(name), Value: value, Path: "/", HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode}
	if maxAge < 0 {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(w, c)
}

func (p *pages) cookie(r *http.Request, name string) string {
	c, err := r.Cookie(p.cookieName(name))
	if err != nil {
		return ""
	}
	return c.Value
}

// deviceID is the browser's stable random id, made on first sight; risk
// uses it to tell known browsers from new ones.
func (p *pages) deviceID(w http.ResponseWriter, r *http.Request) string {
	if id := p.cookie(r, "device"); len(id) >= 22 && len(id) <= 64 && isBase64URL(id) {
		return id
	}
	id := crypto.RandomToken(16)
	p.setCookie(w, "device", id, 400*24*time.Hour)
	return id
}

func isBase64URL(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	})
}

// pageTx is a transaction's page state, kept in a sealed cookie.
type pageTx struct {
	Handle string `json:"h"`
	Kind   string `json:"k,omitempty"`
	App    string `json:"a,omitempty"`
	Return string `json:"r,omitempty"`
	Login  string `json:"l,omitempty"`
	// Enroll is the enrollment link on offer: the engine answers it once,
	// so the page keeps it to draw the QR code again.
	Enroll string `json:"e,omitempty"`
	// Passkey says the transaction adds a passkey (not a device).
	Passkey bool   `json:"p,omitempty"`
	Flash   *flash `json:"f,omitempty"`
}

// flash is a message to show once, on the next page.
type flash struct {
	Code    string `json:"c"`
	Message string `json:"m,omitempty"`
	Notice  bool   `json:"n,omitempty"`
}

var txCookieAAD = []byte("assent:pages:tx")

func (p *pages) saveTx(w http.ResponseWriter, t *pageTx) {
	data, _ := json.Marshal(t)
	p.setCookie(w, "tx", base64.RawURLEncoding.EncodeToString(p.sealer.Seal(data, txCookieAAD)), txTTL)
}

func (p *pages) loadTx(r *http.Request) (*pageTx, bool) {
	v := p.cookie(r, "tx")
	if v == "" || len(v) > 4096 {
		return nil, false
	}
	sealed, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return nil, false
	}
	data, err := p.sealer.Open(sealed, txCookieAAD)
	if err != nil {
		return nil, false
	}
	var t pageTx
	if json.Unmarshal(data, &t) != nil || t.Handle == "" {
		return nil, false
	}
	return &t, true
}

// CSRF: a token is the HMAC of what the form acts on (the transaction's
// state handle, or the session token), so only a page that came from this
// server to this browser can carry it.

func (p *pages) csrfFor(binding string) string {
	m := hmac.New(sha256.New, p.csrfKey)
	m.Write([]byte(binding))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkPost parses a bounded form and checks its origin and CSRF token.
func (p *pages) checkPost(w http.ResponseWriter, r *http.Request, binding string) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return false
	}
	if !p.sameOrigin(r) {
		return false
	}
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostForm.Get("csrf")
	}
	want := p.csrfFor(binding)
	return binding != "" && got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// sameOrigin says whether a post came from this server's own pages.
// Browsers say where a form came from: refuse any other site. (With
// Referrer-Policy no-referrer the Origin of a form post is "null".)
func (p *pages) sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" && o != "null" && o != p.origin {
		return false
	}
	if sfs := r.Header.Get("Sec-Fetch-Site"); sfs != "" && sfs != "same-origin" && sfs != "none" {
		return false
	}
	return true
}

func txBinding(t *pageTx) string       { return "tx:" + t.Handle }
func sessionBinding(tok string) string { return "session:" + tok }

// safeReturn keeps a return path only when it stays on this origin: an
// absolute path, not protocol-relative, with no scheme, host or
// backslash.
func safeReturn(s string) string {
	if s == "" || len(s) > 512 || !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") ||
		strings.ContainsAny(s, "\\\x00\r\n\t") || !utf8.ValidString(s) {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return ""
	}
	return s
}

// keyedMutex serializes the page requests of one transaction on this
// node, so that the live poll and a button press never race in the engine.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu sync.Mutex
	n  int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedEntry{}
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.n++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		if e.n--; e.n == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
