// Command assentd is the Assent server: it enrolls devices, keeps push
// channels to them, and runs sign-in transactions.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/seed-3a5b824e/assent/enroll"
	"github.com/seed-3a5b824e/assent/internal/cli"
	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/oidc"
	"github.com/seed-3a5b824e/assent/server/policy"
	"github.com/seed-3a5b824e/assent/server/radius"
	"github.com/seed-3a5b824e/assent/server/store"
)

const usage = `assentd — the Assent server

Usage:
  assentd serve [flags]                          run the server
  assentd user add LOGIN [--email E] [--group G]  add a user (password on standard input)
  assentd enroll LOGIN [--qr FILE.png]            make a single-use enrollment link (last line of output)
  assentd admin-token [--name N] [--ttl 720h]     make an API token for /v1/admin/… (printed once;
                                                  expires after --ttl, at most 8760h)
  assentd admin-token list                        list admin tokens: id, name, created, expires, state
  assentd admin-token revoke ID                   revoke an admin token (every node refuses it within a second)
  assentd app add NAME [--type web|embedded]      register an app that people sign in to
  assentd app add NAME --type oidc --redirect-uri URL [--redirect-uri URL] [--public]
        [--post-logout-uri URL] [--id-token-alg ES256] [--device]
                                                  register an OpenID Connect client: prints its client
                                                  ID and, unless --public, its secret (shown once)
  assentd app add NAME --type radius --client CIDR [--client CIDR] --secret-file FILE [--challenge]
                                                  register a RADIUS client (a VPN, a switch): the
                                                  networks it sends from and its shared secret
  assentd app list                                list the registered apps
  assentd app remove NAME                         unregister an app (not the built-in account and admin)
  assentd policy check FILE                       check a policy file; every problem with its line, and
                                                  sign-on rules that name apps not registered
  assentd policy default                          print the default policy (a starting point)
  assentd keys list                               list the OpenID Connect signing keys
  assentd keys rotate                             make new signing keys; the old ones stay published
                                                  until the tokens they signed have expired
  assentd audit verify                            check the audit log's hash chain: how many events hold,
                                                  or the first event that was changed (exit status 1)
  assentd audit export [--since TIME] [--format jsonl]
                                                  write the audit log, one JSON object per line with
                                                  the chain hashes, for a SIEM
  assentd backup FILE [--force] [--passphrase-file F]
                                                  copy the SQLite database (while the server runs) and its
                                                  sealing key into FILE, encrypted with a passphrase (asked
                                                  twice; or the file, or ASSENT_BACKUP_PASSPHRASE)
  assentd restore FILE --data NEWDIR [--passphrase-file F]
                                                  restore a backup into a new, empty data folder: the
                                                  database and assentd.key; refuses a folder with data

Each subcommand's --help lists its arguments and the flags it uses. Every
subcommand also takes the server's flags (assentd serve --help lists them),
so that it finds the same data folder or database; each flag is also an
environment variable (ASSENT_DATA, ASSENT_DATABASE, …) and a key of the YAML
file given with --config. 'assentd enroll' makes its link for the URL and
organisation the server last served with from that data folder.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "assentd:", err)
		os.Exit(1)
	}
}

// commands are assentd's subcommands by name; each gets the arguments
// after its name. A new one is one line here (and its lines in usage).
var commands = map[string]func(ctx context.Context, args []string) error{
	"serve": serve,
	"user": func(ctx context.Context, args []string) error {
		const userUsage = "usage: assentd user add LOGIN [--email E] [--group G] (the password on standard input)"
		if len(args) > 0 && isHelp(args[0]) {
			return printHelp(userUsage)
		}
		if len(args) < 1 || args[0] != "add" {
			return errors.New(userUsage)
		}
		return userAdd(ctx, args[1:])
	},
	"enroll":      enrollLink,
	"policy":      policyCmd,
	"admin-token": adminToken,
	"app":         appCmd,
	"keys":        keysCmd,
	"audit":       auditCmd,
	"backup":      backupCommand,
	"restore":     restoreCommand,
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return errors.New("no subcommand")
	}
	if isHelp(args[0]) || args[0] == "help" {
		if len(args) > 1 && commands[args[1]] != nil {
			// assentd help enroll: that subcommand's help.
			return run(ctx, []string{args[1], "--help"})
		}
		fmt.Print(usage)
		return nil
	}
	if cmd := commands[args[0]]; cmd != nil {
		return cmd(ctx, args[1:])
	}
	return fmt.Errorf("unknown subcommand %q\n\n%s", args[0], usage)
}

// isHelp says whether arg asks for help.
func isHelp(arg string) bool { return arg == "-h" || arg == "--help" || arg == "-help" }

// printHelp prints a subcommand's usage as help: on standard output, and
// the command then succeeds.
func printHelp(usage string) error {
	fmt.Println("Usage:\n  " + strings.ReplaceAll(strings.TrimPrefix(usage, "usage: "), "\n", "\n  "))
	return flag.ErrHelp
}

// allFlags, given to loadConfig, shows every flag.
const allFlags = "*"

// storeFlags are the server flags a subcommand that works on the data
// needs: where the data is.
var storeFlags = []string{"data", "database", "config"}

// loadConfig is server.LoadConfig for a subcommand: its --help prints
// usage, the subcommand's own flags (those defined on fs before the
// call) and the server flags named in show, on standard output, instead
// of every server flag. The other server flags still work.
func loadConfig(fs *flag.FlagSet, args []string, usage string, show ...string) (server.Config, []string, error) {
	own := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { own[f.Name] = true })
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	cfg, rest, err := server.LoadConfig(fs, args, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Printf("Usage: %s\n\nFlags:\n", strings.TrimPrefix(usage, "usage: "))
		fs.VisitAll(func(f *flag.Flag) {
			if !own[f.Name] && !slices.Contains(show, f.Name) && !slices.Contains(show, allFlags) {
				return
			}
			arg, text := flag.UnquoteUsage(f)
			left := "--" + f.Name
			if arg == strings.ToLower(arg) {
				arg = strings.ToUpper(arg)
			}
			if arg != "" && arg != "VALUE" {
				left += " " + arg
			}
			fmt.Printf("  %-24s %s\n", left, text)
		})
		if len(show) > 0 && fs.Lookup("listen") != nil && !slices.Contains(show, "listen") {
			fmt.Println("\nThe other server flags work too (assentd serve --help lists them).")
		}
		return cfg, nil, flag.ErrHelp
	}
	if err != nil {
		return cfg, nil, fmt.Errorf("%w (%s --help lists its flags)", err, fs.Name())
	}
	return cfg, rest, nil
}

func logger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("assentd serve", flag.ContinueOnError)
	cfg, rest, err := loadConfig(fs, args, "usage: assentd serve [flags]: run the server (each flag is also an environment variable,\n"+
		"ASSENT_ and its name in capitals with underscores, and a key of the YAML file given with --config)", allFlags)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("serve takes no arguments, got %q", rest)
	}
	log := logger(cfg.LogLevel, os.Stderr)
	// zitadel's OpenID Connect library logs refused requests to the
	// default logger: the same one, then.
	slog.SetDefault(log)
	// The OpenID Connect provider and the RADIUS server are fronts of
	// their own over the engine.
	ready := func(url string) {
		// assentd enroll makes links for this URL and organisation.
		if err := writeServeRecord(cfg.Data, serveRecord{URL: url, Org: cfg.Org}); err != nil {
			log.Warn("could not record the URL and organisation for 'assentd enroll'", "err", err)
		}
	}
	return server.Serve(ctx, cfg, log, ready, func(s *server.Server) error {
		// First, so that the fronts' events go to syslog too.
		if cfg.AuditSyslog == "" {
			return nil
		}
		return s.AttachAuditSyslog(cfg.AuditSyslog)
	}, func(s *server.Server) error {
		_, err := oidc.Attach(s, oidc.Options{})
		return err
	}, func(s *server.Server) error {
		_, err := radius.Attach(s, radius.Options{Listen: cfg.RadiusListen})
		return err
	})
}

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func userAdd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("assentd user add", flag.ContinueOnError)
	email := fs.String("email", "", "email address")
	var groups multiFlag
	fs.Var(&groups, "group", "group (repeat for several)")
	cfg, rest, err := loadConfig(fs, args, "usage: assentd user add LOGIN [--email E] [--group G]: add a user; the password comes on standard input", storeFlags...)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return errors.New("usage: assentd user add LOGIN [--email E] [--group G] (password on standard input)")
	}
	pw, err := cli.ReadSecret("Password for "+rest[0]+": ", true)
	if err != nil {
		return fmt.Errorf("password: %w", err)
	}
	s, err := server.Open(ctx, cfg, cfg.Listen, logger("error", os.Stderr))
	if err != nil {
		return err
	}
	defer s.Shutdown()
	u, err := s.AddUser(ctx, server.NewUser{Login: rest[0], Email: *email, Groups: groups, Password: string(pw)})
	if err != nil {
		return err
	}
	fmt.Printf("added user %s (%s)\n", u.Login, u.ID)
	return nil
}

func enrollLink(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("assentd enroll", flag.ContinueOnError)
	qrFile := fs.String("qr", "", "also write the QR code to this `FILE.png`")
	cfg, rest, err := loadConfig(fs, args, "usage: assentd enroll LOGIN [--qr FILE.png]: make a single-use enrollment link for LOGIN (the last line of the output)\n"+
		"The link names the URL and organisation the server last served with from the same data folder; --url and --org say others.",
		append(storeFlags, "url", "org")...)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return errors.New("usage: assentd enroll LOGIN [--qr FILE.png]")
	}
	if err := linkAddress(fs, &cfg); err != nil {
		return err
	}
	s, err := server.Open(ctx, cfg, cfg.Listen, logger("error", os.Stderr))
	if err != nil {
		return err
	}
	defer s.Shutdown()
	link, err := s.NewEnrollLink(ctx, rest[0])
	if err != nil {
		return err
	}
	text := link.String()
	if *qrFile != "" {
		png, err := enroll.EncodePNG(text, 512)
		if err != nil {
			return err
		}
		if err := os.WriteFile(*qrFile, png, 0o600); err != nil {
			return fmt.Errorf("write QR: %w", err)
		}
		fmt.Printf("QR code written to %s\n", *qrFile)
	}
	if qr, err := enroll.Terminal(text); err == nil {
		fmt.Print(qr)
	}
	fmt.Printf("Scan with the Assent app, or run: assent enroll '<link>'. Single use, valid until %s.\n", link.Expires.Local().Format("15:04:05"))
	fmt.Println(text)
	return nil
}

const policyUsage = "usage: assentd policy check FILE [--data DIR | --database URL] | assentd policy default"

func policyCmd(ctx context.Context, args []string) error {
	if len(args) > 0 && (isHelp(args[0]) || args[0] == "help") {
		return printHelp("assentd policy check FILE [--data DIR | --database URL]: check a policy file; every problem with its line,\n" +
			"    and sign-on rules that name apps not registered (when the data folder or database is given)\n" +
			"assentd policy default: print the default policy (a starting point)")
	}
	if len(args) == 1 && args[0] == "default" {
		fmt.Print(policy.DefaultYAML)
		return nil
	}
	if len(args) == 0 || args[0] != "check" {
		return errors.New(policyUsage)
	}
	fs := flag.NewFlagSet("assentd policy check", flag.ContinueOnError)
	cfg, rest, err := loadConfig(fs, args[1:], "usage: assentd policy check FILE: check a policy file; every problem with its line, and sign-on rules that name apps not registered", storeFlags...)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return errors.New(policyUsage)
	}
	file := rest[0]
	p, err := policy.Load(file)
	if err != nil {
		return err
	}
	// Not a problem, but a choice worth knowing about.
	for i, r := range p.SignOn {
		if !r.Action.Deny && r.Action.NumberChallenge == policy.NumberNever {
			fmt.Printf("%s: line %d: note: signOn[%d] %q has numberChallenge: never: its pushes carry no number, so a person "+
				"cannot tell your sign-in from an attacker's who knows the password, and only the limit on unanswered pushes "+
				"stands against push fatigue; keep it to clients that cannot show a number (RADIUS clients without --challenge)\n",
				file, r.Line, i, r.Name)
		}
		if pr := r.Action.PhishingResistant; !r.Action.Deny && (pr == policy.PhishingRequired || pr == policy.PhishingHighRisk) {
			when := "always"
			if pr == policy.PhishingHighRisk {
				when = "at high risk"
			}
			var relayable []string
			for _, a := range r.Action.Authenticators {
				if !slices.Contains(policy.PhishingResistantAuthenticators, a) {
					relayable = append(relayable, a)
				}
			}
			fmt.Printf("%s: line %d: note: signOn[%d] %q asks for phishing resistance %s: only a passkey (webauthn) or a proof "+
				"from the Assent app on the same computer (samedevice) counts as its possession factor then", file, r.Line, i, r.Name, when)
			if len(relayable) > 0 {
				fmt.Printf("; %s are not offered then", strings.Join(relayable, ", "))
			}
			fmt.Printf("; people without a passkey or the desktop app cannot sign in there, and RADIUS and API clients never meet it\n")
		}
	}
	apps, why, err := registeredApps(ctx, cfg)
	if err != nil {
		return err
	}
	if apps == nil {
		fmt.Printf("%s: fine: %d sign-on rules, recovery by %s\n", file, len(p.SignOn), strings.Join(p.Recovery.Authenticators, " or "))
		if named := ruleApps(p); named > 0 {
			fmt.Printf("%s: the app names of the sign-on rules were not checked: %s\n", file, why)
		}
		return nil
	}
	unknown := 0
	for i, r := range p.SignOn {
		for _, name := range r.Conditions.Apps {
			if apps[name] {
				continue
			}
			unknown++
			if server.ValidAppName(name) {
				fmt.Printf("%s: line %d: signOn[%d] %q names app %q, which is not registered (assentd app add %s)\n", file, r.Line, i, r.Name, name, name)
			} else {
				fmt.Printf("%s: line %d: signOn[%d] %q names app %q, which cannot be registered: app names are 1 to 64 lower-case letters, digits, '.', '-' or '_'\n", file, r.Line, i, r.Name, name)
			}
		}
	}
	if unknown > 0 {
		if unknown == 1 {
			return fmt.Errorf("%s: 1 app name in the sign-on rules is not a registered app; a rule naming only unknown apps never matches", file)
		}
		return fmt.Errorf("%s: %d app names in the sign-on rules are not registered apps; a rule naming only unknown apps never matches", file, unknown)
	}
	fmt.Printf("%s: fine: %d sign-on rules, recovery by %s; every app they name is registered\n", file, len(p.SignOn), strings.Join(p.Recovery.Authenticators, " or "))
	return nil
}

// ruleApps counts the app names sign-on rules give.
func ruleApps(p *policy.Policy) int {
	n := 0
	for _, r := range p.SignOn {
		n += len(r.Conditions.Apps)
	}
	return n
}

// registeredApps reads the names of the registered apps from the database
// the config names, without making one: nil and the reason when there is
// none to read.
func registeredApps(ctx context.Context, cfg server.Config) (map[string]bool, string, error) {
	if !cfg.Postgres() {
		if _, err := os.Stat(cfg.DBPath()); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Sprintf("there is no database at %s (give the server's --data folder or --database URL to check them)", cfg.DBPath()), nil
		} else if err != nil {
			return nil, "", fmt.Errorf("database %s: %w", cfg.DBPath(), err)
		}
	}
	st, err := server.OpenStore(ctx, cfg)
	if err != nil {
		return nil, "", err
	}
	defer st.Close()
	list, err := st.ListApps(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("list the registered apps: %w", err)
	}
	// The server makes the built-in apps when it starts.
	apps := map[string]bool{server.AppAccount: true, server.AppAdmin: true}
	for _, a := range list {
		apps[a.Name] = true
	}
	return apps, "", nil
}

const adminTokenUsage = "usage: assentd admin-token [--name N] [--ttl 720h] | assentd admin-token list | assentd admin-token revoke ID"

func adminToken(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("assentd admin-token", flag.ContinueOnError)
	name := fs.String("name", "api", "what the token is for (shown by 'admin-token list', kept in the audit log)")
	ttlFlag := fs.String("ttl", "720h", "how long the token lasts: more than 0, at most 8760h (a year)")
	cfg, rest, err := loadConfig(fs, args, adminTokenUsage, storeFlags...)
	if err != nil {
		return err
	}
	makeFlags := false
	fs.Visit(func(f *flag.Flag) { makeFlags = makeFlags || f.Name == "name" || f.Name == "ttl" })
	var ttl time.Duration
	switch {
	case len(rest) == 0:
		if ttl, err = parseTTL(*ttlFlag); err != nil {
			return err
		}
	case makeFlags:
		return fmt.Errorf("--name and --ttl are for making a token, not for %q\n%s", rest[0], adminTokenUsage)
	case len(rest) == 1 && rest[0] == "list":
	case len(rest) == 2 && rest[0] == "revoke":
	case len(rest) == 1 && rest[0] == "revoke":
		return errors.New("say which token to revoke: assentd admin-token revoke ID ('assentd admin-token list' shows the ids)")
	default:
		return errors.New(adminTokenUsage)
	}
	s, err := server.Open(ctx, cfg, cfg.Listen, logger("error", os.Stderr))
	if err != nil {
		return err
	}
	defer s.Shutdown()
	switch {
	case len(rest) == 0:
		tok, t, err := s.IssueAdminToken(ctx, *name, ttl)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "Made admin token %s (%s), valid until %s. It is shown once; keep it secret.\n"+
			"Use it as: Authorization: Bearer <token>. Revoke it with: assentd admin-token revoke %s\n",
			t.ID, t.Name, fmtTime(t.ExpiresAt), t.ID)
		fmt.Println(tok)
		return nil
	case rest[0] == "list":
		ts, err := s.ListAdminTokens(ctx)
		if err != nil {
			return err
		}
		if len(ts) == 0 {
			fmt.Println("no admin tokens; make one with: assentd admin-token --name NAME")
			return nil
		}
		now := time.Now()
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tNAME\tCREATED\tEXPIRES\tSTATE")
		for _, t := range ts {
			state := server.AdminTokenState(t, now)
			if state == "revoked" {
				state += " at " + fmtTime(t.RevokedAt)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", t.ID, printable(t.Name), fmtTime(t.CreatedAt), fmtTime(t.ExpiresAt), state)
		}
		return w.Flush()
	default:
		t, already, err := s.RevokeAdminToken(ctx, rest[1])
		if errors.Is(err, server.ErrAdminTokenNotFound) {
			return fmt.Errorf("no admin token has the id %q; 'assentd admin-token list' shows the ids", rest[1])
		} else if err != nil {
			return err
		}
		if already {
			fmt.Printf("admin token %s (%s) was revoked already, at %s\n", t.ID, printable(t.Name), fmtTime(t.RevokedAt))
			return nil
		}
		fmt.Printf("revoked admin token %s (%s); every node refuses it within a second\n", t.ID, printable(t.Name))
		return nil
	}
}

// parseTTL reads --ttl: a Go duration, more than 0 and at most a year.
func parseTTL(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("--ttl %q: want a duration in hours or minutes, such as 720h (30 days) or 8760h (a year)", v)
	}
	if err := server.CheckAdminTokenTTL(d); err != nil {
		return 0, fmt.Errorf("--ttl %s: %w", v, err)
	}
	return d, nil
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// printable keeps a stored name from driving the terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

const appUsage = "usage: assentd app add NAME [--type web|embedded|oidc|radius] [the type's settings] | assentd app list | assentd app remove NAME"

func appCmd(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New(appUsage)
	}
	if isHelp(args[0]) || args[0] == "help" {
		return printHelp(appUsage + "\n(assentd app add --help lists the settings of each type)")
	}
	sub := args[0]
	fs := flag.NewFlagSet("assentd app "+sub, flag.ContinueOnError)
	var typ *string
	var redirects, postLogout multiFlag
	var public, device *bool
	var idTokenAlg, secretFile *string
	var clients multiFlag
	var challenge *bool
	if sub == "add" {
		typ = fs.String("type", store.AppWeb, "web (the hosted pages), embedded (the JSON API, as examples/signin) or oidc (an OpenID Connect client)")
		fs.Var(&redirects, "redirect-uri", "oidc: a redirect URI, matched exactly (repeat for several)")
		fs.Var(&postLogout, "post-logout-uri", "oidc: where the app may send people after signing them out (repeat for several)")
		public = fs.Bool("public", false, "oidc: a client that cannot keep a secret (PKCE required, no secret)")
		idTokenAlg = fs.String("id-token-alg", "", "oidc: RS256 (the default) or ES256")
		device = fs.Bool("device", false, "oidc: allow the device authorization grant (command-line tools)")
		fs.Var(&clients, "client", "radius: a network (CIDR) or address the client sends from (repeat for several)")
		secretFile = fs.String("secret-file", "", "radius: a file holding the shared secret (at least 16 characters)")
		challenge = fs.Bool("challenge", false, "radius: the client shows Access-Challenge messages and sends the answer back")
	}
	switch sub {
	case "add", "list", "remove":
	default:
		return fmt.Errorf("unknown app subcommand %q\n%s", sub, appUsage)
	}
	cfg, rest, err := loadConfig(fs, args[1:], map[string]string{
		"add":    "usage: assentd app add NAME [--type web|embedded|oidc|radius] [the type's settings]: register an app that people sign in to",
		"list":   "usage: assentd app list: list the registered apps",
		"remove": "usage: assentd app remove NAME: unregister an app (not the built-in account and admin)",
	}[sub], storeFlags...)
	if err != nil {
		return err
	}
	switch {
	case sub == "list" && len(rest) == 0:
	case sub == "add" && len(rest) == 1, sub == "remove" && len(rest) == 1:
	case sub == "list":
		return errors.New("usage: assentd app list (it takes no arguments)")
	case sub == "add":
		return errors.New(appUsage)
	default:
		return errors.New("usage: assentd app remove NAME")
	}
	s, err := server.Open(ctx, cfg, cfg.Listen, logger("error", os.Stderr))
	if err != nil {
		return err
	}
	defer s.Shutdown()
	oidc.RegisterKind(s)
	radius.RegisterKind(s)
	switch sub {
	case "add":
		settings := map[string][]string{}
		if len(redirects) > 0 {
			settings[oidc.SettingRedirectURI] = redirects
		}
		if len(postLogout) > 0 {
			settings[oidc.SettingPostLogoutURI] = postLogout
		}
		if *public {
			settings[oidc.SettingPublic] = []string{"true"}
		}
		if *idTokenAlg != "" {
			settings[oidc.SettingIDTokenAlg] = []string{*idTokenAlg}
		}
		if *device {
			settings[oidc.SettingDevice] = []string{"true"}
		}
		if len(clients) > 0 {
			settings[radius.SettingClient] = clients
		}
		if *secretFile != "" {
			secret, err := os.ReadFile(*secretFile)
			if err != nil {
				return fmt.Errorf("secret file: %w", err)
			}
			// A file written with echo ends in a newline that is not part of the secret.
			settings[radius.SettingSecret] = []string{strings.TrimSuffix(strings.TrimSuffix(string(secret), "\n"), "\r")}
		}
		if *challenge {
			settings[radius.SettingChallenge] = []string{"true"}
		}
		a, secret, err := s.AddAppOfKind(ctx, rest[0], *typ, settings)
		if errors.Is(err, server.ErrAppExists) {
			return fmt.Errorf("app %q is registered already ('assentd app list' shows the apps)", rest[0])
		} else if err != nil {
			return err
		}
		fmt.Printf("added app %s (type %s, id %s)\n", a.Name, a.Type, a.ID)
		if a.Type == store.AppOIDC {
			fmt.Printf("client ID:     %s\n", a.ID)
			if secret != "" {
				fmt.Fprintln(os.Stderr, "The client secret is shown this once; Assent keeps only its hash. Put it in the app's settings now.")
				fmt.Printf("client secret: %s\n", secret)
			}
		}
	case "remove":
		switch err := s.RemoveApp(ctx, rest[0]); {
		case errors.Is(err, server.ErrAppNotFound):
			return fmt.Errorf("no app named %q is registered; 'assentd app list' shows the apps", rest[0])
		case errors.Is(err, server.ErrAppBuiltin):
			return fmt.Errorf("%q is built in (the account page and the admin area need it) and cannot be removed", rest[0])
		case err != nil:
			return err
		}
		fmt.Printf("removed app %s; sessions made for it last until they end, and no new sign-in can name it\n", rest[0])
	default:
		apps, err := s.ListApps(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "NAME\tTYPE\tBUILT-IN\tID\tCREATED")
		for _, a := range apps {
			builtin := "no"
			if a.Builtin {
				builtin = "yes"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", a.Name, a.Type, builtin, a.ID, fmtTime(a.CreatedAt))
			for _, set := range s.DescribeApp(a) {
				fmt.Fprintf(w, "  %s: %s\t\t\t\t\n", set.Name, printable(set.Value))
			}
		}
		return w.Flush()
	}
	return nil
}

// keysCmd lists and rotates the OpenID Connect signing keys.
func keysCmd(ctx context.Context, args []string) error {
	const keysUsage = "usage: assentd keys list | assentd keys rotate"
	if len(args) > 0 && (isHelp(args[0]) || args[0] == "help") {
		return printHelp("assentd keys list: list the OpenID Connect signing keys\n" +
			"assentd keys rotate: make new signing keys; the old ones stay published until the tokens they signed have expired")
	}
	if len(args) == 0 || (args[0] != "list" && args[0] != "rotate") {
		return errors.New(keysUsage)
	}
	fs := flag.NewFlagSet("assentd keys "+args[0], flag.ContinueOnError)
	cfg, rest, err := loadConfig(fs, args[1:], "usage: assentd keys "+args[0], storeFlags...)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return errors.New(keysUsage)
	}
	s, err := server.Open(ctx, cfg, cfg.Listen, logger("error", os.Stderr))
	if err != nil {
		return err
	}
	defer s.Shutdown()
	var keys []oidc.KeyInfo
	if args[0] == "rotate" {
		keys, err = oidc.RotateKeys(ctx, s)
	} else {
		keys, err = oidc.Keys(ctx, s)
	}
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "KID\tALG\tCREATED\tSTATE")
	for _, k := range keys {
		state := "signs new tokens"
		if !k.Current {
			state = "retired " + fmtTime(k.RetiredAt) + "; published until " + fmtTime(k.ExpiresAt)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", k.ID, k.Alg, fmtTime(k.CreatedAt), state)
	}
	if args[0] == "rotate" {
		fmt.Fprintln(os.Stderr, "New tokens are signed with the new keys; the old keys stay published until the tokens they signed have expired.")
	}
	return w.Flush()
}
