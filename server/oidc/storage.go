package oidc

// storage is zitadel's op.Storage over the engine's store. Every object of
// a flow is a grant:
//
//   - an auth request (kind oidc.auth_request, ID ar_…) is the root of its
//     family; once the person has signed in it records the subject, amr,
//     auth_time, acr and session, and when its code is issued the code's
//     hash becomes its Lookup and its ExpiresAt the code's. Exchanging the
//     code sets its UsedAt; a second exchange revokes the whole family.
//   - access and refresh tokens (oidc.access_token, oidc.refresh_token)
//     have their hash as Lookup and the root as Family. A refresh sets the
//     old refresh token's UsedAt and issues a new one in the family; a
//     refresh token used twice revokes the family.
//   - device authorizations (oidc.device) are roots too (see device.go).
//
// Claiming a root (or a refresh token) is one locked read-modify-write, so
// two racing exchanges never both succeed; tokens are created after the
// claim and the claimed grant is read again afterwards, so a family
// revoked by a racing reuse in between loses its new tokens as well.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
)

// Grant kinds.
const (
	kindAuthRequest = "oidc.auth_request"
	kindAccess      = "oidc.access_token"
	kindRefresh     = "oidc.refresh_token"
	kindDevice      = "oidc.device"
	kindKey         = "oidc.signing_key"
	kindLogout      = "oidc.logout"
)

// Grant types, as the audit log names them.
const (
	grantCode    = "authorization_code"
	grantRefresh = "refresh_token"
	grantDevice  = "device_code"
)

type storage struct{ p *Provider }

var _ op.Storage = (*storage)(nil)
var _ op.DeviceAuthorizationStorage = (*storage)(nil)

func (s *storage) now() time.Time  { return s.p.s.Now() }
func (s *storage) st() store.Store { return s.p.s.Store() }

// authReqData is an auth request grant's Data.
type authReqData struct {
	RedirectURI         string            `json:"redirect_uri"`
	Scopes              []string          `json:"scopes"`
	ResponseType        oidc.ResponseType `json:"response_type"`
	ResponseMode        oidc.ResponseMode `json:"response_mode,omitempty"`
	State               string            `json:"state,omitempty"`
	Nonce               string            `json:"nonce,omitempty"`
	PromptNone          bool              `json:"prompt_none,omitempty"`
	PromptLogin         bool              `json:"prompt_login,omitempty"`
	MaxAge              *uint             `json:"max_age,omitempty"`
	Level               string            `json:"level,omitempty"`
	CodeChallenge       string            `json:"code_challenge,omitempty"`
	CodeChallengeMethod string            `json:"code_challenge_method,omitempty"`
	HintSubject         string            `json:"hint_subject,omitempty"`
	// LoginHint fills the login field of the sign-in page (OIDC's
	// login_hint); it decides nothing.
	LoginHint string `json:"login_hint,omitempty"`

	// Set once the person has signed in.
	Done      bool      `json:"done,omitempty"`
	Subject   string    `json:"subject,omitempty"`
	SessionID string    `json:"session_id,omitempty"`
	AMR       []string  `json:"amr,omitempty"`
	AuthTime  time.Time `json:"auth_time,omitzero"`
	ACR       string    `json:"acr,omitempty"`
	// Attempts counts visits to the login page that did not finish it.
	Attempts int `json:"attempts,omitempty"`
}

// authAfter is the earliest authentication the request accepts: max_age
// (which prompt=login makes 0) counts back from when the request was made.
func (d *authReqData) authAfter(created time.Time) time.Time {
	if d.MaxAge == nil {
		return time.Time{}
	}
	return created.Add(-time.Duration(*d.MaxAge) * time.Second)
}

// authRequest is op's AuthRequest.
type authRequest struct {
	id       string
	clientID string
	created  time.Time
	d        authReqData
}

func (a *authRequest) GetID() string                      { return a.id }
func (a *authRequest) GetACR() string                     { return a.d.ACR }
func (a *authRequest) GetAMR() []string                   { return a.d.AMR }
func (a *authRequest) GetAudience() []string              { return []string{a.clientID} }
func (a *authRequest) GetAuthTime() time.Time             { return a.d.AuthTime }
func (a *authRequest) GetClientID() string                { return a.clientID }
func (a *authRequest) GetNonce() string                   { return a.d.Nonce }
func (a *authRequest) GetRedirectURI() string             { return a.d.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType { return a.d.ResponseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return a.d.ResponseMode }
func (a *authRequest) GetScopes() []string                { return a.d.Scopes }
func (a *authRequest) GetState() string                   { return a.d.State }
func (a *authRequest) GetSubject() string                 { return a.d.Subject }
func (a *authRequest) Done() bool                         { return a.d.Done }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.d.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.d.CodeChallenge, Method: oidc.CodeChallengeMethod(a.d.CodeChallengeMethod)}
}

func authRequestOf(g store.Grant) (*authRequest, error) {
	a := &authRequest{id: g.ID, clientID: g.ClientID, created: g.CreatedAt}
	if err := json.Unmarshal(g.Data, &a.d); err != nil {
		return nil, fmt.Errorf("auth request %s unreadable: %w", g.ID, err)
	}
	return a, nil
}

// tokenData is what access and refresh tokens carry.
type tokenData struct {
	Scopes    []string  `json:"scopes"`
	AMR       []string  `json:"amr,omitempty"`
	AuthTime  time.Time `json:"auth_time,omitzero"`
	ACR       string    `json:"acr,omitempty"`
	SessionID string    `json:"session_id,omitempty"`
	GrantType string    `json:"grant_type,omitempty"`
	// FamilyStart is when the family's sign-in was made (refresh tokens).
	FamilyStart time.Time `json:"family_start,omitzero"`
}

// refreshRequest is op's RefreshTokenRequest.
type refreshRequest struct {
	grantID  string
	clientID string
	subject  string
	d        tokenData
	// scopes are those asked for now (a subset of d.Scopes).
	scopes []string
}

func (r *refreshRequest) GetAMR() []string            { return r.d.AMR }
func (r *refreshRequest) GetAudience() []string       { return []string{r.clientID} }
func (r *refreshRequest) GetAuthTime() time.Time      { return r.d.AuthTime }
func (r *refreshRequest) GetClientID() string         { return r.clientID }
func (r *refreshRequest) GetScopes() []string         { return r.scopes }
func (r *refreshRequest) GetSubject() string          { return r.subject }
func (r *refreshRequest) SetCurrentScopes(s []string) { r.scopes = s }

// Errors of grants that cannot be used; at the token endpoint they are
// all invalid_grant.
var (
	errGrantUnknown = errors.New("unknown, or not for this client")
	errGrantUsed    = errors.New("used already")
	errGrantRevoked = errors.New("revoked")
	errGrantExpired = errors.New("expired")
	errUserInactive = errors.New("the user is no longer active")
	errSignedOut    = errors.New("of a sign-in the user has signed out of everywhere since (or reset their password)")
)

// signedOutSince says whether the user signed out everywhere (or reset
// their password) after authTime: tokens of an earlier sign-in are dead
// too (the account page promises every browser and app).
func (s *storage) signedOutSince(ctx context.Context, userID string, authTime time.Time) (bool, error) {
	return s.p.s.SignedOutSince(ctx, userID, authTime)
}

func invalidGrant(what string, err error) *oidc.Error {
	return oidc.ErrInvalidGrant().WithDescription("%s is %s", what, err.Error()).WithParent(err)
}

func serverError(what string, err error) *oidc.Error {
	return oidc.ErrServerError().WithDescription("the server cannot reach its database; try again shortly").WithParent(fmt.Errorf("%s: %w", what, err))
}

// live checks a grant can be used now.
func (s *storage) live(g store.Grant) error {
	switch {
	case !g.RevokedAt.IsZero():
		return errGrantRevoked
	case !s.now().Before(g.ExpiresAt):
		return errGrantExpired
	}
	return nil
}

// activeUser loads a user who must still be active.
func (s *storage) activeUser(ctx context.Context, id string) (store.User, error) {
	u, err := s.p.s.User(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, errUserInactive
	} else if err != nil {
		return store.User{}, err
	}
	if u.Status != store.UserActive {
		return store.User{}, errUserInactive
	}
	return u, nil
}

// Clients.

func (s *storage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.p.loadClient(ctx, id)
	if errors.Is(err, errUnknownClient) {
		return nil, oidc.ErrInvalidClient().WithDescription("no client with that client_id is registered here").WithParent(err)
	} else if err != nil {
		return nil, serverError("load client", err)
	}
	return c, nil
}

func (s *storage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	c, err := s.p.loadClient(ctx, id)
	if errors.Is(err, errUnknownClient) {
		return err
	} else if err != nil {
		return serverError("load client", err)
	}
	if !c.checkSecret(secret) {
		return errors.New("wrong client secret")
	}
	return nil
}

// Auth requests and codes.

func (s *storage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, hintSubject string) (op.AuthRequest, error) {
	c, err := s.p.loadClient(ctx, req.ClientID)
	if err != nil {
		return nil, oidc.ErrInvalidRequestRedirectURI().WithDescription("no client with that client_id is registered here").WithParent(err)
	}
	switch {
	case req.CodeChallenge == "" && c.conf.Public:
		return nil, oidc.ErrInvalidRequest().WithDescription("this is a public client: it must send a PKCE code_challenge with code_challenge_method=S256")
	case req.CodeChallenge != "" && req.CodeChallengeMethod != oidc.CodeChallengeMethodS256:
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256; plain PKCE is not accepted")
	case req.CodeChallenge != "" && (len(req.CodeChallenge) != secretLen || !isBase64URL(req.CodeChallenge)):
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge must be the base64url SHA-256 of the code verifier (43 characters)")
	case req.ResponseMode != "" && req.ResponseMode != oidc.ResponseModeQuery && req.ResponseMode != oidc.ResponseModeFormPost:
		return nil, oidc.ErrInvalidRequest().WithDescription("response_mode must be query or form_post")
	case len(req.State) > 2048 || len(req.Nonce) > 1024:
		return nil, oidc.ErrInvalidRequest().WithDescription("state (at most 2048 characters) or nonce (at most 1024) is too long")
	}
	d := authReqData{
		RedirectURI: req.RedirectURI, Scopes: slices.Clone(req.Scopes), ResponseType: req.ResponseType,
		ResponseMode: req.ResponseMode, State: req.State, Nonce: req.Nonce, MaxAge: req.MaxAge,
		Level: levelOf(req.ACRValues), CodeChallenge: req.CodeChallenge, CodeChallengeMethod: string(req.CodeChallengeMethod),
		HintSubject: hintSubject, LoginHint: loginHint(req.LoginHint),
	}
	for _, pr := range req.Prompt {
		switch pr {
		case oidc.PromptNone:
			d.PromptNone = true
		case oidc.PromptLogin:
			d.PromptLogin = true
		}
	}
	data, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	now := s.now()
	id := newID(prefixAuthRequest)
	g := store.Grant{ID: id, Kind: kindAuthRequest, ClientID: c.app.ID, Family: id, Data: data, CreatedAt: now, ExpiresAt: now.Add(s.p.o.AuthRequestTTL)}
	if err := s.st().CreateGrant(ctx, g); err != nil {
		return nil, serverError("store auth request", err)
	}
	return &authRequest{id: id, clientID: c.app.ID, created: now, d: d}, nil
}

// loadAuthRequest loads a live auth request.
func (s *storage) loadAuthRequest(ctx context.Context, id string) (store.Grant, *authRequest, error) {
	if len(id) > 64 || !isBase64URL(id[min(len(id), len(prefixAuthRequest)):]) {
		return store.Grant{}, nil, errGrantUnknown
	}
	g, err := s.st().GetGrant(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && g.Kind != kindAuthRequest) {
		return store.Grant{}, nil, errGrantUnknown
	} else if err != nil {
		return store.Grant{}, nil, err
	}
	if err := s.live(g); err != nil {
		return g, nil, err
	}
	a, err := authRequestOf(g)
	return g, a, err
}

func (s *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	g, a, err := s.loadAuthRequest(ctx, id)
	if err != nil {
		return nil, oidc.ErrInvalidRequest().WithDescription("this sign-in request is %s", err.Error()).WithParent(err)
	}
	if g.Lookup != "" || !g.UsedAt.IsZero() {
		return nil, oidc.ErrInvalidRequest().WithDescription("this sign-in request was finished already")
	}
	stateOf(ctx).setClient(g.ClientID)
	return a, nil
}

func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	if !validSecret(code, prefixCode) {
		return nil, invalidGrant("the code", errGrantUnknown)
	}
	g, err := s.st().GetGrantByLookup(ctx, kindAuthRequest, crypto.HashToken(code))
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalidGrant("the code", errGrantUnknown)
	} else if err != nil {
		return nil, serverError("load code", err)
	}
	if !g.UsedAt.IsZero() {
		s.reuse(ctx, g, "oidc.code_reuse")
		return nil, invalidGrant("the code", errGrantUsed)
	}
	if err := s.live(g); err != nil {
		return nil, invalidGrant("the code", err)
	}
	a, err := authRequestOf(g)
	if err != nil {
		return nil, serverError("read code", err)
	}
	stateOf(ctx).setClient(g.ClientID)
	return a, nil
}

// reuse answers a code or refresh token used a second time: the whole
// family it belongs to is revoked.
func (s *storage) reuse(ctx context.Context, g store.Grant, event string) {
	n, err := s.st().RevokeGrants(ctx, store.GrantFilter{Family: g.Family}, s.now())
	if err != nil {
		s.p.s.Logger().Error("openid connect: revoke a reused grant's family", "err", err, "family", g.Family)
	}
	s.p.audit(ctx, event, g.UserID, map[string]string{
		"client_id": g.ClientID, "app": s.p.appName(ctx, g.ClientID), "family": g.Family, "revoked": fmt.Sprint(n),
	})
}

var errCodeIssued = errors.New("a code was issued for this sign-in already")

func (s *storage) SaveAuthCode(ctx context.Context, id, code string) error {
	if !validSecret(code, prefixCode) {
		return oidc.ErrServerError().WithDescription("a code of the wrong form was made")
	}
	g, err := s.st().UpdateGrant(ctx, id, func(g *store.Grant) error {
		var d authReqData
		if g.Kind != kindAuthRequest || json.Unmarshal(g.Data, &d) != nil || !d.Done {
			return errGrantUnknown
		}
		if g.Lookup != "" || !g.UsedAt.IsZero() {
			return errCodeIssued
		}
		if err := s.live(*g); err != nil {
			return err
		}
		g.Lookup = crypto.HashToken(code)
		g.ExpiresAt = s.now().Add(s.p.o.CodeTTL)
		return nil
	})
	if err != nil {
		if errors.Is(err, errGrantUnknown) || errors.Is(err, errCodeIssued) || errors.Is(err, errGrantRevoked) || errors.Is(err, errGrantExpired) {
			return oidc.ErrInvalidRequest().WithDescription("this sign-in request cannot give a code: %s", err.Error())
		}
		return serverError("store code", err)
	}
	s.p.audit(ctx, "oidc.code_issued", g.UserID, map[string]string{"client_id": g.ClientID, "app": s.p.appName(ctx, g.ClientID), "family": g.Family})
	return nil
}

// DeleteAuthRequest keeps the auth request: it is the family's root, and
// a second use of its code must find it to revoke what the first gave.
// The store removes it a day after its code expired.
func (s *storage) DeleteAuthRequest(context.Context, string) error { return nil }

// Tokens.

// claim marks a root (an auth request with its code, a device
// authorization) or a refresh token used, once: a second claim is a reuse.
func (s *storage) claim(ctx context.Context, id, kind string, check func(*store.Grant) error) (store.Grant, error) {
	return s.st().UpdateGrant(ctx, id, func(g *store.Grant) error {
		if g.Kind != kind {
			return errGrantUnknown
		}
		if !g.UsedAt.IsZero() {
			return errGrantUsed
		}
		if err := s.live(*g); err != nil {
			return err
		}
		if check != nil {
			if err := check(g); err != nil {
				return err
			}
		}
		g.UsedAt = s.now()
		return nil
	})
}

// issue is what one token response issues.
type issue struct {
	claimed   string // the grant claimed for it, read again afterwards
	family    string
	clientID  string
	userID    string
	grantType string
	access    tokenData // what the access token carries (its scopes are those asked now)
	refresh   *tokenData
}

func (s *storage) issue(ctx context.Context, is issue) (access, refresh string, err error) {
	now := s.now()
	if _, err := s.activeUser(ctx, is.userID); errors.Is(err, errUserInactive) {
		return "", "", invalidGrant("the grant", err)
	} else if err != nil {
		return "", "", serverError("load user", err)
	}
	access = newSecret(prefixAccess)
	is.access.GrantType = is.grantType
	data, _ := json.Marshal(is.access)
	ag := store.Grant{ID: newID(prefixGrant), Kind: kindAccess, ClientID: is.clientID, UserID: is.userID, Lookup: crypto.HashToken(access),
		Family: is.family, Data: data, CreatedAt: now, ExpiresAt: now.Add(s.p.o.AccessTokenTTL)}
	if err := s.st().CreateGrant(ctx, ag); err != nil {
		return "", "", serverError("store access token", err)
	}
	if is.refresh != nil {
		refresh = newSecret(prefixRefresh)
		is.refresh.GrantType = is.grantType
		data, _ := json.Marshal(is.refresh)
		exp := now.Add(s.p.o.RefreshTokenTTL)
		if end := is.refresh.FamilyStart.Add(s.p.o.RefreshFamilyTTL); end.Before(exp) {
			exp = end
		}
		rg := store.Grant{ID: newID(prefixGrant), Kind: kindRefresh, ClientID: is.clientID, UserID: is.userID, Lookup: crypto.HashToken(refresh),
			Family: is.family, Data: data, CreatedAt: now, ExpiresAt: exp}
		if !exp.After(now) {
			return "", "", invalidGrant("the refresh token", errGrantExpired)
		}
		if err := s.st().CreateGrant(ctx, rg); err != nil {
			return "", "", serverError("store refresh token", err)
		}
	}
	// A reuse of the claimed grant that raced this response revoked the
	// family; what was just made goes with it.
	g, err := s.st().GetGrant(ctx, is.claimed)
	if err != nil || !g.RevokedAt.IsZero() {
		if _, rerr := s.st().RevokeGrants(ctx, store.GrantFilter{Family: is.family}, s.now()); rerr != nil {
			s.p.s.Logger().Error("openid connect: revoke a raced family", "err", rerr)
		}
		return "", "", invalidGrant("the grant", errGrantRevoked)
	}
	detail := map[string]string{"client_id": is.clientID, "app": s.p.appName(ctx, is.clientID), "grant_type": is.grantType, "family": is.family,
		"access_token": ag.ID, "refresh_token": "no"}
	if is.refresh != nil {
		detail["refresh_token"] = "yes"
	}
	s.p.audit(ctx, "oidc.token_issued", is.userID, detail)
	return access, refresh, nil
}

// expiresIn is the access token's expiry on the real clock (op works out
// expires_in from time.Now).
func (s *storage) expiresIn() time.Time { return time.Now().Add(s.p.o.AccessTokenTTL) }

func (s *storage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	is, err := s.prepare(ctx, req, false)
	if err != nil {
		return "", time.Time{}, err
	}
	access, _, err := s.issue(ctx, is)
	return access, s.expiresIn(), err
}

func (s *storage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	is, err := s.prepare(ctx, req, true)
	if err != nil {
		return "", "", time.Time{}, err
	}
	access, refresh, err := s.issue(ctx, is)
	return access, refresh, s.expiresIn(), err
}

// prepare claims what a token request is based on and says what to issue.
func (s *storage) prepare(ctx context.Context, req op.TokenRequest, withRefresh bool) (issue, error) {
	now := s.now()
	switch r := req.(type) {
	case *authRequest:
		g, err := s.claim(ctx, r.id, kindAuthRequest, func(g *store.Grant) error {
			if g.Lookup == "" {
				return errGrantUnknown
			}
			return nil
		})
		if errors.Is(err, errGrantUsed) {
			// Two exchanges of one code raced: the loser is a reuse, and
			// the winner's tokens go with the family.
			if old, gerr := s.st().GetGrant(ctx, r.id); gerr == nil {
				s.reuse(ctx, old, "oidc.code_reuse")
			}
		}
		if err != nil {
			return issue{}, claimError("the code", err)
		}
		td := tokenData{Scopes: r.d.Scopes, AMR: r.d.AMR, AuthTime: r.d.AuthTime, ACR: r.d.ACR, SessionID: r.d.SessionID}
		is := issue{claimed: g.ID, family: g.Family, clientID: g.ClientID, userID: r.d.Subject, grantType: grantCode, access: td}
		if withRefresh {
			rt := td
			rt.FamilyStart = now
			is.refresh = &rt
		}
		return is, nil
	case *op.DeviceAuthorizationState:
		st := stateOf(ctx)
		st.mu.Lock()
		dg := st.device
		st.mu.Unlock()
		if dg == nil || dg.ClientID != r.ClientID {
			return issue{}, invalidGrant("the device code", errGrantUnknown)
		}
		var dd deviceData
		g, err := s.claim(ctx, dg.ID, kindDevice, func(g *store.Grant) error {
			if json.Unmarshal(g.Data, &dd) != nil || dd.State != deviceApproved || dd.Subject != r.Subject || g.ClientID != r.ClientID {
				return errGrantUnknown
			}
			return nil
		})
		if err != nil {
			return issue{}, claimError("the device code", err)
		}
		td := tokenData{Scopes: dd.Scopes, AMR: dd.AMR, AuthTime: dd.AuthTime, ACR: dd.ACR, SessionID: dd.SessionID}
		is := issue{claimed: g.ID, family: g.ID, clientID: g.ClientID, userID: dd.Subject, grantType: grantDevice, access: td}
		if withRefresh {
			rt := td
			rt.FamilyStart = now
			is.refresh = &rt
		}
		return is, nil
	case *refreshRequest:
		g, err := s.claim(ctx, r.grantID, kindRefresh, nil)
		if errors.Is(err, errGrantUsed) {
			// Two refreshes with one token raced: the loser is a reuse.
			if old, gerr := s.st().GetGrant(ctx, r.grantID); gerr == nil {
				s.reuse(ctx, old, "oidc.refresh_reuse")
			}
		}
		if err != nil {
			return issue{}, claimError("the refresh token", err)
		}
		access := r.d
		access.Scopes = r.scopes
		rt := r.d
		return issue{claimed: g.ID, family: g.Family, clientID: g.ClientID, userID: g.UserID, grantType: grantRefresh, access: access, refresh: &rt}, nil
	}
	return issue{}, oidc.ErrUnsupportedGrantType().WithDescription("this server issues no tokens for that kind of request")
}

func claimError(what string, err error) error {
	switch {
	case errors.Is(err, errGrantUnknown), errors.Is(err, store.ErrNotFound):
		return invalidGrant(what, errGrantUnknown)
	case errors.Is(err, errGrantUsed), errors.Is(err, errGrantRevoked), errors.Is(err, errGrantExpired):
		return invalidGrant(what, err)
	}
	return serverError("claim grant", err)
}

func (s *storage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	if !validSecret(token, prefixRefresh) {
		return nil, invalidGrant("the refresh token", errGrantUnknown)
	}
	g, err := s.st().GetGrantByLookup(ctx, kindRefresh, crypto.HashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalidGrant("the refresh token", errGrantUnknown)
	} else if err != nil {
		return nil, serverError("load refresh token", err)
	}
	if !g.UsedAt.IsZero() {
		s.reuse(ctx, g, "oidc.refresh_reuse")
		return nil, invalidGrant("the refresh token", errGrantUsed)
	}
	if err := s.live(g); err != nil {
		return nil, invalidGrant("the refresh token", err)
	}
	if _, err := s.activeUser(ctx, g.UserID); errors.Is(err, errUserInactive) {
		return nil, invalidGrant("the refresh token", err)
	} else if err != nil {
		return nil, serverError("load user", err)
	}
	r := &refreshRequest{grantID: g.ID, clientID: g.ClientID, subject: g.UserID}
	if err := json.Unmarshal(g.Data, &r.d); err != nil {
		return nil, serverError("read refresh token", err)
	}
	if out, err := s.signedOutSince(ctx, g.UserID, r.d.AuthTime); err != nil {
		return nil, serverError("read sign-outs", err)
	} else if out {
		if _, err := s.st().RevokeGrants(ctx, store.GrantFilter{Family: g.Family}, s.now()); err != nil {
			s.p.s.Logger().Error("openid connect: revoke a signed-out family", "err", err)
		}
		return nil, invalidGrant("the refresh token", errSignedOut)
	}
	r.scopes = r.d.Scopes
	stateOf(ctx).setClient(g.ClientID)
	return r, nil
}

func (s *storage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	if !validSecret(token, prefixRefresh) {
		return "", "", op.ErrInvalidRefreshToken
	}
	g, err := s.st().GetGrantByLookup(ctx, kindRefresh, crypto.HashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return "", "", op.ErrInvalidRefreshToken
	} else if err != nil {
		return "", "", err
	}
	return g.UserID, g.ID, nil
}

// RevokeToken revokes an access token (given as the token itself) or a
// refresh token (given as its grant's ID, by GetRefreshTokenInfo) of the
// client; revoking a refresh token revokes its family (RFC 7009, 2.1).
// An unknown token is not an error (RFC 7009, 2.2).
func (s *storage) RevokeToken(ctx context.Context, tokenOrID, _ string, clientID string) *oidc.Error {
	var g store.Grant
	var err error
	switch {
	case validSecret(tokenOrID, prefixAccess):
		g, err = s.st().GetGrantByLookup(ctx, kindAccess, crypto.HashToken(tokenOrID))
	case len(tokenOrID) <= 64 && len(tokenOrID) > len(prefixGrant) && tokenOrID[:len(prefixGrant)] == prefixGrant:
		g, err = s.st().GetGrant(ctx, tokenOrID)
		if err == nil && g.Kind != kindRefresh {
			return nil
		}
	default:
		return nil
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return oidc.ErrServerError().WithDescription("the server cannot reach its database; try again shortly")
	}
	if g.ClientID != clientID {
		return oidc.ErrInvalidClient().WithDescription("that token was not issued to this client")
	}
	filter := store.GrantFilter{Family: g.Family}
	kind := "refresh_token"
	if g.Kind == kindAccess {
		kind = "access_token"
		if _, err := s.st().UpdateGrant(ctx, g.ID, func(g *store.Grant) error {
			if g.RevokedAt.IsZero() {
				g.RevokedAt = s.now()
			}
			return nil
		}); err != nil {
			return oidc.ErrServerError().WithDescription("the server cannot reach its database; try again shortly")
		}
	} else if _, err := s.st().RevokeGrants(ctx, filter, s.now()); err != nil {
		return oidc.ErrServerError().WithDescription("the server cannot reach its database; try again shortly")
	}
	s.p.audit(ctx, "oidc.token_revoked", g.UserID, map[string]string{"client_id": g.ClientID, "app": s.p.appName(ctx, g.ClientID), "token": kind, "family": g.Family})
	return nil
}

// revokeUserClient revokes a user's access and refresh tokens of a client.
func (s *storage) revokeUserClient(ctx context.Context, userID, clientID string) (int, error) {
	if userID == "" || clientID == "" {
		return 0, nil
	}
	total := 0
	for _, kind := range []string{kindRefresh, kindAccess} {
		n, err := s.st().RevokeGrants(ctx, store.GrantFilter{Kind: kind, ClientID: clientID, UserID: userID}, s.now())
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

func (s *storage) TerminateSession(ctx context.Context, userID, clientID string) error {
	_, err := s.revokeUserClient(ctx, userID, clientID)
	return err
}

// liveAccess finds a live access token by the token itself.
func (s *storage) liveAccess(ctx context.Context, token string) (store.Grant, tokenData, error) {
	if !validSecret(token, prefixAccess) {
		return store.Grant{}, tokenData{}, errGrantUnknown
	}
	g, err := s.st().GetGrantByLookup(ctx, kindAccess, crypto.HashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return store.Grant{}, tokenData{}, errGrantUnknown
	} else if err != nil {
		return store.Grant{}, tokenData{}, err
	}
	if err := s.live(g); err != nil {
		return store.Grant{}, tokenData{}, err
	}
	var td tokenData
	if err := json.Unmarshal(g.Data, &td); err != nil {
		return store.Grant{}, tokenData{}, err
	}
	if _, err := s.p.loadClient(ctx, g.ClientID); errors.Is(err, errUnknownClient) {
		return store.Grant{}, tokenData{}, errGrantRevoked // the app was removed
	} else if err != nil {
		return store.Grant{}, tokenData{}, err
	}
	if out, err := s.signedOutSince(ctx, g.UserID, td.AuthTime); err != nil {
		return store.Grant{}, tokenData{}, err
	} else if out {
		return store.Grant{}, tokenData{}, errSignedOut
	}
	return g, td, nil
}

func invalidToken(err error) *oidc.Error {
	return (&oidc.Error{ErrorType: "invalid_token"}).WithDescription("the access token is %s", err.Error())
}

// Claims.

// fillClaims sets the claims the scopes ask for.
func fillClaims(info *oidc.UserInfo, u store.User, scopes, amr []string) {
	info.Subject = u.ID
	if slices.Contains(scopes, oidc.ScopeProfile) {
		info.PreferredUsername = u.Login
		info.Name = u.Login
		if n := u.Profile["name"]; n != "" {
			info.Name = n
		}
		info.GivenName = u.Profile["given_name"]
		info.FamilyName = u.Profile["family_name"]
	}
	if slices.Contains(scopes, oidc.ScopeEmail) && u.Email != "" {
		info.Email = u.Email
		// Verified only where this sign-in proved the address (a link
		// mailed to it) or the administrator said so.
		verified := slices.Contains(amr, server.AMREmail) || u.Profile["email_verified"] == "true"
		info.EmailVerified = oidc.Bool(verified)
		// Said even when false (the field alone would leave it out).
		info.AppendClaims("email_verified", verified)
	}
	if slices.Contains(scopes, ScopeGroups) {
		groups := u.Groups
		if groups == nil {
			groups = []string{}
		}
		info.AppendClaims("groups", groups)
	}
}

// sidOf is the sid claim of a session: derived from the session's ID (the
// hash of its token), so that the store's key is not handed to apps.
func sidOf(sessionID string) string {
	if sessionID == "" {
		return ""
	}
	return crypto.HashToken("assent oidc sid:" + sessionID)[:22]
}

func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills an ID token's claims.
func (s *storage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	u, err := s.activeUser(ctx, req.GetSubject())
	if err != nil {
		return invalidGrant("the grant", err)
	}
	fillClaims(info, u, scopes, req.GetAMR())
	var sid, acr string
	switch r := req.(type) {
	case *authRequest:
		sid = r.d.SessionID
	case *refreshRequest:
		sid, acr = r.d.SessionID, r.d.ACR
	case *op.DeviceAuthorizationState:
		st := stateOf(ctx)
		st.mu.Lock()
		dg := st.device
		st.mu.Unlock()
		var dd deviceData
		if dg != nil && json.Unmarshal(dg.Data, &dd) == nil {
			sid, acr = dd.SessionID, dd.ACR
		}
	}
	if sid != "" {
		info.AppendClaims("sid", sidOf(sid))
	}
	if acr != "" {
		info.AppendClaims("acr", acr)
	}
	return nil
}

// SetUserinfoFromToken answers userinfo: the token must be live and its
// user still active.
func (s *storage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, token, _, _ string) error {
	g, td, err := s.liveAccess(ctx, token)
	if err != nil {
		if errors.Is(err, errGrantUnknown) || errors.Is(err, errGrantRevoked) || errors.Is(err, errGrantExpired) || errors.Is(err, errSignedOut) {
			return invalidToken(err)
		}
		return serverError("load access token", err)
	}
	u, err := s.activeUser(ctx, g.UserID)
	if errors.Is(err, errUserInactive) {
		return invalidToken(errors.New("of a user who is no longer active"))
	} else if err != nil {
		return serverError("load user", err)
	}
	fillClaims(info, u, td.Scopes, td.AMR)
	return nil
}

// SetIntrospectionFromToken answers introspection for the client the
// token was issued to; for any other client the token is inactive.
func (s *storage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, token, _, clientID string) error {
	g, td, err := s.liveAccess(ctx, token)
	if err != nil {
		return err
	}
	if g.ClientID != clientID {
		return errGrantUnknown
	}
	u, err := s.activeUser(ctx, g.UserID)
	if err != nil {
		return err
	}
	info := new(oidc.UserInfo)
	fillClaims(info, u, td.Scopes, td.AMR)
	resp.SetUserInfo(info)
	resp.Username = u.Login
	resp.Scope = td.Scopes
	resp.ClientID = g.ClientID
	resp.TokenType = oidc.BearerToken
	resp.Expiration = oidc.FromTime(g.ExpiresAt)
	resp.IssuedAt = oidc.FromTime(g.CreatedAt)
	resp.AuthTime = oidc.FromTime(td.AuthTime)
	resp.AuthenticationMethodsReferences = td.AMR
	resp.Subject = g.UserID
	resp.Audience = []string{g.ClientID}
	resp.Issuer = s.p.issuer
	return nil
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

var errNoJWTProfile = errors.New("this server takes no JWT assertions")

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errNoJWTProfile
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errNoJWTProfile
}

func (s *storage) Health(ctx context.Context) error { return s.st().Ping(ctx) }

// Keys.

func (s *storage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	alg := AlgRS256
	st := stateOf(ctx)
	st.mu.Lock()
	id, c := st.clientID, st.client
	st.mu.Unlock()
	if id != "" && c == nil {
		var err error
		if c, err = s.p.loadClient(ctx, id); err != nil {
			return nil, serverError("load client", err)
		}
		st.mu.Lock()
		if st.clientID == id {
			st.client = c
		}
		st.mu.Unlock()
	}
	if c != nil {
		alg = c.conf.alg()
	}
	return s.p.keys.signing(ctx, alg)
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256, jose.ES256}, nil
}

func (s *storage) KeySet(ctx context.Context) ([]op.Key, error) { return s.p.keys.published(ctx) }

// loginHint keeps a login_hint that could be a login (printable, at most
// 256 bytes); anything else is dropped, as OIDC Core lets a provider do.
func loginHint(h string) string {
	h = strings.TrimSpace(h)
	if h == "" || len(h) > 256 || !utf8.ValidString(h) || strings.ContainsFunc(h, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return ""
	}
	return h
}
