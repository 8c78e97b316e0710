// Command samedevice plays the sign-in page of a same-device sign-in, for
// make screenshot and for trying it by hand: it signs in to an app of an
// Assent server through the embedded API (login, password, then
// "samedevice"), hands the server's challenge to the Assent app on this
// computer over loopback — every port of the range, as the hosted page does,
// with the Origin a page of the server would send — and, once the app
// answers a proof, finishes the sign-in with it.
//
//	echo "$password" | go run ./scripts/samedevice --server http://127.0.0.1:8080 --login demo
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"

	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/sdk"
)

func main() {
	server := flag.String("server", "http://127.0.0.1:8080", "Assent server URL")
	login := flag.String("login", "demo", "login")
	app := flag.String("app", "example-app", "the registered app to sign in to")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *server, *app, *login); err != nil {
		fmt.Fprintln(os.Stderr, "samedevice:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, server, app, login string) error {
	password, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	c := sdk.New(server)
	c.UserAgent = "Assent same-device demo"
	tx, err := c.Interact(ctx, app)
	if err != nil {
		return err
	}
	if _, err := tx.Do(ctx, sdk.RemIdentify, sdk.Request{Login: login}); err != nil {
		return err
	}
	if _, err := tx.Do(ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthPassword, Passcode: strings.TrimSpace(password)}); err != nil {
		return err
	}
	res, err := tx.Do(ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthSameDevice})
	if err != nil {
		return err
	}
	if res.SameDevice == "" {
		return fmt.Errorf("the server offered no same-device challenge (status %s)", res.Status)
	}
	origin, err := push.Origin(server)
	if err != nil {
		return err
	}
	fmt.Println("Asking the Assent app on this computer…")
	proof, err := askApp(ctx, origin, res.SameDevice)
	if err != nil {
		return err
	}
	res, err = tx.Do(ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthSameDevice, Proof: proof})
	if err != nil {
		return err
	}
	fmt.Printf("Sign-in status: %s\n", res.Status)
	return nil
}

// askApp posts the challenge to every port of the range at once and takes
// the first proof.
func askApp(ctx context.Context, origin, challenge string) (string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	body, _ := json.Marshal(push.SameDeviceRequest{Challenge: challenge})
	httpc := &http.Client{Timeout: (push.MaxSameDeviceLifetime + 10) * time.Second}
	var (
		mu     sync.Mutex
		proof  string
		errs   []error
		wg     sync.WaitGroup
		gotOne = make(chan struct{})
	)
	for port := push.SameDeviceFirstPort; port <= push.SameDeviceLastPort; port++ {
		wg.Go(func() {
			u := fmt.Sprintf("http://%s:%d%s", push.SameDeviceHost, port, push.PathSameDevice)
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
			req.Header.Set("Origin", origin)
			req.Header.Set("Content-Type", "application/json")
			resp, err := httpc.Do(req)
			if err != nil {
				return // nobody on that port
			}
			defer resp.Body.Close()
			var a push.SameDeviceAnswer
			_ = json.NewDecoder(resp.Body).Decode(&a)
			mu.Lock()
			defer mu.Unlock()
			if a.Proof != "" && proof == "" {
				proof = a.Proof
				close(gotOne)
				return
			}
			if a.Error != "" {
				errs = append(errs, fmt.Errorf("port %d: %s: %s", port, a.Error, a.Message))
			} else {
				errs = append(errs, fmt.Errorf("port %d: HTTP %d", port, resp.StatusCode))
			}
		})
	}
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	select {
	case <-gotOne:
		return proof, nil
	case <-all:
	}
	mu.Lock()
	defer mu.Unlock()
	if proof != "" {
		return proof, nil
	}
	if len(errs) == 0 {
		return "", errors.New("no Assent app answered on this computer")
	}
	return "", errors.Join(errs...)
}
