package radius

// RADIUS clients are apps of type radius in the engine's registry: the
// app's name is what sign-on rules and sessions name, and the client's
// settings — the networks its requests may come from, its shared secret
// (sealed with the node's seal key, bound to the app's name) and whether
// it shows an Access-Challenge's message to the person — live in the
// app's Config as JSON that only this package reads.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
)

// Settings of a radius app, as the command line, the admin API and the
// admin page give them.
const (
	// SettingClient is a network (CIDR) or a single address the client's
	// requests come from; repeated for several.
	SettingClient = "client"
	// SettingSecret is the shared secret, given once and sealed.
	SettingSecret = "secret"
	// SettingChallenge says the client shows an Access-Challenge's
	// Reply-Message to the person and sends their answer back ("true").
	SettingChallenge = "challenge"
)

// Bounds of a client's settings.
const (
	// MinSecretLength is the shortest shared secret taken, in characters:
	// the secret is all that keeps a stranger on the client's network
	// from asking for pushes and reading passwords.
	MinSecretLength = 16
	maxSecretLength = 128
	maxNetworks     = 100
)

// clientConfig is a radius app's Config.
type clientConfig struct {
	// Networks are the prefixes requests may come from, as netip writes
	// them (a single address is a /32 or /128).
	Networks []string `json:"networks"`
	// Secret is the shared secret sealed with the node's seal key, bound
	// to the app's name (secretAAD).
	Secret []byte `json:"secret"`
	// Challenge: the client shows Access-Challenge messages.
	Challenge bool `json:"challenge,omitempty"`
}

// secretAAD binds a sealed secret to its app: a sealed secret copied into
// another app's settings does not open.
func secretAAD(app string) []byte { return []byte("assent radius client secret:" + app) }

// appKind is what the registry offers for radius apps.
func appKind(s *server.Server) server.AppKind {
	return server.AppKind{
		Type:  store.AppRADIUS,
		Label: "RADIUS client",
		Fields: []server.AppField{
			{Name: SettingClient, Label: "Client networks", List: true,
				Hint: "Where the VPN server, firewall or access point sends its requests from: networks such as 10.0.0.0/8, or single addresses such as 192.0.2.10. Requests from anywhere else are dropped."},
			{Name: SettingSecret, Label: "Shared secret",
				Hint: fmt.Sprintf("The secret the client is configured with: at least %d characters (for example the output of 'openssl rand -base64 24'). Assent keeps it sealed and never shows it again.", MinSecretLength)},
			{Name: SettingChallenge, Label: "Shows challenge messages", Flag: true,
				Hint: "The client shows an Access-Challenge's message to the person and sends their answer back (so the number to pick, or a prompt for a code, can be shown). Leave off for clients that cannot: they wait while the push is answered, without a number."},
		},
		Configure: func(_ context.Context, name string, settings map[string][]string) ([]byte, string, error) {
			c, secret, err := checkSettings(settings)
			if err != nil {
				return nil, "", err
			}
			c.Secret = s.Seal([]byte(secret), secretAAD(name))
			config, err := json.Marshal(c)
			if err != nil {
				return nil, "", err
			}
			// The administrator chose the secret; nothing is said once.
			return config, "", nil
		},
		Describe: describeClient,
	}
}

// checkSettings checks a new client's settings; the secret comes back
// unsealed for the caller to seal.
func checkSettings(settings map[string][]string) (clientConfig, string, error) {
	var c clientConfig
	nets, err := parseNetworks(settings[SettingClient])
	if err != nil {
		return c, "", err
	}
	for _, p := range nets {
		c.Networks = append(c.Networks, p.String())
	}
	switch v := settings[SettingSecret]; {
	case len(v) == 0 || v[0] == "":
		return c, "", fmt.Errorf("a RADIUS client needs a shared secret (--secret-file FILE) of at least %d characters", MinSecretLength)
	case len(v) > 1:
		return c, "", errors.New("give one shared secret")
	}
	secret := settings[SettingSecret][0]
	if err := checkSecret(secret); err != nil {
		return c, "", err
	}
	if c.Challenge, err = flag(settings, SettingChallenge); err != nil {
		return c, "", err
	}
	return c, secret, nil
}

// parseNetworks reads client networks: CIDRs or single addresses.
func parseNetworks(in []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, raw := range in {
		for _, v := range strings.FieldsFunc(raw, func(r rune) bool { return r == ',' || unicode.IsSpace(r) }) {
			p, err := parseNetwork(v)
			if err != nil {
				return nil, fmt.Errorf("client network %q: %w", v, err)
			}
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("a RADIUS client needs the network or address its requests come from (--client 10.0.0.0/8, or --client 192.0.2.10)")
	}
	if len(out) > maxNetworks {
		return nil, fmt.Errorf("at most %d client networks; register the client twice under two names if it needs more", maxNetworks)
	}
	return out, nil
}

func parseNetwork(v string) (netip.Prefix, error) {
	if strings.Contains(v, "%") {
		return netip.Prefix{}, errors.New("an address with a zone (%…) cannot be a client; leave the zone out")
	}
	var p netip.Prefix
	if strings.Contains(v, "/") {
		var err error
		if p, err = netip.ParsePrefix(v); err != nil {
			return p, errors.New("want a network such as 10.0.0.0/8 or 2001:db8::/48, or a single address such as 192.0.2.10")
		}
		if p.Addr().Is4In6() {
			if p.Bits() < 96 {
				return p, errors.New("an IPv4-mapped network needs at least 96 bits; write the IPv4 network instead")
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		if m := p.Masked(); m != p {
			return p, fmt.Errorf("the address has bits set past the prefix length; did you mean %s?", m)
		}
	} else {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return p, errors.New("want a network such as 10.0.0.0/8 or 2001:db8::/48, or a single address such as 192.0.2.10")
		}
		a = a.Unmap()
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Bits() == 0 {
		return p, errors.New("this would let every address on the internet try the shared secret; name the networks your VPN servers, firewalls or access points are in")
	}
	return p, nil
}

// checkSecret checks a shared secret, in plain words.
func checkSecret(secret string) error {
	switch {
	case !utf8.ValidString(secret):
		return errors.New("the shared secret is not valid UTF-8 text; use letters, digits and punctuation")
	case utf8.RuneCountInString(secret) < MinSecretLength:
		return fmt.Errorf("the shared secret has %d characters; it needs at least %d (for example the output of 'openssl rand -base64 24'), since it is all that keeps a stranger on the client's network from asking for pushes and reading passwords",
			utf8.RuneCountInString(secret), MinSecretLength)
	case len(secret) > maxSecretLength:
		return fmt.Errorf("the shared secret is longer than %d bytes, which many clients cannot hold", maxSecretLength)
	case strings.ContainsFunc(secret, unicode.IsControl):
		return errors.New("the shared secret holds a line break, tab or other control character; clients' settings cannot hold those reliably (a secret file may end with one newline, no more)")
	case strings.TrimSpace(secret) != secret:
		return errors.New("the shared secret begins or ends with a space, which many clients' settings drop; remove it")
	}
	return nil
}

func flag(settings map[string][]string, name string) (bool, error) {
	v := settings[name]
	if len(v) > 1 {
		return false, fmt.Errorf("%s: give it once", name)
	}
	s := ""
	if len(v) == 1 {
		s = v[0]
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "false", "no", "off":
		return false, nil
	case "true", "yes", "on":
		return true, nil
	}
	return false, fmt.Errorf("%s: want true or false, got %q", name, s)
}

// describeClient lists a client's settings for people; never the secret.
func describeClient(config []byte) []server.AppSetting {
	var c clientConfig
	if err := json.Unmarshal(config, &c); err != nil {
		return []server.AppSetting{{Name: "settings", Value: "unreadable: " + err.Error()}}
	}
	challenge := "no (requests wait for the push; no number shown)"
	if c.Challenge {
		challenge = "yes (Access-Challenge shows the number, or asks for a code)"
	}
	secret := "not set"
	if len(c.Secret) > 0 {
		secret = "set (sealed; never shown)"
	}
	return []server.AppSetting{
		{Name: SettingClient, Value: strings.Join(c.Networks, " ")},
		{Name: SettingSecret, Value: secret},
		{Name: SettingChallenge, Value: challenge},
	}
}

// client is a registered radius app, ready to check requests.
type client struct {
	id, name  string
	networks  []netip.Prefix
	secret    []byte
	challenge bool
}

// covers is the length of the longest of the client's networks that holds
// addr, or -1.
func (c *client) covers(addr netip.Addr) int {
	best := -1
	for _, p := range c.networks {
		if p.Bits() > best && p.Contains(addr) {
			best = p.Bits()
		}
	}
	return best
}

// registry holds the radius apps of the store, reloaded every while and
// when a request comes from an address none covers (at most once a
// second), so that a new client works at once and a removed one stops
// within the refresh interval.
type registry struct {
	s       *server.Server
	refresh time.Duration
	// clients is the current list; loads serialize on mu.
	clients atomic.Pointer[[]*client]
	mu      sync.Mutex
	// loadedAt is when the list was last read (unix nanoseconds of the
	// wall clock: a cache's age, not an expiry anyone relies on).
	loadedAt atomic.Int64
	// warned remembers apps whose settings could not be read, so that the
	// log says so once per app.
	warned map[string]bool
}

const minReload = time.Second

func newRegistry(s *server.Server, refresh time.Duration) *registry {
	g := &registry{s: s, refresh: refresh, warned: map[string]bool{}}
	empty := []*client{}
	g.clients.Store(&empty)
	return g
}

// load reads the radius apps from the store.
func (g *registry) load(ctx context.Context) error {
	apps, err := g.s.Store().ListApps(ctx)
	if err != nil {
		return err
	}
	var out []*client
	for _, a := range apps {
		if a.Type != store.AppRADIUS {
			continue
		}
		c, err := g.clientOf(a)
		if err != nil {
			if !g.warned[a.ID] {
				g.warned[a.ID] = true
				g.s.Logger().Error("RADIUS client settings unreadable; its requests are dropped until it is removed and added again",
					"app", a.Name, "err", err)
			}
			continue
		}
		out = append(out, c)
	}
	g.clients.Store(&out)
	return nil
}

func (g *registry) clientOf(a store.App) (*client, error) {
	var conf clientConfig
	if err := json.Unmarshal(a.Config, &conf); err != nil {
		return nil, err
	}
	secret, err := g.s.Open(conf.Secret, secretAAD(a.Name))
	if err != nil {
		return nil, fmt.Errorf("the shared secret does not open with this node's seal key: %w", err)
	}
	c := &client{id: a.ID, name: a.Name, secret: secret, challenge: conf.Challenge}
	for _, n := range conf.Networks {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			return nil, err
		}
		c.networks = append(c.networks, p)
	}
	return c, nil
}

// reload loads again if the list is older than the refresh interval or,
// with miss, older than a second; concurrent callers wait for one load.
func (g *registry) reload(ctx context.Context, miss bool) {
	fresh := func() bool {
		age := time.Duration(time.Now().UnixNano() - g.loadedAt.Load())
		return age < g.refresh && (!miss || age < minReload)
	}
	if fresh() {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if fresh() {
		return
	}
	if err := g.load(ctx); err != nil {
		g.s.Logger().Error("RADIUS: cannot read the registered clients; using the ones read before", "err", err)
	}
	g.loadedAt.Store(time.Now().UnixNano())
}

// candidates are the clients whose networks hold addr, the most specific
// network first: the first whose secret checks out answers the request.
func (g *registry) candidates(ctx context.Context, addr netip.Addr) []*client {
	g.reload(ctx, false)
	out := match(*g.clients.Load(), addr)
	if len(out) == 0 {
		g.reload(ctx, true)
		out = match(*g.clients.Load(), addr)
	}
	return out
}

func match(all []*client, addr netip.Addr) []*client {
	var out []*client
	for _, c := range all {
		if c.covers(addr) >= 0 {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b *client) int {
		if d := b.covers(addr) - a.covers(addr); d != 0 {
			return d
		}
		return strings.Compare(a.name, b.name)
	})
	return out
}
