package server

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func loadTest(t *testing.T, args []string, env map[string]string) (Config, []string, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	return LoadConfig(fs, args, func(k string) string { return env[k] })
}

func writeYAML(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "assentd.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigDefaultsAreLoopbackAndData(t *testing.T) {
	cfg, rest, err := loadTest(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:8080" || cfg.Data != "data" || cfg.EnrollTTL != 10*time.Minute || cfg.Dev || len(rest) != 0 {
		t.Fatalf("defaults = %+v %v", cfg, rest)
	}
	if cfg.OpsListen != "127.0.0.1:9090" || cfg.TrustedProxies != "" || cfg.MaxConnsPerAddress != 1000 || cfg.SourceRate != (Limits{}).withDefaults().SourceRate || cfg.HTTP != DefaultHTTPLimits() {
		t.Fatalf("operator defaults = %+v", cfg)
	}
}

func TestConfigWholeNumbersFromFlagsEnvironmentAndFile(t *testing.T) {
	file := writeYAML(t, "source-rate: 30\nmax-conns-per-address: 7\n")
	cfg, _, err := loadTest(t, []string{"--source-rate", "-1"}, map[string]string{"ASSENT_CONFIG": file, "ASSENT_MAX_CONNS_PER_ADDRESS": "0"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SourceRate != -1 || cfg.MaxConnsPerAddress != 0 {
		t.Fatalf("source-rate %d, max-conns-per-address %d", cfg.SourceRate, cfg.MaxConnsPerAddress)
	}
	cfg, _, err = loadTest(t, nil, map[string]string{"ASSENT_CONFIG": file})
	if err != nil || cfg.SourceRate != 30 || cfg.MaxConnsPerAddress != 7 {
		t.Fatalf("from the file: %d %d %v", cfg.SourceRate, cfg.MaxConnsPerAddress, err)
	}
}

func TestConfigOperatorListenerAndProxies(t *testing.T) {
	cfg, _, err := loadTest(t, []string{"--ops-listen", "off", "--trusted-proxies", "10.0.0.0/8, 192.0.2.7"}, nil)
	if err != nil || cfg.OpsListen != "off" || cfg.TrustedProxies != "10.0.0.0/8, 192.0.2.7" {
		t.Fatalf("ops-listen off with proxies: %+v %v", cfg, err)
	}
	// YAML 1.1 would read a bare off as false; the loader keeps the word.
	cfg, _, err = loadTest(t, nil, map[string]string{"ASSENT_CONFIG": writeYAML(t, "ops-listen: off\ntrusted-proxies: 10.0.0.0/8\n")})
	if err != nil || cfg.OpsListen != "off" || cfg.TrustedProxies != "10.0.0.0/8" {
		t.Fatalf("ops-listen off in the file: %q %q %v", cfg.OpsListen, cfg.TrustedProxies, err)
	}
	// Off loopback is allowed (a private network); Serve warns about it.
	if _, _, err := loadTest(t, []string{"--ops-listen", "10.0.0.5:9090"}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestConfigDevOnLoopback(t *testing.T) {
	if _, _, err := loadTest(t, []string{"--dev", "--listen", "[::1]:8080", "--url", "http://localhost:8080"}, nil); err != nil {
		t.Fatalf("--dev on loopback: %v", err)
	}
}

func TestConfigFlagBeatsEnvironmentBeatsFile(t *testing.T) {
	file := writeYAML(t, "org: From File\ndata: /file/data\nenroll-ttl: 2m\nlisten: 127.0.0.1:9000\ndev: true\n")
	env := map[string]string{"ASSENT_CONFIG": file, "ASSENT_DATA": "/env/data", "ASSENT_ENROLL_TTL": "3m"}
	cfg, _, err := loadTest(t, []string{"--enroll-ttl", "4m"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Org != "From File" || cfg.Data != "/env/data" || cfg.EnrollTTL != 4*time.Minute || cfg.Listen != "127.0.0.1:9000" || !cfg.Dev {
		t.Fatalf("merged config = %+v", cfg)
	}
}

func TestConfigBooleanFlagStandsAlone(t *testing.T) {
	cfg, rest, err := loadTest(t, []string{"--dev", "alice"}, nil)
	if err != nil || !cfg.Dev || len(rest) != 1 {
		t.Fatalf("--dev alone: %+v %v %v", cfg.Dev, rest, err)
	}
}

func TestConfigFlagsMayFollowArguments(t *testing.T) {
	cfg, rest, err := loadTest(t, []string{"alice", "--org", "Acme", "extra"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Org != "Acme" || strings.Join(rest, " ") != "alice extra" {
		t.Fatalf("org %q, rest %q", cfg.Org, rest)
	}
}

func TestConfigErrorsSayWhatAndWhere(t *testing.T) {
	for name, c := range map[string]struct {
		args []string
		env  map[string]string
		file string
		want string
	}{
		"unknown file key with its line":  {file: "org: x\nlisten-addr: 1.2.3.4:1\n", want: `line 2: unknown setting "listen-addr"`},
		"bad duration in the file":        {file: "enroll-ttl: soon\n", want: "line 1: enroll-ttl: want a duration"},
		"bad duration in the environment": {env: map[string]string{"ASSENT_ENROLL_TTL": "x"}, want: "ASSENT_ENROLL_TTL"},
		"bad duration in a flag":          {args: []string{"--enroll-ttl", "x"}, want: "--enroll-ttl"},
		"bad boolean":                     {args: []string{"--dev=maybe"}, want: "want true or false"},
		"smtp without a sender":           {args: []string{"--smtp", "mail.example.com:587"}, want: "smtp-from"},
		"plain HTTP off loopback":         {args: []string{"--listen", "0.0.0.0:8080"}, want: "refusing plain HTTP"},
		"certificate without key":         {args: []string{"--tls-cert", "c.pem"}, want: "both --tls-cert and --tls-key"},
		"enrollment lifetime over 10m":    {args: []string{"--enroll-ttl", "11m"}, want: "at most 10m"},
		"listen without a port":           {args: []string{"--listen", "localhost"}, want: "want host:port"},
		"http public URL off loopback":    {args: []string{"--url", "http://assent.example.com"}, want: "use https"},
		"missing config file":             {args: []string{"--config", "/nonexistent/assentd.yaml"}, want: "config file"},
		"bad log level":                   {args: []string{"--log-level", "loud"}, want: "log-level"},
		"dev off loopback": {args: []string{"--dev", "--listen", "0.0.0.0:8443", "--tls-cert", "c.pem", "--tls-key", "k.pem"},
			want: "refusing --dev on 0.0.0.0:8443: development mode lists every mail"},
		"dev behind a public URL":       {args: []string{"--dev", "--url", "https://assent.example.com"}, want: "/dev/mail"},
		"ops listener without a port":   {args: []string{"--ops-listen", "localhost"}, want: "ops-listen \"localhost\": want host:port"},
		"ops listener on the listen":    {args: []string{"--ops-listen", "127.0.0.1:8080"}, want: "listener of their own"},
		"trusted proxy by name":         {args: []string{"--trusted-proxies", "proxy.example.com"}, want: "trusted-proxies: \"proxy.example.com\" is not an address or CIDR"},
		"every address trusted":         {args: []string{"--trusted-proxies", "0.0.0.0/0"}, want: "trusts every address"},
		"negative connection cap":       {args: []string{"--max-conns-per-address", "-5"}, want: "0 for no cap"},
		"connection cap not a number":   {args: []string{"--max-conns-per-address", "many"}, want: "--max-conns-per-address: want a whole number"},
		"source rate zero":              {args: []string{"--source-rate", "0"}, want: "or -1 to turn the throttle off"},
		"source rate in the file":       {file: "source-rate: 1.5\n", want: "line 1: source-rate: want a whole number"},
		"the HTTP limits are not a key": {file: "http: {readtimeout: 1s}\n", want: `unknown setting "http"`},
	} {
		t.Run(name, func(t *testing.T) {
			env := c.env
			if c.file != "" {
				env = map[string]string{"ASSENT_CONFIG": writeYAML(t, c.file)}
			}
			_, _, err := loadTest(t, c.args, env)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error with %q, got %v", c.want, err)
			}
		})
	}
}

func TestConfigAllowsTLSOffLoopback(t *testing.T) {
	cfg, _, err := loadTest(t, []string{"--listen", "0.0.0.0:8443", "--tls-cert", "c.pem", "--tls-key", "k.pem"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.PublicURL("0.0.0.0:8443"); got != "https://localhost:8443" {
		t.Fatalf("public URL = %q", got)
	}
}

func TestPublicURLFollowsTheListenerUnlessSet(t *testing.T) {
	cfg := DefaultConfig()
	if got := cfg.PublicURL("127.0.0.1:41234"); got != "http://127.0.0.1:41234" {
		t.Fatalf("derived URL = %q", got)
	}
	cfg.URL = "https://assent.example.com/"
	if got := cfg.PublicURL("127.0.0.1:41234"); got != "https://assent.example.com" {
		t.Fatalf("set URL = %q", got)
	}
}

func TestEmptyConfigFileIsNoSettings(t *testing.T) {
	cfg, _, err := loadTest(t, nil, map[string]string{"ASSENT_CONFIG": writeYAML(t, "")})
	if err != nil || cfg.Listen != DefaultConfig().Listen {
		t.Fatalf("empty file: %+v, %v", cfg, err)
	}
}

func FuzzConfigFile(f *testing.F) {
	f.Add("listen: 127.0.0.1:9000\norg: Acme\nenroll-ttl: 5m\ndev: true\n")
	f.Add("nats: nats://127.0.0.1:4222\nsmtp: mail:587\nsmtp-from: a@b\n")
	f.Add("- not: a mapping\n")
	f.Add("listen: [1, 2]\n")
	f.Fuzz(func(t *testing.T, body string) {
		p := filepath.Join(t.TempDir(), "assentd.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		fs := flag.NewFlagSet("fuzz", flag.ContinueOnError)
		fs.SetOutput(new(strings.Builder))
		cfg, _, err := LoadConfig(fs, nil, func(k string) string {
			if k == "ASSENT_CONFIG" {
				return p
			}
			return ""
		})
		if err == nil {
			if err := cfg.Check(); err != nil {
				t.Fatalf("LoadConfig accepted a config that Check refuses: %v", err)
			}
		}
	})
}
