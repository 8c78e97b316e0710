package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
)

// pool is a *sql.DB that prepares each distinct query once and keeps it:
// with the pure-Go driver, parsing a statement costs as much as running a
// point lookup.
type pool struct {
	db *sql.DB

	mu    sync.Mutex
	stmts map[string]*sql.Stmt

	// txMisses counts statements run unprepared inside a transaction
	// because nobody prepared them at Open (see prepare); tests keep it 0.
	txMisses atomic.Int64

	// On the write pool: gate runs before each statement outside a
	// transaction (Store.walGate), onErr maps its errors
	// (Store.writeErr), and wrote is told when one succeeds.
	gate  func(context.Context)
	onErr func(error) error
	wrote func()
}

func newPool(db *sql.DB) *pool {
	return &pool{db: db, stmts: make(map[string]*sql.Stmt)}
}

func (p *pool) cached(query string) *sql.Stmt {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stmts[query]
}

// stmt returns the prepared query, preparing it on first use. The lock is
// not held while preparing: on the write pool that waits for the one
// connection, which a transaction looking up its own statements may hold.
func (p *pool) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st := p.cached(query); st != nil {
		return st, nil
	}
	st, err := p.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if had, ok := p.stmts[query]; ok {
		st.Close()
		return had, nil
	}
	p.stmts[query] = st
	return st, nil
}

// prepare prepares queries up front. A transaction on the write pool cannot
// prepare for the pool (that needs the connection it holds), so every query
// run inside one is prepared here at Open.
func (p *pool) prepare(ctx context.Context, queries ...string) error {
	for _, q := range queries {
		if _, err := p.stmt(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

func (p *pool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if p.gate != nil {
		p.gate(ctx)
	}
	st, err := p.stmt(ctx, query)
	if err == nil {
		var res sql.Result
		if res, err = st.ExecContext(ctx, args...); err == nil {
			if p.wrote != nil {
				p.wrote()
			}
			return res, nil
		}
	}
	if p.onErr != nil {
		err = p.onErr(err)
	}
	return nil, err
}

func (p *pool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := p.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (p *pool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := p.stmt(ctx, query)
	if err != nil {
		// *sql.Row cannot be made with an error; the unprepared query
		// reports it (or succeeds).
		return p.db.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

func (p *pool) close() error {
	p.mu.Lock()
	var errs []error
	for q, st := range p.stmts {
		errs = append(errs, st.Close())
		delete(p.stmts, q)
	}
	p.mu.Unlock()
	return errors.Join(append(errs, p.db.Close())...)
}

// txq runs queries in a transaction, with the pool's prepared statements.
type txq struct {
	tx *sql.Tx
	p  *pool
}

func (q txq) stmt(ctx context.Context, query string) *sql.Stmt {
	st := q.p.cached(query)
	if st == nil {
		q.p.txMisses.Add(1)
		return nil
	}
	return q.tx.StmtContext(ctx, st)
}

func (q txq) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := q.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return q.tx.ExecContext(ctx, query, args...)
}

func (q txq) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := q.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return q.tx.QueryContext(ctx, query, args...)
}

func (q txq) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := q.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return q.tx.QueryRowContext(ctx, query, args...)
}
