package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/seed-3a5b824e/assent/server/store"
)

var challenges = table{"challenges", []string{
	"id", "tx_id", "device_id", "user_id", "kind", "nonce", "numbers_json", "correct",
	"context", "jws", "status", "reason", "uv", "created_at", "expires_at", "answered_at",
}}

var (
	challengeInsert = challenges.insertSQL()
	challengeGet    = challenges.getSQL()
	challengeUpdate = challenges.updateSQL()
)

func challengeArgs(c store.Challenge) []any {
	return []any{
		c.ID, c.TxID, c.DeviceID, c.UserID, c.Kind, c.Nonce, encodeList(c.Numbers), c.Correct,
		blob(c.Context), c.JWS, c.Status, c.Reason, c.UV, ms(c.CreatedAt), ms(c.ExpiresAt), ms(c.AnsweredAt),
	}
}

func scanChallenge(sc scanner) (store.Challenge, error) {
	var (
		c                          store.Challenge
		numbers                    string
		created, expires, answered int64
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
	c.CreatedAt, c.ExpiresAt, c.AnsweredAt = fromMS(created), fromMS(expires), fromMS(answered)
	return c, nil
}

// AsStored gives c as GetChallenge reads it back once written
// (store.ChallengeForm): times in milliseconds, UTC; empty numbers and
// context nil; nothing shared with c.
func (s *Store) AsStored(c store.Challenge) store.Challenge {
	c.Numbers = slices.Clip(slices.Clone(c.Numbers))
	if len(c.Numbers) == 0 {
		c.Numbers = nil
	}
	c.Context = fromBlob(slices.Clone(c.Context))
	c.CreatedAt, c.ExpiresAt, c.AnsweredAt = fromMS(ms(c.CreatedAt)), fromMS(ms(c.ExpiresAt)), fromMS(ms(c.AnsweredAt))
	return c
}

func getChallenge(ctx context.Context, q querier, id string) (store.Challenge, error) {
	return scanChallenge(q.QueryRowContext(ctx, challengeGet, id))
}

func putChallenge(ctx context.Context, q querier, id string, c store.Challenge) error {
	_, err := q.ExecContext(ctx, challengeUpdate, append(challengeArgs(c)[1:], id)...)
	return err
}

func (s *Store) CreateChallenge(ctx context.Context, c store.Challenge, audit ...*store.Audit) error {
	if len(audit) == 0 {
		if _, err := s.w.ExecContext(ctx, challengeInsert, challengeArgs(c)...); err != nil {
			return fmt.Errorf("sqlite: create challenge %s: %w", c.ID, dbErr(err))
		}
		return nil
	}
	err := s.write(ctx, func(tx querier) error {
		if _, err := tx.ExecContext(ctx, challengeInsert, challengeArgs(c)...); err != nil {
			return err
		}
		return appendAudited(ctx, tx, nil, c, audit)
	})
	if err != nil {
		return fmt.Errorf("sqlite: create challenge %s: %w", c.ID, dbErr(err))
	}
	return nil
}

// CreateChallenges creates every challenge with its events in one
// transaction (store.ChallengeBatcher), their events chained in turn
// onto a tail read once.
func (s *Store) CreateChallenges(ctx context.Context, ws []store.ChallengeWrite) error {
	err := s.write(ctx, func(tx querier) error {
		var ch auditChain
		for _, w := range ws {
			if _, err := tx.ExecContext(ctx, challengeInsert, challengeArgs(w.Challenge)...); err != nil {
				return err
			}
			if err := appendAudited(ctx, tx, &ch, w.Challenge, w.Audit); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: create %d challenges: %w", len(ws), dbErr(err))
	}
	return nil
}

// appendAudited appends the events of each Audit for the challenge c, in
// the transaction that changed it, as its last step, and keeps them as
// stored.
func appendAudited(ctx context.Context, tx querier, ch *auditChain, c store.Challenge, audit []*store.Audit) error {
	if ch == nil {
		ch = &auditChain{}
	}
	return store.AppendAudited(c, audit, func(es []store.AuditEvent) ([]store.AuditEvent, error) {
		return appendAudits(ctx, tx, ch, es)
	})
}

func (s *Store) GetChallenge(ctx context.Context, id string) (store.Challenge, error) {
	c, err := getChallenge(ctx, s.r, id)
	if err != nil {
		return store.Challenge{}, fmt.Errorf("sqlite: get challenge %s: %w", id, dbErr(err))
	}
	return c, nil
}

func (s *Store) ListChallenges(ctx context.Context, f store.ChallengeFilter) ([]store.Challenge, error) {
	q, args := listChallengesQuery(f)
	cs, err := list(ctx, s.r, scanChallenge, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list challenges: %w", err)
	}
	return cs, nil
}

// listChallengesQuery is ListChallenges' statement for f and its
// arguments.
func listChallengesQuery(f store.ChallengeFilter) (string, []any) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if f.DeviceID != "" {
		add("device_id = ?", f.DeviceID)
	}
	if f.UserID != "" {
		add("user_id = ?", f.UserID)
	}
	if f.TxID != "" {
		add("tx_id = ?", f.TxID)
	}
	if f.Status == store.ChallengePending {
		// A literal, so that the partial indexes of pending challenges
		// can serve it.
		where = append(where, "status = 'pending'")
	} else if f.Status != "" {
		add("status = ?", f.Status)
	}
	if !f.Since.IsZero() {
		add("created_at >= ?", ms(f.Since))
	}
	q := challenges.selectSQL()
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	return q + " ORDER BY created_at, rowid", args
}

func (s *Store) UpdateChallenge(ctx context.Context, id string, fn func(*store.Challenge) error, audit ...*store.Audit) (store.Challenge, error) {
	put := putChallenge
	if len(audit) > 0 {
		put = func(ctx context.Context, tx querier, id string, c store.Challenge) error {
			if err := putChallenge(ctx, tx, id, c); err != nil {
				return err
			}
			return appendAudited(ctx, tx, nil, c, audit)
		}
	}
	return update(ctx, s, "challenge", id, getChallenge, put, fn)
}

// ChangeChallenges runs every change in one transaction
// (store.ChallengeChanger), creations first, each update on the challenge
// as the one before it left it, their events chained in turn onto a tail
// read once.
func (s *Store) ChangeChallenges(ctx context.Context, cs []store.ChallengeChange) ([]store.Challenge, []error, error) {
	var (
		out  []store.Challenge
		errs []error
	)
	err := s.write(ctx, func(tx querier) error {
		out, errs = make([]store.Challenge, len(cs)), make([]error, len(cs))
		var ch auditChain
		for _, first := range []bool{true, false} {
			for i, c := range cs {
				if (c.New != nil) != first {
					continue
				}
				for _, a := range c.Audit {
					a.Stored = nil
				}
				if c.New != nil {
					if _, err := tx.ExecContext(ctx, challengeInsert, challengeArgs(*c.New)...); err != nil {
						return err
					}
					out[i] = *c.New
					if err := appendAudited(ctx, tx, &ch, *c.New, c.Audit); err != nil {
						return err
					}
					continue
				}
				v, err := getChallenge(ctx, tx, c.ID)
				if errors.Is(err, sql.ErrNoRows) {
					errs[i] = fmt.Errorf("sqlite: update challenge %s: %w", c.ID, store.ErrNotFound)
					continue
				}
				if err != nil {
					return err
				}
				if err := c.Fn(&v); err != nil {
					errs[i] = err
					continue
				}
				if err := putChallenge(ctx, tx, c.ID, v); err != nil {
					return err
				}
				if err := appendAudited(ctx, tx, &ch, v, c.Audit); err != nil {
					return err
				}
				if out[i], err = getChallenge(ctx, tx, c.ID); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		store.ForgetStored(cs)
		return nil, nil, fmt.Errorf("sqlite: change %d challenges: %w", len(cs), dbErr(err))
	}
	return out, errs, nil
}
