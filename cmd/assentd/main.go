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
	"strings"
	"syscall"

	"github.com/seed-3a5b824e/assent/enroll"
	"github.com/seed-3a5b824e/assent/internal/cli"
	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/policy"
)

const usage = `assentd — the Assent server

Usage:
  assentd serve [flags]                          run the server
  assentd user add LOGIN [--email E] [--group G]  add a user (password on standard input)
  assentd enroll LOGIN [--qr FILE.png]            make a single-use enrollment link (last line of output)
  assentd admin-token [--name N]                  make an API token for /v1/admin/… (printed once)
  assentd policy check FILE                       check a policy file; every problem with its line
  assentd policy default                          print the default policy (a starting point)

Every subcommand takes the server flags (assentd serve -h lists them); each
is also an environment variable (ASSENT_LISTEN, ASSENT_DATA, …) and a key of
the YAML file given with --config.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "assentd:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return errors.New("no subcommand")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:])
	case "user":
		if len(args) < 2 || args[1] != "add" {
			return errors.New("usage: assentd user add LOGIN [--email E] [--group G]")
		}
		return userAdd(ctx, args[2:])
	case "enroll":
		return enrollLink(ctx, args[1:])
	case "policy":
		return policyCmd(args[1:])
	case "admin-token":
		return adminToken(ctx, args[1:])
	case "help", "-h", "--help":
		fmt.Print(usage)
		return nil
	}
	return fmt.Errorf("unknown subcommand %q\n\n%s", args[0], usage)
}

func logger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("assentd serve", flag.ContinueOnError)
	cfg, rest, err := server.LoadConfig(fs, args, os.Getenv)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("serve takes no arguments, got %q", rest)
	}
	return server.Serve(ctx, cfg, logger(cfg.LogLevel, os.Stderr), nil)
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
	cfg, rest, err := server.LoadConfig(fs, args, os.Getenv)
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
	qrFile := fs.String("qr", "", "also write the QR code to this PNG file")
	cfg, rest, err := server.LoadConfig(fs, args, os.Getenv)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return errors.New("usage: assentd enroll LOGIN [--qr FILE.png]")
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

func policyCmd(args []string) error {
	switch {
	case len(args) == 2 && args[0] == "check":
		p, err := policy.Load(args[1])
		if err != nil {
			return err
		}
		fmt.Printf("%s: fine: %d sign-on rules, recovery by %s\n", args[1], len(p.SignOn), strings.Join(p.Recovery.Authenticators, " or "))
		return nil
	case len(args) == 1 && args[0] == "default":
		fmt.Print(policy.DefaultYAML)
		return nil
	}
	return errors.New("usage: assentd policy check FILE | assentd policy default")
}

func adminToken(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("assentd admin-token", flag.ContinueOnError)
	name := fs.String("name", "api", "what the token is for (kept in the audit log)")
	cfg, rest, err := server.LoadConfig(fs, args, os.Getenv)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return errors.New("usage: assentd admin-token [--name N]")
	}
	s, err := server.Open(ctx, cfg, cfg.Listen, logger("error", os.Stderr))
	if err != nil {
		return err
	}
	defer s.Shutdown()
	tok, err := s.NewAdminToken(ctx, *name)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "Keep this token secret; it is shown once. Use it as: Authorization: Bearer <token>")
	fmt.Println(tok)
	return nil
}
