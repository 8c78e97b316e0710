// Command signin is an example app that signs a person in through Assent's
// embedded API: login, password, then a push with number matching (or a
// code from the app).
//
//	go run ./examples/signin --server http://127.0.0.1:8080 --login demo
//
// It signs in to the app example-app, which an administrator registers
// once with: assentd app add example-app --type embedded
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/seed-3a5b824e/assent/internal/cli"
	"github.com/seed-3a5b824e/assent/sdk"
)

func main() {
	server := flag.String("server", defaultServer(os.Getenv), "Assent server URL (env ASSENT_URL, or the port of ASSENT_LISTEN)")
	login := flag.String("login", "", "login (asked when empty)")
	factor := flag.String("factor", sdk.AuthPush, "second factor: push or totp")
	app := flag.String("app", "example-app", "the registered app to sign in to")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *server, *app, *login, *factor); err != nil {
		fmt.Fprintln(os.Stderr, "signin:", err)
		os.Exit(1)
	}
}

// defaultServer is the server 'make run' started: ASSENT_URL, else
// localhost on ASSENT_LISTEN's port, else http://127.0.0.1:8080.
func defaultServer(getenv func(string) string) string {
	if u := getenv("ASSENT_URL"); u != "" {
		return u
	}
	if l := getenv("ASSENT_LISTEN"); l != "" {
		if _, port, err := net.SplitHostPort(l); err == nil && port != "" {
			return "http://localhost:" + port
		}
	}
	return "http://127.0.0.1:8080"
}

func run(ctx context.Context, server, app, login, factor string) error {
	in := bufio.NewReader(os.Stdin)
	ask := func(prompt string) string {
		fmt.Fprint(os.Stderr, prompt)
		s, _ := in.ReadString('\n')
		return strings.TrimSpace(s)
	}
	c := sdk.New(server)
	c.UserAgent = "Assent example sign-in"
	tx, err := c.Interact(ctx, app)
	if err != nil {
		return err
	}
	if login == "" {
		login = ask("Login: ")
	}
	if _, err := tx.Do(ctx, sdk.RemIdentify, sdk.Request{Login: login}); err != nil {
		return err
	}
	var pw []byte
	if cli.IsTerminal(os.Stdin) {
		if pw, err = cli.ReadSecret("Password: ", false); err != nil {
			return err
		}
	} else {
		pw = []byte(ask(""))
	}
	if _, err := tx.Do(ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthPassword, Passcode: string(pw)}); err != nil {
		return err
	}
	if _, err := tx.Do(ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: factor}); err != nil {
		return err
	}
	var res *sdk.Response
	if factor == sdk.AuthTOTP {
		res, err = tx.Do(ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthTOTP, Passcode: ask("Code from the Assent app: ")})
	} else {
		res, err = tx.WaitPush(ctx, time.Second, func(n int) {
			fmt.Printf("A push was sent. On your device, pick %d.\n", n)
		})
	}
	if err != nil {
		return err
	}
	if res.Status != sdk.StatusSuccess {
		return fmt.Errorf("sign-in ended with status %q", res.Status)
	}
	// An app trusts a session token only once the server says it is for
	// this app, and how the person signed in.
	su, err := c.SessionFor(ctx, res.Session.Token, app)
	if err != nil {
		return fmt.Errorf("check the session: %w", err)
	}
	fmt.Printf("Signed in as %s to %s (%s); session valid until %s.\n", su.User, su.App, strings.Join(su.AMR, " "),
		su.ExpiresAt.Local().Format(time.Kitchen))
	return nil
}
