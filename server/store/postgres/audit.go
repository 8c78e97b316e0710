package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/seed-3a5b824e/assent/server/store"
)

// auditInsert takes a transaction-level advisory lock before the identity
// column hands out the event's seq, and keeps it until the commit: events
// become visible in seq order, so a reader paging with AfterSeq never skips
// one that committed after a higher seq. Appends from all nodes queue for
// that lock, a commit each; audit events come one per sign-in step, far
// below that rate. The casts are needed because INSERT … SELECT does not
// give parameters the column types.
const auditInsert = `WITH l AS (SELECT pg_advisory_xact_lock($9))
INSERT INTO audit (time, type, user_id, device_id, tx_id, challenge_id, client_ip, detail_json)
SELECT $1::timestamptz, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text, $8::jsonb FROM l
RETURNING seq`

const auditSelect = `SELECT seq, time, type, user_id, device_id, tx_id, challenge_id, client_ip, detail_json FROM audit`

func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) (store.AuditEvent, error) {
	err := s.pool.QueryRow(ctx, auditInsert,
		ts(e.Time), e.Type, e.UserID, e.DeviceID, e.TxID, e.ChallengeID, e.ClientIP, encodeMap(e.Detail), lockAudit,
	).Scan(&e.Seq)
	if err != nil {
		return store.AuditEvent{}, fmt.Errorf("postgres: append audit %s: %w", e.Type, err)
	}
	// Return the event as ListAudit will.
	e.Time = fromTS(ts(e.Time))
	if len(e.Detail) == 0 {
		e.Detail = nil
	}
	return e, nil
}

// AppendAudits takes the audit lock once for the whole batch.
func (s *Store) AppendAudits(ctx context.Context, es []store.AuditEvent) error {
	if len(es) == 0 {
		return nil
	}
	err := s.write(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, e := range es {
			b.Queue(auditInsert, ts(e.Time), e.Type, e.UserID, e.DeviceID, e.TxID, e.ChallengeID, e.ClientIP, encodeMap(e.Detail), lockAudit)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: append %d audit events: %w", len(es), err)
	}
	return nil
}

func scanAudit(sc scanner) (store.AuditEvent, error) {
	var (
		e      store.AuditEvent
		t      pgtype.Timestamptz
		detail []byte
	)
	err := sc.Scan(&e.Seq, &t, &e.Type, &e.UserID, &e.DeviceID, &e.TxID, &e.ChallengeID, &e.ClientIP, &detail)
	if err != nil {
		return store.AuditEvent{}, err
	}
	e.Time = fromTS(t)
	if e.Detail, err = decodeMap("detail", detail); err != nil {
		return store.AuditEvent{}, err
	}
	return e, nil
}

func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	var a args
	where := []string{"seq > " + a.add(f.AfterSeq)}
	if f.UserID != "" {
		where = append(where, "user_id = "+a.add(f.UserID))
	}
	if len(f.Types) > 0 {
		where = append(where, "type = ANY("+a.add(f.Types)+")")
	}
	if !f.Since.IsZero() {
		where = append(where, "time >= "+a.add(ts(f.Since)))
	}
	if f.BeforeSeq > 0 {
		where = append(where, "seq < "+a.add(f.BeforeSeq))
	}
	q := auditSelect + " WHERE " + strings.Join(where, " AND ") + " ORDER BY seq"
	if f.Newest {
		q += " DESC"
	}
	if f.Limit > 0 {
		q += " LIMIT " + a.add(f.Limit)
	}
	es, err := list(ctx, s.pool, scanAudit, q, a...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list audit: %w", err)
	}
	return es, nil
}
