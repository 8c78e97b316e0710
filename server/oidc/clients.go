package oidc

// Clients are apps of type oidc in the engine's registry: the client ID is
// the app's ID, the app's name is what sign-on rules and sessions name, and
// the client's settings live in the app's Config as JSON that only this
// package reads.

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
)

// Settings of an oidc app, as the command line, the admin API and the
// admin page give them.
const (
	SettingRedirectURI   = "redirect_uri"
	SettingPostLogoutURI = "post_logout_uri"
	SettingPublic        = "public"
	SettingIDTokenAlg    = "id_token_alg"
	SettingDevice        = "device"
)

// ID token signing algorithms a client may ask for.
const (
	AlgRS256 = "RS256"
	AlgES256 = "ES256"
)

// Bounds of a client's settings.
const (
	maxURIs      = 20
	maxURILength = 2000
)

// clientConfig is an oidc app's Config.
type clientConfig struct {
	RedirectURIs   []string `json:"redirect_uris,omitempty"`
	PostLogoutURIs []string `json:"post_logout_uris,omitempty"`
	// Public clients (native apps, command-line tools, single-page apps)
	// hold no secret and must use PKCE with S256.
	Public bool `json:"public,omitempty"`
	// SecretHash is the SHA-256 of the client secret (256 random bits, so
	// a plain hash is enough), base64url; empty for public clients.
	SecretHash string `json:"secret_hash,omitempty"`
	IDTokenAlg string `json:"id_token_alg,omitempty"`
	// Device allows the device authorization grant (RFC 8628).
	Device bool `json:"device,omitempty"`
}

func (c *clientConfig) alg() string {
	if c.IDTokenAlg == AlgES256 {
		return AlgES256
	}
	return AlgRS256
}

// appKind is what the registry offers for oidc apps.
func appKind() server.AppKind {
	return server.AppKind{
		Type:  store.AppOIDC,
		Label: "OpenID Connect client",
		Fields: []server.AppField{
			{Name: SettingRedirectURI, Label: "Redirect URIs", List: true,
				Hint: "Where the app receives the sign-in answer, matched exactly: https, or http only on a loopback address (127.0.0.1, [::1] or localhost) for apps on the person's own machine."},
			{Name: SettingPostLogoutURI, Label: "Post-logout redirect URIs", List: true,
				Hint: "Where the app may send people after signing them out (optional; the same rules as redirect URIs)."},
			{Name: SettingPublic, Label: "Public client", Flag: true,
				Hint: "For apps that cannot keep a secret (command-line tools, desktop and mobile apps, single-page apps): no secret, PKCE required."},
			{Name: SettingIDTokenAlg, Label: "ID token signature",
				Hint: "RS256 (the default, accepted everywhere) or ES256."},
			{Name: SettingDevice, Label: "Device sign-in", Flag: true,
				Hint: "Allow the device authorization grant (RFC 8628): a command-line tool shows a code, the person types it at /oidc/device and approves with a push."},
		},
		Configure: configureClient,
		Describe:  describeClient,
	}
}

// configureClient checks a new client's settings and makes its Config and,
// for a confidential client, its secret (shown once).
func configureClient(_ context.Context, _ string, settings map[string][]string) ([]byte, string, error) {
	var c clientConfig
	var err error
	if c.RedirectURIs, err = checkURIs("redirect URI", settings[SettingRedirectURI]); err != nil {
		return nil, "", err
	}
	if c.PostLogoutURIs, err = checkURIs("post-logout redirect URI", settings[SettingPostLogoutURI]); err != nil {
		return nil, "", err
	}
	if c.Public, err = flag(settings, SettingPublic); err != nil {
		return nil, "", err
	}
	if c.Device, err = flag(settings, SettingDevice); err != nil {
		return nil, "", err
	}
	switch alg := strings.ToUpper(strings.TrimSpace(single(settings[SettingIDTokenAlg]))); alg {
	case "", AlgRS256:
		c.IDTokenAlg = AlgRS256
	case AlgES256:
		c.IDTokenAlg = AlgES256
	default:
		return nil, "", fmt.Errorf("ID token signature %q: choose RS256 or ES256", alg)
	}
	if len(settings[SettingIDTokenAlg]) > 1 {
		return nil, "", errors.New("ID token signature: give one value, RS256 or ES256")
	}
	if len(c.RedirectURIs) == 0 && !c.Device {
		return nil, "", errors.New("an OpenID Connect client needs at least one redirect URI (--redirect-uri), unless it only signs in devices (--device)")
	}
	var secret string
	if !c.Public {
		secret = crypto.RandomToken(32)
		c.SecretHash = crypto.HashToken(secret)
	}
	config, err := json.Marshal(c)
	if err != nil {
		return nil, "", err
	}
	return config, secret, nil
}

func single(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func flag(settings map[string][]string, name string) (bool, error) {
	v := settings[name]
	if len(v) > 1 {
		return false, fmt.Errorf("%s: give it once", name)
	}
	switch strings.ToLower(strings.TrimSpace(single(v))) {
	case "", "false", "no":
		return false, nil
	case "true", "yes":
		return true, nil
	}
	return false, fmt.Errorf("%s: want true or false, got %q", name, single(v))
}

// checkURIs checks redirect (or post-logout) URIs: absolute, https, or
// plain http only on a loopback host (RFC 8252: apps on the person's own
// machine), with no fragment, no user information and no wildcard. They
// are matched exactly, so they are kept as given.
func checkURIs(what string, in []string) ([]string, error) {
	var out []string
	for _, raw := range in {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		if err := checkURI(raw); err != nil {
			return nil, fmt.Errorf("%s %q: %w", what, raw, err)
		}
		if !slices.Contains(out, raw) {
			out = append(out, raw)
		}
	}
	if len(out) > maxURIs {
		return nil, fmt.Errorf("at most %d %ss", maxURIs, what)
	}
	return out, nil
}

func checkURI(raw string) error {
	if len(raw) > maxURILength {
		return fmt.Errorf("longer than %d characters", maxURILength)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return errors.New("want an absolute URL such as https://app.example.com/callback")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return errors.New("a redirect URI may not have a fragment (#…)")
	}
	if u.User != nil {
		return errors.New("a redirect URI may not carry a user name or password")
	}
	if strings.Contains(raw, "*") {
		return errors.New("redirect URIs are matched exactly; wildcards are not allowed")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopbackHost(u.Hostname()) {
			return nil
		}
		return errors.New("use https; plain http is allowed only for a loopback address (127.0.0.1, [::1] or localhost) of an app on the person's own machine (RFC 8252)")
	}
	return errors.New("use https; plain http is allowed only for a loopback address (127.0.0.1, [::1] or localhost) of an app on the person's own machine (RFC 8252)")
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// describeClient lists a client's settings for people; never the secret or
// its hash.
func describeClient(config []byte) []server.AppSetting {
	var c clientConfig
	if err := json.Unmarshal(config, &c); err != nil {
		return []server.AppSetting{{Name: "settings", Value: "unreadable: " + err.Error()}}
	}
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	auth := "client secret (client_secret_basic or client_secret_post)"
	if c.Public {
		auth = "none: a public client, PKCE with S256 required"
	}
	return []server.AppSetting{
		{Name: SettingRedirectURI, Value: strings.Join(c.RedirectURIs, " ")},
		{Name: SettingPostLogoutURI, Value: strings.Join(c.PostLogoutURIs, " ")},
		{Name: SettingPublic, Value: yes(c.Public)},
		{Name: "client_authentication", Value: auth},
		{Name: SettingIDTokenAlg, Value: c.alg()},
		{Name: SettingDevice, Value: yes(c.Device)},
	}
}

// client is a registered oidc app as zitadel's op sees it.
type client struct {
	app   store.App
	conf  clientConfig
	idTTL time.Duration
}

var errUnknownClient = errors.New("no OpenID Connect client with that client_id is registered")

// loadClient loads a client by ID: errUnknownClient for none (or an app of
// another type). Within one request of the provider's endpoints a client
// is read once.
func (p *Provider) loadClient(ctx context.Context, id string) (*client, error) {
	if id == "" || len(id) > 64 {
		return nil, errUnknownClient
	}
	st := stateOf(ctx)
	st.mu.Lock()
	c, ok := st.clients[id]
	st.mu.Unlock()
	if ok {
		return c, nil
	}
	a, err := p.s.Store().GetApp(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errUnknownClient
	} else if err != nil {
		return nil, err
	}
	if a.Type != store.AppOIDC {
		return nil, errUnknownClient
	}
	c = &client{app: a, idTTL: p.o.IDTokenTTL}
	if err := json.Unmarshal(a.Config, &c.conf); err != nil {
		return nil, fmt.Errorf("client %s: settings unreadable: %w", a.Name, err)
	}
	st.mu.Lock()
	if st.clients != nil {
		st.clients[id] = c
	}
	st.mu.Unlock()
	return c, nil
}

// checkSecret compares a secret with the client's, in constant time.
func (c *client) checkSecret(secret string) bool {
	if c.conf.Public || c.conf.SecretHash == "" || secret == "" || len(secret) > 512 {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(crypto.HashToken(secret)), []byte(c.conf.SecretHash)) == 1
}

// The op.Client interface.

func (c *client) GetID() string                    { return c.app.ID }
func (c *client) RedirectURIs() []string           { return c.conf.RedirectURIs }
func (c *client) PostLogoutRedirectURIs() []string { return c.conf.PostLogoutURIs }

func (c *client) ApplicationType() op.ApplicationType {
	if c.conf.Public {
		return op.ApplicationTypeNative
	}
	return op.ApplicationTypeWeb
}

func (c *client) AuthMethod() oidc.AuthMethod {
	if c.conf.Public {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}

func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}

func (c *client) GrantTypes() []oidc.GrantType {
	g := []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
	if c.conf.Device {
		g = append(g, oidc.GrantTypeDeviceCode)
	}
	return g
}

func (c *client) LoginURL(id string) string            { return pathLogin + "?id=" + url.QueryEscape(id) }
func (c *client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration       { return c.idTTL }
func (c *client) DevMode() bool                        { return false }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) ClockSkew() time.Duration             { return 0 }
func (c *client) IsScopeAllowed(scope string) bool     { return scope == ScopeGroups }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
