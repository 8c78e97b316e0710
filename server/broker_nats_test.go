package server

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/seed-3a5b824e/assent/internal/natstest"
	"github.com/seed-3a5b824e/assent/push"
)

// A node passes over, undecoded, the messages its interest refuses (a
// device whose socket another node holds); what it wants, and a message
// from a node that names no type outside the JSON, arrive as before, in
// order.
func TestNATSBrokerDropsWhatTheNodeHasNoUseFor(t *testing.T) {
	url := natstest.Embedded(t)
	sender, err := DialNATS(url, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	node, err := DialNATS(url, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	var (
		mu  sync.Mutex
		got []string
		end = make(chan struct{})
	)
	node.SetInterest(func(deviceID, msgType string) bool { return deviceID == "held" || msgType == push.MsgResolved })
	if err := node.Subscribe(func(deviceID string, msg push.Message) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, deviceID+" "+msg.Type+" "+msg.ID)
		if msg.ID == "last" {
			close(end)
		}
	}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	send := func(dev string, m push.Message) {
		t.Helper()
		if err := sender.Publish(ctx, dev, m); err != nil {
			t.Fatal(err)
		}
	}
	send("other", push.Message{Type: push.MsgChallenge, ID: "c1"})
	send("held", push.Message{Type: push.MsgChallenge, ID: "c2"})
	send("other", push.Message{Type: push.MsgResolved, ID: "c3"})
	// An older node's message: no type header, decoded and delivered.
	old, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	data, _ := json.Marshal(push.Message{Type: push.MsgChallenge, ID: "c4"})
	if err := old.Publish("assent.device.other", data); err != nil {
		t.Fatal(err)
	}
	if err := old.Flush(); err != nil {
		t.Fatal(err)
	}
	// The old node's message and the sender's come on two connections:
	// wait for the old one's before the sender's last.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := slices.Contains(got, "other challenge c4")
		mu.Unlock()
		if n || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	send("held", push.Message{Type: push.MsgChallenge, ID: "last"})
	select {
	case <-end:
	case <-time.After(10 * time.Second):
		t.Fatal("the last message never came")
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(got)
	want := []string{"held challenge c2", "held challenge last", "other challenge c4", "other resolved c3"}
	if !slices.Equal(got, want) {
		t.Fatalf("delivered %q, want %q", got, want)
	}
}
