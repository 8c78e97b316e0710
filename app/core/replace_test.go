package core

import (
	"context"
	"errors"
	"testing"
)

// An enrollment link's user is the link's say-so: the server enrolls
// whoever its token belongs to. A link made for mallory that claims to be
// for alice must not make the app revoke alice's enrollment when the
// person accepts "Replace".
func TestEnrollReplacingKeepsAnEnrollmentOfAnotherUserThanTheServerEnrolled(t *testing.T) {
	ts := startServer(t)
	c, _ := newHome(t, withClock(ts.clock))
	alice, err := c.Enroll(context.Background(), ts.link(t, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	forged := ts.link(t, "mallory")
	forged.User = "alice" // the link lies about whose it is
	dups := c.Duplicates(forged)
	if len(dups) != 1 || dups[0].ID != alice.ID {
		t.Fatalf("duplicates of the forged link: %v", labelsOf(dups))
	}
	a, err := c.EnrollReplacing(context.Background(), forged, dups)
	var rerr *ReplaceError
	if !errors.As(err, &rerr) {
		t.Fatalf("EnrollReplacing = %v, want a *ReplaceError saying alice's enrollment was kept", err)
	}
	if a.Name != "mallory" {
		t.Fatalf("new enrollment is for %q, want mallory (the token's user)", a.Name)
	}
	if len(rerr.Kept) != 1 || rerr.Kept[0].ID != alice.ID {
		t.Fatalf("kept %v, want alice's enrollment", labelsOf(rerr.Kept))
	}
	dev, err := ts.srv.Store().GetDevice(context.Background(), alice.EnrollmentID)
	if err != nil {
		t.Fatal(err)
	}
	if !dev.RevokedAt.IsZero() {
		t.Fatal("alice's enrollment was revoked on the server by a link for mallory")
	}
	found := false
	for _, x := range c.Accounts() {
		found = found || x.ID == alice.ID
	}
	if !found {
		t.Fatal("alice's account was removed from the app")
	}
}
