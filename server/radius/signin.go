package radius

// A request's way through the engine: interact with the client's app,
// identify with User-Name, the password, then what the app's sign-on rule
// still asks — a push the request waits on, a code appended to the
// password, or, for a client that shows messages, an Access-Challenge
// whose answer comes back with its State.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
)

// work is an admitted request.
type work struct {
	c   *client
	p   *radius.Packet
	key reqKey
	src netip.AddrPort
}

// request is what an Access-Request asks, read and checked.
type request struct {
	login    string
	password string
	state    []byte
	meta     server.RequestMeta
}

// result is how a request ends: an answer (and what the audit log says
// of it), or no answer at all (code 0).
type result struct {
	code radius.Code
	// msg is the Reply-Message: plain words for the person.
	msg string
	// state is an Access-Challenge's State.
	state []byte
	// reason says why a request was refused (the engine's error code, or
	// this package's words); mode what a challenge waits for.
	reason, mode string
	txID         string
}

// Modes of an Access-Challenge.
const (
	modePush = "push"
	modeCode = "code"
)

// Kinds of store grant this package keeps.
const kindState = "radius.state"

func reject(reason, msg string) *result {
	return &result{code: radius.CodeAccessReject, reason: reason, msg: msg}
}

// handle runs one admitted request: the answer to send, or nil.
func (r *Server) handle(ctx context.Context, w *work) []byte {
	now := r.s.Now()
	switch err := r.s.Store().UseNonce(ctx, replayKey(w.c, w.p.Authenticator), now, now.Add(replayTTL)); {
	case errors.Is(err, store.ErrReplay):
		// Seen before and no longer in the answer cache (or answered by
		// another node): a replay, or a retransmission long past its
		// client's timeout.
		r.drop(w.src.Addr().WithZone(""), DropReplayed, w.c.name)
		return nil
	case err != nil && ctx.Err() == nil:
		r.s.Logger().Error("RADIUS: record a request", "err", err)
		return r.finish(ctx, w, nil, reject("unavailable", msgUnavailable))
	case err != nil:
		return nil
	}
	req, res := readRequest(w)
	if res == nil {
		res = r.signIn(ctx, w, req)
	}
	return r.finish(ctx, w, req, res)
}

// finish audits a result and encodes its answer.
func (r *Server) finish(ctx context.Context, w *work, req *request, res *result) []byte {
	if res == nil || res.code == 0 || ctx.Err() != nil {
		return nil
	}
	nas := w.src.Addr().WithZone("").String()
	ev := store.AuditEvent{TxID: res.txID, ClientIP: nas, Detail: map[string]string{"app": w.c.name, "nas": nas}}
	if req != nil {
		ev.ClientIP = req.meta.IP
	}
	switch res.code {
	case radius.CodeAccessAccept:
		ev.Type = "radius.accept"
	case radius.CodeAccessChallenge:
		ev.Type, ev.Detail["mode"] = "radius.challenge", res.mode
	default:
		ev.Type, ev.Detail["reason"] = "radius.reject", res.reason
	}
	if nasID := rfc2865.NASIdentifier_GetString(w.p); nasID != "" {
		ev.Detail["nasIdentifier"] = printable(nasID, 64)
	}
	if res.txID != "" {
		// Whom the sign-in was about, when the login named someone (the
		// engine's own events of the transaction say the rest).
		if tx, err := r.s.Store().GetTransaction(ctx, res.txID); err == nil {
			ev.UserID = tx.UserID
		}
	}
	r.s.Audit(ctx, ev)

	a := answerTo(w.p, res.code)
	for _, part := range splitMessage(res.msg) {
		if err := rfc2865.ReplyMessage_Add(a, []byte(part)); err != nil {
			r.s.Logger().Error("RADIUS: Reply-Message", "err", err)
		}
	}
	if res.code == radius.CodeAccessChallenge {
		_ = rfc2865.State_Set(a, res.state)
		// In an Access-Challenge, how long the client waits for the
		// person's answer (RFC 2865, 5.27).
		_ = rfc2865.SessionTimeout_Set(a, rfc2865.SessionTimeout(r.o.StateTTL/time.Second))
	}
	b, err := encodeAnswer(a)
	if err != nil {
		r.s.Logger().Error("RADIUS: encode an answer", "err", err)
		return nil
	}
	return b
}

// answerTo starts an answer to p: its identifier, its authenticator (for
// the Response Authenticator) and its Proxy-State attributes, copied in
// order as RFC 2865 (5.33) asks, so that a proxy in front (FreeRADIUS)
// matches the answer to its request.
func answerTo(p *radius.Packet, code radius.Code) *radius.Packet {
	a := p.Response(code)
	for _, avp := range p.Attributes {
		if avp.Type == rfc2865.ProxyState_Type {
			a.Add(rfc2865.ProxyState_Type, avp.Attribute)
		}
	}
	return a
}

// splitMessage cuts a message into Reply-Message values of at most 253
// bytes, on character boundaries.
func splitMessage(msg string) []string {
	var out []string
	for len(msg) > 253 {
		cut := 253
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		out, msg = append(out, msg[:cut]), msg[cut:]
	}
	if msg != "" {
		out = append(out, msg)
	}
	return out
}

// Plain words for the person, shown by clients that show Reply-Message.
const (
	msgUnavailable  = "The sign-in server could not check this sign-in; try again shortly."
	msgWrongLogin   = "The login or password is wrong."
	msgEnded        = "This sign-in ended; connect again."
	msgUnknownState = "This sign-in prompt is unknown or expired; connect again."
)

// readRequest reads what an Access-Request asks; a refusal comes back
// when it cannot be used.
func readRequest(w *work) (*request, *result) {
	p := w.p
	if _, ok := p.Lookup(rfc2869.EAPMessage_Type); ok {
		return nil, reject("EAP", "Assent checks passwords sent as PAP (User-Password), not EAP: set the VPN or access point to PAP for this server.")
	}
	if _, ok := p.Lookup(rfc2865.CHAPPassword_Type); ok {
		return nil, reject("CHAP", "Assent checks passwords sent as PAP (User-Password), not CHAP or MS-CHAP: set the VPN or access point to PAP for this server.")
	}
	if _, ok := p.Lookup(rfc2865.VendorSpecific_Type); ok && isMSCHAP(p) {
		return nil, reject("MS-CHAP", "Assent checks passwords sent as PAP (User-Password), not CHAP or MS-CHAP: set the VPN or access point to PAP for this server.")
	}
	names, _ := rfc2865.UserName_Gets(p)
	if len(names) != 1 {
		return nil, reject("no User-Name", "The request names no user (User-Name).")
	}
	login := string(names[0])
	if login == "" || !utf8.ValidString(login) || strings.ContainsFunc(login, unicode.IsControl) {
		return nil, reject("bad User-Name", "The user name is not text Assent can read.")
	}
	req := &request{login: login}
	if states, _ := rfc2865.State_Gets(p); len(states) > 1 {
		return nil, reject("several States", "The request is malformed (several State attributes).")
	} else if len(states) == 1 {
		req.state = states[0]
	}
	var n int
	for _, avp := range p.Attributes {
		if avp.Type == rfc2865.UserPassword_Type {
			n++
		}
	}
	switch {
	case n > 1:
		return nil, reject("several User-Passwords", "The request is malformed (several User-Password attributes).")
	case n == 1:
		pw, err := rfc2865.UserPassword_Lookup(p)
		if err != nil {
			return nil, reject("bad User-Password", "The password could not be read; check the client's PAP settings.")
		}
		req.password = string(pw)
	case req.state == nil:
		return nil, reject("no User-Password", "Assent checks passwords sent as PAP (User-Password); this request has none.")
	}
	req.meta = metaOf(w)
	return req, nil
}

// isMSCHAP says whether a request carries Microsoft's MS-CHAP attributes
// (vendor 311).
func isMSCHAP(p *radius.Packet) bool {
	for _, avp := range p.Attributes {
		if avp.Type == rfc2865.VendorSpecific_Type {
			if id, _, err := radius.VendorSpecific(avp.Attribute); err == nil && id == 311 {
				return true
			}
		}
	}
	return false
}

// metaOf is where a request comes from, as the engine weighs it: the
// person's address when the client names it (Calling-Station-Id holding
// an address: a VPN's outside address of the person), else the client's
// own; and the client, by its NAS-Identifier and address, as what asked.
func metaOf(w *work) server.RequestMeta {
	nas := w.src.Addr().WithZone("").String()
	ip := nas
	if a, ok := stationAddr(rfc2865.CallingStationID_GetString(w.p)); ok {
		ip = a.String()
	}
	agent := "RADIUS " + nas
	if id := printable(rfc2865.NASIdentifier_GetString(w.p), 64); id != "" {
		agent = "RADIUS " + id + " (" + nas + ")"
	}
	// A client that shows no messages cannot show a number: the engine
	// refuses such a push before it goes (no prompt, no push budget spent).
	// A RADIUS answer is all a client gets: no session is made.
	return server.RequestMeta{IP: ip, UserAgent: agent, NoNumber: w.c == nil || !w.c.challenge, NoSession: true}
}

// stationAddr reads an address from a Calling-Station-Id: "192.0.2.7",
// "2001:db8::7", with a port ("192.0.2.7:1194", "[2001:db8::7]:1194") or
// as strongSwan writes it ("192.0.2.7[4500]"). A MAC address (Wi-Fi) or a
// telephone number is not one.
func stationAddr(v string) (netip.Addr, bool) {
	v = strings.TrimSpace(v)
	if v == "" || len(v) > 64 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		if ap, perr := netip.ParseAddrPort(v); perr == nil {
			a, err = ap.Addr(), nil
		} else if i := strings.IndexByte(v, '['); i > 0 && strings.HasSuffix(v, "]") {
			a, err = netip.ParseAddr(v[:i])
		}
	}
	if err != nil || a.Zone() != "" || a.IsUnspecified() || a.IsMulticast() {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// printable keeps the printable characters of a client-given text, at
// most max of them.
func printable(s string, max int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			continue
		}
		if n++; n > max {
			break
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

// splitCode reads "password,123456": a password, then a comma, then a
// code of 6 or 8 digits at the very end. Anything else is a password
// alone (so a password that itself ends in a comma and 6 or 8 digits must
// be followed by a code).
func splitCode(pw string) (password, code string) {
	i := strings.LastIndexByte(pw, ',')
	if i < 0 || !isCode(pw[i+1:]) {
		return pw, ""
	}
	return pw[:i], pw[i+1:]
}

// isCode says whether s is a code from the app: 6 or 8 ASCII digits.
func isCode(s string) bool {
	if len(s) != 6 && len(s) != 8 {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// txn is one engine transaction driven for a request.
type txn struct {
	r      *Server
	ctx    context.Context
	meta   server.RequestMeta
	handle string
	// login is the login typed, as the engine compares it.
	login string
}

func (t *txn) do(step string, req sdk.Request) (*sdk.Response, error) {
	if step != "interact" {
		req.StateHandle = t.handle
	}
	resp, err := t.r.s.Do(t.ctx, step, req, t.meta)
	if err != nil {
		return nil, err
	}
	if resp.StateHandle != "" {
		t.handle = resp.StateHandle
	}
	return resp, nil
}

// id is the transaction's ID in the store and the audit log (the hash of
// its state handle).
func (t *txn) id() string {
	if t.handle == "" {
		return ""
	}
	return crypto.HashToken(t.handle)
}

// cancel ends the transaction (and a push it waits on), even when the
// request's context has ended.
func (t *txn) cancel() {
	if t.handle == "" {
		return
	}
	ctx, stop := context.WithTimeout(context.WithoutCancel(t.ctx), 10*time.Second)
	defer stop()
	if _, err := t.r.s.Do(ctx, sdk.RemCancel, sdk.Request{StateHandle: t.handle}, t.meta); err != nil {
		var ae *push.APIError
		if !errors.As(err, &ae) || ae.Status >= 500 {
			t.r.s.Logger().Warn("RADIUS: cancel a sign-in", "err", err)
		}
	}
}

// refuse answers an engine error in plain words.
func (t *txn) refuse(err error) *result {
	res := refusal(t.ctx, err)
	if res != nil {
		res.txID = t.id()
	}
	return res
}

func (t *txn) rejectf(reason, msg string) *result {
	res := reject(reason, msg)
	res.txID = t.id()
	return res
}

// refusal is the answer to an engine error: a reject saying why, or no
// answer when the server is closing.
func refusal(ctx context.Context, err error) *result {
	if ctx.Err() != nil {
		return nil
	}
	var ae *push.APIError
	if !errors.As(err, &ae) {
		return reject("internal", msgUnavailable)
	}
	switch ae.Code {
	case "invalid_credentials":
		return reject(ae.Code, msgWrongLogin)
	case "too_many_attempts":
		msg := "Too many failed attempts; wait a while before trying again."
		if ae.RetryAfter > 0 {
			msg = fmt.Sprintf("Too many failed attempts; wait %s before trying again.", wait(ae.RetryAfter))
		}
		return reject(ae.Code, msg)
	case "access_denied":
		return reject(ae.Code, "Your organisation's sign-on policy does not allow this sign-in here; ask your administrator.")
	case "enrollment_required":
		return reject(ae.Code, "This sign-in needs the Assent app, and your account has no device yet; ask your administrator for an enrollment link.")
	case "push_denied":
		return reject(ae.Code, "The sign-in was denied in the Assent app.")
	case "wrong_number":
		return reject(ae.Code, "The sign-in was not approved: a wrong number was picked, or the app did not verify you. Connect again to get a new push.")
	case "push_expired":
		return reject(ae.Code, "The push was not answered in time; connect again to get a new one.")
	case "push_reported":
		return reject(ae.Code, "The push was reported as not made by you, so this sign-in has ended.")
	case "push_limited":
		return reject(ae.Code, "Too many pushes went unanswered lately, so no more are sent for now. Type your password, a comma and the code from the Assent app (password,123456).")
	case "invalid_code":
		return reject(ae.Code, "The code is wrong or too old; connect again with the code the app shows now.")
	case "code_used":
		return reject(ae.Code, "That code was used already; wait for the next one and connect again.")
	case "transaction_ended", "state_changed", "invalid_state_handle", "invalid_session":
		return reject(ae.Code, msgEnded)
	case "unknown_app":
		return reject(ae.Code, "Assent does not sign people in to this client's app (it was removed, or this server cannot use it); ask your administrator.")
	}
	if ae.Status >= 500 {
		return reject(ae.Code, msgUnavailable)
	}
	return reject(ae.Code, "Assent refused this sign-in; ask your administrator, who finds why in the audit log.")
}

func wait(seconds int) string {
	switch {
	case seconds < 60:
		return fmt.Sprintf("%d seconds", seconds)
	case seconds < 120:
		return "a minute"
	}
	return fmt.Sprintf("%d minutes", (seconds+59)/60)
}

// signIn runs a new request, or the answer to a challenge.
func (r *Server) signIn(ctx context.Context, w *work, req *request) *result {
	if req.state != nil {
		return r.resume(ctx, w, req)
	}
	t := &txn{r: r, ctx: ctx, meta: req.meta, login: server.NormalizeLogin(req.login)}
	resp, err := t.do("interact", sdk.Request{App: w.c.name})
	if err != nil {
		return t.refuse(err)
	}
	if resp, err = t.do(sdk.RemIdentify, sdk.Request{Login: req.login}); err != nil {
		return t.refuse(err)
	}
	password, code := splitCode(req.password)
	switch {
	case resp.Has(sdk.RemChallengeAuth):
		if password == "" {
			// Not a guess worth counting against the person.
			t.cancel()
			return t.rejectf("no password", msgWrongLogin)
		}
		if resp, err = t.do(sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthPassword, Passcode: password}); err != nil {
			return t.refuse(err)
		}
	case resp.Has(sdk.RemSelectAuth) && code == "" && isCode(req.password):
		// A rule without a password: a code alone.
		code = req.password
	}
	return t.next(w.c, resp, code)
}

// options are the authenticators a select step offers.
func options(resp *sdk.Response) []string {
	for _, m := range resp.Remediation {
		if m.Name != sdk.RemSelectAuth {
			continue
		}
		for _, f := range m.Fields {
			if f.Name == "authenticator" {
				return f.Options
			}
		}
	}
	return nil
}

// next follows the engine's answers until the request can be answered:
// success, a refusal, or an Access-Challenge.
func (t *txn) next(c *client, resp *sdk.Response, code string) *result {
	var err error
	for range 8 {
		switch {
		case resp.Status == sdk.StatusSuccess:
			return &result{code: radius.CodeAccessAccept, txID: t.id()}
		case resp.Status == sdk.StatusEnded:
			return t.rejectf("ended", msgEnded)
		case resp.Status == sdk.StatusWaiting && resp.Factor == sdk.AuthPush:
			if resp, err = t.hold(); err != nil {
				return t.refuse(err)
			}
		case resp.Has(sdk.RemSelectAuth):
			opts := options(resp)
			switch {
			case code != "" && slices.Contains(opts, sdk.AuthTOTP):
				passcode := code
				code = ""
				if _, err = t.do(sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthTOTP}); err != nil {
					return t.refuse(err)
				}
				if resp, err = t.do(sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthTOTP, Passcode: passcode}); err != nil {
					return t.refuse(err)
				}
			case c.challenge:
				return t.challenge(c, opts)
			case slices.Contains(opts, sdk.AuthPush):
				resp, err = t.do(sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush})
				var ae *push.APIError
				if (errors.As(err, &ae) && ae.Code == "number_challenge_unavailable") || (err == nil && resp.Number != 0) {
					// The rule wants a number picked, and this client
					// cannot show it: the engine sent no push.
					t.cancel()
					return t.rejectf("number challenge needs a client that shows messages",
						"This sign-in needs a number picked in the Assent app, and this VPN or access point cannot show it. Ask your administrator (Assent's RADIUS client setting 'challenge', or the app's sign-on rule).")
				} else if err != nil {
					return t.refuse(err)
				}
			case slices.Contains(opts, sdk.AuthTOTP):
				t.cancel()
				return t.rejectf("code required", "This sign-in needs a code from the Assent app: type your password, a comma and the code (password,123456).")
			default:
				t.cancel()
				return t.rejectf("no usable authenticator", "This sign-in needs a way to confirm it that this VPN or access point cannot offer; ask your administrator.")
			}
		case resp.Has(sdk.RemEnrollAuth) || resp.Has(sdk.RemEnrollPoll):
			t.cancel()
			return t.rejectf("no device", "This sign-in needs the Assent app, and your account has no device yet: add one on your account page, or ask your administrator for an enrollment link.")
		case resp.Has(sdk.RemEnrollProfile):
			t.cancel()
			return t.rejectf("profile incomplete", "Your profile is missing details your organisation asks for: sign in once on the account page, then connect again.")
		default:
			t.cancel()
			return t.rejectf("unexpected step", "Assent asked for a step this VPN or access point cannot take; ask your administrator.")
		}
	}
	t.cancel()
	return t.rejectf("unexpected step", "Assent asked for a step this VPN or access point cannot take; ask your administrator.")
}

// hold waits while a push waits on the person: the engine is asked every
// poll interval until the push is answered, refused or expired (the
// engine's clock decides when), or the server closes.
func (t *txn) hold() (*sdk.Response, error) {
	t.r.waiting.Add(1)
	defer t.r.waiting.Add(-1)
	timer := time.NewTimer(t.r.o.PollInterval)
	defer timer.Stop()
	for {
		resp, err := t.do(sdk.RemChallengePoll, sdk.Request{})
		if err != nil || resp.Status != sdk.StatusWaiting {
			return resp, err
		}
		timer.Reset(t.r.o.PollInterval)
		select {
		case <-t.ctx.Done():
			// The node is closing: the transaction stays, and the
			// client asks again (another node, or this one restarted).
			return nil, t.ctx.Err()
		case <-timer.C:
		}
	}
}

// stateData is what an Access-Challenge's State stands for, sealed in its
// grant: the engine's state handle is a bearer secret.
type stateData struct {
	Handle string `json:"handle"`
	Login  string `json:"login"`
	Mode   string `json:"mode"`
}

func stateAAD(grantID string) []byte { return []byte("assent radius state:" + grantID) }

// challenge answers with an Access-Challenge: a push sent, its number
// shown ("pick 42"), and the person's answer awaited; or a code asked
// for.
func (t *txn) challenge(c *client, opts []string) *result {
	code := slices.Contains(opts, sdk.AuthTOTP)
	prefix := ""
	if slices.Contains(opts, sdk.AuthPush) {
		resp, err := t.do(sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush})
		var ae *push.APIError
		switch {
		case err == nil && resp.Status == sdk.StatusWaiting:
			msg := "Approve the request in Assent"
			if resp.Number != 0 {
				msg += fmt.Sprintf(" — pick %d", resp.Number)
			}
			msg += ", then press Enter."
			if code {
				msg += " Or type the code from the app instead."
			}
			return t.challengeWith(c, modePush, msg)
		case err == nil:
			t.cancel()
			return t.rejectf("unexpected step", msgEnded)
		case errors.As(err, &ae) && ae.Code == "push_limited" && code:
			prefix = "Too many pushes went unanswered lately, so none was sent. "
		default:
			return t.refuse(err)
		}
	}
	if !code {
		t.cancel()
		return t.rejectf("no usable authenticator", "This sign-in needs a way to confirm it that this VPN or access point cannot offer; ask your administrator.")
	}
	if _, err := t.do(sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthTOTP}); err != nil {
		return t.refuse(err)
	}
	return t.challengeWith(c, modeCode, prefix+"Enter the code from the Assent app.")
}

// challengeWith keeps the transaction behind a new State, as a store
// grant any node can take up: random (256 bits; the store keeps its
// hash), bound to the client and the login, used once, for StateTTL.
func (t *txn) challengeWith(c *client, mode, msg string) *result {
	state := "as1." + crypto.RandomToken(32)
	now := t.r.s.Now()
	id := "rst_" + crypto.RandomToken(16)
	data, _ := json.Marshal(stateData{Handle: t.handle, Login: t.login, Mode: mode})
	g := store.Grant{ID: id, Kind: kindState, ClientID: c.id, Lookup: crypto.HashToken(state),
		Data: t.r.s.Seal(data, stateAAD(id)), CreatedAt: now, ExpiresAt: now.Add(t.r.o.StateTTL)}
	if err := t.r.s.Store().CreateGrant(t.ctx, g); err != nil {
		t.r.s.Logger().Error("RADIUS: store a challenge's State", "err", err)
		t.cancel()
		return t.rejectf("internal", msgUnavailable)
	}
	return &result{code: radius.CodeAccessChallenge, msg: msg, state: []byte(state), mode: mode, txID: t.id()}
}

// errStateUsed: the State was answered already, revoked or expired.
var errStateUsed = errors.New("state used, revoked or expired")

// resume takes up a transaction from an Access-Challenge's State.
func (r *Server) resume(ctx context.Context, w *work, req *request) *result {
	if len(req.state) > 253 || !strings.HasPrefix(string(req.state), "as1.") {
		return reject("unknown state", msgUnknownState)
	}
	st := r.s.Store()
	g, err := st.GetGrantByLookup(ctx, kindState, crypto.HashToken(string(req.state)))
	if errors.Is(err, store.ErrNotFound) || (err == nil && g.ClientID != w.c.id) {
		return reject("unknown state", msgUnknownState)
	} else if err != nil {
		return refusal(ctx, err)
	}
	now := r.s.Now()
	// Claimed before anything else, so that the State works once however
	// many copies of the answer arrive, on however many nodes.
	g, err = st.UpdateGrant(ctx, g.ID, func(g *store.Grant) error {
		if !g.UsedAt.IsZero() || !g.RevokedAt.IsZero() || !now.Before(g.ExpiresAt) {
			return errStateUsed
		}
		g.UsedAt = now
		return nil
	})
	if errors.Is(err, errStateUsed) || errors.Is(err, store.ErrNotFound) {
		return reject("state used or expired", msgUnknownState)
	} else if err != nil {
		return refusal(ctx, err)
	}
	plain, err := r.s.Open(g.Data, stateAAD(g.ID))
	var sd stateData
	if err == nil {
		err = json.Unmarshal(plain, &sd)
	}
	if err != nil {
		r.s.Logger().Error("RADIUS: a challenge's State does not open", "grant", g.ID, "err", err)
		return reject("internal", msgUnavailable)
	}
	t := &txn{r: r, ctx: ctx, meta: req.meta, handle: sd.Handle, login: server.NormalizeLogin(req.login)}
	if t.login != sd.Login {
		t.cancel()
		return t.rejectf("state of another login", msgUnknownState)
	}
	var resp *sdk.Response
	switch {
	case sd.Mode == modeCode || (sd.Mode == modePush && isCode(req.password)):
		if !isCode(req.password) {
			t.cancel()
			return t.rejectf("not a code", "Type the 6- or 8-digit code the Assent app shows; connect again to try once more.")
		}
		if sd.Mode == modePush {
			// A code instead of the push: choosing it takes the push back.
			if _, err := t.do(sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthTOTP}); err != nil {
				return t.refuse(err)
			}
		}
		if resp, err = t.do(sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthTOTP, Passcode: req.password}); err != nil {
			return t.refuse(err)
		}
	default:
		if resp, err = t.hold(); err != nil {
			return t.refuse(err)
		}
	}
	return t.next(w.c, resp, "")
}
