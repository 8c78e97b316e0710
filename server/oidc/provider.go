// Package oidc is Assent's OpenID Connect provider: zitadel/oidc's op
// package serves the protocol, and this package gives it what it stores
// and decides — clients (apps of type oidc in the engine's registry),
// auth requests, codes, tokens, device authorizations and signing keys,
// all kept in the store as grants so that any node finishes a flow
// another began — and its login step, which is the engine's hosted
// sign-in pages (server.SignInURL), so an app's sign-on rule, push with
// number matching, step-up and single sign-on apply to every client.
//
// The engine knows nothing of OpenID Connect: this package uses only what
// server/front.go offers.
package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"weak"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/rs/cors"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
)

// Paths the provider serves.
const (
	PathDiscovery           = "/.well-known/openid-configuration"
	PathAuthorize           = "/oidc/authorize"
	pathCallback            = "/oidc/authorize/callback"
	PathToken               = "/oidc/token"
	PathUserinfo            = "/oidc/userinfo"
	PathKeys                = "/oidc/keys"
	PathRevoke              = "/oidc/revoke"
	PathIntrospect          = "/oidc/introspect"
	PathEndSession          = "/oidc/end_session"
	PathDeviceAuthorization = "/oidc/device_authorization"
	PathDevice              = "/oidc/device"
	pathDeviceConfirm       = "/oidc/device/confirm"
	pathLogin               = "/oidc/login"
	pathLogoutConfirm       = "/oidc/end_session/confirm"
	pathLoggedOut           = "/oidc/logged-out"
)

// ScopeGroups asks for the groups claim.
const ScopeGroups = "groups"

// Authentication context classes (acr) a client may ask for with
// acr_values, and that ID tokens carry: the level the session reached.
const (
	// ACRMFA is two factors, one of them a device (push or a code from it).
	ACRMFA = "urn:assent:acr:mfa"
	// ACRMFAUV is ACRMFA with the person verified on the device (a push
	// approved behind the app lock).
	ACRMFAUV = "urn:assent:acr:mfa-uv"
	// ACRPhR is ACRMFA with a phishing-resistant possession factor: a
	// passkey or a proof from the Assent app on the same computer.
	ACRPhR = "urn:assent:acr:phr"
)

var acrLevels = map[string]string{ACRMFA: server.LevelMFA, ACRMFAUV: server.LevelMFAUV, ACRPhR: server.LevelPhR}

// acrOf is the acr of a session's amr: the highest level it reaches, ""
// below two factors.
func acrOf(amr []string) string {
	switch server.LevelOf(amr) {
	case server.LevelPhR:
		return ACRPhR
	case server.LevelMFAUV:
		return ACRMFAUV
	case server.LevelMFA:
		return ACRMFA
	}
	return ""
}

// levelOf is the level asked by acr_values: the first value this server
// knows, in the client's order of preference; unknown values are ignored
// (OpenID Connect Core 1.0, 3.1.2.1).
func levelOf(acrValues []string) string {
	for _, v := range acrValues {
		if l, ok := acrLevels[v]; ok {
			return l
		}
	}
	return ""
}

// Options tune the provider; zero fields take the defaults.
type Options struct {
	// AccessTokenTTL is how long an access token lasts (1 hour).
	AccessTokenTTL time.Duration
	// IDTokenTTL is how long an ID token lasts (1 hour, at most
	// MaxIDTokenTTL: a retired signing key is published that long).
	IDTokenTTL time.Duration
	// RefreshTokenTTL is how long a refresh token lasts unused (30 days);
	// RefreshFamilyTTL bounds a chain of refreshed tokens from the
	// sign-in (90 days).
	RefreshTokenTTL  time.Duration
	RefreshFamilyTTL time.Duration
	// CodeTTL is how long an authorization code may wait (1 minute).
	CodeTTL time.Duration
	// AuthRequestTTL is how long a sign-in may take (20 minutes).
	AuthRequestTTL time.Duration
	// DeviceCodeTTL is how long a device authorization waits for its
	// person (10 minutes), polled every DevicePollInterval (5 seconds).
	DeviceCodeTTL      time.Duration
	DevicePollInterval time.Duration
}

// MaxIDTokenTTL bounds IDTokenTTL, and so how long a retired signing key
// must stay published.
const MaxIDTokenTTL = time.Hour

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.AccessTokenTTL, time.Hour)
	def(&o.IDTokenTTL, time.Hour)
	def(&o.RefreshTokenTTL, 30*24*time.Hour)
	def(&o.RefreshFamilyTTL, 90*24*time.Hour)
	def(&o.CodeTTL, time.Minute)
	def(&o.AuthRequestTTL, 20*time.Minute)
	def(&o.DeviceCodeTTL, 10*time.Minute)
	def(&o.DevicePollInterval, 5*time.Second)
	if o.IDTokenTTL > MaxIDTokenTTL {
		o.IDTokenTTL = MaxIDTokenTTL
	}
	if o.DevicePollInterval < time.Second {
		o.DevicePollInterval = time.Second
	}
	return o
}

// Provider is the OpenID Connect provider of one assentd node.
type Provider struct {
	s      *server.Server
	o      Options
	op     *op.Provider
	issuer string
	keys   *keyring
	pages  *pages
}

// RegisterKind registers the app type oidc with the engine's registry,
// without serving anything: what the command line needs to add clients.
func RegisterKind(s *server.Server) { s.RegisterAppKind(appKind()) }

// Attach registers the app type oidc and serves the provider on s: the
// discovery document at /.well-known/openid-configuration and everything
// else under /oidc/. The issuer is s.URL(), which must be https (plain
// http only on a loopback address, for development). The signing keys are
// made on first start.
func Attach(s *server.Server, opts Options) (*Provider, error) {
	attachedMu.Lock()
	defer attachedMu.Unlock()
	if attached[weak.Make(s)] {
		return nil, errors.New("openid connect: the provider is attached to this server already")
	}
	RegisterKind(s)
	p := &Provider{s: s, o: opts.withDefaults(), issuer: s.URL()}
	if err := checkIssuer(p.issuer); err != nil {
		return nil, err
	}
	var opOpts []op.Option
	if u, _ := url.Parse(p.issuer); u.Scheme == "http" {
		opOpts = append(opOpts, op.WithAllowInsecure())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p.keys = newKeyring(s)
	if err := p.keys.ensure(ctx); err != nil {
		return nil, fmt.Errorf("openid connect: signing keys: %w", err)
	}
	var err error
	if p.pages, err = newPages(ctx, s); err != nil {
		return nil, fmt.Errorf("openid connect: %w", err)
	}

	config := &op.Config{
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedScopes:          supportedScopes,
		SupportedClaims:          supportedClaims,
		DefaultLogoutRedirectURI: pathLoggedOut,
		DeviceAuthorization: op.DeviceAuthorizationConfig{
			Lifetime:     p.o.DeviceCodeTTL,
			PollInterval: p.o.DevicePollInterval,
			UserFormPath: PathDevice,
			UserCode:     op.UserCodeBase20,
		},
	}
	corsOpts := &cors.Options{
		// Browsers may call the token, userinfo and key endpoints from an
		// app's own origin (single-page apps), never with cookies.
		AllowCredentials: false,
		AllowOriginFunc:  func(string) bool { return true },
		AllowedHeaders:   []string{"Accept", "Authorization", "Content-Type"},
		AllowedMethods:   []string{http.MethodGet, http.MethodPost},
	}
	opOpts = append(opOpts,
		op.WithCrypto(tokenCrypto{}),
		op.WithCORSOptions(corsOpts),
		op.WithHttpInterceptors(p.intercept),
		// Access tokens are opaque: no JWT is ever taken for one.
		op.WithAccessTokenKeySet(noKeys{}),
		op.WithCustomAuthEndpoint(op.NewEndpoint(PathAuthorize)),
		op.WithCustomTokenEndpoint(op.NewEndpoint(PathToken)),
		op.WithCustomUserinfoEndpoint(op.NewEndpoint(PathUserinfo)),
		op.WithCustomRevocationEndpoint(op.NewEndpoint(PathRevoke)),
		op.WithCustomEndSessionEndpoint(op.NewEndpoint(PathEndSession)),
		op.WithCustomKeysEndpoint(op.NewEndpoint(PathKeys)),
		op.WithCustomIntrospectionEndpoint(op.NewEndpoint(PathIntrospect)),
		op.WithCustomDeviceAuthorizationEndpoint(op.NewEndpoint(PathDeviceAuthorization)),
	)
	p.op, err = op.NewProvider(config, &storage{p: p}, op.StaticIssuer(p.issuer), opOpts...)
	if err != nil {
		return nil, fmt.Errorf("openid connect: %w", err)
	}
	for _, path := range []string{PathDiscovery, PathAuthorize, pathCallback, PathToken, PathUserinfo, PathKeys,
		PathRevoke, PathIntrospect, PathEndSession, PathDeviceAuthorization} {
		s.Handle(path, p.op)
	}
	for pattern, h := range map[string]http.HandlerFunc{
		"GET " + pathLogin:          p.handleLogin,
		"GET " + PathDevice:         p.handleDevicePage,
		"POST " + PathDevice:        p.handleDeviceCode,
		"GET " + pathDeviceConfirm:  p.handleDeviceConfirmPage,
		"POST " + pathDeviceConfirm: p.handleDeviceConfirm,
		"POST " + pathLogoutConfirm: p.handleLogoutConfirm,
		"GET " + pathLoggedOut:      p.handleLoggedOut,
	} {
		s.Handle(pattern, p.withState(h))
	}
	attached[weak.Make(s)] = true
	return p, nil
}

// attached are the servers a provider serves on (the routes of a server
// can be registered once), held weakly.
var (
	attachedMu sync.Mutex
	attached   = map[weak.Pointer[server.Server]]bool{}
)

// checkIssuer checks the server URL can be the issuer: a bare origin over
// https, or plain http on a loopback address (development).
func checkIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return fmt.Errorf("openid connect: the server URL %q cannot be an issuer", issuer)
	}
	if u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("openid connect: the server URL %q must be a bare origin (https://host[:port]) to be an issuer", issuer)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopbackHost(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("openid connect: the issuer %s must use https; plain http is allowed only on a loopback address", issuer)
	}
	return fmt.Errorf("openid connect: the issuer %s must use https", issuer)
}

// Issuer is the provider's issuer identifier.
func (p *Provider) Issuer() string { return p.issuer }

var supportedScopes = []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, ScopeGroups, oidc.ScopeOfflineAccess}

var supportedClaims = []string{
	"sub", "aud", "exp", "iat", "iss", "auth_time", "nonce", "acr", "amr", "sid", "azp", "at_hash", "c_hash",
	"name", "given_name", "family_name", "preferred_username", "email", "email_verified", "groups",
}

// noKeys is the key set for access tokens taken as JWTs: there is none.
type noKeys struct{}

func (noKeys) VerifySignature(context.Context, *jose.JSONWebSignature) ([]byte, error) {
	return nil, errors.New("access tokens of this server are opaque, never JWTs")
}

// reqState is what one request's storage calls tell each other through
// the context: the client the grant in hand belongs to (whose ID token
// algorithm SigningKey uses), the device authorization being finished,
// and where the request comes from, for the audit log.
type reqState struct {
	mu       sync.Mutex
	clients  map[string]*client
	clientID string
	client   *client
	device   *store.Grant
	ip       string
	grant    string // the grant type at the token endpoint
}

type reqStateKey struct{}

func stateOf(ctx context.Context) *reqState {
	if st, ok := ctx.Value(reqStateKey{}).(*reqState); ok {
		return st
	}
	return &reqState{}
}

func (st *reqState) setClient(id string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.clientID != id {
		st.clientID, st.client = id, nil
	}
}

// withState gives a page's request its reqState (where it comes from).
func (p *Provider) withState(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &reqState{ip: p.s.ClientIP(r), clients: map[string]*client{}}
		h(w, r.WithContext(context.WithValue(r.Context(), reqStateKey{}, st)))
	})
}

// maxBody bounds the form bodies of the provider's endpoints.
const maxBody = 64 << 10

// intercept runs inside zitadel's router, after the issuer is in the
// context, before every endpoint.
func (p *Provider) intercept(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &reqState{ip: p.s.ClientIP(r), clients: map[string]*client{}}
		r = r.WithContext(context.WithValue(r.Context(), reqStateKey{}, st))
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		switch r.URL.Path {
		case PathDiscovery:
			p.handleDiscovery(w, r)
			return
		case PathKeys:
			h.Set("Cache-Control", "public, max-age=300")
		case PathAuthorize:
			h.Set("Cache-Control", "no-store")
			if !p.checkAuthorize(w, r) {
				return
			}
		case pathCallback:
			h.Set("Cache-Control", "no-store")
			if !p.checkCallback(w, r) {
				return
			}
		case PathEndSession:
			h.Set("Cache-Control", "no-store")
			p.handleEndSession(w, r)
			return
		case PathToken:
			p.handleToken(w, r, next, st)
			return
		case PathRevoke, PathIntrospect, PathDeviceAuthorization, PathUserinfo:
			h.Set("Cache-Control", "no-store")
			h.Set("Pragma", "no-cache")
			if r.Method == http.MethodPost {
				if err := r.ParseForm(); err != nil {
					op.RequestError(w, r, oidc.ErrInvalidRequest().WithDescription("the request body could not be read (too large, or not a form)"), nil)
					return
				}
				if r.PostForm.Get("client_assertion") != "" || r.PostForm.Get("client_assertion_type") != "" {
					op.RequestError(w, r, errNoAssertions(), nil)
					return
				}
			}
			if r.URL.Path == PathDeviceAuthorization && !p.s.AllowSource(r) {
				op.RequestError(w, r, op.NewStatusError(oidc.ErrSlowDown().WithDescription("too many device sign-ins were started from this network; wait a minute"), http.StatusTooManyRequests), nil)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func errNoAssertions() *oidc.Error {
	return oidc.ErrInvalidClient().WithDescription("this server does not take client assertions: a confidential client authenticates with its client secret (client_secret_basic or client_secret_post), a public client with PKCE alone")
}

// handleDiscovery answers the discovery document: zitadel's, with what
// this provider actually offers.
func (p *Provider) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	c := op.CreateDiscoveryConfig(r.Context(), p.op, p.op.Storage())
	c.GrantTypesSupported = []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeDeviceCode}
	c.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	c.ResponseModesSupported = []string{string(oidc.ResponseModeQuery), string(oidc.ResponseModeFormPost)}
	c.ACRValuesSupported = []string{ACRMFA, ACRMFAUV, ACRPhR}
	c.CodeChallengeMethodsSupported = []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256}
	c.TokenEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodNone}
	c.RevocationEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodNone}
	c.IntrospectionEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic}
	c.TokenEndpointAuthSigningAlgValuesSupported = nil
	c.RevocationEndpointAuthSigningAlgValuesSupported = nil
	c.IntrospectionEndpointAuthSigningAlgValuesSupported = nil
	c.RequestObjectSigningAlgValuesSupported = nil
	c.ClaimsParameterSupported = false
	c.RequestURIParameterSupported = false
	c.ServiceDocumentation = ""
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(c)
}

// audit writes an event of the provider; details never hold a token.
func (p *Provider) audit(ctx context.Context, typ, userID string, detail map[string]string) {
	p.s.Audit(ctx, store.AuditEvent{Type: typ, UserID: userID, ClientIP: stateOf(ctx).ip, Detail: detail})
}

// appName is a client's app name for people and the audit log.
func (p *Provider) appName(ctx context.Context, clientID string) string {
	if c, err := p.loadClient(ctx, clientID); err == nil {
		return c.app.Name
	}
	return ""
}

// tokenRecorder keeps the error code of a refused token request for the
// audit log (only error bodies are looked at, never a success, which
// holds tokens).
type tokenRecorder struct {
	http.ResponseWriter
	status int
	body   []byte
}

func (t *tokenRecorder) WriteHeader(code int) {
	if t.status == 0 {
		t.status = code
	}
	t.ResponseWriter.WriteHeader(code)
}

func (t *tokenRecorder) Write(b []byte) (int, error) {
	if t.status == 0 {
		t.status = http.StatusOK
	}
	if t.status >= 400 && len(t.body) < 4096 {
		t.body = append(t.body, b[:min(len(b), 4096-len(t.body))]...)
	}
	return t.ResponseWriter.Write(b)
}

// Grant types the token endpoint takes.
var tokenGrants = []string{string(oidc.GrantTypeCode), string(oidc.GrantTypeRefreshToken), string(oidc.GrantTypeDeviceCode)}

// handleToken checks what zitadel's token endpoint would take too
// broadly, then hands it on, and audits refusals.
func (p *Provider) handleToken(w http.ResponseWriter, r *http.Request, next http.Handler, st *reqState) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if r.Method != http.MethodPost {
		h.Set("Allow", http.MethodPost)
		op.RequestError(w, r, op.NewStatusError(oidc.ErrInvalidRequest().WithDescription("the token endpoint takes POST"), http.StatusMethodNotAllowed), nil)
		return
	}
	if err := r.ParseForm(); err != nil {
		op.RequestError(w, r, oidc.ErrInvalidRequest().WithDescription("the request body could not be read (too large, or not a form)"), nil)
		return
	}
	f := r.PostForm
	st.grant = f.Get("grant_type")
	clientID, _, basic := r.BasicAuth()
	if basic {
		clientID, _ = url.QueryUnescape(clientID)
	} else {
		clientID = f.Get("client_id")
	}
	clientID, st.grant = clip(clientID), clip(st.grant)
	refuse := func(e *oidc.Error) {
		p.audit(r.Context(), "oidc.token_refused", "", map[string]string{"client_id": clientID, "grant_type": st.grant, "error": string(e.ErrorType)})
		op.RequestError(w, r, e, nil)
	}
	switch {
	case repeated(f) != "":
		refuse(oidc.ErrInvalidRequest().WithDescription("the parameter %q is sent more than once (RFC 6749, 3.2)", clip(repeated(f))))
		return
	case st.grant != "" && !slices.Contains(tokenGrants, st.grant):
		refuse(oidc.ErrUnsupportedGrantType().WithDescription("this server issues tokens for authorization_code, refresh_token and the device code grant only"))
		return
	case f.Get("client_assertion") != "" || f.Get("client_assertion_type") != "":
		refuse(errNoAssertions())
		return
	case f.Has("code_verifier") && !validVerifier(f.Get("code_verifier")):
		refuse(oidc.ErrInvalidGrant().WithDescription("code_verifier must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_' and '~' (RFC 7636)"))
		return
	}
	rec := &tokenRecorder{ResponseWriter: w}
	next.ServeHTTP(rec, r)
	if rec.status >= 400 {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(rec.body, &e)
		if e.Error == string(oidc.AuthorizationPending) || e.Error == string(oidc.SlowDown) {
			return
		}
		p.audit(r.Context(), "oidc.token_refused", "", map[string]string{"client_id": clientID, "grant_type": st.grant, "error": clip(e.Error)})
	}
}

// repeated names a parameter given more than once, which OAuth forbids:
// a check and the code after it must never read different values.
func repeated(v url.Values) string {
	for k, vs := range v {
		if len(vs) > 1 {
			return k
		}
	}
	return ""
}

// clip bounds what a caller wrote before it goes into the audit log.
func clip(s string) string {
	if len(s) > 64 {
		s = strings.ToValidUTF8(s[:64], "") + "…"
	}
	return s
}

// validVerifier checks a PKCE code verifier's form (RFC 7636, 4.1).
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	return !strings.ContainsFunc(v, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' || r == '~')
	})
}
