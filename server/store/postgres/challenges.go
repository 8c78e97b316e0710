package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

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
