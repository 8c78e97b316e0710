package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/seed-3a5b824e/assent/server/store"
)

// An append takes a transaction-level advisory lock, reads the tail of
// the log and the seqs its events get, and inserts them, keeping the lock
// until the commit. Events become visible in seq order, so a reader paging
// with AfterSeq never skips one that committed after a higher seq, and the
// nodes sharing the database make one hash chain (store.AuditHash): the
// tail an append reads is still the tail when it commits. The lock is a
// statement of its own, before the read: at READ COMMITTED each statement
// sees what committed before it began, so the read sees every event
// committed before the lock was granted. Appends from all nodes queue for
// that lock, a commit each; audit events come one per sign-in step, and
// the server writes them in groups.
const auditLock = `SELECT pg_advisory_xact_lock($1)`

// auditTail is the last event's hash and the next n seqs of the identity
// column, which the chain hash covers and so are chosen before the insert.
const auditTail = `SELECT coalesce((SELECT hash FROM audit ORDER BY seq DESC LIMIT 1), ''),
	nextval(pg_get_serial_sequence('audit', 'seq'))
FROM generate_series(1, $1)`

const auditInsert = `INSERT INTO audit (seq, time, type, user_id, device_id, tx_id, challenge_id, client_ip, detail_json, prev_hash, hash)
OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`

const auditSelect = `SELECT seq, time, type, user_id, device_id, tx_id, challenge_id, client_ip, detail_json, prev_hash, hash FROM audit`

func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) (store.AuditEvent, error) {
	var out []store.AuditEvent
	err := s.write(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = appendAudits(ctx, tx, []store.AuditEvent{e})
		return err
	})
	if err != nil {
		return store.AuditEvent{}, fmt.Errorf("postgres: append audit %s: %w", e.Type, err)
	}
	return out[0], nil
}

// AppendAudits takes the audit lock once for the whole batch.
func (s *Store) AppendAudits(ctx context.Context, es []store.AuditEvent) error {
	if len(es) == 0 {
		return nil
	}
	var out []store.AuditEvent
	err := s.write(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = appendAudits(ctx, tx, es)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: append %d audit events: %w", len(es), err)
	}
	copy(es, out)
	return nil
}

// appendAudits chains es onto the log inside tx and returns them as
// ListAudit will. Every write of audit events goes through the lock and
// the read of the tail that it sends, and through chainAudits.
func appendAudits(ctx context.Context, tx pgx.Tx, es []store.AuditEvent) ([]store.AuditEvent, error) {
	b := &pgx.Batch{}
	queueTail(b, len(es))
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	prev, seqs, err := readTail(br, len(es))
	if err != nil {
		return nil, err
	}
	if err := br.Close(); err != nil {
		return nil, err
	}
	b = &pgx.Batch{}
	out, err := chainAudits(es, prev, seqs, b)
	if err != nil {
		return nil, err
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return out, nil
}

// queueTail queues the audit lock and the read of the log's tail with n
// seqs. They go out together (one round trip less while every node waits
// for this one) but run as two statements, and the read's snapshot is
// taken once the lock is granted.
func queueTail(b *pgx.Batch, n int) {
	b.Queue(auditLock, lockAudit)
	b.Queue(auditTail, n)
}

// readTail reads the results of queueTail: the last event's hash and n
// seqs in order.
func readTail(br pgx.BatchResults, n int) (string, []int64, error) {
	if _, err := br.Exec(); err != nil {
		return "", nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return "", nil, err
	}
	var (
		prev string
		seqs []int64
	)
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&prev, &seq); err != nil {
			rows.Close()
			return "", nil, err
		}
		seqs = append(seqs, seq)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", nil, err
	}
	if len(seqs) != n {
		return "", nil, fmt.Errorf("got %d seqs for %d events", len(seqs), n)
	}
	slices.Sort(seqs)
	return prev, seqs, nil
}

// chainAudits gives es the seqs read with the tail, chains them onto prev,
// queues their inserts on b and returns them as ListAudit will.
func chainAudits(es []store.AuditEvent, prev string, seqs []int64, b *pgx.Batch) ([]store.AuditEvent, error) {
	out := make([]store.AuditEvent, len(es))
	for i, e := range es {
		detail := encodeMap(e.Detail)
		// As a later read will see it: milliseconds, UTC, and the detail
		// as JSON gives it back (invalid UTF-8 replaced).
		e.Seq, e.Time = seqs[i], fromTS(ts(e.Time))
		if len(e.Detail) == 0 {
			e.Detail = nil
		} else if !validUTF8(e.Detail) {
			var err error
			if e.Detail, err = decodeMap("detail", []byte(detail)); err != nil {
				return nil, err
			}
		}
		e.PrevHash = prev
		e.Hash = store.AuditHash(e, prev)
		b.Queue(auditInsert, e.Seq, ts(e.Time), e.Type, e.UserID, e.DeviceID, e.TxID, e.ChallengeID, e.ClientIP, detail, e.PrevHash, e.Hash)
		out[i] = e
		prev = e.Hash
	}
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
	if err := s.pool.QueryRow(ctx, `SELECT start_seq FROM audit_chain WHERE id = 1`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("postgres: audit chain start: %w", err)
	}
	return seq, nil
}

func scanAudit(sc scanner) (store.AuditEvent, error) {
	var (
		e      store.AuditEvent
		t      pgtype.Timestamptz
		detail []byte
	)
	err := sc.Scan(&e.Seq, &t, &e.Type, &e.UserID, &e.DeviceID, &e.TxID, &e.ChallengeID, &e.ClientIP, &detail, &e.PrevHash, &e.Hash)
	if err != nil {
		return store.AuditEvent{}, err
	}
	e.Time = fromTS(t)
	if e.Detail, err = decodeMap("detail", detail); err != nil {
		return store.AuditEvent{}, fmt.Errorf("audit event seq %d: %w", e.Seq, err)
	}
	return e, nil
}

func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	q, a := listAuditQuery(f)
	es, err := list(ctx, s.pool, scanAudit, q, a...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list audit: %w", err)
	}
	return es, nil
}

func listAuditQuery(f store.AuditFilter) (string, args) {
	var a args
	where := []string{"seq > " + a.add(f.AfterSeq)}
	if f.UserID != "" {
		where = append(where, "user_id = "+a.add(f.UserID))
	}
	if len(f.Types) > 0 {
		where = append(where, "type = ANY("+a.add(f.Types)+")")
	}
	if f.UserID != "" && store.UserAuditIndexed(f.Types) {
		// The index by user holds some types only (migration 7): the
		// query names its condition as written, so that a generic plan
		// can use it.
		where = append(where, store.UserAuditCondition())
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
	return q, a
}
