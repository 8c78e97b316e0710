package server

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server/store"
)

// The signed-in pages: the account (devices, adding one), signing out, the
// admin area, and the development mail sink.

// signedIn is the browser's session, if it has a valid one.
func (p *pages) signedIn(r *http.Request) (store.Session, store.User, string, bool) {
	tok := p.cookie(r, "session")
	if tok == "" {
		return store.Session{}, store.User{}, "", false
	}
	sess, u, err := p.s.sessionUser(r.Context(), tok)
	if err != nil {
		return store.Session{}, store.User{}, "", false
	}
	return sess, u, tok, true
}

func isAdmin(u store.User) bool { return slices.Contains(u.Groups, AdminGroup) }

// signInFor is the sign-in to app that comes back to path.
func signInFor(app, path string) string {
	return PathSignIn + "?app=" + url.QueryEscape(app) + "&return=" + url.QueryEscape(path)
}

// signedInFor is the browser's session when it serves app (the account
// page, the admin area): made for it, or proving what its rule asks
// within the rule's re-authentication frequency. Otherwise it sends the
// browser to sign in to app — which asks only for what is missing — and
// says no.
func (p *pages) signedInFor(w http.ResponseWriter, r *http.Request, app string) (store.Session, store.User, string, bool) {
	sess, u, tok, ok := p.signedIn(r)
	if !ok || !p.s.sessionServes(sess, u, app, clientIP(r)) {
		back := r.URL.Path
		if r.Method != http.MethodGet {
			back = map[string]string{AppAdmin: PathAdmin, AppAccount: PathAccount}[app]
		}
		http.Redirect(w, r, signInFor(app, back), http.StatusSeeOther)
		return sess, u, tok, false
	}
	return sess, u, tok, true
}

type accountView struct {
	Login     string
	Email     string
	Groups    []string
	Profile   [][2]string
	Devices   []store.Device
	ExpiresAt string
	// Passkeys are the user's passkeys; PasskeysOn says this server can
	// add them (its URL names a host).
	Passkeys   []Passkey
	PasskeysOn bool
}

// Account errors shown from a redirect's query: only known codes, so the
// address cannot put words on the page.
var accountErrors = map[string]bool{"enrollment_disabled": true, "invalid_session": true,
	"no_passkey": true, "too_many_passkeys": true, "passkeys_unavailable": true}

func (p *pages) handleAccount(w http.ResponseWriter, r *http.Request) {
	sess, u, tok, ok := p.signedInFor(w, r, AppAccount)
	if !ok {
		return
	}
	a := &accountView{Login: u.Login, Email: u.Email, Groups: u.Groups, Devices: p.s.activeDevices(r.Context(), u.ID),
		ExpiresAt: formatWhen(sess.ExpiresAt), Passkeys: p.userPasskeys(r, u), PasskeysOn: p.s.passkeysOn()}
	keys := make([]string, 0, len(u.Profile))
	for k := range u.Profile {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		a.Profile = append(a.Profile, [2]string{attrLabel(k), u.Profile[k]})
	}
	v := &view{User: u.Login, Admin: isAdmin(u), Wide: true, CSRF: p.csrfFor(sessionBinding(tok)), Account: a}
	q := r.URL.Query()
	if q.Get("added") == "1" {
		v.Notice = "Your new device was added. It gets sign-in requests from now on."
	}
	switch q.Get("passkey") {
	case "added":
		v.Notice = "Your passkey was added. You can sign in with it from now on."
	case "removed":
		v.Notice = "The passkey was removed. It no longer signs in to your account."
	}
	if q.Get("device") == "removed" {
		v.Notice = "The device was removed. It gets no more sign-in requests, and its codes no longer work."
	}
	if code := q.Get("error"); code == "no_device" {
		v.Error = &pageMsg{Title: "There is no such device on your account.", Detail: "It may have been removed already. The devices your account has are listed below."}
	} else if accountErrors[code] {
		v.Error = (&flash{Code: code}).show()
	}
	p.render(w, http.StatusOK, "account", v)
}

// handleAddDevice starts a self-service enrollment: the engine asks the
// existing device first (push or code), then offers the QR code.
func (p *pages) handleAddDevice(w http.ResponseWriter, r *http.Request) {
	_, _, tok, ok := p.signedInFor(w, r, AppAccount)
	if !ok {
		return
	}
	if !p.checkPost(w, r, sessionBinding(tok)) {
		p.csrfRefused(w)
		return
	}
	dev := p.deviceID(w, r)
	resp, err := p.s.Step(r.Context(), "interact", sdk.Request{App: AppAccount, Kind: sdk.KindEnroll, SessionToken: tok, Device: dev}, p.meta(r, dev))
	if err != nil {
		http.Redirect(w, r, PathAccount+"?error="+url.QueryEscape(flashOf(err).Code), http.StatusSeeOther)
		return
	}
	t := &pageTx{Handle: resp.StateHandle, Kind: sdk.KindEnroll, App: AppAccount, Return: PathAccount + "?added=1"}
	http.Redirect(w, r, p.settle(w, r, t, resp, nil), http.StatusSeeOther)
}

func (p *pages) handleSignOutPage(w http.ResponseWriter, r *http.Request) {
	_, u, tok, ok := p.signedIn(r)
	if !ok {
		p.message(w, http.StatusOK, "You are signed out", "Nothing here is signed in.", PathSignIn, "Sign in")
		return
	}
	p.render(w, http.StatusOK, "signout", &view{User: u.Login, Admin: isAdmin(u), CSRF: p.csrfFor(sessionBinding(tok))})
}

// handleSignOut ends this browser's session.
func (p *pages) handleSignOut(w http.ResponseWriter, r *http.Request) {
	sess, u, tok, ok := p.signedIn(r)
	if ok && !p.checkPost(w, r, sessionBinding(tok)) {
		p.csrfRefused(w)
		return
	}
	if ok {
		if err := p.s.st.RevokeSession(r.Context(), sess.ID, p.s.now()); err != nil {
			p.writeFailed(w, "hosted pages: revoke session", err, "The session could not be signed out. Try again.", PathAccount, "Back to your account")
			return
		}
		p.s.audit(r.Context(), store.AuditEvent{Type: "session.revoked", UserID: u.ID, ClientIP: clientIP(r)})
	}
	p.setCookie(w, "session", "", -1)
	p.setCookie(w, "tx", "", -1)
	p.message(w, http.StatusOK, "You are signed out", "You signed out of this browser.", PathSignIn, "Sign in again")
}

// handleSignOutEverywhere revokes every session of the user.
func (p *pages) handleSignOutEverywhere(w http.ResponseWriter, r *http.Request) {
	_, u, tok, ok := p.signedIn(r)
	if !ok {
		http.Redirect(w, r, signInFor(AppAccount, PathAccount), http.StatusSeeOther)
		return
	}
	if !p.checkPost(w, r, sessionBinding(tok)) {
		p.csrfRefused(w)
		return
	}
	n, err := p.s.st.RevokeSessions(r.Context(), u.ID, p.s.now())
	if err != nil {
		p.writeFailed(w, "hosted pages: revoke sessions", err, "The sessions could not be signed out. Try again.", PathAccount, "Back to your account")
		return
	}
	p.s.audit(r.Context(), store.AuditEvent{Type: "session.revoked_all", UserID: u.ID, ClientIP: clientIP(r), Detail: map[string]string{"sessions": strconv.Itoa(n)}})
	p.setCookie(w, "session", "", -1)
	p.message(w, http.StatusOK, "You are signed out everywhere",
		fmt.Sprintf("%d session(s) of %s were signed out, this one too.", n, u.Login), PathSignIn, "Sign in again")
}

// Admin.

type adminUser struct {
	store.User
	Locked   bool
	Devices  []store.Device
	Passkeys []Passkey
}

type auditRow struct {
	store.AuditEvent
	Login  string
	Detail string
}

// admin checks for a signed-in administrator whose session serves the
// admin area (its own sign-on rule: by default two factors, one of them
// possession, within the last 15 minutes); it answers the request itself
// when there is none.
func (p *pages) admin(w http.ResponseWriter, r *http.Request) (store.User, string, bool) {
	_, u, _, ok := p.signedIn(r)
	if ok && !isAdmin(u) {
		p.render(w, http.StatusForbidden, "message", &view{User: u.Login, Title: "Not allowed",
			Text: "Only members of the group \"" + AdminGroup + "\" may use the admin pages.", Back: PathAccount, BackText: "Back to your account"})
		return u, "", false
	}
	_, u, tok, ok := p.signedInFor(w, r, AppAdmin)
	return u, tok, ok
}

// adminPost is admin for a form post, whose CSRF token it checks too.
func (p *pages) adminPost(w http.ResponseWriter, r *http.Request) (store.User, string, bool) {
	me, tok, ok := p.admin(w, r)
	if ok && !p.checkPost(w, r, sessionBinding(tok)) {
		p.csrfRefused(w)
		return me, tok, false
	}
	return me, tok, ok
}

func (p *pages) handleAdminUsers(w http.ResponseWriter, r *http.Request) {
	me, tok, ok := p.admin(w, r)
	if !ok {
		return
	}
	users, err := p.s.st.ListUsers(r.Context())
	if err != nil {
		p.s.log.Error("hosted pages: list users", "err", err)
		p.message(w, http.StatusInternalServerError, "Something went wrong", "The users could not be read. Try again.", PathAdmin, "Reload")
		return
	}
	v := &view{User: me.Login, Admin: true, Wide: true, CSRF: p.csrfFor(sessionBinding(tok))}
	for _, u := range users {
		devs, err := p.s.st.ListDevices(r.Context(), u.ID)
		if err != nil {
			p.s.log.Error("hosted pages: list devices", "err", err)
		}
		v.Users = append(v.Users, adminUser{User: u, Locked: p.s.accountThrottled(r.Context(), u.Login), Devices: devs,
			Passkeys: p.userPasskeys(r, u)})
	}
	if id := r.URL.Query().Get("revoked"); id != "" {
		if d, err := p.s.st.GetDevice(r.Context(), id); err == nil && !d.RevokedAt.IsZero() {
			v.Notice = fmt.Sprintf("The device %q was revoked: it gets no more requests and its codes no longer work.", d.Name)
		}
	}
	if id := r.URL.Query().Get("passkey-removed"); id != "" {
		v.Notice = p.removedPasskeyNotice(r, id)
	}
	if id := r.URL.Query().Get("risk-reset"); id != "" {
		if u, err := p.s.st.GetUser(r.Context(), id); err == nil && (u.Risk == "low" || u.Risk == "") {
			v.Notice = fmt.Sprintf("The risk of %s was reset to low.", u.Login)
		}
	}
	p.render(w, http.StatusOK, "admin", v)
}

// Confirmation pages. Revoking a device (admin) and removing one's own
// device (account) take two steps that work without JavaScript: the
// button opens a page that names the device, and only that page's form
// does it. Its token is bound to the session, the action and the device,
// so neither the page it came from nor any other form can skip the step;
// the post is checked for its origin and session token as every form is.

const (
	confirmRevoke = "revoke-device"
	confirmRemove = "remove-device"
)

func (p *pages) confirmToken(tok, action, id string) string {
	return p.csrfFor("confirm:" + action + ":" + id + ":" + sessionBinding(tok))
}

// confirmed says whether a post (parsed by checkPost) carries the token of
// the confirmation page for action on id.
func (p *pages) confirmed(r *http.Request, tok, action, id string) bool {
	got := r.PostForm.Get("confirm")
	return tok != "" && got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(p.confirmToken(tok, action, id))) == 1
}

func (p *pages) handleAdminRevokePage(w http.ResponseWriter, r *http.Request) {
	me, tok, ok := p.admin(w, r)
	if !ok {
		return
	}
	p.renderRevokeConfirm(w, r, me, tok, r.PathValue("id"))
}

// renderRevokeConfirm asks an admin to confirm revoking a device.
func (p *pages) renderRevokeConfirm(w http.ResponseWriter, r *http.Request, me store.User, tok, id string) {
	d, err := p.s.st.GetDevice(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		p.notFound(w)
		return
	} else if err != nil {
		p.s.log.Error("hosted pages: load device", "err", err)
		p.message(w, http.StatusInternalServerError, "Something went wrong", "The device could not be read. Try again.", PathAdmin, "Back to users")
		return
	}
	if !d.RevokedAt.IsZero() {
		http.Redirect(w, r, PathAdmin+"?revoked="+url.QueryEscape(d.ID), http.StatusSeeOther)
		return
	}
	owner := ""
	if u, err := p.s.st.GetUser(r.Context(), d.UserID); err == nil {
		owner = u.Login
	}
	p.render(w, http.StatusOK, "confirm", &view{User: me.Login, Admin: true, CSRF: p.csrfFor(sessionBinding(tok)),
		Title: "Revoke this device?",
		Text:  "It stops getting sign-in requests at once, and its codes stop working. This cannot be undone: to use it again, its owner enrolls it anew.",
		Confirm: &confirmView{Device: d, Owner: owner, Action: PathAdmin + "/devices/" + url.PathEscape(d.ID) + "/revoke",
			Token: p.confirmToken(tok, confirmRevoke, d.ID), Button: "Revoke device", Cancel: PathAdmin + "#user-" + owner, CancelText: "Cancel"}})
}

// handleAdminRevoke revokes a device once its confirmation page's form
// asks; any other post gets the confirmation page and changes nothing.
func (p *pages) handleAdminRevoke(w http.ResponseWriter, r *http.Request) {
	me, tok, ok := p.adminPost(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if !p.confirmed(r, tok, confirmRevoke, id) {
		p.renderRevokeConfirm(w, r, me, tok, id)
		return
	}
	_, err := p.s.revokeDeviceOf(r.Context(), "", id, "admin "+me.Login)
	switch {
	case errors.Is(err, errNoDevice):
		p.notFound(w)
	case err != nil && !errors.Is(err, errDeviceGone):
		p.writeFailed(w, "hosted pages: revoke device", err, "The device could not be revoked. Try again.", PathAdmin, "Back to users")
	default:
		http.Redirect(w, r, PathAdmin+"?revoked="+url.QueryEscape(id), http.StatusSeeOther)
	}
}

// writeFailed answers a write the store refused: out of space, 503 with
// Retry-After in the words every other write uses (logged at most every
// noSpaceLogEvery); otherwise 500 with text.
func (p *pages) writeFailed(w http.ResponseWriter, op string, err error, text, back, backText string) {
	if errors.Is(err, store.ErrNoSpace) {
		p.s.noSpace(op, err)
		p.message(w, http.StatusServiceUnavailable, "Nothing was changed", errorTexts["unavailable"].text, back, backText)
		return
	}
	p.s.log.Error(op, "err", err)
	p.message(w, http.StatusInternalServerError, "Something went wrong", text, back, backText)
}

// handleAdminResetRisk sets a user's standing risk back to low.
func (p *pages) handleAdminResetRisk(w http.ResponseWriter, r *http.Request) {
	me, _, ok := p.adminPost(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	_, err := p.s.ResetUserRisk(r.Context(), id, "admin "+me.Login)
	switch {
	case errors.Is(err, errNoUser):
		p.notFound(w)
	case err != nil:
		p.writeFailed(w, "hosted pages: reset risk", err, "The risk could not be reset. Try again.", PathAdmin, "Back to users")
	default:
		http.Redirect(w, r, PathAdmin+"?risk-reset="+url.QueryEscape(id), http.StatusSeeOther)
	}
}

// handleRemoveDevicePage asks the signed-in person to confirm removing one
// of their devices.
func (p *pages) handleRemoveDevicePage(w http.ResponseWriter, r *http.Request) {
	_, u, tok, ok := p.signedInFor(w, r, AppAccount)
	if !ok {
		return
	}
	p.renderRemoveConfirm(w, r, u, tok, r.PathValue("id"))
}

// renderRemoveConfirm draws the confirmation of removing a device of u's.
// A device of another user, a removed one and an unknown ID get the same
// answer.
func (p *pages) renderRemoveConfirm(w http.ResponseWriter, r *http.Request, u store.User, tok, id string) {
	devs, err := p.s.st.ListDevices(r.Context(), u.ID)
	if err != nil {
		p.s.log.Error("hosted pages: list devices", "err", err)
		p.message(w, http.StatusInternalServerError, "Something went wrong", "Your devices could not be read. Try again.", PathAccount, "Back to your account")
		return
	}
	devs = slices.DeleteFunc(devs, func(d store.Device) bool { return !d.RevokedAt.IsZero() })
	i := slices.IndexFunc(devs, func(d store.Device) bool { return d.ID == id })
	if i < 0 {
		http.Redirect(w, r, PathAccount+"?error=no_device", http.StatusSeeOther)
		return
	}
	d := devs[i]
	p.render(w, http.StatusOK, "confirm", &view{User: u.Login, Admin: isAdmin(u), CSRF: p.csrfFor(sessionBinding(tok)),
		Title: "Remove this device?",
		Text:  "It stops getting sign-in requests at once, and its codes stop working. To use it again, you add it again from this page.",
		Confirm: &confirmView{Device: d, Action: PathAccount + "/devices/" + url.PathEscape(d.ID) + "/remove",
			Token: p.confirmToken(tok, confirmRemove, d.ID), Button: "Remove device", Cancel: PathAccount, CancelText: "Keep it",
			Last: len(devs) == 1}})
}

// handleRemoveDevice removes one of the signed-in person's devices, once
// its confirmation page's form asks. The session is checked again here (a
// revoked or expired one is sent to sign in), and the device's owner is
// checked in the same store transaction that revokes it.
func (p *pages) handleRemoveDevice(w http.ResponseWriter, r *http.Request) {
	_, u, tok, ok := p.signedInFor(w, r, AppAccount)
	if !ok {
		return
	}
	if !p.checkPost(w, r, sessionBinding(tok)) {
		p.csrfRefused(w)
		return
	}
	id := r.PathValue("id")
	if !p.confirmed(r, tok, confirmRemove, id) {
		p.renderRemoveConfirm(w, r, u, tok, id)
		return
	}
	d, err := p.s.revokeDeviceOf(r.Context(), u.ID, id, "user")
	switch {
	case errors.Is(err, errNoDevice):
		http.Redirect(w, r, PathAccount+"?error=no_device", http.StatusSeeOther)
	case errors.Is(err, errDeviceGone):
		// A second click, or another tab: it is gone, as asked.
		http.Redirect(w, r, PathAccount+"?device=removed", http.StatusSeeOther)
	case err != nil:
		p.writeFailed(w, "hosted pages: remove device", err, "The device could not be removed. Try again.", PathAccount, "Back to your account")
	default:
		p.s.tellUser(r.Context(), u, fmt.Sprintf("The device %q was removed from your account.", d.Name),
			"A device was removed from your account",
			fmt.Sprintf("The device %q was removed from your %s account %s at %s.\n\nIf this was not you, tell your administrator at once.",
				d.Name, p.s.opts.Org, u.Login, p.s.now().UTC().Format(time.RFC1123)))
		http.Redirect(w, r, PathAccount+"?device=removed", http.StatusSeeOther)
	}
}

// auditPage is how many audit events one page shows.
const auditPage = 50

func (p *pages) handleAdminAudit(w http.ResponseWriter, r *http.Request) {
	me, _, ok := p.admin(w, r)
	if !ok {
		return
	}
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	if before < 0 {
		before = 0
	}
	evs, err := p.s.st.ListAudit(r.Context(), store.AuditFilter{Newest: true, BeforeSeq: before, Limit: auditPage})
	if err != nil {
		p.s.log.Error("hosted pages: list audit", "err", err)
		p.message(w, http.StatusInternalServerError, "Something went wrong", "The audit log could not be read. Try again.", PathAdmin+"/audit", "Reload")
		return
	}
	logins := map[string]string{}
	if users, err := p.s.st.ListUsers(r.Context()); err == nil {
		for _, u := range users {
			logins[u.ID] = u.Login
		}
	}
	v := &view{User: me.Login, Admin: true, Wide: true}
	for _, e := range evs {
		keys := make([]string, 0, len(e.Detail))
		for k := range e.Detail {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, k+"="+e.Detail[k])
		}
		v.Audit = append(v.Audit, auditRow{AuditEvent: e, Login: logins[e.UserID], Detail: strings.Join(parts, " · ")})
	}
	if len(evs) == auditPage {
		v.Older = PathAdmin + "/audit?before=" + strconv.FormatInt(evs[len(evs)-1].Seq, 10)
	}
	if before > 0 {
		v.Newer = PathAdmin + "/audit"
	}
	p.render(w, http.StatusOK, "audit", v)
}

// Development mail sink.

type mailView struct {
	Mail
	Parts []mailPart
}

// mailPart is a run of a mail's text, or a link in it.
type mailPart struct {
	Text string
	URL  template.URL
}

var urlRE = regexp.MustCompile(`https?://[^\s<>"]+`)

func linkify(text string) []mailPart {
	var out []mailPart
	last := 0
	for _, m := range urlRE.FindAllStringIndex(text, -1) {
		if m[0] > last {
			out = append(out, mailPart{Text: text[last:m[0]]})
		}
		link := text[m[0]:m[1]]
		// Only http(s) links are matched, so the URL is safe to use as is.
		out = append(out, mailPart{Text: link, URL: template.URL(link)})
		last = m[1]
	}
	if last < len(text) {
		out = append(out, mailPart{Text: text[last:]})
	}
	return out
}

func (p *pages) handleDevMail(w http.ResponseWriter, r *http.Request) {
	if !p.s.opts.Dev || p.mail == nil {
		p.notFound(w)
		return
	}
	v := &view{Wide: true, MailOn: true}
	if _, u, _, ok := p.signedIn(r); ok {
		v.User, v.Admin = u.Login, isAdmin(u)
	}
	for _, m := range p.mail.Messages() {
		v.Mail = append(v.Mail, mailView{Mail: m, Parts: linkify(m.Text)})
	}
	p.render(w, http.StatusOK, "devmail", v)
}

// renderMagic is the page a magic link lands on; with a token it offers
// the button that uses it.
func (p *pages) renderMagic(w http.ResponseWriter, status int, title, text, token string) {
	p.render(w, status, "magic", &view{Title: title, Text: sentence(text), Token: token})
}

// The registered apps (admin).

func (p *pages) handleAdminApps(w http.ResponseWriter, r *http.Request) {
	me, tok, ok := p.admin(w, r)
	if !ok {
		return
	}
	p.renderApps(w, r, me, tok, http.StatusOK, &view{})
}

// renderApps draws the apps page over v (an error, a notice, a new app).
func (p *pages) renderApps(w http.ResponseWriter, r *http.Request, me store.User, tok string, status int, v *view) {
	apps, err := p.s.ListApps(r.Context())
	if err != nil {
		p.s.log.Error("hosted pages: list apps", "err", err)
		p.message(w, http.StatusInternalServerError, "Something went wrong", "The apps could not be read. Try again.", PathAdmin+"/apps", "Reload")
		return
	}
	v.User, v.Admin, v.Wide, v.CSRF, v.Kinds = me.Login, true, true, p.csrfFor(sessionBinding(tok)), p.s.AppKinds()
	for _, a := range apps {
		v.Apps = append(v.Apps, appRow{App: a, Settings: p.s.DescribeApp(a)})
	}
	p.render(w, status, "apps", v)
}

// appSettings reads a kind's settings from the add form: fields named
// "setting.NAME", a list one value a line.
func appSettings(k AppKind, form url.Values) map[string][]string {
	out := map[string][]string{}
	for _, f := range k.Fields {
		raw := form.Get("setting." + f.Name)
		switch {
		case f.Flag:
			if raw != "" {
				out[f.Name] = []string{"true"}
			}
		case f.List:
			for _, line := range strings.Split(raw, "\n") {
				if line = strings.TrimSpace(line); line != "" {
					out[f.Name] = append(out[f.Name], line)
				}
			}
		default:
			if raw = strings.TrimSpace(raw); raw != "" {
				out[f.Name] = []string{raw}
			}
		}
	}
	return out
}

func (p *pages) handleAdminAddApp(w http.ResponseWriter, r *http.Request) {
	me, tok, ok := p.adminPost(w, r)
	if !ok {
		return
	}
	name, typ := strings.TrimSpace(r.PostForm.Get("name")), r.PostForm.Get("type")
	var settings map[string][]string
	if k, ok := p.s.appKind(typ); ok {
		settings = appSettings(k, r.PostForm)
	}
	a, secret, err := p.s.AddAppOfKind(r.Context(), name, typ, settings)
	if err != nil {
		status := http.StatusBadRequest
		if !errors.Is(err, ErrAppInvalid) && !errors.Is(err, ErrAppExists) {
			p.s.log.Error("hosted pages: add app", "err", err)
			status, err = http.StatusInternalServerError, errors.New("the server could not store the app; try again")
		}
		p.renderApps(w, r, me, tok, status, &view{Error: &pageMsg{Title: "The app was not added.", Detail: sentence(err.Error())}})
		return
	}
	v := &view{Notice: fmt.Sprintf("The app %q was added.", a.Name)}
	if secret != "" {
		// The secret is said here, once; it is kept only as a hash.
		v.Created = &createdApp{Name: a.Name, ID: a.ID, Secret: secret}
	}
	p.renderApps(w, r, me, tok, http.StatusOK, v)
}

func (p *pages) handleAdminRemoveApp(w http.ResponseWriter, r *http.Request) {
	me, tok, ok := p.adminPost(w, r)
	if !ok {
		return
	}
	name := r.PathValue("name")
	if err := p.s.RemoveApp(r.Context(), name); err != nil {
		p.renderApps(w, r, me, tok, http.StatusBadRequest, &view{Error: &pageMsg{Title: "The app was not removed.", Detail: sentence(err.Error())}})
		return
	}
	p.renderApps(w, r, me, tok, http.StatusOK, &view{Notice: fmt.Sprintf("The app %q was removed: nobody can start a sign-in to it any more.", name)})
}
