package radius

import (
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
)

func TestClientSettingsAreCheckedInPlainWords(t *testing.T) {
	e := newEnv(t, envOpts{})
	good := func() map[string][]string {
		return map[string][]string{SettingClient: {"10.0.0.0/8", "192.0.2.10", "2001:db8::/48"}, SettingSecret: {secret}}
	}
	for _, c := range []struct {
		name   string
		change func(map[string][]string)
		want   string
	}{
		{"no network", func(s map[string][]string) { delete(s, SettingClient) }, "needs the network or address"},
		{"not a network", func(s map[string][]string) { s[SettingClient] = []string{"10.0.0/8"} }, "want a network such as"},
		{"host bits", func(s map[string][]string) { s[SettingClient] = []string{"10.0.0.5/8"} }, "did you mean 10.0.0.0/8?"},
		{"everything", func(s map[string][]string) { s[SettingClient] = []string{"0.0.0.0/0"} }, "every address on the internet"},
		{"everything v6", func(s map[string][]string) { s[SettingClient] = []string{"::/0"} }, "every address on the internet"},
		{"zone", func(s map[string][]string) { s[SettingClient] = []string{"fe80::1%eth0"} }, "zone"},
		{"no secret", func(s map[string][]string) { delete(s, SettingSecret) }, "needs a shared secret"},
		{"short secret", func(s map[string][]string) { s[SettingSecret] = []string{"fifteen chars!!"} }, "has 15 characters; it needs at least 16"},
		{"two secrets", func(s map[string][]string) { s[SettingSecret] = []string{secret, secret} }, "one shared secret"},
		{"newline", func(s map[string][]string) { s[SettingSecret] = []string{secret + "\n" + secret} }, "line break"},
		{"space", func(s map[string][]string) { s[SettingSecret] = []string{secret + " "} }, "ends with a space"},
		{"long", func(s map[string][]string) { s[SettingSecret] = []string{strings.Repeat("x", 129)} }, "longer than 128"},
		{"challenge", func(s map[string][]string) { s[SettingChallenge] = []string{"maybe"} }, "want true or false"},
		{"unknown", func(s map[string][]string) { s["redirect_uri"] = []string{"https://x"} }, "takes none such"},
	} {
		s := good()
		c.change(s)
		_, _, err := e.srv().AddAppOfKind(e.ctx, "vpn", store.AppRADIUS, s)
		if !errors.Is(err, server.ErrAppInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an invalid app saying %q", c.name, err, c.want)
		}
	}

	s := good()
	s[SettingClient] = append(s[SettingClient], "10.0.0.0/8", "::ffff:192.0.2.11")
	s[SettingChallenge] = []string{"yes"}
	a, said, err := e.srv().AddAppOfKind(e.ctx, "vpn", store.AppRADIUS, s)
	if err != nil || said != "" {
		t.Fatalf("AddAppOfKind = %v, %q", err, said)
	}
	var conf clientConfig
	if err := json.Unmarshal(a.Config, &conf); err != nil {
		t.Fatal(err)
	}
	if strings.Join(conf.Networks, " ") != "10.0.0.0/8 192.0.2.10/32 2001:db8::/48 192.0.2.11/32" || !conf.Challenge {
		t.Fatalf("config = %+v", conf)
	}
	// The secret is sealed, bound to the app: not in the config in plain,
	// and not opened under another app's name.
	if strings.Contains(string(a.Config), secret) || strings.Contains(string(a.Config), "c2hhcmVk") {
		t.Fatal("the config holds the secret")
	}
	if plain, err := e.srv().Open(conf.Secret, secretAAD("vpn")); err != nil || string(plain) != secret {
		t.Fatalf("open the secret: %q, %v", plain, err)
	}
	if _, err := e.srv().Open(conf.Secret, secretAAD("wifi")); err == nil {
		t.Fatal("the sealed secret opened under another app's name")
	}
	desc := e.srv().DescribeApp(a)
	var lines []string
	for _, d := range desc {
		lines = append(lines, d.Name+": "+d.Value)
	}
	got := strings.Join(lines, "\n")
	if strings.Contains(got, secret) || !strings.Contains(got, "client: 10.0.0.0/8 192.0.2.10/32 2001:db8::/48") ||
		!strings.Contains(got, "secret: set (sealed; never shown)") || !strings.Contains(got, "challenge: yes") {
		t.Fatalf("description:\n%s", got)
	}
	// The registry reads it back.
	if err := e.r().clients.load(e.ctx); err != nil {
		t.Fatal(err)
	}
	cs := e.r().clients.candidates(e.ctx, netip.MustParseAddr("192.0.2.11"))
	if len(cs) != 1 || cs[0].name != "vpn" || string(cs[0].secret) != secret || !cs[0].challenge {
		t.Fatalf("candidates = %+v", cs)
	}
	if cs := e.r().clients.candidates(e.ctx, netip.MustParseAddr("192.0.2.12")); len(cs) != 0 {
		t.Fatalf("192.0.2.12 matched %+v", cs)
	}
}

func TestTheMostSpecificClientComesFirst(t *testing.T) {
	wide := &client{name: "b-wide", networks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	narrow := &client{name: "z-narrow", networks: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}
	host := &client{name: "a-host", networks: []netip.Prefix{netip.MustParsePrefix("10.1.2.3/32")}}
	got := match([]*client{wide, narrow, host}, netip.MustParseAddr("10.1.2.3"))
	if len(got) != 3 || got[0] != host || got[1] != narrow || got[2] != wide {
		t.Fatalf("order: %v %v %v", got[0].name, got[1].name, got[2].name)
	}
	if got := match([]*client{wide, narrow, host}, netip.MustParseAddr("10.2.0.1")); len(got) != 1 || got[0] != wide {
		t.Fatalf("10.2.0.1 matched %d", len(got))
	}
}

func TestPasswordAndCodeAreToldApart(t *testing.T) {
	for _, c := range []struct{ in, pw, code string }{
		{"secret,123456", "secret", "123456"},
		{"secret,12345678", "secret", "12345678"},
		{"a,b,123456", "a,b", "123456"},
		{",123456", "", "123456"},
		{"secret,1234567", "secret,1234567", ""},
		{"secret,12345a", "secret,12345a", ""},
		{"secret123456", "secret123456", ""},
		{"secret,123456 ", "secret,123456 ", ""},
		{"123456", "123456", ""},
		{"secret,١٢٣٤٥٦", "secret,١٢٣٤٥٦", ""},
	} {
		if pw, code := splitCode(c.in); pw != c.pw || code != c.code {
			t.Errorf("splitCode(%q) = %q, %q; want %q, %q", c.in, pw, code, c.pw, c.code)
		}
	}
}

func TestCallingStationIdAddresses(t *testing.T) {
	for in, want := range map[string]string{
		"198.51.100.7":         "198.51.100.7",
		" 198.51.100.7 ":       "198.51.100.7",
		"198.51.100.7:1194":    "198.51.100.7",
		"198.51.100.7[4500]":   "198.51.100.7",
		"2001:db8::7":          "2001:db8::7",
		"[2001:db8::7]:1194":   "2001:db8::7",
		"2001:db8::7[4500]":    "2001:db8::7",
		"::ffff:198.51.100.7":  "198.51.100.7",
		"00-11-22-33-44-55":    "",
		"00:11:22:33:44:55":    "",
		"+44 20 7946 0000":     "",
		"0.0.0.0":              "",
		"fe80::1%eth0":         "",
		"224.0.0.1":            "",
		"":                     "",
		"198.51.100.7[4500":    "",
		"[198.51.100.7]":       "",
		"198.51.100.7]":        "",
		"x198.51.100.7[4500]":  "",
		"198.51.100.7[4500]:1": "",
	} {
		a, ok := stationAddr(in)
		got := ""
		if ok {
			got = a.String()
		}
		if got != want {
			t.Errorf("stationAddr(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRepliesAndNamesStayReadable(t *testing.T) {
	if got := printable("vpn\x00-gw\n1\u202e", 64); got != "vpn-gw1" {
		t.Fatalf("printable = %q", got)
	}
	if got := printable(strings.Repeat("é", 100), 64); got != strings.Repeat("é", 64) {
		t.Fatalf("printable cut at %d", len([]rune(got)))
	}
	long := strings.Repeat("é", 200)
	parts := splitMessage(long)
	if len(parts) != 2 || parts[0]+parts[1] != long || len(parts[0]) > 253 {
		t.Fatalf("splitMessage: %d parts, first %d bytes", len(parts), len(parts[0]))
	}
	if parts := splitMessage(""); len(parts) != 0 {
		t.Fatal("an empty message made a Reply-Message")
	}
}
