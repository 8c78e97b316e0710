package server

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/seed-3a5b824e/assent/internal/cli"
)

// Config is what assentd is told. Every field is a flag (--name), an
// environment variable (ASSENT_NAME, dashes as underscores) and a key of the
// YAML file given by --config (name), with the same name; a flag beats the
// environment, which beats the file, which beats the default. Fields named
// "-" (HTTP) are not settings.
type Config struct {
	Listen             string        `name:"listen" yaml:"listen" usage:"address to listen on; plain HTTP only on loopback"`
	Data               string        `name:"data" yaml:"data" usage:"data folder (SQLite database, key file)"`
	Database           string        `name:"database" yaml:"database" usage:"PostgreSQL URL (postgres://user:password@host:5432/db) for several nodes; empty: SQLite in the data folder"`
	URL                string        `name:"url" yaml:"url" usage:"public base URL devices reach (default: derived from --listen)"`
	Org                string        `name:"org" yaml:"org" usage:"organisation name shown in the app"`
	TLSCert            string        `name:"tls-cert" yaml:"tls-cert" usage:"TLS certificate file (PEM)"`
	TLSKey             string        `name:"tls-key" yaml:"tls-key" usage:"TLS private key file (PEM)"`
	LogLevel           string        `name:"log-level" yaml:"log-level" usage:"debug, info, warn or error"`
	EnrollTTL          time.Duration `name:"enroll-ttl" yaml:"enroll-ttl" usage:"how long an enrollment link stays valid (at most 10m)"`
	NATS               string        `name:"nats" yaml:"nats" usage:"NATS URL that carries pushes between several nodes (e.g. nats://127.0.0.1:4222)"`
	Policy             string        `name:"policy" yaml:"policy" usage:"policy file (YAML); without one the secure defaults apply"`
	Dev                bool          `name:"dev" yaml:"dev" usage:"development mode: mail goes to an in-process sink listed at /dev/mail"`
	SMTP               string        `name:"smtp" yaml:"smtp" usage:"SMTP server host:port for mail (STARTTLS when offered)"`
	SMTPUser           string        `name:"smtp-user" yaml:"smtp-user" usage:"SMTP user name"`
	SMTPPassword       string        `name:"smtp-password" yaml:"smtp-password" usage:"SMTP password (prefer the environment variable)"`
	SMTPFrom           string        `name:"smtp-from" yaml:"smtp-from" usage:"sender address of Assent's mail"`
	OpsListen          string        `name:"ops-listen" yaml:"ops-listen" usage:"address of the operator listener (/metrics, /debug/pprof, POST /debug/gc, /healthz, /readyz): plain HTTP with no authentication, so keep it on loopback or a private network; off: none"`
	RadiusListen       string        `name:"radius-listen" yaml:"radius-listen" usage:"UDP address of the RADIUS server (e.g. 0.0.0.0:1812) for VPNs and network gear; empty: none"`
	TrustedProxies     string        `name:"trusted-proxies" yaml:"trusted-proxies" usage:"comma-separated addresses or CIDRs of the reverse proxies in front of assentd; only connections from these may name the client in X-Forwarded-For or Forwarded (list the proxies, not whole networks)"`
	MaxConnsPerAddress int           `name:"max-conns-per-address" yaml:"max-conns-per-address" usage:"open connections one client address (an IPv6 /64) may hold; more are closed as they are accepted; trusted proxies are exempt; 0: no cap"`
	SourceRate         int           `name:"source-rate" yaml:"source-rate" usage:"unauthenticated requests (sign-in and recovery steps, magic links, enrollments) one client address may make a minute before it is slowed down; -1: no throttle (load tests only)"`
	AnswerFloor        time.Duration `name:"answer-floor" yaml:"answer-floor" usage:"the shortest time an answer takes before the person has passed a factor, so that its timing cannot tell whether a login exists; 0: no floor (load tests only)"`
	AuditSyslog        string        `name:"audit-syslog" yaml:"audit-syslog" usage:"also send every audit event, with its chain hashes, to syslog: local (the local daemon; journald reads it), udp://host:port, tcp://host:port or host:port (UDP); empty: none"`

	// HTTP holds the HTTP server's timeouts and header limit. It is not a
	// setting (the defaults suit every deployment we know of); tests
	// shorten it. Its MaxConnsPerAddress is replaced by the setting's.
	HTTP HTTPLimits `name:"-" yaml:"-"`
}

// DefaultConfig is the secure default: loopback only, a ./data folder.
func DefaultConfig() Config {
	return Config{
		Listen:    "127.0.0.1:8080",
		Data:      "data",
		Org:       "Assent",
		LogLevel:  "info",
		EnrollTTL: 10 * time.Minute,
		OpsListen: "127.0.0.1:9090",
		// 1,000 connections from one address: a large office or a carrier's
		// NAT holds a push socket per phone and a few keep-alive connections
		// per browser, and stays far below it; one machine that opens more
		// is not a person, and a cap keeps it from taking the node's file
		// descriptors and memory alone.
		MaxConnsPerAddress: 1000,
		SourceRate:         Limits{}.withDefaults().SourceRate,
		AnswerFloor:        Limits{}.withDefaults().AnswerFloor,
		HTTP:               DefaultHTTPLimits(),
	}
}

// EnvName is the environment variable of a config name.
func EnvName(name string) string {
	return "ASSENT_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// LoadConfig reads the config for a subcommand from args (flags), the
// environment (getenv) and the YAML file named by --config or
// ASSENT_CONFIG. It returns the remaining positional arguments.
func LoadConfig(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, []string, error) {
	cfg := DefaultConfig()
	configFile := fs.String("config", "", "YAML config file (env ASSENT_CONFIG)")
	set := map[string]bool{}
	flagValues := map[string]*string{}
	eachField(&cfg, func(name, usage string, v reflect.Value) {
		help := fmt.Sprintf("%s (env %s, default %q)", usage, EnvName(name), fieldString(v))
		if v.Kind() == reflect.Bool {
			b := new(boolFlag)
			fs.Var(b, name, help)
			flagValues[name] = &b.s
			return
		}
		flagValues[name] = fs.String(name, "", help)
	})
	rest, err := cli.Parse(fs, args)
	if err != nil {
		return cfg, nil, err
	}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	path := *configFile
	if path == "" {
		path = getenv("ASSENT_CONFIG")
	}
	if path != "" {
		if err := loadYAML(path, &cfg); err != nil {
			return cfg, nil, err
		}
	}
	eachField(&cfg, func(name, _ string, v reflect.Value) {
		if err != nil {
			return
		}
		if env := getenv(EnvName(name)); env != "" {
			if e := setField(v, env); e != nil {
				err = fmt.Errorf("environment %s: %w", EnvName(name), e)
				return
			}
		}
		if set[name] {
			if e := setField(v, *flagValues[name]); e != nil {
				err = fmt.Errorf("flag --%s: %w", name, e)
			}
		}
	})
	if err != nil {
		return cfg, nil, err
	}
	return cfg, rest, cfg.Check()
}

// boolFlag is a flag that may stand alone (--dev) or take a value
// (--dev=false).
type boolFlag struct{ s string }

func (b *boolFlag) String() string     { return b.s }
func (b *boolFlag) Set(v string) error { b.s = v; return nil }
func (b *boolFlag) IsBoolFlag() bool   { return true }

func loadYAML(path string, cfg *Config) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var raw map[string]yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	known := map[string]reflect.Value{}
	eachField(cfg, func(name, _ string, v reflect.Value) { known[name] = v })
	for key, node := range raw {
		v, ok := known[key]
		if !ok {
			return fmt.Errorf("config file %s: line %d: unknown setting %q", path, node.Line, key)
		}
		if err := setField(v, node.Value); err != nil {
			return fmt.Errorf("config file %s: line %d: %s: %w", path, node.Line, key, err)
		}
	}
	return nil
}

// eachField visits every setting; fields named "-" are not settings.
func eachField(cfg *Config, fn func(name, usage string, v reflect.Value)) {
	rv := reflect.ValueOf(cfg).Elem()
	rt := rv.Type()
	for i := range rt.NumField() {
		f := rt.Field(i)
		name := f.Tag.Get("name")
		if name == "" || name == "-" {
			continue
		}
		fn(name, f.Tag.Get("usage"), rv.Field(i))
	}
}

func fieldString(v reflect.Value) string {
	if d, ok := v.Interface().(time.Duration); ok {
		return d.String()
	}
	return fmt.Sprint(v.Interface())
}

func setField(v reflect.Value, s string) error {
	switch v.Interface().(type) {
	case time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("want a duration like 5m or 90s, got %q", s)
		}
		v.SetInt(int64(d))
	case string:
		v.SetString(s)
	case bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", s)
		}
		v.SetBool(b)
	case int:
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("want a whole number such as 100 or -1, got %q", s)
		}
		v.SetInt(int64(n))
	default:
		return fmt.Errorf("unsupported setting type %s", v.Type())
	}
	return nil
}

// Check validates a config and says what to change.
func (c *Config) Check() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen %q: want host:port, e.g. 127.0.0.1:8080", c.Listen)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("give both --tls-cert and --tls-key, or neither")
	}
	if !c.TLS() && !IsLoopback(c.Listen) {
		return fmt.Errorf("refusing plain HTTP on %s: devices would send secrets in the clear; "+
			"give --tls-cert and --tls-key, or listen on a loopback address such as 127.0.0.1:8080", c.Listen)
	}
	if c.SMTP != "" {
		if _, _, err := net.SplitHostPort(c.SMTP); err != nil {
			return fmt.Errorf("smtp %q: want host:port, e.g. mail.example.com:587", c.SMTP)
		}
		if c.SMTPFrom == "" {
			return errors.New("smtp-from is needed with smtp: the address Assent's mail comes from")
		}
	}
	if c.EnrollTTL <= 0 || c.EnrollTTL > 10*time.Minute {
		return fmt.Errorf("enroll-ttl %s: want more than 0 and at most 10m", c.EnrollTTL)
	}
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return fmt.Errorf("url %q: want an absolute http(s) URL such as https://assent.example.com", c.URL)
		}
		if u.Scheme == "http" && !IsLoopback(u.Host) {
			return fmt.Errorf("url %q: plain http is only allowed for loopback addresses; use https", c.URL)
		}
	}
	if c.Database != "" && !c.Postgres() {
		// Only the scheme: the rest may hold a password.
		scheme := "none"
		if u, err := url.Parse(c.Database); err == nil && u.Scheme != "" {
			scheme = u.Scheme
		}
		return fmt.Errorf("database: scheme %q: want a postgres:// or postgresql:// URL, or leave database empty for SQLite in the data folder", scheme)
	}
	if c.AuditSyslog != "" {
		if _, _, err := ParseAuditSyslog(c.AuditSyslog); err != nil {
			return err
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.Dev {
		// The mail sink shows every mail the server sends, magic sign-in
		// links and enrollment notices included, to whoever opens it.
		if !IsLoopback(c.Listen) {
			return fmt.Errorf("refusing --dev on %s: development mode lists every mail the server sends, "+
				"magic sign-in links included, at /dev/mail to anyone who can reach it; "+
				"use --dev only with a loopback --listen such as 127.0.0.1:8080, and --smtp for real mail", c.Listen)
		}
		if u, err := url.Parse(c.URL); c.URL != "" && (err != nil || !IsLoopback(u.Host)) {
			return fmt.Errorf("refusing --dev with the public URL %q: development mode lists every mail the server sends, "+
				"magic sign-in links included, at /dev/mail, and a proxy in front would show it to anyone; "+
				"use --dev only on loopback, and --smtp for real mail", c.URL)
		}
	}
	if c.RadiusListen != "" {
		if _, _, err := net.SplitHostPort(c.RadiusListen); err != nil {
			return fmt.Errorf("radius-listen %q: want host:port, e.g. 0.0.0.0:1812, or leave it empty for no RADIUS server", c.RadiusListen)
		}
	}
	if c.OpsListen != "off" {
		if _, _, err := net.SplitHostPort(c.OpsListen); err != nil {
			return fmt.Errorf("ops-listen %q: want host:port, e.g. 127.0.0.1:9090, or off", c.OpsListen)
		}
		if c.OpsListen == c.Listen {
			return fmt.Errorf("ops-listen %s is the listen address too: the operator endpoints need a listener of their own; pick another port, e.g. 127.0.0.1:9090", c.OpsListen)
		}
	}
	if _, err := ParseTrustedProxies(c.TrustedProxies); err != nil {
		return fmt.Errorf("trusted-proxies: %w", err)
	}
	if c.MaxConnsPerAddress < 0 {
		return fmt.Errorf("max-conns-per-address %d: want a number of connections, or 0 for no cap", c.MaxConnsPerAddress)
	}
	if c.AnswerFloor < 0 || c.AnswerFloor > time.Second {
		return fmt.Errorf("answer-floor %s: want from 0 (none) to 1s; the default is %s", c.AnswerFloor, Limits{}.withDefaults().AnswerFloor)
	}
	if c.SourceRate == 0 {
		return fmt.Errorf("source-rate %d: want the requests a minute one address may make (default %d), or -1 to turn the throttle off",
			c.SourceRate, Limits{}.withDefaults().SourceRate)
	}
	return nil
}

// TLS says whether the server terminates TLS itself.
func (c *Config) TLS() bool { return c.TLSCert != "" }

// PublicURL is the base URL devices use: --url, or one derived from the
// listen address (with the real port once the listener is open).
func (c *Config) PublicURL(listenAddr string) string {
	if c.URL != "" {
		return strings.TrimRight(c.URL, "/")
	}
	host, port, _ := net.SplitHostPort(listenAddr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	scheme := "http"
	if c.TLS() {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// DBPath is the SQLite database file in the data folder.
func (c *Config) DBPath() string { return filepath.Join(c.Data, "assent.db") }

// Postgres says whether the database setting names a PostgreSQL database
// (instead of SQLite in the data folder).
func (c *Config) Postgres() bool {
	return strings.HasPrefix(c.Database, "postgres://") || strings.HasPrefix(c.Database, "postgresql://")
}

// IsLoopback says whether a host or host:port names a loopback address.
func IsLoopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
