package e2e

import (
	"context"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/sdk"
)

// One assentd on SQLite keeps pushes nobody has answered in memory and
// writes each once, settled. These tests run the built binary and stop it
// the two ways a node stops.

// startedPush begins a password + push sign-in and waits until the device
// holds the prompt; it returns the transaction, the page's number and the
// prompt.
func startedPush(t *testing.T, ctx context.Context, url string, d *core.Core) (*sdk.Transaction, core.Prompt, int) {
	t.Helper()
	tx, err := sdk.New(url).Interact(ctx, "cli-test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Do(ctx, sdk.RemIdentify, sdk.Request{Login: "ann"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Do(ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthPassword, Passcode: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	p, n := pushAgain(t, ctx, tx, d)
	return tx, p, n
}

// pushAgain chooses the push in a transaction that offers it and waits for
// the device's prompt with the page's number.
func pushAgain(t *testing.T, ctx context.Context, tx *sdk.Transaction, d *core.Core) (core.Prompt, int) {
	t.Helper()
	r, err := tx.Do(ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush})
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		ps, err := d.Challenges(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if slices.Contains(p.Numbers, r.Number) {
				return p, r.Number
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the device never saw the push with number %d", r.Number)
	return core.Prompt{}, 0
}

// approveAndFinish approves p with the page's number and polls the
// sign-in to success.
func approveAndFinish(t *testing.T, ctx context.Context, tx *sdk.Transaction, d *core.Core, p core.Prompt, n int) {
	t.Helper()
	if _, err := d.Approve(ctx, p, n); err != nil {
		t.Fatalf("approve: %v", err)
	}
	r, err := tx.Do(ctx, sdk.RemChallengePoll, sdk.Request{})
	if err != nil {
		t.Fatalf("poll after the approval: %v", err)
	}
	if r.Status != sdk.StatusSuccess {
		t.Fatalf("sign-in ended %+v", r)
	}
}

// A kill -9 loses a push nobody answered: the sign-in polling it is told
// so in words (410 push_lost) and may send another, which works; the
// device's list no longer offers the lost one, and an answer to it is
// refused. A push pending at a clean stop (SIGTERM) is stored on the way
// out and answered after the restart.
func TestPushLostInACrashSaysSoAndOneAtACleanStopSurvives(t *testing.T) {
	c := newCLIEnv(t, "ASSENT_SOURCE_RATE=-1", "ASSENT_ANSWER_FLOOR=0")
	srv := serveCLI(t, c)
	c.must("", "assentd", c.server("app", "add", "cli-test", "--type", "embedded")...)
	c.must("correct horse battery\n", "assentd", c.server("user", "add", "ann")...)
	d := phone(t, c, c.data, "ann")
	ctx := t.Context()

	// A second assentd on the same data folder is refused: the first holds
	// its pending pushes in memory.
	if _, err := c.run("", "assentd", "serve", "--data", c.data, "--listen", "127.0.0.1:0"); err == nil ||
		!strings.Contains(err.Error(), "another assentd serve is using the data folder") {
		t.Fatalf("a second serve on the folder: %v", err)
	}

	tx, lost, lostNumber := startedPush(t, ctx, c.url, d)
	srv.Process.Signal(syscall.SIGKILL)
	srv.Wait()
	srv = serveCLI(t, c)

	_, err := tx.Do(ctx, sdk.RemChallengePoll, sdk.Request{})
	if errCode(err) != "push_lost" || !strings.Contains(err.Error(), "send another or use a code") {
		t.Fatalf("poll of a push lost in a crash = %v, want push_lost", err)
	}
	if ps, err := d.Challenges(ctx); err != nil || len(ps) != 0 {
		t.Fatalf("after the crash the device lists %d prompts (%v), want none", len(ps), err)
	}
	if _, err := d.Approve(ctx, lost, lostNumber); err == nil {
		t.Fatal("an answer to the lost push was accepted")
	}
	p, n := pushAgain(t, ctx, tx, d)
	approveAndFinish(t, ctx, tx, d, p, n)

	// A clean stop keeps the push in flight.
	tx, kept, keptNumber := startedPush(t, ctx, c.url, d)
	srv.Process.Signal(syscall.SIGTERM)
	if err := srv.Wait(); err != nil {
		t.Fatalf("assentd stopped with %v", err)
	}
	serveCLI(t, c)
	approveAndFinish(t, ctx, tx, d, kept, keptNumber)
}
