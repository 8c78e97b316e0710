package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/seed-3a5b824e/assent/server/store"
)

var challenges = table{"challenges", []string{
	"id", "tx_id", "device_id", "user_id", "kind", "nonce", "numbers_json", "correct",
	"context", "jws", "status", "reason", "uv", "created_at", "expires_at", "answered_at",
}}

var (
	challengeInsert = challenges.insertSQL()
	challengeGet    = challenges.getSQL()
	challengeLock   = challenges.lockSQL()
	challengeUpdate = challenges.updateSQL()
	// challengeLockAll locks a batch's challenges in id order, so that
	// the batches of several nodes never wait on each other in a circle.
	challengeLockAll = challenges.selectSQL() + " WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE"
)

func challengeArgs(c store.Challenge) []any {
	return []any{
		c.ID, c.TxID, c.DeviceID, c.UserID, c.Kind, c.Nonce, encodeList(c.Numbers), c.Correct,
		blob(c.Context), c.JWS, c.Status, c.Reason, c.UV, tsSet(c.CreatedAt), tsSet(c.ExpiresAt), ts(c.AnsweredAt),
	}
}

func scanChallenge(sc scanner) (store.Challenge, error) {
	var (
		c                          store.Challenge
		numbers                    []byte
		created, expires, answered pgtype.Timestamptz
	)
	err := sc.Scan(&c.ID, &c.TxID, &c.DeviceID, &c.UserID, &c.Kind, &c.Nonce, &numbers, &c.Correct,
		&c.Context, &c.JWS, &c.Status, &c.Reason, &c.UV, &created, &expires, &answered)
	if err != nil {
		return store.Challenge{}, err
	}
	if c.Numbers, err = decodeList[int]("numbers", numbers); err != nil {
		return store.Challenge{}, err
	}
	c.Context = fromBlob(c.Context)
	c.CreatedAt, c.ExpiresAt, c.AnsweredAt = fromTS(created), fromTS(expires), fromTS(answered)
	return c, nil
}

func (s *Store) CreateChallenge(ctx context.Context, c store.Challenge, audit ...*store.Audit) error {
	if len(audit) == 0 {
		if _, err := s.pool.Exec(ctx, challengeInsert, challengeArgs(c)...); err != nil {
			return fmt.Errorf("postgres: create challenge %s: %w", c.ID, dbErr(err))
		}
		return nil
	}
	err := s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, challengeInsert, challengeArgs(c)...); err != nil {
			return err
		}
		return appendAudited(ctx, tx, c, audit)
	})
	if err != nil {
		return fmt.Errorf("postgres: create challenge %s: %w", c.ID, dbErr(err))
	}
	return nil
}

// ChangeChallenges (store.ChallengeChanger) runs in three round trips
// however many challenges it changes, BEGIN and COMMIT riding with the
// statements: the new challenges' inserts with the lock of every one to
// update (in one statement); then, once each fn ran, the updates with the
// audit lock and the read of the log's tail; then the events' inserts with
// COMMIT. A batch that only creates takes two. So the audit lock, which
// every node waits for, is held for two round trips, the commit's one
// included. An id updated twice runs its fns in turn, the second on the
// first's result. Events are made from the challenges as changed, as
// CreateChallenge's are.
func (s *Store) ChangeChallenges(ctx context.Context, cs []store.ChallengeChange) ([]store.Challenge, []error, error) {
	var (
		out  []store.Challenge
		errs []error
		err  error
	)
	for attempt := 1; ; attempt++ {
		out, errs, err = s.changeChallenges(ctx, cs)
		if err == nil || attempt == maxAttempts || !retryable(err) || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		store.ForgetStored(cs)
		return nil, nil, fmt.Errorf("postgres: change %d challenges: %w", len(cs), dbErr(err))
	}
	return out, errs, nil
}

func (s *Store) changeChallenges(ctx context.Context, cs []store.ChallengeChange) (out []store.Challenge, errs []error, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer release(ctx, conn)
	out, errs = make([]store.Challenge, len(cs)), make([]error, len(cs))
	var (
		b   = &pgx.Batch{}
		ids []string
	)
	b.Queue("BEGIN")
	for _, c := range cs {
		if c.New != nil {
			b.Queue(challengeInsert, challengeArgs(*c.New)...)
		} else {
			ids = append(ids, c.ID)
		}
	}
	inserts := b.Len() - 1
	cur := make(map[string]store.Challenge, len(ids))
	if len(ids) > 0 {
		b.Queue(challengeLockAll, ids)
		br := conn.SendBatch(ctx, b)
		for range 1 + inserts {
			if _, err := br.Exec(); err != nil {
				br.Close()
				return nil, nil, err
			}
		}
		rows, err := br.Query()
		if err != nil {
			br.Close()
			return nil, nil, err
		}
		for rows.Next() {
			c, err := scanChallenge(rows)
			if err != nil {
				rows.Close()
				br.Close()
				return nil, nil, err
			}
			cur[c.ID] = c
		}
		rows.Close()
		if err := br.Close(); err != nil {
			return nil, nil, err
		}
		b, inserts = &pgx.Batch{}, -1 // sent
	}
	// Each fn in turn, on the challenge as the one before left it.
	var (
		changed []store.Challenge
		audits  [][]*store.Audit
		updated []int
	)
	for i, c := range cs {
		if c.New != nil {
			out[i] = *c.New
			changed, audits = append(changed, *c.New), append(audits, c.Audit)
			continue
		}
		v, ok := cur[c.ID]
		if !ok {
			errs[i] = fmt.Errorf("postgres: update challenge %s: %w", c.ID, store.ErrNotFound)
			continue
		}
		if err := c.Fn(&v); err != nil {
			errs[i] = err
			continue
		}
		v.ID = c.ID
		cur[c.ID] = v
		a := challengeArgs(v)
		b.Queue(challengeUpdate, a...)
		updated = append(updated, i)
		changed, audits = append(changed, v), append(audits, c.Audit)
	}
	events, ns := store.MakeAudited(changed, audits)
	if len(events) > 0 {
		queueTail(b, len(events))
	} else {
		b.Queue("COMMIT")
	}
	br := conn.SendBatch(ctx, b)
	for range inserts + 1 { // BEGIN and the inserts when not sent before
		if _, err := br.Exec(); err != nil {
			br.Close()
			return nil, nil, err
		}
	}
	for _, i := range updated {
		if out[i], err = scanChallenge(br.QueryRow()); err != nil {
			br.Close()
			return nil, nil, err
		}
	}
	if len(events) == 0 {
		if err := committed(br); err != nil {
			return nil, nil, err
		}
		return out, errs, nil
	}
	prev, seqs, err := readTail(br, len(events))
	if err != nil {
		br.Close()
		return nil, nil, err
	}
	if err := br.Close(); err != nil {
		return nil, nil, err
	}
	b = &pgx.Batch{}
	stored, err := chainAudits(events, prev, seqs, b)
	if err != nil {
		return nil, nil, err
	}
	b.Queue("COMMIT")
	br = conn.SendBatch(ctx, b)
	for range events {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return nil, nil, err
		}
	}
	if err := committed(br); err != nil {
		return nil, nil, err
	}
	store.KeepAudited(audits, ns, stored)
	return out, errs, nil
}

// release gives back a connection that ran a transaction of its own
// statements (BEGIN and COMMIT in a batch): one that failed, or whose ctx
// ended mid-way, is rolled back first (the pool would drop a connection
// still in a transaction).
func release(ctx context.Context, conn *pgxpool.Conn) {
	if conn.Conn().PgConn().TxStatus() != 'I' {
		conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
	}
	conn.Release()
}

// committed reads the result of a batch's last statement, COMMIT, and
// closes the batch: an error unless the transaction committed.
func committed(br pgx.BatchResults) error {
	tag, err := br.Exec()
	if err != nil {
		br.Close()
		return err
	}
	if err := br.Close(); err != nil {
		return err
	}
	if tag.String() != "COMMIT" {
		// Only a transaction that had failed ends this way, and its
		// failure came back first.
		return fmt.Errorf("the transaction ended with %q, not COMMIT", tag)
	}
	return nil
}

// appendAudited appends the events of each Audit for the challenge c, in
// the transaction that changed it, as its last step, and keeps them as
// stored.
func appendAudited(ctx context.Context, tx pgx.Tx, c store.Challenge, audit []*store.Audit) error {
	return store.AppendAudited(c, audit, func(es []store.AuditEvent) ([]store.AuditEvent, error) {
		return appendAudits(ctx, tx, es)
	})
}

func (s *Store) GetChallenge(ctx context.Context, id string) (store.Challenge, error) {
	c, err := scanChallenge(s.pool.QueryRow(ctx, challengeGet, id))
	if err != nil {
		return store.Challenge{}, fmt.Errorf("postgres: get challenge %s: %w", id, dbErr(err))
	}
	return c, nil
}

func (s *Store) ListChallenges(ctx context.Context, f store.ChallengeFilter) ([]store.Challenge, error) {
	q, a := listChallengesQuery(f)
	cs, err := list(ctx, s.pool, scanChallenge, q, a...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list challenges: %w", err)
	}
	return cs, nil
}

// listChallengesQuery is ListChallenges' statement for f and its
// arguments.
func listChallengesQuery(f store.ChallengeFilter) (string, args) {
	var (
		where []string
		a     args
	)
	if f.DeviceID != "" {
		where = append(where, "device_id = "+a.add(f.DeviceID))
	}
	if f.UserID != "" {
		where = append(where, "user_id = "+a.add(f.UserID))
	}
	if f.TxID != "" {
		where = append(where, "tx_id = "+a.add(f.TxID))
	}
	if f.Status == store.ChallengePending {
		// A literal, so that a generic plan can use the partial indexes
		// of pending challenges.
		where = append(where, "status = 'pending'")
	} else if f.Status != "" {
		where = append(where, "status = "+a.add(f.Status))
	}
	if !f.Since.IsZero() {
		where = append(where, "created_at >= "+a.add(ts(f.Since)))
	}
	q := challenges.selectSQL()
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	return q + " ORDER BY created_at, seq", a
}

func (s *Store) UpdateChallenge(ctx context.Context, id string, fn func(*store.Challenge) error, audit ...*store.Audit) (store.Challenge, error) {
	var after func(pgx.Tx, store.Challenge) error
	if len(audit) > 0 {
		after = func(tx pgx.Tx, c store.Challenge) error { return appendAudited(ctx, tx, c, audit) }
	}
	return update(ctx, s, "challenge", id, challengeLock, challengeUpdate, scanChallenge, challengeArgs, fn, after)
}
