package oidc

// The login step and what guards the browser's side of a flow: zitadel's
// authorize endpoint stores the auth request and sends the browser to
// /oidc/login?id=…, which either finishes it from the browser's session
// (single sign-on) or sends the browser through the hosted sign-in pages
// for the client's app and back. The callback then gives the code only
// to the browser whose session finished the request. Sign-out (the
// end_session endpoint) ends the browser's session and the user's tokens
// of that client.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
)

// maxLoginAttempts bounds the round trips of one auth request through the
// sign-in pages: a sign-in that comes back still short of what the
// request asks is not sent round again for ever.
const maxLoginAttempts = 6

func (p *Provider) storage() *storage { return p.op.Storage().(*storage) }

// callbackURL is zitadel's authorize callback for an auth request.
func (p *Provider) callbackURL(id string) string {
	return pathCallback + "?id=" + url.QueryEscape(id)
}

// expiredSignIn is the page for an auth request that is gone.
func (p *Provider) expiredSignIn(w http.ResponseWriter, err error) {
	if !errors.Is(err, errGrantUnknown) && !errors.Is(err, errGrantExpired) && !errors.Is(err, errGrantRevoked) {
		p.s.Logger().Error("openid connect: load auth request", "err", err)
		p.pages.unavailable(w)
		return
	}
	p.pages.message(w, http.StatusBadRequest, "This sign-in has expired",
		"Sign-ins started from an app last 20 minutes, and this one has ended or was finished already. Go back to the app and sign in again.")
}

// handleLogin is the login step (the clients' LoginURL).
func (p *Provider) handleLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.URL.Query().Get("id")
	g, a, err := p.storage().loadAuthRequest(ctx, id)
	if err != nil {
		p.expiredSignIn(w, err)
		return
	}
	if a.d.Done || g.Lookup != "" {
		http.Redirect(w, r, p.callbackURL(id), http.StatusFound)
		return
	}
	c, err := p.loadClient(ctx, g.ClientID)
	if err != nil {
		p.pages.message(w, http.StatusBadRequest, "This app is no longer registered",
			"The app you came from was removed from this server, so it cannot sign you in. Tell its administrator.")
		return
	}
	req := server.SignInRequest{App: c.app.Name, Return: pathLogin + "?id=" + url.QueryEscape(id),
		AuthAfter: a.d.authAfter(g.CreatedAt), Level: a.d.Level, Login: a.d.LoginHint}
	si, signedIn := p.s.BrowserSignIn(r)
	meets := signedIn && p.s.SignInMeets(r, si, req)
	// An id_token_hint names who the app expects: a session of someone
	// else from before this request does not stand in for them silently.
	if meets && a.d.HintSubject != "" && si.UserID != a.d.HintSubject && si.AuthTime.Before(g.CreatedAt) {
		meets = false
	}
	if meets {
		p.finishLogin(w, r, id, si, a.d.Attempts > 0)
		return
	}
	if a.d.PromptNone {
		p.authError(w, r, a, oidc.ErrLoginRequired().WithDescription("the person is not signed in, or their session does not meet what this request asks"))
		return
	}
	var attempts int
	_, err = p.s.Store().UpdateGrant(ctx, id, func(g *store.Grant) error {
		var d authReqData
		if err := json.Unmarshal(g.Data, &d); err != nil {
			return err
		}
		d.Attempts++
		attempts = d.Attempts
		g.Data, _ = json.Marshal(d)
		return nil
	})
	if err != nil {
		p.s.Logger().Error("openid connect: count a sign-in round", "err", err)
		p.pages.unavailable(w)
		return
	}
	if attempts > maxLoginAttempts {
		p.authError(w, r, a, oidc.ErrAccessDenied().WithDescription("the sign-in did not reach what the app asks (its sign-on rule, acr_values or max_age)"))
		return
	}
	http.Redirect(w, r, p.s.SignInURL(req), http.StatusSeeOther)
}

// finishLogin records the browser's sign-in on the auth request and sends
// the browser to the callback, which gives the code.
func (p *Provider) finishLogin(w http.ResponseWriter, r *http.Request, id string, si server.SignIn, afterPages bool) {
	ctx := r.Context()
	now := p.s.Now()
	g, err := p.s.Store().UpdateGrant(ctx, id, func(g *store.Grant) error {
		var d authReqData
		if err := json.Unmarshal(g.Data, &d); err != nil {
			return err
		}
		if !g.RevokedAt.IsZero() {
			return errGrantRevoked
		}
		if !now.Before(g.ExpiresAt) {
			return errGrantExpired
		}
		if d.Done {
			return nil
		}
		d.Done, d.Subject, d.SessionID, d.AMR, d.AuthTime, d.ACR = true, si.UserID, si.SessionID, si.AMR, si.AuthTime, acrOf(si.AMR)
		g.UserID = si.UserID
		g.Data, _ = json.Marshal(d)
		return nil
	})
	if err != nil {
		p.expiredSignIn(w, err)
		return
	}
	app := p.appName(ctx, g.ClientID)
	p.audit(ctx, "oidc.signed_in", si.UserID, map[string]string{"client_id": g.ClientID, "app": app,
		"amr": fmt.Sprint(si.AMR), "acr": acrOf(si.AMR)})
	if afterPages {
		// Back from the sign-in pages, whose last step may have been a
		// form: the way on to the app (another site) starts afresh.
		p.pages.goOn(w, "oidc-continue", "Signed in", "Taking you back to "+app+"…", p.callbackURL(id))
		return
	}
	http.Redirect(w, r, p.callbackURL(id), http.StatusFound)
}

// authError answers the client with an error at its redirect URI and ends
// the auth request.
func (p *Provider) authError(w http.ResponseWriter, r *http.Request, a *authRequest, e *oidc.Error) {
	ctx := r.Context()
	if _, err := p.s.Store().UpdateGrant(ctx, a.id, func(g *store.Grant) error {
		if g.RevokedAt.IsZero() {
			g.RevokedAt = p.s.Now()
		}
		return nil
	}); err != nil {
		p.s.Logger().Error("openid connect: end an auth request", "err", err)
	}
	p.audit(ctx, "oidc.authorize_refused", "", map[string]string{"client_id": a.clientID, "app": p.appName(ctx, a.clientID), "error": string(e.ErrorType)})
	op.AuthRequestError(w, r.WithContext(op.ContextWithIssuer(ctx, p.issuer)), a, e, p.op)
}

// checkAuthorize answers a request the authorize endpoint must not
// redirect: an unknown client or a redirect URI the client has not
// registered (matched exactly) gets an error page here, never a redirect.
func (p *Provider) checkAuthorize(w http.ResponseWriter, r *http.Request) bool {
	if !p.s.AllowSource(r) {
		p.pages.message(w, http.StatusTooManyRequests, "Too many sign-ins at once",
			"Too many sign-ins were started from your network in the last minute. Wait a minute, then go back to the app and try again.")
		return false
	}
	if err := r.ParseForm(); err != nil {
		p.pages.message(w, http.StatusBadRequest, "This sign-in link is broken", "The app sent a request this server cannot read. Go back to the app and try again.")
		return false
	}
	if k := repeated(r.Form); k != "" {
		p.pages.message(w, http.StatusBadRequest, "This sign-in link is broken",
			fmt.Sprintf("The app sent the parameter %q more than once, which OAuth does not allow (RFC 6749, 3.1), so the sign-in stopped here. Tell the app's administrator.", clip(k)))
		return false
	}
	c, err := p.loadClient(r.Context(), r.Form.Get("client_id"))
	if errors.Is(err, errUnknownClient) {
		p.pages.message(w, http.StatusBadRequest, "This app is not registered here",
			"The app you came from is not registered on this server (its client_id is unknown), so it cannot sign you in. Tell the app's administrator.")
		return false
	} else if err != nil {
		p.s.Logger().Error("openid connect: load client", "err", err)
		p.pages.unavailable(w)
		return false
	}
	ru := r.Form.Get("redirect_uri")
	if !slices.Contains(c.conf.RedirectURIs, ru) || checkURI(ru) != nil {
		p.audit(r.Context(), "oidc.authorize_refused", "", map[string]string{"client_id": c.app.ID, "app": c.app.Name, "error": "unregistered_redirect_uri"})
		shown := ru
		if len(shown) > 200 {
			shown = shown[:200] + "…"
		}
		p.pages.message(w, http.StatusBadRequest, "This sign-in link is not allowed",
			fmt.Sprintf("%s asked to send you back to an address it has not registered (%q), so the sign-in stopped here. Tell the app's administrator: redirect URIs must be registered and match exactly.", c.app.Name, shown))
		return false
	}
	return true
}

// checkCallback lets the callback give the code only to the browser whose
// session finished the auth request.
func (p *Provider) checkCallback(w http.ResponseWriter, r *http.Request) bool {
	g, a, err := p.storage().loadAuthRequest(r.Context(), r.URL.Query().Get("id"))
	if err != nil {
		p.expiredSignIn(w, err)
		return false
	}
	if g.Lookup != "" || !g.UsedAt.IsZero() {
		p.expiredSignIn(w, errGrantUnknown)
		return false
	}
	if !a.d.Done {
		http.Redirect(w, r, pathLogin+"?id="+url.QueryEscape(a.id), http.StatusFound)
		return false
	}
	si, ok := p.s.BrowserSignIn(r)
	if !ok || si.SessionID != a.d.SessionID {
		p.pages.message(w, http.StatusForbidden, "Finish signing in where you started",
			"This sign-in was finished in another browser, or you signed out since. Go back to the app and sign in again.")
		return false
	}
	return true
}

// Sign-out.

// logoutData is a sign-out waiting for the person's confirmation.
type logoutData struct {
	SessionID   string `json:"session_id"`
	RedirectURI string `json:"redirect_uri"`
}

const logoutTTL = 10 * time.Minute

// handleEndSession is RP-initiated logout: it ends the browser's session
// and the user's tokens of the client, and goes only to a post-logout
// URI the client registered (or this server's own page). Without an
// id_token_hint naming the signed-in user, the person confirms first, so
// that another site cannot sign them out.
func (p *Provider) handleEndSession(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	req, err := op.ParseEndSessionRequest(r, p.op.Decoder())
	if err != nil {
		p.pages.message(w, http.StatusBadRequest, "This sign-out link is broken", "The app sent a sign-out request this server cannot read.")
		return
	}
	es, err := op.ValidateEndSessionRequest(ctx, req, p.op)
	if err != nil {
		text := "The app's sign-out request could not be checked, so nothing was done."
		var oe *oidc.Error
		if errors.As(err, &oe) {
			switch {
			case oe.ErrorType == oidc.ServerError:
				p.pages.unavailable(w)
				return
			case oe.Description == "post_logout_redirect_uri invalid":
				text = "The app asked to send you to an address it has not registered after signing out, so nothing was done. Tell the app's administrator."
			case oe.Description == "id_token_hint invalid":
				text = "The app's sign-out request carries an ID token this server did not issue, so nothing was done."
			case oe.ErrorType == oidc.InvalidClient:
				text = "The app asking to sign you out is not registered here, so nothing was done."
			}
		}
		p.pages.message(w, http.StatusBadRequest, "This sign-out was not done", text)
		return
	}
	if req.PostLogoutRedirectURI != "" {
		// Exactly as registered (op lets a native client's loopback
		// address differ in its port).
		c, err := p.loadClient(ctx, es.ClientID)
		if err != nil || !slices.Contains(c.conf.PostLogoutURIs, req.PostLogoutRedirectURI) {
			p.pages.message(w, http.StatusBadRequest, "This sign-out was not done",
				"The app asked to send you to an address it has not registered after signing out, so nothing was done. Tell the app's administrator.")
			return
		}
	}
	si, signedIn := p.s.BrowserSignIn(r)
	if es.UserID != "" && (!signedIn || es.UserID != si.UserID) {
		// The app's own user's tokens go whatever the browser holds.
		p.revokeForLogout(ctx, es.UserID, es.ClientID)
	}
	if !signedIn {
		http.Redirect(w, r, es.RedirectURI, http.StatusFound)
		return
	}
	if es.UserID == si.UserID {
		p.revokeForLogout(ctx, si.UserID, es.ClientID)
		p.s.EndBrowserSession(w, r)
		http.Redirect(w, r, es.RedirectURI, http.StatusFound)
		return
	}
	data, _ := json.Marshal(logoutData{SessionID: si.SessionID, RedirectURI: es.RedirectURI})
	now := p.s.Now()
	g := store.Grant{ID: newID(prefixLogout), Kind: kindLogout, ClientID: es.ClientID, UserID: si.UserID, Data: data, CreatedAt: now, ExpiresAt: now.Add(logoutTTL)}
	g.Family = g.ID
	if err := p.s.Store().CreateGrant(ctx, g); err != nil {
		p.s.Logger().Error("openid connect: store a sign-out", "err", err)
		p.pages.unavailable(w)
		return
	}
	p.pages.render(w, http.StatusOK, "logout", "oidc-logout", &view{
		Title: "Sign out", User: si.Login, Login: si.Login, App: p.appName(ctx, es.ClientID), ID: g.ID,
		CSRF: p.pages.mac("logout:" + si.SessionID + ":" + g.ID),
	})
}

// revokeForLogout revokes a user's tokens of a client and says so.
func (p *Provider) revokeForLogout(ctx context.Context, userID, clientID string) {
	n, err := p.storage().revokeUserClient(ctx, userID, clientID)
	if err != nil {
		p.s.Logger().Error("openid connect: revoke tokens at sign-out", "err", err)
	}
	if clientID != "" {
		p.audit(ctx, "oidc.logout", userID, map[string]string{"client_id": clientID, "app": p.appName(ctx, clientID), "revoked": fmt.Sprint(n)})
	}
}

// handleLogoutConfirm takes the person's answer to a sign-out.
func (p *Provider) handleLogoutConfirm(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	si, signedIn := p.s.BrowserSignIn(r)
	id := ""
	if signedIn {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		if err := r.ParseForm(); err == nil {
			id = r.PostForm.Get("id")
		}
	}
	if !signedIn || len(id) > 64 || !p.pages.checkPost(w, r, "logout:"+si.SessionID+":"+id) {
		if !signedIn {
			http.Redirect(w, r, pathLoggedOut, http.StatusSeeOther)
			return
		}
		p.pages.csrfRefused(w)
		return
	}
	var d logoutData
	g, err := p.s.Store().UpdateGrant(ctx, id, func(g *store.Grant) error {
		if g.Kind != kindLogout || g.UserID != si.UserID || json.Unmarshal(g.Data, &d) != nil || d.SessionID != si.SessionID {
			return errGrantUnknown
		}
		if !g.UsedAt.IsZero() {
			return errGrantUsed
		}
		if !p.s.Now().Before(g.ExpiresAt) {
			return errGrantExpired
		}
		g.UsedAt = p.s.Now()
		return nil
	})
	if err != nil {
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, errGrantUnknown) || errors.Is(err, errGrantUsed) || errors.Is(err, errGrantExpired) {
			p.pages.message(w, http.StatusBadRequest, "This sign-out has expired", "Go back to the app and sign out again.")
			return
		}
		p.pages.unavailable(w)
		return
	}
	if r.PostForm.Get("decision") == "signout" {
		p.revokeForLogout(ctx, si.UserID, g.ClientID)
		p.s.EndBrowserSession(w, r)
		p.pages.goOn(w, "oidc-signed-out", "You have signed out", "Taking you on…", d.RedirectURI)
		return
	}
	p.pages.goOn(w, "oidc-stayed", "You are still signed in", "Taking you on…", d.RedirectURI)
}

func (p *Provider) handleLoggedOut(w http.ResponseWriter, r *http.Request) {
	p.pages.render(w, http.StatusOK, "message", "oidc-logged-out", &view{Title: "You have signed out",
		Text: "You can close this page, or sign in again.", Back: "/account", BackText: "Sign in again"})
}
