// Command assent is the Assent authenticator without a window: every
// feature of the app, as subcommands.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	// First: keeps Fyne quiet about the C.UTF-8 locale.
	_ "github.com/seed-3a5b824e/assent/cmd/assent/internal/quietlocale"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/enroll"
	"github.com/seed-3a5b824e/assent/internal/cli"
	"github.com/seed-3a5b824e/assent/push"
)

const usage = `assent — the Assent authenticator

Usage:
  assent [app] [--hidden] [--no-same-device]
                                     open the app's window (--hidden: start in the system tray)
  assent enroll LINK|QR.png          enroll with an Assent server, or add an otpauth:// account
  assent add URI|QR.png              the same as enroll
  assent scan                        read a QR code shown on the screen and add it
  assent import FILE|URI [--yes]     import a Google Authenticator export (otpauth-migration://,
                                     or a QR picture of one), an export of Aegis or 2FAS (asks
                                     the password of an encrypted one), andOTP, FreeOTP+ or
                                     Bitwarden, or a file of otpauth:// URIs; shows what will be
                                     imported first
  assent accounts [--json]           list accounts
  assent code [ACCOUNT]              print the current code of an account
  assent challenges [--json]         list pending sign-in and recovery prompts
  assent approve CHALLENGE NUMBER    approve a prompt with the number shown on the sign-in page
  assent deny CHALLENGE [--report]   deny a prompt; --report says "this wasn't me"
  assent listen [--no-same-device]   stay connected, show each prompt, ask for the number; also
                                     answer same-device sign-ins from a browser on this computer
                                     (asked here, y/N), unless --no-same-device
  assent remove ACCOUNT [--force]    remove an account (an Assent one is revoked on its server first)
  assent rename ACCOUNT NAME [--issuer ISSUER]
                                     rename an account
  assent move ACCOUNT POSITION       move an account in the list (1 is the top)
  assent lock set [--passphrase]     set or change the app lock (a PIN, or a passphrase)
  assent lock clear                  remove the app lock
  assent lock status                 say whether an app lock is set
  assent settings [--auto-lock 5m] [--lock-when-hidden=true] [--close-to-tray=true] [--start-hidden=false]
                                     show or change the app's settings

Flags for every subcommand:
  --home DIR          where accounts live (env ASSENT_HOME; default: the user config folder)
  --keystore KIND     keychain (default) or file; the file store's passphrase comes
                      from ASSENT_PASSPHRASE or a prompt
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	s := newSession(os.Stdin, os.Stdout, os.Stderr)
	go func() {
		<-ctx.Done()
		// Ctrl-C while a question waits for its answer: the terminal as
		// it was (echo on), and the command ends there. Otherwise the
		// command winds down itself (listen stops listening).
		if s.con.interrupted() {
			os.Exit(130)
		}
	}()
	code := s.main(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

func newSession(stdin io.Reader, stdout, stderr io.Writer) *session {
	return &session{con: newConsole(stdin, stderr), stdout: stdout, stderr: stderr}
}

// mainCode runs a command as main does, for tests.
func mainCode(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return newSession(stdin, stdout, stderr).main(ctx, args)
}

// main runs a command and says how it went: 0 when it did what was
// asked (help included), else 1 after one line in the person's words on
// stderr (the technical details too with -v).
func (s *session) main(ctx context.Context, args []string) int {
	err := run(ctx, s, args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	s.report(err)
	return 1
}

// session is one run of the command: where it reads and writes, and what
// its error message needs.
type session struct {
	con            *console
	stdout, stderr io.Writer
	verbose        bool
	// org names the server an error came from, once known.
	org string
}

// usageError is a message of the command's own, in the person's words
// already: printed as it is.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func userErrorf(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// report prints an error: what happened and what to do, then with -v the
// technical details.
func (s *session) report(err error) {
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(s.stderr, "assent:", ue.msg)
		return
	}
	summary, details := explainFor(err, s.org)
	fmt.Fprintln(s.stderr, "assent:", summary)
	if details == "" || strings.Contains(strings.ToLower(summary), strings.ToLower(details)) {
		return
	}
	if s.verbose {
		fmt.Fprintln(s.stderr, "details:", details)
	} else {
		fmt.Fprintln(s.stderr, "(add -v to the command to see the details)")
	}
}

// explainFor is core.Explain, worded for a terminal.
func explainFor(err error, org string) (summary, details string) {
	summary, details = core.Explain(err, org)
	summary = strings.Replace(summary, "; if it keeps happening, see Details.", "; if it keeps happening, add -v to see the details.", 1)
	return summary, details
}

// globals are the flags every subcommand takes, before or after its name.
type globals struct {
	home, keystore string
	verbose        bool
}

// splitGlobals takes the global flags before the subcommand's name off
// args: `assent --home DIR enroll LINK` is `assent enroll LINK --home DIR`.
// It returns the subcommand's name ("app" when there is none, or when the
// first other flag is the app's) and its arguments.
func splitGlobals(args []string) (globals, string, []string, error) {
	g := globals{keystore: os.Getenv("ASSENT_KEYSTORE")}
	for len(args) > 0 {
		a := args[0]
		if a == "--" {
			args = args[1:]
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch name {
		case "home", "keystore":
			if !hasValue {
				if len(args) < 2 {
					return g, "", nil, userErrorf("--%s needs a value", name)
				}
				value, args = args[1], args[1:]
			}
			if name == "home" {
				g.home = value
			} else {
				g.keystore = value
			}
		case "v", "verbose":
			b, err := strconv.ParseBool(value)
			if !hasValue {
				b, err = true, nil
			}
			if err != nil {
				return g, "", nil, userErrorf("--%s takes true or false, got %q", name, value)
			}
			g.verbose = b
		case "h", "help":
			return g, "help", nil, nil
		default:
			// The app's own flags: `assent --hidden`.
			return g, "app", args, nil
		}
		args = args[1:]
	}
	if len(args) == 0 {
		return g, "app", nil, nil
	}
	return g, args[0], args[1:], nil
}

// cmd is one subcommand's parsed flags and opened home.
type cmd struct {
	s        *session
	fs       *flag.FlagSet
	home     *string
	keystore *string
	verbose  *bool
	args     []string
	// synopsis is the subcommand's line of the usage.
	synopsis string
}

func newCmd(s *session, g globals, name string) *cmd {
	fs := flag.NewFlagSet("assent "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c := &cmd{
		s:        s,
		fs:       fs,
		home:     fs.String("home", g.home, "where accounts live, a `DIR` (env ASSENT_HOME; default: the user config folder)"),
		keystore: fs.String("keystore", g.keystore, "`KIND` of key store for a new home: keychain (default) or file (env ASSENT_KEYSTORE)"),
		synopsis: synopsis(name),
	}
	c.verbose = fs.Bool("v", g.verbose, "say the technical details of an error")
	fs.BoolVar(c.verbose, "verbose", g.verbose, "the same as -v")
	return c
}

// synopsis is name's part of the usage: its lines up to the next
// subcommand.
func synopsis(name string) string {
	var out []string
	for _, l := range strings.Split(usage, "\n") {
		if strings.HasPrefix(l, "  assent "+name+" ") || l == "  assent "+name || (name == "app" && strings.HasPrefix(l, "  assent [app]")) {
			out = append(out, l)
			continue
		}
		if len(out) > 0 && strings.HasPrefix(l, "       ") {
			out = append(out, l)
			continue
		}
		if len(out) > 0 {
			break
		}
	}
	return strings.Join(out, "\n")
}

// help prints the subcommand's usage and flags.
func (c *cmd) help() {
	w := c.s.stdout
	fmt.Fprintf(w, "Usage:\n%s\n\nFlags:\n", c.synopsis)
	c.fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "verbose" {
			return
		}
		left := "--" + f.Name
		if len(f.Name) == 1 {
			left = "-" + f.Name
		}
		arg, usage := flag.UnquoteUsage(f)
		if arg != "" {
			left += " " + strings.ToUpper(arg)
		}
		fmt.Fprintf(w, "  %-22s %s\n", left, usage)
	})
}

// parse parses flags and between min and max positional arguments.
func (c *cmd) parse(args []string, min, max int) error {
	rest, err := cli.Parse(c.fs, args)
	c.s.verbose = *c.verbose
	if errors.Is(err, flag.ErrHelp) {
		c.help()
		return err
	}
	if err != nil {
		return userErrorf("%v (see 'assent %s --help')", err, strings.TrimPrefix(c.fs.Name(), "assent "))
	}
	if len(rest) < min || len(rest) > max {
		return userErrorf("%s: wrong number of arguments; it is used as\n%s", c.fs.Name(), c.synopsis)
	}
	c.args = rest
	return nil
}

// setup parses a subcommand's arguments and opens an existing home.
func (c *cmd) setup(args []string, min, max int) (*core.Core, error) {
	if err := c.parse(args, min, max); err != nil {
		return nil, err
	}
	return c.open(false)
}

// homeDir is the home the command works on.
func (c *cmd) homeDir() (string, error) {
	if *c.home != "" {
		return *c.home, nil
	}
	return core.DefaultHome()
}

// homeMissing says whether the home is not there yet (not an error: the
// caller decides).
func (c *cmd) homeMissing() (bool, string) {
	home, err := c.homeDir()
	if err != nil {
		return false, ""
	}
	kind, err := core.HomeKeyStore(home)
	return err == nil && kind == "", home
}

// open opens the home; a home that is not there yet is made only when
// create is set (commands that add something), else it is an error.
func (c *cmd) open(create bool) (*core.Core, error) {
	home, err := c.homeDir()
	if err != nil {
		return nil, err
	}
	if *c.keystore != "" && *c.keystore != core.KeyStoreKeychain && *c.keystore != core.KeyStoreFile {
		return nil, userErrorf("--keystore %s: want keychain or file", *c.keystore)
	}
	kind, err := core.HomeKeyStore(home)
	if err != nil {
		return nil, err
	}
	if kind == "" && !create {
		return nil, userErrorf("there is no Assent home at %s, so there is nothing here yet: add an account first (assent enroll LINK|QR.png), or give the --home you used", home)
	}
	if kind == "" {
		kind = *c.keystore
	}
	return core.Open(core.Options{Home: home, KeyStore: *c.keystore, Passphrase: c.passphrase(kind == "" || kind == core.KeyStoreFile && !fileStoreExists(home))})
}

// fileStoreExists says whether home holds a file key store.
func fileStoreExists(home string) bool {
	_, err := os.Stat(filepath.Join(home, "keystore.json"))
	return err == nil
}

// minStorePassphrase is the shortest passphrase a new file key store
// takes when it is typed.
const minStorePassphrase = 8

// passphrase gives the file key store's passphrase: ASSENT_PASSPHRASE, or
// asked on the terminal (twice, and at least minStorePassphrase characters,
// for a new store).
func (c *cmd) passphrase(fresh bool) func() ([]byte, error) {
	return func() ([]byte, error) {
		if p, ok := crypto.PassphraseFromEnv(); ok {
			return p, nil
		}
		if !c.s.con.tty {
			return nil, userErrorf("the file key store needs its passphrase: set ASSENT_PASSPHRASE, or run in a terminal to be asked")
		}
		if !fresh {
			return c.s.con.Secret("Passphrase of the Assent key store: ")
		}
		fmt.Fprintf(c.s.stderr, "Choose a passphrase for Assent's encrypted key store: at least %d characters. It protects your accounts' keys on this device and cannot be recovered.\n", minStorePassphrase)
		return c.s.con.NewSecret("New passphrase: ", func(p []byte) error {
			if n := utf8.RuneCount(p); n < minStorePassphrase {
				return fmt.Errorf("that passphrase has %d characters; it needs at least %d", n, minStorePassphrase)
			}
			return nil
		})
	}
}

func run(ctx context.Context, s *session, argv []string) error {
	g, name, args, err := splitGlobals(argv)
	s.verbose = g.verbose
	if err != nil {
		return err
	}
	c := newCmd(s, g, name)
	stdout := s.stdout
	switch name {
	case "app":
		hidden := c.fs.Bool("hidden", false, "start hidden in the system tray")
		noSameDevice := c.fs.Bool("no-same-device", false, "do not answer same-device sign-ins from a browser on this computer")
		if err := c.parse(args, 0, 0); err != nil {
			return err
		}
		return runApp(ctx, *c.home, *c.keystore, *hidden, *noSameDevice)
	case "scan":
		if err := c.parse(args, 0, 0); err != nil {
			return err
		}
		app, err := c.open(true)
		if err != nil {
			return err
		}
		text, err := core.ScanScreen()
		if err != nil {
			return err
		}
		in, err := core.ParseInputText(text)
		if err != nil {
			return err
		}
		if in.Import != nil {
			return confirmImport(ctx, s, app, in.Import, false)
		}
		return addAndSay(ctx, s, app, in.Link)
	case "import":
		yes := c.fs.Bool("yes", false, "import without asking")
		if err := c.parse(args, 1, 1); err != nil {
			return err
		}
		imp, err := readImport(s, c.args[0])
		if err != nil {
			return err
		}
		app, err := c.open(true)
		if err != nil {
			return err
		}
		return confirmImport(ctx, s, app, imp, *yes)
	case "rename":
		issuer := c.fs.String("issuer", "\x00keep", "the new issuer (default: keep it)")
		app, err := c.setup(args, 2, 2)
		if err != nil {
			return err
		}
		a, err := app.Find(c.args[0])
		if err != nil {
			return err
		}
		if *issuer != "\x00keep" {
			a.Issuer = *issuer
		}
		if err := app.Rename(a.ID, a.Issuer, c.args[1]); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "renamed")
		return nil
	case "move":
		if err := c.parse(args, 2, 2); err != nil {
			return err
		}
		pos, err := strconv.Atoi(c.args[1])
		if err != nil || pos < 1 {
			return userErrorf("POSITION must be a number from 1 (the top), got %q", c.args[1])
		}
		app, err := c.open(false)
		if err != nil {
			return err
		}
		a, err := app.Find(c.args[0])
		if err != nil {
			return err
		}
		return app.Move(a.ID, pos-1)
	case "lock":
		passphrase := c.fs.Bool("passphrase", false, "set: a passphrase instead of a PIN")
		if err := c.parse(args, 1, 1); err != nil {
			return err
		}
		what := c.args[0]
		if what != "set" && what != "clear" && what != "status" {
			return userErrorf("lock %q: want set, clear or status", what)
		}
		app, err := c.open(what == "set")
		if err != nil {
			return err
		}
		return lockCommand(s, app, what, *passphrase)
	case "settings":
		return settingsCommand(c, args)
	case "enroll", "add":
		if err := c.parse(args, 1, 1); err != nil {
			return err
		}
		app, err := c.open(true)
		if err != nil {
			return err
		}
		return addAndSay(ctx, s, app, c.args[0])
	case "accounts":
		asJSON := c.fs.Bool("json", false, "print JSON")
		app, err := c.setup(args, 0, 0)
		if err != nil {
			return err
		}
		return printAccounts(stdout, app.Accounts(), *asJSON)
	case "code":
		app, err := c.setup(args, 0, 1)
		if err != nil {
			return err
		}
		code, err := app.Code(strings.Join(c.args, ""))
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, code.Code)
		if code.Remaining > 0 {
			fmt.Fprintf(s.stderr, "%s, valid %ds more\n", code.Account.Label(), int(code.Remaining.Seconds()))
		}
		return nil
	case "challenges":
		asJSON := c.fs.Bool("json", false, "print JSON")
		app, err := c.setup(args, 0, 0)
		if err != nil {
			return err
		}
		ps, err := app.Challenges(ctx)
		if perr := printPrompts(stdout, ps, *asJSON); perr != nil {
			return perr
		}
		return err
	case "approve":
		if err := c.parse(args, 2, 2); err != nil {
			return err
		}
		n, err := strconv.Atoi(c.args[1])
		if err != nil {
			return userErrorf("NUMBER must be the two-digit number shown on the sign-in page, got %q", c.args[1])
		}
		app, err := c.open(false)
		if err != nil {
			return err
		}
		p, err := app.FindPrompt(ctx, c.args[0])
		if err != nil {
			return err
		}
		s.org = p.Account.Issuer
		return outcome(stdout, push.OutcomeApproved)(approve(ctx, s, app, p, n))
	case "deny":
		report := c.fs.Bool("report", false, `report the prompt: "this wasn't me"`)
		app, err := c.setup(args, 1, 1)
		if err != nil {
			return err
		}
		want := push.OutcomeDenied
		if *report {
			want = push.OutcomeReported
		}
		return outcome(stdout, want)(app.DenyID(ctx, c.args[0], *report))
	case "listen":
		noSameDevice := c.fs.Bool("no-same-device", false, "do not answer same-device sign-ins from a browser on this computer")
		app, err := c.setup(args, 0, 0)
		if err != nil {
			return err
		}
		return listen(ctx, s, app, !*noSameDevice)
	case "remove":
		force := c.fs.Bool("force", false, "remove even if the server cannot be told")
		app, err := c.setup(args, 1, 1)
		if err != nil {
			return err
		}
		if err := app.Remove(ctx, c.args[0], *force); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "removed")
		return nil
	case "help", "-h", "--help":
		if len(args) == 1 && args[0] != "help" && synopsis(args[0]) != "" {
			// assent help enroll: that subcommand's help.
			return run(ctx, s, []string{args[0], "--help"})
		}
		fmt.Fprint(stdout, usage)
		return nil
	}
	return userErrorf("unknown subcommand %q; 'assent help' lists them", name)
}

func addAndSay(ctx context.Context, s *session, app *core.Core, input string) error {
	stdout := s.stdout
	a, err := app.Add(ctx, input)
	if err != nil {
		return err
	}
	if a.Kind == core.KindAssent {
		fmt.Fprintf(stdout, "Enrolled %s with %s (device %s); its key is in the %s key store.\n", a.Label(), a.Server, a.EnrollmentID, app.KeyStoreKind())
	} else {
		fmt.Fprintf(stdout, "Added %s (%s).\n", a.Label(), strings.ToUpper(a.Kind))
	}
	fmt.Fprintln(stdout, a.ID)
	return nil
}

// readImport reads an export named on the command line, asking for its
// password when it is encrypted (without echo on a terminal, else the next
// line of standard input); a terminal asks again after a wrong one.
func readImport(s *session, arg string) (*enroll.Import, error) {
	imp, err := core.ReadImport(arg)
	for tries := 0; errors.Is(err, core.ErrPasswordNeeded) || errors.Is(err, core.ErrWrongPassword) && s.con.tty && tries < 3; tries++ {
		if tries > 0 {
			fmt.Fprintln(s.stderr, "Wrong password. Try again.")
		}
		pw, perr := s.con.Secret("Password of the export: ")
		if perr != nil {
			return nil, userErrorf("the export is encrypted and no password was given: %v", perr)
		}
		imp, err = core.ReadImportPassword(arg, string(pw))
	}
	return imp, err
}

// approve approves a prompt, asking for the app lock first when the
// prompt wants the person verified.
func approve(ctx context.Context, s *session, app *core.Core, p core.Prompt, n int) (string, error) {
	want, err := app.WantsVerification(p)
	if errors.Is(err, core.ErrNoAppLock) {
		if !s.con.tty {
			return "", userErrorf("this request needs an app lock (a PIN or passphrase) to confirm it's you, and none is set on this device: set one with 'assent lock set', then approve again")
		}
		secret, err := offerLock(s, func(prompt string, secret bool) (string, error) {
			if secret {
				b, err := s.con.Secret(prompt)
				return string(b), err
			}
			return s.con.Line(prompt)
		})
		if err != nil {
			return "", err
		}
		if secret == nil {
			return "", userErrorf("not approved: the request needs an app lock")
		}
		if err := app.SetLock(core.LockPIN, secret, nil); err != nil {
			return "", err
		}
		fmt.Fprintln(s.stderr, lockSetNote)
		return app.ApproveVerified(ctx, p, n, secret)
	}
	if err != nil {
		return "", err
	}
	if !want {
		return app.Approve(ctx, p, n)
	}
	secret, err := s.con.Secret("This request asks you to verify it's you. App lock: ")
	if err != nil {
		return "", userErrorf("no app lock given: %v", err)
	}
	return app.ApproveVerified(ctx, p, n, secret)
}

// lockSetNote is said once a PIN was set to approve a request.
const lockSetNote = "App lock set: a PIN. It also locks the app; change it with 'assent lock set'."

// offerLock says that a request needs an app lock and none is set, and
// offers to set a PIN there and then: read (without echo on a terminal)
// twice, asked again until it is a valid PIN. It returns the PIN, or nil
// when the person declined; ask reads one answer (secret: without echo).
func offerLock(s *session, ask func(prompt string, secret bool) (string, error)) ([]byte, error) {
	fmt.Fprintln(s.stderr, "This request needs an app lock to confirm it's you, and none is set on this device.")
	yes, err := ask("Set a PIN now and approve? [Y/n] ", false)
	if err != nil {
		return nil, err
	}
	if a := strings.ToLower(strings.TrimSpace(yes)); a != "" && a != "y" && a != "yes" {
		return nil, nil
	}
	for {
		pin, err := ask(fmt.Sprintf("New PIN (%d to %d digits; Enter alone to stop): ", core.MinPINLength, core.MaxPINLength), true)
		if err != nil {
			return nil, err
		}
		if pin == "" {
			return nil, nil
		}
		if err := core.CheckLockSecret(core.LockPIN, []byte(pin)); err != nil {
			fmt.Fprintf(s.stderr, "%s Try again.\n", sentence(err.Error()))
			continue
		}
		again, err := ask("The same PIN again: ", true)
		if err != nil {
			return nil, err
		}
		if again != pin {
			fmt.Fprintln(s.stderr, "The two PINs differ. Try again.")
			continue
		}
		return []byte(pin), nil
	}
}

// confirmImport shows what an export holds and imports it when the person
// agrees (or --yes said so).
func confirmImport(ctx context.Context, s *session, app *core.Core, imp *enroll.Import, yes bool) error {
	stdout := s.stdout
	plan := app.PreviewImport(imp)
	fmt.Fprintf(stdout, "From %s:\n", imp.Source)
	if len(plan.Accounts) == 0 {
		fmt.Fprintln(stdout, "  nothing new to import")
	}
	for _, o := range plan.Accounts {
		fmt.Fprintf(stdout, "  + %s (%s)\n", o.Label(), strings.ToUpper(o.Type))
	}
	for _, s := range plan.Skipped {
		fmt.Fprintf(stdout, "  - %s: %s\n", s.Label, s.Reason)
	}
	if plan.BatchSize > 1 {
		fmt.Fprintf(stdout, "This is QR code %d of %d of the export: import the others too.\n", plan.BatchIndex+1, plan.BatchSize)
	}
	if len(plan.Accounts) == 0 {
		return nil
	}
	if !yes {
		fmt.Fprintf(stdout, "Import %d account(s)? [y/N] ", len(plan.Accounts))
		line, _ := s.con.wait(false, "")
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			return userErrorf("nothing imported")
		}
	}
	added, err := app.Import(imp)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Imported %d account(s).\n", len(added))
	return nil
}

// lockCommand sets, clears or describes the app lock.
func lockCommand(s *session, app *core.Core, what string, passphrase bool) error {
	stdout := s.stdout
	kind := app.LockKind()
	switch what {
	case "status":
		if kind == "" {
			fmt.Fprintln(stdout, "no app lock")
		} else {
			fmt.Fprintf(stdout, "locked with a %s\n", kind)
		}
		return nil
	case "set":
		var current []byte
		if kind != "" {
			var err error
			if current, err = s.con.Secret("Current app lock: "); err != nil {
				return userErrorf("the current app lock: %v", err)
			}
			// A wrong one is said before the new one is typed.
			if err := app.CheckUnlock(current); err != nil {
				return err
			}
		}
		newKind, what := core.LockPIN, fmt.Sprintf("New PIN (%d to %d digits): ", core.MinPINLength, core.MaxPINLength)
		if passphrase {
			newKind, what = core.LockPassphrase, fmt.Sprintf("New passphrase (at least %d characters): ", core.MinPassphraseLength)
		}
		secret, err := s.con.NewSecret(what, func(b []byte) error { return core.CheckLockSecret(newKind, b) })
		if err != nil {
			var le *core.LockSecretError
			if errors.As(err, &le) {
				return userErrorf("%s", le.Problem)
			}
			return userErrorf("the new %s: %v", newKind, err)
		}
		if err := app.SetLock(newKind, secret, current); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "app lock set (%s)\n", newKind)
		return nil
	case "clear":
		if kind == "" {
			return core.ErrNoAppLock
		}
		current, err := s.con.Secret("Current app lock: ")
		if err != nil {
			return userErrorf("the current app lock: %v", err)
		}
		if err := app.ClearLock(current); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "app lock removed")
		return nil
	}
	return userErrorf("lock %q: want set, clear or status", what)
}

// settingsCommand shows the settings, changing those given as flags.
func settingsCommand(c *cmd, args []string) error {
	stdout := c.s.stdout
	autoLock := c.fs.Duration("auto-lock", -1, "lock after this long unused (0 never)")
	var bools = map[string]*string{}
	for _, name := range []string{"lock-when-hidden", "close-to-tray", "start-hidden"} {
		bools[name] = c.fs.String(name, "", "`true|false`")
	}
	if err := c.parse(args, 0, 0); err != nil {
		return err
	}
	changes := false
	c.fs.Visit(func(f *flag.Flag) { changes = changes || f.Name == "auto-lock" || bools[f.Name] != nil })
	lock := ""
	var s core.Settings
	var app *core.Core
	if missing, home := c.homeMissing(); missing && !changes {
		// Nothing to read: the defaults a new home starts with, and no
		// home made for them.
		fmt.Fprintf(c.s.stderr, "There is no Assent home at %s yet: these are the settings a new one starts with.\n", home)
		s = core.DefaultSettings()
	} else {
		var err error
		if app, err = c.open(changes); err != nil {
			return err
		}
		s, lock = app.Settings(), app.LockKind()
	}
	changed := false
	if *autoLock >= 0 {
		s.AutoLock, changed = *autoLock, true
	}
	for name, v := range bools {
		if *v == "" {
			continue
		}
		b, err := strconv.ParseBool(*v)
		if err != nil {
			return userErrorf("--%s: want true or false, got %q", name, *v)
		}
		switch name {
		case "lock-when-hidden":
			s.LockWhenHidden = b
		case "close-to-tray":
			s.CloseToTray = b
		case "start-hidden":
			s.StartHidden = b
		}
		changed = true
	}
	if changed {
		if err := app.SetSettings(s); err != nil {
			return err
		}
	}
	autoText := "never"
	if s.AutoLock > 0 {
		autoText = s.AutoLock.String()
	}
	if lock == "" {
		lock = "none"
	}
	fmt.Fprintf(stdout, "app lock:         %s\nauto-lock:        %s\nlock-when-hidden: %t\nclose-to-tray:    %t\nstart-hidden:     %t\n",
		lock, autoText, s.LockWhenHidden, s.CloseToTray, s.StartHidden)
	return nil
}

// outcome prints what the server recorded and fails unless it is want.
func outcome(w io.Writer, want string) func(string, error) error {
	return func(got string, err error) error {
		if err != nil {
			return err
		}
		fmt.Fprintln(w, got)
		if got != want {
			return userErrorf("the server recorded %q, not %q", got, want)
		}
		return nil
	}
}

func printAccounts(w io.Writer, accts []core.Account, asJSON bool) error {
	if asJSON {
		type view struct {
			ID, Kind, Issuer, Name, Server, EnrollmentID string `json:",omitempty"`
		}
		out := []view{}
		for _, a := range accts {
			out = append(out, view{a.ID, a.Kind, a.Issuer, a.Name, a.Server, a.EnrollmentID})
		}
		return json.NewEncoder(w).Encode(out)
	}
	if len(accts) == 0 {
		fmt.Fprintln(w, "No accounts yet: add one with 'assent enroll LINK|QR.png'.")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tISSUER\tNAME\tSERVER")
	for _, a := range accts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.ID, a.Kind, a.Issuer, a.Name, a.Server)
	}
	return tw.Flush()
}

func describe(p core.Prompt) string {
	var b strings.Builder
	what := map[string]string{push.KindSignIn: "Sign-in", push.KindRecovery: "Password reset", push.KindEnroll: "New device", push.KindStepUp: "Confirm it's you"}[p.Kind]
	fmt.Fprintf(&b, "%s request for %s", what, p.Account.Label())
	if p.Context.App != "" {
		fmt.Fprintf(&b, " to %s", p.Context.App)
	}
	b.WriteString("\n")
	if from := strings.TrimSpace(p.Context.ClientIP + " " + p.Context.Location); from != "" {
		fmt.Fprintf(&b, "  from:    %s\n", from)
	}
	if p.Context.UserAgent != "" {
		fmt.Fprintf(&b, "  browser: %s\n", p.Context.UserAgent)
	}
	fmt.Fprintf(&b, "  at:      %s (expires %s)\n", time.Unix(p.Context.Time, 0).Local().Format("15:04:05"), p.ExpiresAt().Local().Format("15:04:05"))
	if p.Context.Risk != "" && p.Context.Risk != "low" {
		fmt.Fprintf(&b, "  risk:    %s\n", p.Context.Risk)
	}
	if len(p.Numbers) > 0 {
		fmt.Fprintf(&b, "  numbers: %s\n", joinInts(p.Numbers))
	}
	fmt.Fprintf(&b, "  id:      %s\n", p.ID)
	return b.String()
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, " ")
}

func printPrompts(w io.Writer, ps []core.Prompt, asJSON bool) error {
	if asJSON {
		type view struct {
			ID        string                `json:"id"`
			Account   string                `json:"account"`
			Kind      string                `json:"kind"`
			Context   push.ChallengeContext `json:"context"`
			Numbers   []int                 `json:"numbers,omitempty"`
			ExpiresAt time.Time             `json:"expiresAt"`
		}
		out := []view{}
		for _, p := range ps {
			out = append(out, view{p.ID, p.Account.ID, p.Kind, p.Context, p.Numbers, p.ExpiresAt()})
		}
		return json.NewEncoder(w).Encode(out)
	}
	if len(ps) == 0 {
		fmt.Fprintln(w, "No pending prompts.")
	}
	for _, p := range ps {
		fmt.Fprintln(w, describe(p))
	}
	return nil
}

// sameDeviceItem is a same-device request waiting for the terminal.
type sameDeviceItem struct {
	ctx   context.Context
	ask   core.SameDeviceAsk
	reply chan core.SameDeviceDecision
}

// serveSameDevice starts the same-device loopback server; its requests
// come to the listen loop, which asks on the terminal.
func serveSameDevice(ctx context.Context, app *core.Core, queue chan<- sameDeviceItem) (string, error) {
	return app.ServeSameDevice(ctx, func(rctx context.Context, a core.SameDeviceAsk) (core.SameDeviceDecision, error) {
		it := sameDeviceItem{ctx: rctx, ask: a, reply: make(chan core.SameDeviceDecision, 1)}
		select {
		case queue <- it:
		case <-rctx.Done():
			return core.SameDeviceDecision{}, rctx.Err()
		}
		select {
		case d := <-it.reply:
			return d, nil
		case <-rctx.Done():
			return core.SameDeviceDecision{}, rctx.Err()
		}
	})
}

// listen shows prompts as they arrive and asks for an answer to each, one
// at a time, on stdin. Without a usable stdin it only shows them. With
// sameDevice it also answers same-device sign-ins from a browser on this
// computer, asking y/N (and the app lock when the request wants it).
// Secrets (the app lock) are read without echo from a terminal.
func listen(ctx context.Context, s *session, app *core.Core, sameDevice bool) error {
	defer s.con.saveTerminal()()
	var mu sync.Mutex
	queue := make(chan core.Prompt, 64)
	seen := map[string]bool{}
	resolved := map[string]string{}
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(s.stdout, format, args...)
	}
	explain := func(a core.Account, err error) string {
		sum, det := explainFor(err, a.Issuer)
		if s.verbose && det != sum {
			return sum + " (" + det + ")"
		}
		return sum
	}
	listenErr := make(chan error, 1)
	go func() {
		listenErr <- app.Listen(ctx, core.Events{
			Prompt: func(p core.Prompt) {
				mu.Lock()
				dup := seen[p.ID]
				seen[p.ID] = true
				mu.Unlock()
				if !dup {
					queue <- p
				}
			},
			Resolved: func(a core.Account, id, out string) {
				mu.Lock()
				resolved[id] = out
				mu.Unlock()
				say("Prompt %s resolved: %s\n", id, out)
			},
			State: func(a core.Account, st push.ConnState, err error) {
				if err != nil {
					say("%s: %s (%s)\n", a.Label(), st, explain(a, err))
				} else {
					say("%s: %s\n", a.Label(), st)
				}
			},
			Drift: func(a core.Account, d time.Duration) {
				if d.Abs() > 30*time.Second {
					say("Warning: this device's clock is %s off %s's; codes may fail\n", d.Round(time.Second), a.Server)
				}
			},
			Error: func(a core.Account, err error) { say("%s: %s\n", a.Label(), explain(a, err)) },
		})
	}()
	stdinOpen := true
	sdQueue := make(chan sameDeviceItem)
	if sameDevice {
		addr, err := serveSameDevice(ctx, app, sdQueue)
		if err != nil {
			say("%s\n", explain(core.Account{}, err))
		} else {
			say("Same-device sign-in: listening on %s\n", addr)
		}
	}
	closed := func() {
		if stdinOpen {
			stdinOpen = false
			say("\n(no input: showing prompts only)\n")
		}
	}
	// readLine reads the next line of stdin (without echo on a terminal
	// when secret) while the request of rctx still waits; ok is false when
	// it went away or stdin closed.
	readLine := func(rctx context.Context, secret bool, prompt string) (string, bool) {
		r, ok := s.con.nextLine(rctx, secret, prompt)
		if !ok {
			return "", false
		}
		if r.err != nil {
			closed()
			return "", false
		}
		return strings.TrimSpace(r.line), true
	}
	answerSameDevice := func(it sameDeviceItem) {
		a := it.ask
		say("\nSign-in on this computer for %s\n  app:     %s\n  page:    %s\n  expires: %s\n", a.Account.Label(), a.App, a.Origin, a.Expires.Local().Format("15:04:05"))
		reply := func(approve bool, format string, args ...any) {
			it.reply <- core.SameDeviceDecision{Approve: approve}
			say(format, args...)
		}
		gone := func() {
			if errors.Is(it.ctx.Err(), context.DeadlineExceeded) {
				say("\nThe browser sign-in expired before it was answered.\n")
			} else if ctx.Err() == nil {
				say("\nThe browser stopped waiting for an answer.\n")
			}
		}
		if !stdinOpen {
			reply(false, "No input to ask with: declined.\n")
			return
		}
		say("Sign in to %s as %s in this browser? [y/N] ", a.OrgName(), a.Account.Name)
		line, ok := readLine(it.ctx, false, "")
		if !ok {
			if stdinOpen {
				gone()
			} else {
				reply(false, "No input to ask with: declined.\n")
			}
			return
		}
		if l := strings.ToLower(line); l != "y" && l != "yes" {
			reply(false, "Denied: the browser was not signed in.\n")
			return
		}
		want, err := a.WantsVerification()
		if err != nil {
			reply(false, "Declined: this sign-in asks you to verify it's you, which needs an app lock; set one with 'assent lock set', then try again.\n")
			return
		}
		for want {
			secret, ok := readLine(it.ctx, true, "This sign-in asks you to verify it's you. App lock: ")
			if !ok {
				if stdinOpen {
					gone()
				} else {
					reply(false, "No app lock given: declined.\n")
				}
				return
			}
			if secret == "" {
				reply(false, "No app lock given: declined.\n")
				return
			}
			err := a.Verify([]byte(secret))
			if err == nil {
				break
			}
			if !errors.Is(err, core.ErrWrongUnlock) || errors.Is(err, core.ErrUnlockThrottled) {
				reply(false, "Not verified (%s): declined.\n", explain(a.Account, err))
				return
			}
			say("%s Or an empty line to decline.\n", explain(a.Account, err))
		}
		reply(true, "Confirmed: carry on in your browser.\n")
	}
	// ask reads an answer for a push prompt: on ctx, since the prompt's
	// own expiry is the server's to tell.
	ask := func(prompt string, secret bool) (string, error) {
		l, ok := readLine(ctx, secret, prompt)
		if !ok {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			return "", errNoInput
		}
		return l, nil
	}
	for {
		var p core.Prompt
		select {
		case <-ctx.Done():
			return nil
		case err := <-listenErr:
			if err != nil && ctx.Err() == nil {
				return err
			}
			return nil
		case it := <-sdQueue:
			answerSameDevice(it)
			continue
		case p = <-queue:
		}
		mu.Lock()
		_, done := resolved[p.ID]
		mu.Unlock()
		if done || p.Expired(time.Now()) {
			continue
		}
		say("\n%s", describe(p))
		if !stdinOpen {
			continue
		}
	choices:
		for {
			if len(p.Numbers) > 0 {
				say("Pick the number shown on the sign-in page (%s), d to deny, r to report \"this wasn't me\", s to skip: ", joinInts(p.Numbers))
			} else {
				say("a to approve, d to deny, r to report \"this wasn't me\", s to skip: ")
			}
			var line string
			select {
			case <-ctx.Done():
				return nil
			case it := <-sdQueue:
				// A browser waits: ask it first, then this prompt again.
				answerSameDevice(it)
				continue
			case r := <-s.con.want(false, ""):
				s.con.took()
				if r.err != nil {
					closed()
				}
				line = strings.TrimSpace(r.line)
			}
			if !stdinOpen || line == "s" {
				break
			}
			mu.Lock()
			_, done := resolved[p.ID]
			mu.Unlock()
			if done {
				say("That prompt was resolved meanwhile.\n")
				break
			}
			var got string
			var err error
			switch {
			case line == "d":
				got, err = app.Deny(ctx, p, false)
			case line == "r":
				got, err = app.Deny(ctx, p, true)
			default:
				n := 0
				if line != "a" || len(p.Numbers) > 0 {
					var perr error
					if n, perr = strconv.Atoi(line); perr != nil {
						say("%q is not a choice.\n", line)
						continue
					}
				}
				var again bool
				got, err, again = approveFromListen(ctx, s, app, p, n, ask)
				if again {
					continue choices
				}
				if errors.Is(err, errNoInput) {
					closed()
					break choices
				}
			}
			if err != nil {
				say("Answer failed: %s\n", explain(p.Account, err))
			} else {
				say("Answered: the server recorded %s\n", got)
			}
			break
		}
	}
}

// approveFromListen approves from the listen loop. When the prompt wants
// the person verified, the app lock is the next line (without echo from a
// terminal); when it requires that and no lock is set, a terminal is
// offered to set a PIN there and then, and a pipe is told how. again says
// the prompt is still open and its choice should be asked again (a wrong
// number or PIN, a lock not set).
func approveFromListen(ctx context.Context, s *session, app *core.Core, p core.Prompt, n int, ask func(prompt string, secret bool) (string, error)) (got string, err error, again bool) {
	if err := checkChoice(p, n); err != nil {
		fmt.Fprintf(s.stdout, "%v\n", err)
		return "", nil, true
	}
	want, err := app.WantsVerification(p)
	if errors.Is(err, core.ErrNoAppLock) {
		if !s.con.tty {
			fmt.Fprintln(s.stdout, "This request needs an app lock (a PIN or passphrase) to confirm it's you, and none is set on this device. "+
				"Set one with 'assent lock set' in a terminal, then pick the number again; or d to deny, s to skip.")
			return "", nil, true
		}
		pin, err := offerLock(s, ask)
		if err != nil {
			return "", err, false
		}
		if pin == nil {
			fmt.Fprintln(s.stdout, "Not approved: no app lock was set. Pick again to set one, or d to deny, s to skip.")
			return "", nil, true
		}
		if err := app.SetLock(core.LockPIN, pin, nil); err != nil {
			return "", err, false
		}
		fmt.Fprintln(s.stdout, lockSetNote)
		got, err := app.ApproveVerified(ctx, p, n, pin)
		return got, err, false
	}
	if err != nil {
		return "", err, false
	}
	if !want {
		got, err := app.Approve(ctx, p, n)
		return got, err, false
	}
	secret, err := ask("This request asks you to verify it's you. App lock: ", true)
	if err != nil {
		return "", err, false
	}
	if secret == "" {
		fmt.Fprintln(s.stdout, "No app lock given: not approved.")
		return "", nil, true
	}
	got, err = app.ApproveVerified(ctx, p, n, []byte(secret))
	if errors.Is(err, core.ErrWrongUnlock) && !errors.Is(err, core.ErrUnlockThrottled) {
		sum, _ := core.Explain(err, p.Account.Issuer)
		fmt.Fprintln(s.stdout, sum+" Pick the number again to retry.")
		return "", nil, true
	}
	return got, err, false
}

// checkChoice refuses a number that is not one of the prompt's, before
// anything else is asked.
func checkChoice(p core.Prompt, n int) error {
	if len(p.Numbers) > 0 && !slices.Contains(p.Numbers, n) {
		return fmt.Errorf("%d is not one of the choices (%s): pick the number shown on the sign-in page", n, joinInts(p.Numbers))
	}
	return nil
}
