package main

import (
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
)

const auditCheckUsage = "usage: assent-load audit-check [--record FILE] --data DIR | --database URL"

// auditCheckCmd checks a server's database after a crash (see auditCheck).
// The server should be stopped, or at least past its start.
func auditCheckCmd(ctx context.Context, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("assent-load audit-check", flag.ContinueOnError)
	record := fs.String("record", "", "the file assent-load --mode restart --record wrote: the pushes and approvals the server acknowledged, which must all be in the database")
	cfg, rest, err := server.LoadConfig(fs, args, os.Getenv)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("audit-check takes no arguments, got %q\n%s", rest, auditCheckUsage)
	}
	// Checking must not make a database where there is none.
	if !cfg.Postgres() {
		if _, err := os.Stat(cfg.DBPath()); err != nil {
			return fmt.Errorf("there is no database at %s (give the server's --data folder or --database URL): %w", cfg.DBPath(), err)
		}
	}
	var rec *ackRecord
	if *record != "" {
		if rec, err = readRecord(*record); err != nil {
			return err
		}
	}
	st, err := server.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := auditCheck(ctx, st, rec, !cfg.Postgres())
	if err != nil {
		return err
	}
	fmt.Fprintln(w, res)
	if n := res.Problems(); n > 0 {
		return fmt.Errorf("%d problems in the database (first: %s)", n, strings.Join(res.Examples, "; "))
	}
	return nil
}

// ackRecord is what a server acknowledged during a run: the challenge ids
// it answered pushes with, and those whose approval it confirmed.
type ackRecord struct {
	Sent, Approved []string
}

func readRecord(path string) (*ackRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = 2
	rows, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s is not a record of assent-load --record: %w", path, err)
	}
	rec := &ackRecord{}
	for _, row := range rows {
		switch row[0] {
		case "sent":
			rec.Sent = append(rec.Sent, row[1])
		case "approved":
			rec.Approved = append(rec.Approved, row[1])
		default:
			return nil, fmt.Errorf("%s: unknown line %q", path, strings.Join(row, ","))
		}
	}
	return rec, nil
}

// AuditCheck is what auditCheck found.
type AuditCheck struct {
	Challenges int // in the database
	Settled    int // of them, no longer pending
	Events     int // push audit events
	// Challenges without their push.sent event, settled ones without the
	// push.<status> event of their status, and settling events of
	// challenges whose status is another (or that do not exist).
	MissingSent, MissingSettled, EventWithoutChange int
	// The record's acknowledged pushes not in the database, and its
	// confirmed approvals whose challenge is not approved.
	RecordSent, RecordApproved int
	LostSent, LostApproved     int
	// PendingLost: acknowledged pushes missing from a single node's
	// SQLite database, which keeps pushes nobody answered in memory: a
	// crash takes those, by design, and they are not counted as lost.
	PendingLost int
	Examples    []string
}

// Problems counts everything that should not be.
func (c AuditCheck) Problems() int {
	return c.MissingSent + c.MissingSettled + c.EventWithoutChange + c.LostSent + c.LostApproved
}

func (c AuditCheck) String() string {
	s := fmt.Sprintf("%d challenges (%d settled), %d push audit events: %d without push.sent, %d settled without their push.<status> event, %d settling events with no such change",
		c.Challenges, c.Settled, c.Events, c.MissingSent, c.MissingSettled, c.EventWithoutChange)
	if c.RecordSent+c.RecordApproved > 0 {
		s += fmt.Sprintf("; of the record's %d acknowledged pushes %d are missing, of its %d confirmed approvals %d are not approved",
			c.RecordSent, c.LostSent, c.RecordApproved, c.LostApproved)
		if c.PendingLost > 0 {
			s += fmt.Sprintf("; %d acknowledged pushes nobody answered before the crash are gone (a single node keeps them in memory)", c.PendingLost)
		}
	}
	return s
}

func (c *AuditCheck) example(format string, args ...any) {
	if len(c.Examples) < 5 {
		c.Examples = append(c.Examples, fmt.Sprintf(format, args...))
	}
}

// settledStatuses are the challenge statuses after pending: each has its
// push.<status> audit event.
var settledStatuses = []string{store.ChallengeApproved, store.ChallengeDenied, store.ChallengeReported, store.ChallengeFailed,
	store.ChallengeExpired, store.ChallengeCancelled}

// auditCheck checks that every challenge in st has its push.sent audit
// event, every settled one the push.<status> event of its status, and
// that no settling event names a change the database does not hold; and,
// given a record, that everything the server acknowledged is there —
// except, with pendingInMemory (one node on SQLite), pushes never
// answered, which a crash may take (PendingLost); an approval the server
// confirmed must be there either way.
func auditCheck(ctx context.Context, st store.Store, rec *ackRecord, pendingInMemory bool) (AuditCheck, error) {
	var c AuditCheck
	chs, err := st.ListChallenges(ctx, store.ChallengeFilter{})
	if err != nil {
		return c, fmt.Errorf("list challenges: %w", err)
	}
	types := []string{"push.sent"}
	for _, s := range settledStatuses {
		types = append(types, "push."+s)
	}
	events := map[string]map[string]bool{} // challenge → types
	var after int64
	for {
		es, err := st.ListAudit(ctx, store.AuditFilter{Types: types, AfterSeq: after, Limit: 1000})
		if err != nil {
			return c, fmt.Errorf("read the audit log: %w", err)
		}
		for _, e := range es {
			after = e.Seq
			if e.ChallengeID == "" {
				continue
			}
			c.Events++
			if events[e.ChallengeID] == nil {
				events[e.ChallengeID] = map[string]bool{}
			}
			events[e.ChallengeID][e.Type] = true
		}
		if len(es) < 1000 {
			break
		}
	}
	status := map[string]string{}
	for _, ch := range chs {
		c.Challenges++
		status[ch.ID] = ch.Status
		ev := events[ch.ID]
		if !ev["push.sent"] {
			c.MissingSent++
			c.example("challenge %s has no push.sent event", ch.ID)
		}
		if ch.Status != store.ChallengePending {
			c.Settled++
			if !ev["push."+ch.Status] {
				c.MissingSettled++
				c.example("challenge %s is %s but has no push.%s event", ch.ID, ch.Status, ch.Status)
			}
		}
	}
	for id, ev := range events {
		for t := range ev {
			s := strings.TrimPrefix(t, "push.")
			if s == "sent" {
				if _, ok := status[id]; !ok {
					c.EventWithoutChange++
					c.example("push.sent of challenge %s, which is not in the database", id)
				}
				continue
			}
			if status[id] != s && slices.Contains(settledStatuses, s) {
				c.EventWithoutChange++
				c.example("push.%s of challenge %s, which is %q in the database", s, id, status[id])
			}
		}
	}
	if rec != nil {
		c.RecordSent, c.RecordApproved = len(rec.Sent), len(rec.Approved)
		approved := map[string]bool{}
		for _, id := range rec.Approved {
			approved[id] = true
		}
		for _, id := range rec.Sent {
			if _, ok := status[id]; !ok {
				if pendingInMemory && !approved[id] {
					c.PendingLost++
					continue
				}
				c.LostSent++
				c.example("acknowledged push %s is not in the database", id)
			}
		}
		for _, id := range rec.Approved {
			if status[id] != store.ChallengeApproved {
				c.LostApproved++
				c.example("confirmed approval of %s, which is %q in the database", id, status[id])
			}
		}
	}
	return c, nil
}
