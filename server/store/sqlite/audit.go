package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/seed-3a5b824e/assent/server/store"
)

const auditInsert = `INSERT INTO audit (time, type, user_id, device_id, tx_id, challenge_id, client_ip, detail_json)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

const auditSelect = `SELECT seq, time, type, user_id, device_id, tx_id, challenge_id, client_ip, detail_json FROM audit`

func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) (store.AuditEvent, error) {
	res, err := s.w.ExecContext(ctx, auditInsert,
		ms(e.Time), e.Type, e.UserID, e.DeviceID, e.TxID, e.ChallengeID, e.ClientIP, encodeMap(e.Detail))
	if err == nil {
		e.Seq, err = res.LastInsertId()
	}
	if err != nil {
		return store.AuditEvent{}, fmt.Errorf("sqlite: append audit %s: %w", e.Type, err)
	}
	// Return the event as ListAudit will.
	e.Time = fromMS(ms(e.Time))
	if len(e.Detail) == 0 {
		e.Detail = nil
	}
	return e, nil
}

func (s *Store) AppendAudits(ctx context.Context, es []store.AuditEvent) error {
	err := s.write(ctx, func(tx querier) error {
		for _, e := range es {
			if _, err := tx.ExecContext(ctx, auditInsert,
				ms(e.Time), e.Type, e.UserID, e.DeviceID, e.TxID, e.ChallengeID, e.ClientIP, encodeMap(e.Detail)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: append %d audit events: %w", len(es), err)
	}
	return nil
}

func scanAudit(sc scanner) (store.AuditEvent, error) {
	var (
		e      store.AuditEvent
		t      int64
		detail string
	)
	err := sc.Scan(&e.Seq, &t, &e.Type, &e.UserID, &e.DeviceID, &e.TxID, &e.ChallengeID, &e.ClientIP, &detail)
	if err != nil {
		return store.AuditEvent{}, err
	}
	e.Time = fromMS(t)
	if e.Detail, err = decodeMap("detail", detail); err != nil {
		return store.AuditEvent{}, err
	}
	return e, nil
}

func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	where := []string{"seq > ?"}
	args := []any{f.AfterSeq}
	if f.UserID != "" {
		where = append(where, "user_id = ?")
		args = append(args, f.UserID)
	}
	if len(f.Types) > 0 {
		where = append(where, "type IN (?"+strings.Repeat(", ?", len(f.Types)-1)+")")
		for _, t := range f.Types {
			args = append(args, t)
		}
	}
	if !f.Since.IsZero() {
		where = append(where, "time >= ?")
		args = append(args, ms(f.Since))
	}
	if f.BeforeSeq > 0 {
		where = append(where, "seq < ?")
		args = append(args, f.BeforeSeq)
	}
	q := auditSelect + " WHERE " + strings.Join(where, " AND ") + " ORDER BY seq"
	if f.Newest {
		q += " DESC"
	}
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	es, err := list(ctx, s.r, scanAudit, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	return es, nil
}
