package server

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/server/store"
	"github.com/seed-3a5b824e/assent/server/store/sqlite"
)

// downBroker is a broker that cannot reach the other nodes; before it
// says so, onPublish runs (a device answering meanwhile, say).
type downBroker struct {
	onPublish func(deviceID string, msg push.Message)
}

func (b *downBroker) Publish(_ context.Context, deviceID string, msg push.Message) error {
	if b.onPublish != nil {
		b.onPublish(deviceID, msg)
	}
	return ErrBrokerDown
}
func (b *downBroker) Subscribe(func(string, push.Message)) error { return nil }
func (b *downBroker) Ready() error                               { return ErrBrokerDown }
func (b *downBroker) Close() error                               { return nil }

// TestUnreachablePushAnsweredMeanwhileCounts: a challenge the broker could
// not carry is cancelled, unless its device answered it first (it found it
// in its pending list, on another node): then the answer stands, the push
// counts as sent, and no device_unreachable (with its refund of the push
// budget, which the approval refunds too) is reported for it.
func TestUnreachablePushAnsweredMeanwhileCounts(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "assent.db"))
	if err != nil {
		t.Fatal(err)
	}
	b := &downBroker{}
	s, err := New(ctx, Options{URL: "http://127.0.0.1:8080", Store: st, SealKey: crypto.RandomBytes(32), Broker: b,
		PasswordParams: crypto.Argon2Params{Time: 1, Memory: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown() })
	u := testUser(t, s, "carol")
	d := testDevice(t, s, u, "Phone", "android")

	// Nothing answers: the push is unreachable and its challenge cancelled.
	_, err = s.SendPush(ctx, PushRequest{TxID: "tx_1", User: u, Kind: push.KindSignIn})
	if !errors.Is(err, ErrDeviceUnreachable) {
		t.Fatalf("SendPush with the broker down = %v, want ErrDeviceUnreachable", err)
	}
	cs, err := s.st.ListChallenges(ctx, store.ChallengeFilter{DeviceID: d.ID})
	if err != nil || len(cs) != 1 || cs[0].Status != store.ChallengeCancelled {
		t.Fatalf("challenges = %+v, %v; want one cancelled", cs, err)
	}

	// The device approves the challenge before the cancel comes.
	b.onPublish = func(deviceID string, msg push.Message) {
		pending, err := s.st.ListChallenges(ctx, store.ChallengeFilter{DeviceID: deviceID, Status: store.ChallengePending})
		if err != nil || len(pending) != 1 {
			t.Errorf("pending = %v, %v", pending, err)
			return
		}
		if _, err := s.st.UpdateChallenge(ctx, pending[0].ID, func(c *store.Challenge) error {
			c.Status, c.AnsweredAt = store.ChallengeApproved, s.now()
			return nil
		}); err != nil {
			t.Error(err)
		}
	}
	res, err := s.SendPush(ctx, PushRequest{TxID: "tx_2", User: u, Kind: push.KindSignIn})
	if err != nil {
		t.Fatalf("SendPush whose challenge was answered meanwhile = %v, want it sent", err)
	}
	if len(res.ChallengeIDs) != 1 {
		t.Fatalf("challenge IDs = %v, want the answered one", res.ChallengeIDs)
	}
	c, err := s.st.GetChallenge(ctx, res.ChallengeIDs[0])
	if err != nil || c.Status != store.ChallengeApproved {
		t.Fatalf("challenge = %+v, %v; want it approved still", c, err)
	}
}

// TestQuietPushUnreachableGivesTheBudgetBack: a push sent in the background
// (recovery, passwordless) that reaches no device because the broker is
// down gives its push back to the user's budget, as a push sent in the
// foreground does: otherwise an outage, or a stranger asking for recovery
// pushes during one, uses up the budget of pushes nobody saw.
func TestQuietPushUnreachableGivesTheBudgetBack(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "assent.db"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(ctx, Options{URL: "http://127.0.0.1:8080", Store: st, SealKey: crypto.RandomBytes(32), Broker: &downBroker{},
		PasswordParams: crypto.Argon2Params{Time: 1, Memory: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown() })
	u := testUser(t, s, "erin")
	testDevice(t, s, u, "Phone", "android")
	for range 3 {
		s.quietPush(ctx, PushRequest{TxID: "tx_q", User: u, Kind: push.KindSignIn, Devices: s.activeDevices(ctx, u.ID)}, "192.0.2.7", "erin", "tx_q")
	}
	c, err := s.st.GetCounter(ctx, pushKey(u.ID))
	if err != nil {
		t.Fatal(err)
	}
	if c.Count != 0 {
		t.Fatalf("the push budget shows %d pushes used after three that reached nobody, want 0", c.Count)
	}
}
