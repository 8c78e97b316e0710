package sqlite

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/seed-3a5b824e/assent/server/store"
)

// auditInsert names the seq: the chain hash covers it, so it is chosen
// (auditTail) before the row is written, in the same transaction.
const auditInsert = `INSERT INTO audit (seq, time, type, user_id, device_id, tx_id, challenge_id, client_ip, detail_json, prev_hash, hash)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// userAuditCondition is the condition of the index by user as migration 8
// writes it: store.UserAuditTypes compared one by one, joined by OR. An IN
// list (store.UserAuditCondition, PostgreSQL's form) would make SQLite
// build a temporary b-tree of the types at every insert into the log.
var userAuditCondition = "type = '" + strings.Join(store.UserAuditTypes, "' OR type = '") + "'"

// userAuditWhere is that condition as one term of a query's WHERE.
var userAuditWhere = "(" + userAuditCondition + ")"

// auditTail reads the last event's hash and the next seq. AUTOINCREMENT
// would take max(seq and sqlite_sequence) + 1: the same, chosen here.
const auditTail = `SELECT coalesce((SELECT hash FROM audit ORDER BY seq DESC LIMIT 1), ''),
	max(coalesce((SELECT max(seq) FROM audit), 0), coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'audit'), 0)) + 1`

const auditChainStart = `SELECT start_seq FROM audit_chain WHERE id = 1`

const auditSelect = `SELECT seq, time, type, user_id, device_id, tx_id, challenge_id, client_ip, detail_json, prev_hash, hash FROM audit`

func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) (store.AuditEvent, error) {
	var out []store.AuditEvent
	err := s.write(ctx, func(tx querier) error {
		var err error
		out, err = appendAudits(ctx, tx, nil, []store.AuditEvent{e})
		return err
	})
	if err != nil {
		return store.AuditEvent{}, fmt.Errorf("sqlite: append audit %s: %w", e.Type, err)
	}
	return out[0], nil
}

func (s *Store) AppendAudits(ctx context.Context, es []store.AuditEvent) error {
	if len(es) == 0 {
		return nil
	}
	var out []store.AuditEvent
	err := s.write(ctx, func(tx querier) error {
		var err error
		out, err = appendAudits(ctx, tx, nil, es)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: append %d audit events: %w", len(es), err)
	}
	copy(es, out)
	return nil
}

// auditChain is the tail of the log as a write transaction sees it: read
// once, on its first append, then carried forward by each event it
// appends, so that a transaction appending many events (a group commit's
// batch of settled pushes) reads the tail once, not once per challenge.
// The transaction holds the database's write lock from its start (BEGIN
// IMMEDIATE), so nothing else can move the tail meanwhile, also not
// another process on the same file. A chain lives for one transaction.
type auditChain struct {
	prev string
	seq  int64
	read bool
}

// appendAudits chains es onto the log inside the write transaction tx and
// returns them as ListAudit will. Every write of audit events goes through
// it. ch is the transaction's chain (nil: a transaction that appends once).
func appendAudits(ctx context.Context, tx querier, ch *auditChain, es []store.AuditEvent) ([]store.AuditEvent, error) {
	if ch == nil {
		ch = &auditChain{}
	}
	if !ch.read {
		if err := tx.QueryRowContext(ctx, auditTail).Scan(&ch.prev, &ch.seq); err != nil {
			return nil, err
		}
		ch.read = true
	}
	prev, seq := ch.prev, ch.seq
	out := make([]store.AuditEvent, len(es))
	for i, e := range es {
		detail := encodeMap(e.Detail)
		// As a later read will see it: milliseconds, UTC, and the detail
		// as JSON gives it back (invalid UTF-8 replaced).
		e.Seq, e.Time = seq, fromMS(ms(e.Time))
		if len(e.Detail) == 0 {
			e.Detail = nil
		} else if !validUTF8(e.Detail) {
			var err error
			if e.Detail, err = decodeMap("detail", detail); err != nil {
				return nil, err
			}
		}
		e.PrevHash = prev
		e.Hash = store.AuditHash(e, prev)
		if _, err := tx.ExecContext(ctx, auditInsert,
			e.Seq, ms(e.Time), e.Type, e.UserID, e.DeviceID, e.TxID, e.ChallengeID, e.ClientIP, detail, e.PrevHash, e.Hash); err != nil {
			return nil, err
		}
		out[i] = e
		prev, seq = e.Hash, seq+1
	}
	// Only once every event is in: a failed insert fails the transaction,
	// and its chain is not used again.
	ch.prev, ch.seq = prev, seq
	return out, nil
}

func validUTF8(m map[string]string) bool {
	for k, v := range m {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return false
		}
	}
	return true
}

func (s *Store) AuditChainStart(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.r.QueryRowContext(ctx, auditChainStart).Scan(&seq); err != nil {
		return 0, fmt.Errorf("sqlite: audit chain start: %w", err)
	}
	return seq, nil
}

func scanAudit(sc scanner) (store.AuditEvent, error) {
	var (
		e      store.AuditEvent
		t      int64
		detail string
	)
	err := sc.Scan(&e.Seq, &t, &e.Type, &e.UserID, &e.DeviceID, &e.TxID, &e.ChallengeID, &e.ClientIP, &detail, &e.PrevHash, &e.Hash)
	if err != nil {
		return store.AuditEvent{}, err
	}
	e.Time = fromMS(t)
	if e.Detail, err = decodeMap("detail", detail); err != nil {
		return store.AuditEvent{}, fmt.Errorf("audit event seq %d: %w", e.Seq, err)
	}
	return e, nil
}

func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	q, args := listAuditQuery(f)
	es, err := list(ctx, s.r, scanAudit, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	return es, nil
}

func listAuditQuery(f store.AuditFilter) (string, []any) {
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
	from := auditSelect
	if f.UserID != "" && store.UserAuditIndexed(f.Types) {
		// The index by user holds some types only (migrations 7 and 8):
		// the query names its condition as written, which lets SQLite use
		// it. Without statistics SQLite would rather walk the log by seq,
		// which keeps seq's order but reads every event.
		where = append(where, userAuditWhere)
		from = strings.Replace(auditSelect, " FROM audit", " FROM audit INDEXED BY audit_user_type", 1)
	}
	q := from + " WHERE " + strings.Join(where, " AND ") + " ORDER BY seq"
	if f.Newest {
		q += " DESC"
	}
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	return q, args
}
