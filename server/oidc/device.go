package oidc

// The device authorization grant (RFC 8628). A command-line tool asks
// /oidc/device_authorization for a device code and a user code; the person
// types the user code at /oidc/device, signs in on the hosted pages to the
// client's app (push with number matching, as its rule asks), and allows
// or denies; the tool polls the token endpoint meanwhile.
//
// A device authorization is a grant of kind oidc.device whose ID is
// derived from the hash of the device code (so polling finds it, and its
// ID in the browser's URLs reveals nothing that polls) and whose Lookup is
// the hash of the user code. Polls faster than the interval are answered
// slow_down, and the interval grows by 5 seconds each time (on the wall
// clock, shared by the nodes through the grant). Typing user codes is
// limited per network in the store, so that the short codes cannot be
// guessed.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
)

// Device authorization states.
const (
	devicePending  = "pending"
	deviceApproved = "approved"
	deviceDenied   = "denied"
)

// Limits of the device flow: the poll interval, and typing user codes
// (per network, in the store, shared by every node).
const (
	// maxPollInterval bounds how far slow_down stretches the interval
	// (seconds).
	maxPollInterval = 60
	userCodeTries   = 20
	userCodeWindow  = 15 * time.Minute
)

type deviceData struct {
	Scopes    []string `json:"scopes"`
	UserCode  string   `json:"user_code"`
	State     string   `json:"state"`
	RequestIP string   `json:"request_ip,omitempty"`

	Subject   string    `json:"subject,omitempty"`
	SessionID string    `json:"session_id,omitempty"`
	AMR       []string  `json:"amr,omitempty"`
	AuthTime  time.Time `json:"auth_time,omitzero"`
	ACR       string    `json:"acr,omitempty"`
	DecidedAt time.Time `json:"decided_at,omitzero"`

	// LastPoll is the wall-clock time of the last poll answered; Interval
	// the seconds the next one must wait after it.
	LastPoll time.Time `json:"last_poll,omitzero"`
	Interval int64     `json:"interval,omitempty"`
}

func deviceGrantID(deviceCode string) string {
	return prefixDevice + crypto.HashToken("assent oidc device code:"+deviceCode)
}

// normalizeUserCode reads a user code as people type it: any case, with or
// without the dash or spaces. "" when it cannot be one.
func normalizeUserCode(s string) string {
	if len(s) > 32 {
		return ""
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case strings.ContainsRune(op.CharSetBase20, r):
			b.WriteRune(r)
		case r == '-' || r == ' ':
		default:
			return ""
		}
	}
	if b.Len() != op.UserCodeBase20.CharAmount {
		return ""
	}
	return b.String()
}

func displayUserCode(norm string) string {
	if len(norm) != 8 {
		return norm
	}
	return norm[:4] + "-" + norm[4:]
}

func userCodeLookup(norm string) string { return crypto.HashToken("assent oidc user code:" + norm) }

func (s *storage) StoreDeviceAuthorization(ctx context.Context, clientID, deviceCode, userCode string, _ time.Time, scopes []string) error {
	c, err := s.p.loadClient(ctx, clientID)
	if err != nil {
		return err
	}
	if !c.conf.Device {
		return errors.New("this client may not use the device authorization grant")
	}
	norm := normalizeUserCode(userCode)
	if norm == "" {
		return errors.New("a user code of the wrong form was made")
	}
	var keep []string
	for _, sc := range scopes {
		if slices.Contains(supportedScopes, sc) && !slices.Contains(keep, sc) {
			keep = append(keep, sc)
		}
	}
	d := deviceData{Scopes: keep, UserCode: displayUserCode(norm), State: devicePending, RequestIP: stateOf(ctx).ip,
		Interval: int64(s.p.o.DevicePollInterval / time.Second)}
	data, _ := json.Marshal(d)
	now := s.now()
	id := deviceGrantID(deviceCode)
	g := store.Grant{ID: id, Kind: kindDevice, ClientID: clientID, Lookup: userCodeLookup(norm), Family: id, Data: data,
		CreatedAt: now, ExpiresAt: now.Add(s.p.o.DeviceCodeTTL)}
	if err := s.st().CreateGrant(ctx, g); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return op.ErrDuplicateUserCode
		}
		return err
	}
	s.p.audit(ctx, "oidc.device_started", "", map[string]string{"client_id": clientID, "app": c.app.Name})
	return nil
}

// errSlowDown is a poll before its interval: op answers slow_down for a
// context deadline, so the error wraps one.
var errSlowDown = fmt.Errorf("polled before the interval passed: %w", context.DeadlineExceeded)

func (s *storage) GetDeviceAuthorizatonState(ctx context.Context, clientID, deviceCode string) (*op.DeviceAuthorizationState, error) {
	if deviceCode == "" || len(deviceCode) > 128 || !isBase64URL(deviceCode) {
		return nil, errGrantUnknown
	}
	var slow, expired bool
	var d deviceData
	g, err := s.st().UpdateGrant(ctx, deviceGrantID(deviceCode), func(g *store.Grant) error {
		slow, expired = false, false
		if g.Kind != kindDevice || g.ClientID != clientID {
			return errGrantUnknown
		}
		if !g.UsedAt.IsZero() {
			return errGrantUsed
		}
		if !g.RevokedAt.IsZero() {
			return errGrantRevoked
		}
		if err := json.Unmarshal(g.Data, &d); err != nil {
			return err
		}
		if !s.now().Before(g.ExpiresAt) {
			expired = true
			return nil
		}
		// The interval counts from the last poll answered; a poll too early
		// is answered slow_down and, as RFC 8628 asks of the client, adds
		// 5 seconds to the interval.
		wall := time.Now()
		if !d.LastPoll.IsZero() && wall.Sub(d.LastPoll) < time.Duration(d.Interval)*time.Second {
			slow = true
			d.Interval = min(d.Interval+5, maxPollInterval)
		} else {
			d.LastPoll = wall
		}
		g.Data, _ = json.Marshal(d)
		return nil
	})
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, errGrantUnknown
		}
		return nil, err
	}
	if slow {
		return nil, errSlowDown
	}
	st := stateOf(ctx)
	st.mu.Lock()
	st.device = &g
	st.mu.Unlock()
	st.setClient(g.ClientID)
	state := &op.DeviceAuthorizationState{ClientID: g.ClientID, Audience: []string{g.ClientID}, Scopes: d.Scopes,
		Expires: time.Now().Add(g.ExpiresAt.Sub(s.now()))}
	if expired {
		state.Expires = time.Now().Add(-time.Second)
		return state, nil
	}
	switch d.State {
	case deviceApproved:
		state.Done, state.Subject, state.AMR, state.AuthTime = true, d.Subject, d.AMR, d.AuthTime
	case deviceDenied:
		state.Denied = true
	}
	return state, nil
}

// The pages.

// handleDevicePage asks for the user code (verification_uri; with
// ?user_code= it is filled in, verification_uri_complete).
func (p *Provider) handleDevicePage(w http.ResponseWriter, r *http.Request) {
	nonce := p.pages.browserNonce(w, r)
	code := r.URL.Query().Get("user_code")
	if n := normalizeUserCode(code); n != "" {
		code = displayUserCode(n)
	} else {
		code = ""
	}
	p.pages.render(w, http.StatusOK, "device", "oidc-device", &view{Title: "Sign in a device", Code: code, CSRF: p.pages.mac("device-code:" + nonce)})
}

var errTooManyCodes = errors.New("too many codes typed from this network")

// handleDeviceCode takes a typed user code.
func (p *Provider) handleDeviceCode(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	nonce := p.pages.cookieNonce(r)
	if nonce == "" || !p.pages.checkPost(w, r, "device-code:"+nonce) {
		p.pages.csrfRefused(w)
		return
	}
	typed := r.PostForm.Get("user_code")
	again := func(status int, title, detail string) {
		shown := ""
		if n := normalizeUserCode(typed); n != "" {
			shown = displayUserCode(n)
		}
		p.pages.render(w, status, "device", "oidc-device", &view{Title: "Sign in a device", Code: shown,
			CSRF: p.pages.mac("device-code:" + nonce), Error: &pageMsg{Title: title, Detail: detail}})
	}
	// Every code typed counts, right or wrong, before it is looked up.
	now := p.s.Now()
	_, err := p.s.Store().UpdateCounter(ctx, "oidc.user_code:"+p.s.Source(r), func(c *store.Counter) error {
		if c.WindowStart.IsZero() || !now.Before(c.WindowStart.Add(userCodeWindow)) {
			c.Count, c.WindowStart = 0, now
		}
		if c.Count >= userCodeTries {
			return errTooManyCodes
		}
		c.Count++
		c.Last, c.ExpiresAt = now, c.WindowStart.Add(userCodeWindow)
		return nil
	})
	if errors.Is(err, errTooManyCodes) {
		p.audit(ctx, "oidc.device_code_limited", "", nil)
		again(http.StatusTooManyRequests, "Too many codes were typed from your network.", "Wait 15 minutes, then try again.")
		return
	} else if err != nil {
		p.s.Logger().Error("openid connect: count a typed user code", "err", err)
		p.pages.unavailable(w)
		return
	}
	norm := normalizeUserCode(typed)
	wrong := func() {
		again(http.StatusBadRequest, "That code is not right, or it has expired.", "Check the code your device shows now and type it again, or start again on the device.")
	}
	if norm == "" {
		wrong()
		return
	}
	g, err := p.s.Store().GetGrantByLookup(ctx, kindDevice, userCodeLookup(norm))
	if errors.Is(err, store.ErrNotFound) {
		wrong()
		return
	} else if err != nil {
		p.pages.unavailable(w)
		return
	}
	var d deviceData
	if json.Unmarshal(g.Data, &d) != nil || d.State != devicePending || !g.UsedAt.IsZero() || p.storage().live(g) != nil {
		wrong()
		return
	}
	http.Redirect(w, r, pathDeviceConfirm+"?id="+url.QueryEscape(g.ID), http.StatusSeeOther)
}

// loadDevice loads a device authorization still waiting for its person.
func (p *Provider) loadDevice(ctx context.Context, id string) (store.Grant, deviceData, error) {
	var d deviceData
	if len(id) > 80 || !strings.HasPrefix(id, prefixDevice) {
		return store.Grant{}, d, errGrantUnknown
	}
	g, err := p.s.Store().GetGrant(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && g.Kind != kindDevice) {
		return store.Grant{}, d, errGrantUnknown
	} else if err != nil {
		return store.Grant{}, d, err
	}
	if err := json.Unmarshal(g.Data, &d); err != nil {
		return store.Grant{}, d, err
	}
	if d.State != devicePending || !g.UsedAt.IsZero() {
		return store.Grant{}, d, errGrantUsed
	}
	if err := p.storage().live(g); err != nil {
		return store.Grant{}, d, err
	}
	return g, d, nil
}

func (p *Provider) deviceGone(w http.ResponseWriter, err error) {
	if errors.Is(err, errGrantUnknown) || errors.Is(err, errGrantUsed) || errors.Is(err, errGrantExpired) || errors.Is(err, errGrantRevoked) {
		p.pages.message(w, http.StatusBadRequest, "This device sign-in has ended",
			"It expired or was answered already. Start again on your device to get a new code.")
		return
	}
	p.s.Logger().Error("openid connect: load a device authorization", "err", err)
	p.pages.unavailable(w)
}

// deviceSignIn is the sign-in a device authorization of a client needs,
// and whether the browser's session meets it.
func (p *Provider) deviceSignIn(r *http.Request, g store.Grant) (*client, server.SignInRequest, server.SignIn, bool, error) {
	c, err := p.loadClient(r.Context(), g.ClientID)
	if err != nil {
		return nil, server.SignInRequest{}, server.SignIn{}, false, err
	}
	req := server.SignInRequest{App: c.app.Name, Return: pathDeviceConfirm + "?id=" + url.QueryEscape(g.ID)}
	si, ok := p.s.BrowserSignIn(r)
	return c, req, si, ok && p.s.SignInMeets(r, si, req), nil
}

// handleDeviceConfirmPage asks the signed-in person to allow or deny.
func (p *Provider) handleDeviceConfirmPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	g, d, err := p.loadDevice(r.Context(), id)
	if err != nil {
		p.deviceGone(w, err)
		return
	}
	c, req, si, meets, err := p.deviceSignIn(r, g)
	if err != nil {
		p.deviceGone(w, errGrantUnknown)
		return
	}
	if !meets {
		http.Redirect(w, r, p.s.SignInURL(req), http.StatusSeeOther)
		return
	}
	p.pages.render(w, http.StatusOK, "device_confirm", "oidc-device-confirm", &view{
		Title: "Allow this device?", User: si.Login, Login: si.Login, App: c.app.Name, Code: d.UserCode, FromIP: d.RequestIP, ID: g.ID,
		CSRF: p.pages.mac("device:" + si.SessionID + ":" + g.ID),
	})
}

// handleDeviceConfirm records the person's answer.
func (p *Provider) handleDeviceConfirm(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		p.pages.csrfRefused(w)
		return
	}
	id := r.PostForm.Get("id")
	g, _, err := p.loadDevice(ctx, id)
	if err != nil {
		p.deviceGone(w, err)
		return
	}
	c, req, si, meets, err := p.deviceSignIn(r, g)
	if err != nil {
		p.deviceGone(w, errGrantUnknown)
		return
	}
	if !meets {
		http.Redirect(w, r, p.s.SignInURL(req), http.StatusSeeOther)
		return
	}
	if !p.pages.checkPost(w, r, "device:"+si.SessionID+":"+g.ID) {
		p.pages.csrfRefused(w)
		return
	}
	allow := r.PostForm.Get("decision") == "allow"
	now := p.s.Now()
	_, err = p.s.Store().UpdateGrant(ctx, g.ID, func(g *store.Grant) error {
		var d deviceData
		if g.Kind != kindDevice || json.Unmarshal(g.Data, &d) != nil {
			return errGrantUnknown
		}
		if d.State != devicePending || !g.UsedAt.IsZero() {
			return errGrantUsed
		}
		if err := p.storage().live(*g); err != nil {
			return err
		}
		d.DecidedAt = now
		if allow {
			d.State, d.Subject, d.SessionID, d.AMR, d.AuthTime, d.ACR = deviceApproved, si.UserID, si.SessionID, si.AMR, si.AuthTime, acrOf(si.AMR)
			g.UserID = si.UserID
		} else {
			d.State = deviceDenied
		}
		g.Data, _ = json.Marshal(d)
		return nil
	})
	if err != nil {
		p.deviceGone(w, err)
		return
	}
	if !allow {
		p.audit(ctx, "oidc.device_denied", si.UserID, map[string]string{"client_id": c.app.ID, "app": c.app.Name})
		p.pages.render(w, http.StatusOK, "message", "oidc-device-denied", &view{Title: "Sign-in denied", User: si.Login,
			Text: "The device was not signed in. If you did not start this, someone may be trying to get into your account: tell your administrator."})
		return
	}
	p.audit(ctx, "oidc.device_approved", si.UserID, map[string]string{"client_id": c.app.ID, "app": c.app.Name, "amr": fmt.Sprint(si.AMR)})
	p.pages.render(w, http.StatusOK, "message", "oidc-device-done", &view{Title: "Device signed in", User: si.Login,
		Text: fmt.Sprintf("%s on your device is signed in as %s. You can close this page and go back to your device.", c.app.Name, si.Login)})
}
