package server

import (
	"context"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/seed-3a5b824e/assent/enroll"
	"github.com/seed-3a5b824e/assent/sdk"
)

// The sign-in, recovery and enrollment pages: one transaction of the
// engine, one remediation per form post, then a redirect (303) to the page
// of the state the engine answered.

// pageState is the engine's current answer for a transaction, without
// taking a step.
func (s *Server) pageState(ctx context.Context, handle string) (*sdk.Response, error) {
	tx, st, err := s.loadTx(ctx, handle)
	if err != nil {
		return nil, err
	}
	return s.respond(ctx, handle, tx, st)
}

func (p *pages) meta(r *http.Request, device string) reqMeta {
	m := metaOf(r)
	m.device = device
	return m
}

// handleStart begins a sign-in (/signin) or a password reset (/recover).
// A browser that is signed in gives its session to the engine, which
// counts what the session proves for the user who types their login, and
// asks only for what the app's rule still needs; the login field starts
// with that user's login.
func (p *pages) handleStart(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	kind := sdk.KindSignIn
	if r.URL.Path == PathRecover {
		kind = sdk.KindRecovery
	}
	app := q.Get("app")
	if app == "" {
		app = AppAccount
	}
	t := &pageTx{Kind: kind, App: app, Return: safeReturn(q.Get("return"))}
	if old, ok := p.loadTx(r); ok && kind == sdk.KindRecovery {
		t.Login = old.Login // "Forgot password?" keeps the login typed
	} else if hint := strings.TrimSpace(q.Get("login")); len(hint) <= maxLoginLength && utf8.ValidString(hint) {
		t.Login = hint // an app's hint (OpenID Connect's login_hint)
	}
	dev := p.deviceID(w, r)
	req := sdk.Request{App: t.App, Kind: kind, Device: dev, Level: q.Get("level")}
	// A front (OpenID Connect's prompt=login, max_age) may ask that no
	// session from before a time counts; asking it can only make a
	// sign-in stricter.
	if after, err := strconv.ParseInt(q.Get("after"), 10, 64); err == nil && after > 0 {
		req.AuthAfter = after
	}
	if _, u, tok, ok := p.signedIn(r); ok && kind == sdk.KindSignIn {
		req.SessionToken = tok
		t.Login = u.Login
	}
	resp, err := p.s.Step(r.Context(), "interact", req, p.meta(r, dev))
	if err != nil {
		msg := flashOf(err)
		p.render(w, statusOf(err), "ended", &view{Error: msg.show(), StartOver: PathSignIn})
		return
	}
	t.Handle = resp.StateHandle
	p.saveTx(w, t)
	p.renderFlow(w, t, resp, nil)
}

// startURL starts the same kind of transaction again.
func (t *pageTx) startURL() string {
	q := url.Values{}
	if t.App != "" {
		q.Set("app", t.App)
	}
	if t.Return != "" {
		q.Set("return", t.Return)
	}
	base := PathSignIn
	switch t.Kind {
	case sdk.KindRecovery:
		base = PathRecover
	case sdk.KindEnroll:
		return PathAccount
	}
	if len(q) == 0 {
		return base
	}
	return base + "?" + q.Encode()
}

func (t *pageTx) recoverURL() string {
	c := *t
	c.Kind = sdk.KindRecovery
	return c.startURL()
}

// doneURL is where a finished transaction goes.
func (t *pageTx) doneURL() string {
	if t.Return != "" {
		return t.Return
	}
	return PathAccount
}

// handleStep takes one remediation from a form.
func (p *pages) handleStep(w http.ResponseWriter, r *http.Request) {
	t, ok := p.loadTx(r)
	if !ok {
		p.expired(w)
		return
	}
	if !p.checkPost(w, r, txBinding(t)) {
		p.csrfRefused(w)
		return
	}
	defer p.txLocks.lock(t.Handle)()
	f := r.PostForm
	action := f.Get("action")
	req := sdk.Request{StateHandle: t.Handle}
	switch action {
	case sdk.RemIdentify, sdk.RemIdentifyRecovery:
		req.Login = f.Get("login")
		if login := strings.TrimSpace(req.Login); len(login) <= maxLoginLength && f.Get("credential") == "" {
			t.Login = login
		}
		if action == sdk.RemIdentify && !p.takeCredential(w, r, t, &req) {
			return
		}
	case sdk.RemChallengeAuth:
		req.Authenticator, req.Passcode, req.Proof = f.Get("authenticator"), f.Get("passcode"), f.Get("proof")
		if req.Authenticator == sdk.AuthTOTP {
			req.Passcode = strings.Join(strings.Fields(req.Passcode), "")
		}
		if req.Authenticator == sdk.AuthWebAuthn && !p.takeCredential(w, r, t, &req) {
			return
		}
	case sdk.RemSelectAuth:
		req.Authenticator = f.Get("authenticator")
	case sdk.RemEnrollProfile:
		req.Profile = map[string]string{}
		for k, v := range f {
			if attr, ok := strings.CutPrefix(k, "profile."); ok && len(v) > 0 {
				req.Profile[attr] = v[0]
			}
		}
	case sdk.RemResetAuth:
		if f.Get("passcode") != f.Get("confirm") {
			t.Flash = &flash{Code: "password_mismatch"}
			p.saveTx(w, t)
			http.Redirect(w, r, pathStep, http.StatusSeeOther)
			return
		}
		req.Authenticator, req.Passcode = sdk.AuthPassword, f.Get("passcode")
	case sdk.RemEnrollAuth:
		t.Enroll = ""
		if f.Get("authenticator") == sdk.AuthWebAuthn {
			req.Authenticator, req.Name = sdk.AuthWebAuthn, f.Get("name")
			if !p.takeCredential(w, r, t, &req) {
				return
			}
		}
	case sdk.RemCancel:
		dev := p.deviceID(w, r)
		_, _ = p.s.Step(r.Context(), sdk.RemCancel, req, p.meta(r, dev))
		p.setCookie(w, "tx", "", -1)
		http.Redirect(w, r, t.startURL(), http.StatusSeeOther)
		return
	case sdk.RemChallengePoll, sdk.RemEnrollPoll:
	default:
		p.message(w, http.StatusBadRequest, "Something went wrong", "The form asked for a step this page does not know.", pathStep, "Go back")
		return
	}
	dev := p.deviceID(w, r)
	resp, err := p.s.Step(r.Context(), action, req, p.meta(r, dev))
	http.Redirect(w, r, p.settle(w, r, t, resp, err), http.StatusSeeOther)
}

// settle records what a step answered and says where the browser goes: a
// success sets the session cookie and leaves for the return path;
// anything else comes back to the step page, with the error to show.
func (p *pages) settle(w http.ResponseWriter, r *http.Request, t *pageTx, resp *sdk.Response, err error) string {
	if err == nil && resp.Status == sdk.StatusActive && len(resp.Remediation) == 1 && resp.Remediation[0].Name == sdk.RemEnrollAuth &&
		resp.Factor != sdk.AuthWebAuthn {
		// A device is to be enrolled: offer the link at once. (A passkey
		// is made by the browser, on its page.)
		dev := p.deviceID(w, r)
		resp, err = p.s.Step(r.Context(), sdk.RemEnrollAuth, sdk.Request{StateHandle: t.Handle}, p.meta(r, dev))
	}
	if err != nil {
		t.Flash = flashOf(err)
		p.saveTx(w, t)
		return pathStep
	}
	switch resp.Status {
	case sdk.StatusSuccess:
		p.setCookie(w, "tx", "", -1)
		if resp.Session != nil {
			// The browser's earlier session gives way to the new one.
			if old, _, _, ok := p.signedIn(r); ok {
				if err := p.s.st.RevokeSession(r.Context(), old.ID, p.s.now()); err != nil {
					p.s.log.Error("hosted pages: revoke replaced session", "err", err)
				}
			}
			p.setCookie(w, "session", resp.Session.Token, resp.Session.ExpiresAt.Sub(p.s.now()))
		}
		return t.doneURL()
	case sdk.StatusEnded:
		t.Flash = &flash{Code: "ended"}
	}
	if resp.Enrollment != nil {
		t.Enroll = resp.Enrollment.Link
	}
	p.saveTx(w, t)
	return pathStep
}

// poll asks the engine about the push, email link or enrollment the
// transaction waits for; waiting says it still waits.
func (p *pages) poll(w http.ResponseWriter, r *http.Request, t *pageTx) (target string, waiting bool) {
	defer p.txLocks.lock(t.Handle)()
	resp, err := p.s.pageState(r.Context(), t.Handle)
	if err != nil {
		t.Flash = flashOf(err)
		p.saveTx(w, t)
		return pathStep, false
	}
	var rem string
	switch {
	case resp.Has(sdk.RemChallengePoll):
		rem = sdk.RemChallengePoll
	case resp.Has(sdk.RemEnrollPoll):
		rem = sdk.RemEnrollPoll
	default:
		return pathStep, false
	}
	dev := p.deviceID(w, r)
	resp, err = p.s.Step(r.Context(), rem, sdk.Request{StateHandle: t.Handle}, p.meta(r, dev))
	if err == nil && resp.Status == sdk.StatusWaiting {
		return pathStep, true
	}
	return p.settle(w, r, t, resp, err), false
}

// pollAnswer is the body of POST /signin/poll for the page's script.
type pollAnswer struct {
	Status   string `json:"status"` // waiting or done
	Redirect string `json:"redirect,omitempty"`
}

// handlePoll is the live update of the waiting pages: the script asks
// every second (JSON), the "Check now" button asks with a form.
func (p *pages) handlePoll(w http.ResponseWriter, r *http.Request) {
	js := strings.Contains(r.Header.Get("Accept"), "application/json")
	t, ok := p.loadTx(r)
	if !ok {
		if js {
			writePageJSON(w, http.StatusOK, pollAnswer{Status: "done", Redirect: pathStep})
			return
		}
		p.expired(w)
		return
	}
	if !p.checkPost(w, r, txBinding(t)) {
		if js {
			writePageJSON(w, http.StatusForbidden, apiErr(http.StatusForbidden, "csrf", "the request did not carry this page's security token"))
			return
		}
		p.csrfRefused(w)
		return
	}
	target, waiting := p.poll(w, r, t)
	if js {
		a := pollAnswer{Status: "done", Redirect: target}
		if waiting {
			a = pollAnswer{Status: "waiting"}
		}
		writePageJSON(w, http.StatusOK, a)
		return
	}
	if waiting {
		t.Flash = &flash{Code: "still_waiting", Notice: true}
		p.saveTx(w, t)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func writePageJSON(w http.ResponseWriter, status int, v any) {
	setSecurityHeaders(w.Header())
	writeJSON(w, status, v)
}

// expired answers a form whose transaction cookie is gone.
func (p *pages) expired(w http.ResponseWriter) {
	p.render(w, http.StatusBadRequest, "ended", &view{
		Error:     &pageMsg{Title: "This sign-in has expired.", Detail: "Sign-ins last 15 minutes. Start again; nothing was changed."},
		StartOver: PathSignIn,
	})
}

// handleStepPage shows the page of the transaction's current state. With
// ?poll=1 (the refresh of a waiting page when JavaScript is off) it asks
// the engine first.
func (p *pages) handleStepPage(w http.ResponseWriter, r *http.Request) {
	t, ok := p.loadTx(r)
	if !ok {
		http.Redirect(w, r, PathSignIn, http.StatusSeeOther)
		return
	}
	if r.URL.Query().Get("poll") == "1" {
		if target, waiting := p.poll(w, r, t); !waiting && target != pathStep {
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
	}
	fl := t.Flash
	if fl != nil {
		t.Flash = nil
		p.saveTx(w, t)
	}
	resp, err := p.s.pageState(r.Context(), t.Handle)
	if err != nil {
		p.setCookie(w, "tx", "", -1)
		if fl == nil {
			fl = flashOf(err)
		}
		p.render(w, http.StatusOK, "ended", &view{Error: fl.show(), StartOver: t.startURL(), Kind: t.Kind})
		return
	}
	p.renderFlow(w, t, resp, fl)
}

// fieldOptions are the options of a remediation's field.
func fieldOptions(resp *sdk.Response, rem, field string) []string {
	for _, m := range resp.Remediation {
		if m.Name != rem {
			continue
		}
		for _, f := range m.Fields {
			if f.Name == field {
				return f.Options
			}
		}
	}
	return nil
}

// renderFlow draws the page for the engine's answer.
func (p *pages) renderFlow(w http.ResponseWriter, t *pageTx, resp *sdk.Response, fl *flash) {
	v := &view{
		Kind: t.Kind, App: t.App, Login: t.Login, CSRF: p.csrfFor(txBinding(t)),
		StartOver: t.startURL(), Recover: t.recoverURL(),
		Options:  fieldOptions(resp, sdk.RemSelectAuth, "authenticator"),
		WebAuthn: string(resp.WebAuthn), Passkey: t.Passkey,
	}
	if resp.Kind != "" {
		v.Kind = resp.Kind
	}
	if fl != nil {
		if fl.Notice {
			v.Notice = fl.show().Title
		} else {
			v.Error = fl.show()
		}
	}
	var name string
	switch {
	case resp.Status == sdk.StatusWaiting && resp.Factor == sdk.AuthPush:
		name, v.Number, v.Refresh = "push", resp.Number, pathStep+"?poll=1"
	case resp.Status == sdk.StatusWaiting && resp.Factor == sdk.AuthEmail:
		name, v.Message, v.Refresh = "email", resp.Message, pathStep+"?poll=1"
	case resp.Has(sdk.RemEnrollAuth) && resp.Factor == sdk.AuthWebAuthn:
		name, v.Passkey = "passkey-add", true
	case resp.Has(sdk.RemEnrollAuth):
		name = "enroll"
		if resp.Status == sdk.StatusWaiting && t.Enroll != "" {
			v.Refresh = pathStep + "?poll=1"
			if png, err := enroll.EncodePNG(t.Enroll, 480); err == nil {
				v.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
			} else {
				p.s.log.Error("hosted pages: draw enrollment QR code", "err", err)
			}
			// The link is this server's own assent:// link.
			v.Link, v.LinkText = template.URL(t.Enroll), t.Enroll
		}
	case resp.Has(sdk.RemIdentify):
		name = "signin"
	case resp.Has(sdk.RemIdentifyRecovery):
		name = "recover"
	case resp.Has(sdk.RemChallengeAuth) && resp.Factor == sdk.AuthWebAuthn:
		name = "passkey"
	case resp.Has(sdk.RemChallengeAuth) && resp.Factor == sdk.AuthSameDevice:
		name, v.SameDevice, v.SameDevicePorts = "samedevice", resp.SameDevice, sameDevicePorts()
	case resp.Has(sdk.RemChallengeAuth):
		name = "code"
		if opts := fieldOptions(resp, sdk.RemChallengeAuth, "authenticator"); len(opts) > 0 && opts[0] == sdk.AuthPassword {
			name = "password"
			if resp.Message != "" && v.Notice == "" && v.Error == nil {
				v.Notice = resp.Message
			}
		}
	case resp.Has(sdk.RemSelectAuth):
		name = "select"
	case resp.Has(sdk.RemEnrollProfile):
		name = "profile"
		for _, m := range resp.Remediation {
			for _, f := range m.Fields {
				v.Fields = append(v.Fields, f.Name)
			}
		}
	case resp.Has(sdk.RemResetAuth):
		name, v.MinLength = "reset", p.s.opts.Policy.Password.MinLength
	default:
		name = "ended"
	}
	p.render(w, http.StatusOK, name, v)
}

// Messages for the engine's errors: what happened, in plain words, and
// whether the engine's own message adds something worth showing.
var errorTexts = map[string]struct {
	text   string
	detail bool
}{
	"invalid_credentials":       {"That login and password don't match. Check both and try again.", false},
	"too_many_attempts":         {"Too many attempts. Wait a little, then try again.", true},
	"unknown_app":               {"This sign-in link names an app this server does not know.", true},
	"enrollment_required":       {"This sign-in needs an Assent device, and this account has none yet.", true},
	"email_limited":             {"Too many links were emailed to this account lately. Choose another way, or wait a while.", false},
	"wrong_number":              {"The push was not approved: a different number was picked on the device. Send another and pick the number shown here.", false},
	"push_denied":               {"The request was denied on your device. If that was a mistake, send another or use a code.", false},
	"push_reported":             {"The request was reported as not made by you, so this sign-in was stopped. Your administrator can see what happened.", false},
	"device_unreachable":        {"Your device can't be reached right now. Use a code from the app instead, or try again in a moment.", false},
	"push_expired":              {"The push was not answered in time. Send another, or use a code instead.", false},
	"push_lost":                 {"The push was lost when the server restarted. Send another, or use a code instead.", false},
	"push_limited":              {"Pushes have stopped for now: too many went unanswered. Enter a code from the Assent app instead.", false},
	"access_denied":             {"You can't sign in to this app from here.", true},
	"invalid_code":              {"That code is wrong or too old. Type the code the app shows now.", false},
	"code_used":                 {"That code was used already. Wait for the next one and type it.", false},
	"transaction_ended":         {"This sign-in has ended or expired. Start again.", false},
	"invalid_state_handle":      {"This sign-in has ended or expired. Start again.", false},
	"email_expired":             {"The link in the email was not opened in time. Send another, or choose another way.", false},
	"enroll_expired":            {"The enrollment code expired before a device used it. Show a new one.", false},
	"state_changed":             {"This page was out of date. Here is where things stand now.", false},
	"enrollment_disabled":       {"Adding devices yourself is turned off here.", true},
	"invalid_session":           {"Your session has ended. Sign in again.", false},
	"password_mismatch":         {"The two passwords differ. Type the same new password twice.", false},
	"ended":                     {"This sign-in has ended. Start again.", false},
	"still_waiting":             {"Still waiting: nothing was approved yet.", false},
	"remediation_not_available": {"This page was out of date. Here is where things stand now.", false},
	"unavailable":               {"The server can't complete this right now. Try again in a moment.", false},
}

// flashOf turns an engine error into the message to show next.
func flashOf(err error) *flash {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = errInternal
	}
	return &flash{Code: ae.Code, Message: ae.Message}
}

func (f *flash) show() *pageMsg {
	if f == nil {
		return nil
	}
	t, ok := errorTexts[f.Code]
	if !ok {
		return &pageMsg{Title: sentence(f.Message)}
	}
	m := &pageMsg{Title: t.text}
	if t.detail && f.Message != "" {
		m.Detail = sentence(f.Message)
	}
	return m
}

// sentence starts an engine message with a capital and ends it with a
// full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return "Something went wrong. Try again."
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

func statusOf(err error) int {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return http.StatusInternalServerError
}
