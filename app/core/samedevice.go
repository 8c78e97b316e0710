package core

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/push"
)

// Same-device sign-in (DESIGN.md, "Same-device proof"): while the app runs
// it serves one route on 127.0.0.1, push.PathSameDevice, on the first free
// port of push.SameDeviceFirstPort..push.SameDeviceLastPort. A sign-in page
// served from the origin of an enrolled Assent account's server posts the
// server's signed challenge there; the app checks the challenge with the
// account's pinned server key, asks the person, and answers a proof signed
// by the account's device key that names the origin it saw. Nothing on that
// port answers other origins, other Host names or other paths with more
// than a bare status, so a page elsewhere learns nothing, not even that
// Assent runs.

// SameDeviceAsk is a same-device request waiting for the person: "Sign in
// to Org as Account.Name in this browser?", from Origin, for App.
type SameDeviceAsk struct {
	Account Account
	// Origin is the browser page's origin (its server's).
	Origin string
	// Org and App are what the server says the sign-in is for.
	Org, App string
	// UserVerification is the challenge's push.UVRequired, UVPreferred or
	// UVNone.
	UserVerification string
	// ID is the challenge's id (jti).
	ID      string
	Expires time.Time

	c        *Core
	verified *atomic.Bool
}

// OrgName is the organisation to name to the person: the server's word,
// else the account's issuer.
func (a SameDeviceAsk) OrgName() string {
	for _, s := range []string{a.Org, a.Account.Issuer} {
		if s != "" {
			return s
		}
	}
	return a.Account.Server
}

// WantsVerification says whether approving asks for the app lock first,
// as for a push (Core.WantsVerification): always when the challenge
// requires user verification — with an error wrapping ErrNoAppLock when no
// lock is set — and when it prefers it and a lock is set.
func (a SameDeviceAsk) WantsVerification() (bool, error) {
	return a.c.WantsVerification(Prompt{Challenge: &push.Challenge{ChallengeClaims: push.ChallengeClaims{UserVerification: a.UserVerification}}})
}

// Verify checks the app lock (Core.CheckUnlock); once it passed, the proof
// says the person verified themselves (uv: true).
func (a SameDeviceAsk) Verify(secret []byte) error {
	if err := a.c.CheckUnlock(secret); err != nil {
		return err
	}
	a.verified.Store(true)
	return nil
}

// Verified says whether Verify passed for this request.
func (a SameDeviceAsk) Verified() bool { return a.verified != nil && a.verified.Load() }

// SameDeviceDecision is the person's answer.
type SameDeviceDecision struct {
	// Approve signs the browser in. When the challenge requires user
	// verification, Verify must have passed first, or the answer is
	// declined.
	Approve bool
}

// SameDeviceAskFunc asks the person about a same-device request and waits
// for the answer. ctx ends when the challenge expires, the page gives up,
// or the app stops; the prompt should go away then. Only one request is
// asked at a time.
type SameDeviceAskFunc func(ctx context.Context, a SameDeviceAsk) (SameDeviceDecision, error)

// ErrSameDevicePortsTaken means every port of the same-device range is in
// use (another Assent, or something else).
var ErrSameDevicePortsTaken = errors.New("same-device sign-in is off: every port it may use is taken")

// sameDevicePorts is the spec's range.
func sameDevicePorts() []int {
	var ps []int
	for p := push.SameDeviceFirstPort; p <= push.SameDeviceLastPort; p++ {
		ps = append(ps, p)
	}
	return ps
}

// ServeSameDevice starts the same-device loopback server on the first free
// port of push.SameDeviceFirstPort..push.SameDeviceLastPort of 127.0.0.1
// and serves until ctx ends, asking the person through ask. It returns the
// address it listens on, or ErrSameDevicePortsTaken.
func (c *Core) ServeSameDevice(ctx context.Context, ask SameDeviceAskFunc) (addr string, err error) {
	return c.serveSameDevice(ctx, ask, sameDevicePorts())
}

func (c *Core) serveSameDevice(ctx context.Context, ask SameDeviceAskFunc, ports []int) (string, error) {
	if ask == nil {
		return "", errors.New("same-device sign-in: nothing to ask the person with")
	}
	var ln net.Listener
	for _, p := range ports {
		l, err := net.Listen("tcp", net.JoinHostPort(push.SameDeviceHost, strconv.Itoa(p)))
		if err == nil {
			ln = l
			break
		}
	}
	if ln == nil {
		return "", fmt.Errorf("%w (%s ports %d–%d; is Assent already running?)", ErrSameDevicePortsTaken, push.SameDeviceHost, ports[0], ports[len(ports)-1])
	}
	h := c.sameDeviceHandler(ask, ln.Addr().(*net.TCPAddr).Port)
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		// The answer waits for the person, at most the challenge's life.
		WriteTimeout:   (push.MaxSameDeviceLifetime + 30) * time.Second,
		IdleTimeout:    30 * time.Second,
		MaxHeaderBytes: 8 << 10,
		BaseContext:    func(net.Listener) context.Context { return ctx },
		ErrorLog:       log.New(io.Discard, "", 0),
	}
	// One preflight and one POST a sign-in: nothing to keep a connection
	// for, and a 408 on a reused connection is one a browser may resend
	// rather than show.
	srv.SetKeepAlivesEnabled(false)
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return ln.Addr().String(), nil
}

// sameDeviceHandler is the loopback server's one handler.
type sameDeviceHandler struct {
	c     *Core
	ask   SameDeviceAskFunc
	hosts [2]string
	busy  chan struct{}
}

func (c *Core) sameDeviceHandler(ask SameDeviceAskFunc, port int) *sameDeviceHandler {
	p := strconv.Itoa(port)
	return &sameDeviceHandler{c: c, ask: ask, hosts: [2]string{push.SameDeviceHost + ":" + p, "localhost:" + p}, busy: make(chan struct{}, 1)}
}

// bare answers a status with no body and no CORS headers: what anything
// but a legitimate origin gets.
func bare(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
}

// answer is a JSON answer to a legitimate origin.
func (h *sameDeviceHandler) answer(w http.ResponseWriter, origin string, status int, a push.SameDeviceAnswer) {
	hd := w.Header()
	hd.Set("Access-Control-Allow-Origin", origin)
	hd.Set("Vary", "Origin")
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(a)
}

func (h *sameDeviceHandler) fail(w http.ResponseWriter, origin string, status int, code, msg string) {
	h.answer(w, origin, status, push.SameDeviceAnswer{Error: code, Message: msg})
}

// hostAllowed refuses every Host but the loopback address itself, so a
// name rebound to 127.0.0.1 (DNS rebinding) gets nothing.
func (h *sameDeviceHandler) hostAllowed(host string) bool {
	return strings.EqualFold(host, h.hosts[0]) || strings.EqualFold(host, h.hosts[1])
}

// accountsOf are the Assent accounts whose server's origin is origin.
func (h *sameDeviceHandler) accountsOf(origin string) []Account {
	if origin == "" {
		return nil
	}
	var out []Account
	for _, a := range h.c.assentAccounts() {
		if o, err := push.Origin(a.Server); err == nil && o == origin {
			out = append(out, a)
		}
	}
	return out
}

func (h *sameDeviceHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.hostAllowed(r.Host) {
		bare(w, http.StatusForbidden)
		return
	}
	if r.URL.Path != push.PathSameDevice {
		bare(w, http.StatusNotFound)
		return
	}
	origins := r.Header.Values("Origin")
	if len(origins) != 1 {
		bare(w, http.StatusForbidden)
		return
	}
	origin := origins[0]
	accts := h.accountsOf(origin)
	if len(accts) == 0 {
		bare(w, http.StatusForbidden)
		return
	}
	switch r.Method {
	case http.MethodOptions:
		if r.Header.Get("Access-Control-Request-Method") != http.MethodPost {
			bare(w, http.StatusForbidden)
			return
		}
		hd := w.Header()
		hd.Set("Access-Control-Allow-Origin", origin)
		hd.Set("Access-Control-Allow-Methods", http.MethodPost)
		hd.Set("Access-Control-Allow-Headers", "Content-Type")
		hd.Set("Access-Control-Max-Age", "600")
		hd.Set("Vary", "Origin")
		if strings.EqualFold(r.Header.Get("Access-Control-Request-Private-Network"), "true") {
			hd.Set("Access-Control-Allow-Private-Network", "true")
		}
		w.WriteHeader(http.StatusNoContent)
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "POST, OPTIONS")
		h.fail(w, origin, http.StatusMethodNotAllowed, push.SameDeviceBad, "use POST")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		h.fail(w, origin, http.StatusUnsupportedMediaType, push.SameDeviceBad, "the body must be application/json")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, push.MaxSameDeviceBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.fail(w, origin, http.StatusRequestEntityTooLarge, push.SameDeviceBad, fmt.Sprintf("the body is larger than %d bytes", push.MaxSameDeviceBody))
			return
		}
		h.fail(w, origin, http.StatusBadRequest, push.SameDeviceBad, "the body could not be read")
		return
	}
	jws, err := ParseSameDeviceRequest(body)
	if err != nil {
		h.fail(w, origin, http.StatusBadRequest, push.SameDeviceBad, err.Error())
		return
	}
	a, claims, status, code, msg := h.c.checkSameDevice(accts, jws, origin)
	if status != 0 {
		h.fail(w, origin, status, code, msg)
		return
	}
	select {
	case h.busy <- struct{}{}:
		defer func() { <-h.busy }()
	default:
		h.fail(w, origin, http.StatusConflict, push.SameDeviceBusy, "another sign-in is being asked in the Assent app; answer it first")
		return
	}
	ask := SameDeviceAsk{
		Account: a, Origin: origin, Org: claims.Org, App: claims.App, UserVerification: claims.UserVerification,
		ID: claims.ID, Expires: time.Unix(claims.Exp, 0), c: h.c, verified: new(atomic.Bool),
	}
	ctx, cancel := context.WithTimeout(r.Context(), ask.Expires.Sub(h.c.now()))
	defer cancel()
	d, err := h.ask(ctx, ask)
	switch {
	case r.Context().Err() != nil:
		return // the page went away, or the app stops: nobody to answer
	case ctx.Err() != nil:
		h.fail(w, origin, http.StatusRequestTimeout, push.SameDeviceTimeout, "nobody answered in the Assent app before the request expired")
		return
	case err != nil:
		h.fail(w, origin, http.StatusForbidden, push.SameDeviceDeclined, "the Assent app could not ask")
		return
	case !d.Approve:
		h.fail(w, origin, http.StatusForbidden, push.SameDeviceDeclined, "the sign-in was declined in the Assent app")
		return
	}
	uv := ask.Verified()
	if claims.UserVerification == push.UVRequired && !uv {
		msg := "this sign-in asks you to verify it's you in the Assent app, and you did not"
		if h.c.LockKind() == "" {
			msg = "this sign-in asks you to verify it's you, which needs an app lock (PIN or passphrase) in the Assent app; set one and try again"
		}
		h.fail(w, origin, http.StatusForbidden, push.SameDeviceDeclined, msg)
		return
	}
	proof, err := h.c.signSameDeviceProof(a, claims.ID, origin, uv)
	if err != nil {
		h.fail(w, origin, http.StatusInternalServerError, push.SameDeviceBad, "the Assent app could not sign the answer with its device key")
		return
	}
	h.answer(w, origin, http.StatusOK, push.SameDeviceAnswer{Proof: proof})
}

// ParseSameDeviceRequest reads the body a page posts ({challenge}) and
// returns the challenge JWS, unverified.
func ParseSameDeviceRequest(body []byte) (string, error) {
	if len(body) > push.MaxSameDeviceBody {
		return "", fmt.Errorf("the body is larger than %d bytes", push.MaxSameDeviceBody)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var req push.SameDeviceRequest
	if err := dec.Decode(&req); err != nil {
		return "", errors.New("the body is not a JSON object {challenge}")
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", errors.New("the body has more than one JSON value")
	}
	if req.Challenge == "" {
		return "", errors.New("the body has no challenge")
	}
	if len(req.Challenge) > crypto.MaxJWSSize {
		return "", errors.New("the challenge is too long")
	}
	return req.Challenge, nil
}

// checkSameDevice verifies a challenge with the server keys of the accounts
// of its origin and picks the account it names. A non-zero status is the
// answer when it fails.
func (c *Core) checkSameDevice(accts []Account, jws, origin string) (a Account, claims push.SameDeviceClaims, status int, code, msg string) {
	bad := func(m string) (Account, push.SameDeviceClaims, int, string, string) {
		return Account{}, push.SameDeviceClaims{}, http.StatusBadRequest, push.SameDeviceBad, m
	}
	if h, err := crypto.ParseJWSHeader(jws); err != nil {
		return bad("the challenge is not a JWS")
	} else if h.Type != push.TypSameDevice {
		return bad("the challenge is not a same-device challenge")
	}
	var (
		verified bool
		problem  string
		matches  []Account
	)
	for _, acct := range accts {
		key, err := crypto.ParsePublicJWK(acct.ServerKey)
		if err != nil {
			continue
		}
		var cl push.SameDeviceClaims
		if err := crypto.VerifyJWS(jws, key, push.TypSameDevice, &cl); err != nil {
			continue
		}
		verified = true
		if cl.Issuer != acct.Server {
			// Another server of this origin may share the key (a path
			// prefix); what is wrong with the challenge itself says more.
			if problem == "" {
				problem = "the challenge was issued by another server"
			}
			continue
		}
		switch err := cl.Check(); {
		case err != nil:
			problem = err.Error()
			continue
		case cl.Origin != origin:
			problem = "the challenge is for another origin than this page's"
			continue
		case !c.now().Before(time.Unix(cl.Exp, 0)):
			problem = "the challenge has expired"
			continue
		}
		claims = cl
		if strings.EqualFold(acct.Name, cl.Subject) {
			matches = append(matches, acct)
		}
	}
	switch {
	case !verified:
		return bad("the challenge is not signed by the key of the server this device enrolled with")
	case claims.ID == "":
		return bad(problem)
	case len(matches) == 0:
		return Account{}, push.SameDeviceClaims{}, http.StatusNotFound, push.SameDeviceNoAccount, "this device has no account for that user on that server"
	}
	a = matches[0]
	for _, m := range matches[1:] {
		if m.AddedAt.After(a.AddedAt) {
			a = m
		}
	}
	return a, claims, 0, "", ""
}

// signSameDeviceProof signs the proof with the account's device key.
func (c *Core) signSameDeviceProof(a Account, jti, origin string, uv bool) (string, error) {
	der, err := c.keys.Get(deviceKeyName(a.EnrollmentID))
	if err != nil {
		return "", fmt.Errorf("device key of %s: %w", a.Label(), err)
	}
	key, err := crypto.ParsePrivateKey(der)
	if err != nil {
		return "", fmt.Errorf("device key of %s: %w", a.Label(), err)
	}
	return crypto.SignJWS(key, push.TypSameDeviceProof, push.SameDeviceProofClaims{
		Issuer: a.EnrollmentID, Audience: a.Server, ID: jti, Origin: origin, IAT: c.now().Unix(), UV: uv,
	}, crypto.SignOptions{})
}
