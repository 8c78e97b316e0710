// Command assent is the Assent authenticator without a window: every
// feature of the app, as subcommands.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/seed-3a5b824e/assent/app/core"
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
                                     or a QR picture of one), an Aegis plain JSON export, or a
                                     file of otpauth:// URIs; shows what will be imported first
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
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "assent:", err)
		}
		os.Exit(1)
	}
}

// cmd is one subcommand's parsed flags and opened home.
type cmd struct {
	fs       *flag.FlagSet
	home     *string
	keystore *string
	args     []string
}

func newCmd(name string) *cmd {
	fs := flag.NewFlagSet("assent "+name, flag.ContinueOnError)
	return &cmd{
		fs:       fs,
		home:     fs.String("home", "", "home folder (env ASSENT_HOME)"),
		keystore: fs.String("keystore", os.Getenv("ASSENT_KEYSTORE"), "keychain or file (env ASSENT_KEYSTORE)"),
	}
}

// parse parses flags and between min and max positional arguments.
func (c *cmd) parse(args []string, min, max int) error {
	rest, err := cli.Parse(c.fs, args)
	if err != nil {
		return err
	}
	if len(rest) < min || len(rest) > max {
		return fmt.Errorf("%s: wrong number of arguments\n\n%s", c.fs.Name(), usage)
	}
	c.args = rest
	return nil
}

// setup parses a subcommand's arguments and opens the home.
func (c *cmd) setup(args []string, min, max int) (*core.Core, error) {
	if err := c.parse(args, min, max); err != nil {
		return nil, err
	}
	return c.open()
}

func (c *cmd) open() (*core.Core, error) {
	home := *c.home
	if home == "" {
		h, err := core.DefaultHome()
		if err != nil {
			return nil, err
		}
		home = h
	}
	if *c.keystore != "" && *c.keystore != core.KeyStoreKeychain && *c.keystore != core.KeyStoreFile {
		return nil, fmt.Errorf("--keystore %q: want keychain or file", *c.keystore)
	}
	return core.Open(core.Options{Home: home, KeyStore: *c.keystore, Passphrase: passphrase})
}

// passphrase is the file store's passphrase: ASSENT_PASSPHRASE, or asked.
func passphrase() ([]byte, error) {
	if p := os.Getenv("ASSENT_PASSPHRASE"); p != "" {
		return []byte(p), nil
	}
	if !cli.IsTerminal(os.Stdin) {
		return nil, errors.New("set ASSENT_PASSPHRASE, or run in a terminal to be asked")
	}
	return cli.ReadSecret("Passphrase for the Assent key store: ", false)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") && args[0] != "-h" && args[0] != "--help" {
		// No subcommand (or only flags): the app.
		args = append([]string{"app"}, args...)
	}
	name, args := args[0], args[1:]
	c := newCmd(name)
	switch name {
	case "app":
		hidden := c.fs.Bool("hidden", false, "start hidden in the system tray")
		noSameDevice := c.fs.Bool("no-same-device", false, "do not answer same-device sign-ins from a browser on this computer")
		if err := c.parse(args, 0, 0); err != nil {
			return err
		}
		return runApp(ctx, *c.home, *c.keystore, *hidden, *noSameDevice)
	case "scan":
		app, err := c.setup(args, 0, 0)
		if err != nil {
			return err
		}
		text, err := core.ScanScreen()
		if err != nil {
			return err
		}
		in, err := core.ParseInputText(text)
		if err != nil {
			return fmt.Errorf("the QR code on the screen: %w", err)
		}
		if in.Import != nil {
			return confirmImport(ctx, app, in.Import, stdin, stdout, false)
		}
		return addAndSay(ctx, app, in.Link, stdout)
	case "import":
		yes := c.fs.Bool("yes", false, "import without asking")
		if err := c.parse(args, 1, 1); err != nil {
			return err
		}
		imp, err := core.ReadImport(c.args[0])
		if err != nil {
			return err
		}
		app, err := c.open()
		if err != nil {
			return err
		}
		return confirmImport(ctx, app, imp, stdin, stdout, *yes)
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
		app, err := c.setup(args, 2, 2)
		if err != nil {
			return err
		}
		pos, err := strconv.Atoi(c.args[1])
		if err != nil || pos < 1 {
			return fmt.Errorf("POSITION must be a number from 1 (the top), got %q", c.args[1])
		}
		a, err := app.Find(c.args[0])
		if err != nil {
			return err
		}
		return app.Move(a.ID, pos-1)
	case "lock":
		passphrase := c.fs.Bool("passphrase", false, "a passphrase instead of a PIN")
		app, err := c.setup(args, 1, 1)
		if err != nil {
			return err
		}
		return lockCommand(app, c.args[0], *passphrase, stdout)
	case "settings":
		return settingsCommand(c, args, stdout)
	case "enroll", "add":
		app, err := c.setup(args, 1, 1)
		if err != nil {
			return err
		}
		return addAndSay(ctx, app, c.args[0], stdout)
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
			fmt.Fprintf(os.Stderr, "%s, valid %ds more\n", code.Account.Label(), int(code.Remaining.Seconds()))
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
			return fmt.Errorf("NUMBER must be the two-digit number shown on the sign-in page, got %q", c.args[1])
		}
		app, err := c.open()
		if err != nil {
			return err
		}
		p, err := app.FindPrompt(ctx, c.args[0])
		if err != nil {
			return err
		}
		return outcome(stdout, push.OutcomeApproved)(approve(ctx, app, p, n))
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
		return listen(ctx, app, stdin, stdout, !*noSameDevice)
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
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown subcommand %q\n\n%s", name, usage)
}

func addAndSay(ctx context.Context, app *core.Core, input string, stdout io.Writer) error {
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

// approve approves a prompt, asking for the app lock first when the
// prompt wants the person verified.
func approve(ctx context.Context, app *core.Core, p core.Prompt, n int) (string, error) {
	want, err := app.WantsVerification(p)
	if err != nil {
		return "", err
	}
	if !want {
		return app.Approve(ctx, p, n)
	}
	secret, err := cli.ReadSecret("This request asks you to verify it's you. App lock: ", false)
	if err != nil {
		return "", fmt.Errorf("app lock: %w", err)
	}
	return app.ApproveVerified(ctx, p, n, secret)
}

// confirmImport shows what an export holds and imports it when the person
// agrees (or --yes said so).
func confirmImport(ctx context.Context, app *core.Core, imp *enroll.Import, stdin io.Reader, stdout io.Writer, yes bool) error {
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
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			return errors.New("nothing imported")
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
func lockCommand(app *core.Core, what string, passphrase bool, stdout io.Writer) error {
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
			if current, err = cli.ReadSecret("Current app lock: ", false); err != nil {
				return err
			}
		}
		newKind := core.LockPIN
		if passphrase {
			newKind = core.LockPassphrase
		}
		secret, err := cli.ReadSecret(fmt.Sprintf("New %s: ", newKind), true)
		if err != nil {
			return err
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
		current, err := cli.ReadSecret("Current app lock: ", false)
		if err != nil {
			return err
		}
		if err := app.ClearLock(current); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "app lock removed")
		return nil
	}
	return fmt.Errorf("lock %q: want set, clear or status", what)
}

// settingsCommand shows the settings, changing those given as flags.
func settingsCommand(c *cmd, args []string, stdout io.Writer) error {
	autoLock := c.fs.Duration("auto-lock", -1, "lock after this long unused (0 never)")
	var bools = map[string]*string{}
	for _, name := range []string{"lock-when-hidden", "close-to-tray", "start-hidden"} {
		bools[name] = c.fs.String(name, "", "true or false")
	}
	app, err := c.setup(args, 0, 0)
	if err != nil {
		return err
	}
	s := app.Settings()
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
			return fmt.Errorf("--%s: want true or false, got %q", name, *v)
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
	lock := app.LockKind()
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
			return fmt.Errorf("the server recorded %q, not %q", got, want)
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
func listen(ctx context.Context, app *core.Core, stdin io.Reader, stdout io.Writer, sameDevice bool) error {
	var mu sync.Mutex
	queue := make(chan core.Prompt, 64)
	seen := map[string]bool{}
	resolved := map[string]string{}
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(stdout, format, args...)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			lines <- strings.TrimSpace(sc.Text())
		}
		close(lines)
	}()
	go func() {
		_ = app.Listen(ctx, core.Events{
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
			State: func(a core.Account, s push.ConnState, err error) {
				if err != nil {
					say("%s: %s (%v)\n", a.Label(), s, err)
				} else {
					say("%s: %s\n", a.Label(), s)
				}
			},
			Drift: func(a core.Account, d time.Duration) {
				if d.Abs() > 30*time.Second {
					say("Warning: this device's clock is %s off %s's; codes may fail\n", d.Round(time.Second), a.Server)
				}
			},
			Error: func(a core.Account, err error) { say("%s: %v\n", a.Label(), err) },
		})
	}()
	stdinOpen := true
	sdQueue := make(chan sameDeviceItem)
	if sameDevice {
		addr, err := serveSameDevice(ctx, app, sdQueue)
		if err != nil {
			say("%v\n", err)
		} else {
			say("Same-device sign-in: listening on %s\n", addr)
		}
	}
	// readLine reads the next line of stdin while the request of rctx
	// still waits; ok is false when it went away or stdin closed.
	readLine := func(rctx context.Context) (string, bool) {
		select {
		case <-rctx.Done():
			return "", false
		case l, ok := <-lines:
			if !ok {
				stdinOpen = false
				say("\n(no input: showing prompts only)\n")
			}
			return l, ok
		}
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
		line, ok := readLine(it.ctx)
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
			fmt.Fprint(os.Stderr, "This sign-in asks you to verify it's you. App lock: ")
			secret, ok := readLine(it.ctx)
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
				reply(false, "Not verified (%v): declined.\n", err)
				return
			}
			say("%v; try again, or an empty line to decline.\n", err)
		}
		reply(true, "Confirmed: carry on in your browser.\n")
	}
	for {
		var p core.Prompt
		select {
		case <-ctx.Done():
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
			case l, ok := <-lines:
				if !ok {
					stdinOpen = false
					say("\n(no input: showing prompts only)\n")
				}
				line = l
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
			case line == "a" && len(p.Numbers) == 0:
				got, err = approveFromListen(ctx, app, p, 0, lines)
			default:
				n, perr := strconv.Atoi(line)
				if perr != nil {
					say("%q is not a choice.\n", line)
					continue
				}
				got, err = approveFromListen(ctx, app, p, n, lines)
				if errors.Is(err, core.ErrNotAChoice) {
					say("%v\n", err)
					continue
				}
			}
			if err != nil {
				say("Answer failed: %v\n", err)
			} else {
				say("Answered: the server recorded %s\n", got)
			}
			break
		}
	}
}

// approveFromListen approves from the listen loop, where stdin is already
// read line by line: the app lock, when the prompt wants it, is the next
// line (not echoed only when stdin is a terminal).
func approveFromListen(ctx context.Context, app *core.Core, p core.Prompt, n int, lines <-chan string) (string, error) {
	want, err := app.WantsVerification(p)
	if err != nil {
		return "", err
	}
	if !want {
		return app.Approve(ctx, p, n)
	}
	fmt.Fprint(os.Stderr, "This request asks you to verify it's you. App lock: ")
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case secret, ok := <-lines:
		if !ok {
			return "", errors.New("no app lock given")
		}
		return app.ApproveVerified(ctx, p, n, []byte(secret))
	}
}
