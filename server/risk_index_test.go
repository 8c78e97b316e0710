package server

import (
	"testing"

	"github.com/seed-3a5b824e/assent/server/store"
)

// Every type the server reads of one user's log is one the store indexes by
// user: a type missing from store.UserAuditTypes would make a sign-in's
// risk walk the whole audit log.
func TestTheEventsReadByUserAreIndexedByUser(t *testing.T) {
	for name, types := range map[string][]string{
		"historyEvents": historyEvents, "failureEvents": failureEvents, "reportEvents": reportEvents, "signedOutEvents": signedOutEvents,
	} {
		if !store.UserAuditIndexed(types) {
			t.Errorf("%s %q: not all in store.UserAuditTypes %q (add them with a migration that rebuilds audit_user_type)", name, types, store.UserAuditTypes)
		}
	}
}
