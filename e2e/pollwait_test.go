package e2e

import (
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server"
)

// heldPolls makes a server whose held polls never look at the store on
// their own: only the message that a challenge ended can wake them.
func heldPolls(o *server.Options) { o.PollRecheck = time.Hour }

type pollResult struct {
	r   *sdk.Response
	err error
}

// woken is what a held poll answered once what ends it happened: it must
// come before half the 20 s it asked for is up, or nothing woke it (at
// its end the poll would read the outcome from the store anyway).
func woken(t *testing.T, res <-chan pollResult) pollResult {
	t.Helper()
	select {
	case got := <-res:
		return got
	case <-time.After(10 * time.Second):
		t.Fatal("the held poll did not answer within 10 s of what should have ended it")
		return pollResult{}
	}
}

// heldPoll starts a challenge-poll that asks to be held, on a copy of tx
// (the caller keeps using its own).
func heldPoll(e *env, tx *sdk.Transaction, wait int) <-chan pollResult {
	out := make(chan pollResult, 1)
	own := *tx
	go func() {
		r, err := own.Do(e.ctx, sdk.RemChallengePoll, sdk.Request{Wait: wait})
		out <- pollResult{r, err}
	}()
	return out
}

// A poll that asks to wait is answered when the person approves, woken by
// the answer itself (the server's own looks at the store are an hour
// apart here).
func TestHeldPollAnswersWhenThePushIsApproved(t *testing.T) {
	e := newEnv(t, heldPolls)
	_, d, _ := e.enrolled("ann")
	tx, n := e.startPush("ann")
	p := e.onlyPrompt(d)
	res := heldPoll(e, tx, 20)
	waitFor(t, func() bool { return e.srv.WaitingPolls() == 1 })
	if _, err := d.Approve(e.ctx, p, n); err != nil {
		t.Fatal(err)
	}
	got := woken(t, res)
	if got.err != nil || got.r.Status != sdk.StatusSuccess || got.r.Session == nil {
		t.Fatalf("held poll after the approval = %+v, %v; want success with a session", got.r, got.err)
	}
	waitFor(t, func() bool { return e.srv.WaitingPolls() == 0 })
}

// A denial, and a sign-in cancelled while its poll is held, end the wait
// with what the poll would say anyway.
func TestHeldPollEndsOnDenialAndCancel(t *testing.T) {
	e := newEnv(t, heldPolls)
	_, d, _ := e.enrolled("ann")

	tx, _ := e.startPush("ann")
	p := e.onlyPrompt(d)
	res := heldPoll(e, tx, 20)
	waitFor(t, func() bool { return e.srv.WaitingPolls() == 1 })
	if _, err := d.Deny(e.ctx, p, false); err != nil {
		t.Fatal(err)
	}
	wantCode(t, woken(t, res).err, "push_denied")

	tx, _ = e.startPush("ann")
	e.onlyPrompt(d)
	res = heldPoll(e, tx, 20)
	waitFor(t, func() bool { return e.srv.WaitingPolls() == 1 })
	if _, err := tx.Do(e.ctx, sdk.RemCancel, sdk.Request{}); err != nil {
		t.Fatal(err)
	}
	got := woken(t, res)
	if got.err == nil {
		t.Fatalf("held poll of a cancelled sign-in = %+v, want an error", got.r)
	}
	if e.srv.WaitingPolls() != 0 {
		t.Fatalf("%d polls still held", e.srv.WaitingPolls())
	}
}

// Fifty polls of one transaction at once: the server holds two, the rest
// answer at once, still waiting; when the person approves, exactly one of
// the held ones signs in.
func TestFiftyHeldPollsOfOneSignIn(t *testing.T) {
	e := newEnv(t, heldPolls)
	_, d, _ := e.enrolled("ann")
	tx, n := e.startPush("ann")
	p := e.onlyPrompt(d)
	results := make(chan pollResult, 50)
	for range 50 {
		go func() { results <- <-heldPoll(e, tx, 20) }()
	}
	for i := range 48 {
		got := <-results
		if got.err != nil || got.r.Status != sdk.StatusWaiting {
			t.Fatalf("poll %d answered at once = %+v, %v; want waiting", i, got.r, got.err)
		}
	}
	waitFor(t, func() bool { return e.srv.WaitingPolls() == 2 })
	if _, err := d.Approve(e.ctx, p, n); err != nil {
		t.Fatal(err)
	}
	success := 0
	for range 2 {
		if got := <-results; got.err == nil && got.r.Status == sdk.StatusSuccess {
			success++
		}
	}
	if success != 1 {
		t.Fatalf("%d of the two held polls signed in, want exactly 1", success)
	}
}

// A stranger's handle is refused at once, wait or not; a poll with
// nothing to wait for (no push chosen yet) answers at once too.
func TestHeldPollRefusesStrangers(t *testing.T) {
	e := newEnv(t, heldPolls)
	e.enrolled("ann")
	c := sdk.New(e.url)
	tx, err := c.Interact(e.ctx, "intranet")
	if err != nil {
		t.Fatal(err)
	}
	forged := *tx
	forged.Last = &sdk.Response{StateHandle: "not-a-handle"}
	_, err = forged.Do(e.ctx, sdk.RemChallengePoll, sdk.Request{Wait: 20})
	wantCode(t, err, "invalid_state_handle")
	signedIn := e.signIn("ann", "correct horse battery")
	_, err = signedIn.Do(e.ctx, sdk.RemChallengePoll, sdk.Request{Wait: 20})
	wantCode(t, err, "remediation_not_available")
	if e.srv.WaitingPolls() != 0 {
		t.Fatalf("%d polls held", e.srv.WaitingPolls())
	}
}

// A step-up whose session is signed out while its push waits: a poll that
// asks to be held is refused at once (every check runs before the wait),
// and holds nothing.
func TestHeldPollOfARevokedSessionIsRefusedAtOnce(t *testing.T) {
	e := newEnv(t, withPolicy(t, wikiPolicy), heldPolls)
	d, wiki := e.wikiSession("bo")
	tx, _, err := e.identifyAs(e.api(), "payroll", "bo", wiki)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush}); err != nil || r.Status != sdk.StatusWaiting {
		t.Fatalf("push on the step-up = %+v, %v", r, err)
	}
	e.onlyPrompt(d)
	if err := e.api().SignOut(e.ctx, wiki); err != nil {
		t.Fatal(err)
	}
	got := woken(t, heldPoll(e, tx, 20))
	wantCode(t, got.err, "invalid_session")
	if e.srv.WaitingPolls() != 0 {
		t.Fatalf("%d polls held", e.srv.WaitingPolls())
	}
}
