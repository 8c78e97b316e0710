package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/seed-3a5b824e/assent/server/store"
)

// TestDBErrMapsOutOfSpace: the errors PostgreSQL gives when its disk is
// full (53100 disk_full, with the message it writes) or another resource
// runs out (class 53) are store.ErrNoSpace, with the server's error kept in
// the chain; the request's own faults are not. A PostgreSQL disk cannot be
// filled from here (the server is shared and not ours to fill), so the
// disk-full values are the ones the server sends, built by hand.
func TestDBErrMapsOutOfSpace(t *testing.T) {
	for _, pe := range []*pgconn.PgError{
		{Severity: "ERROR", Code: "53100", Message: `could not extend file "base/16384/16397": No space left on device`, Hint: "Check free disk space."},
		{Severity: "ERROR", Code: "53100", Message: `could not write to file "pg_wal/xlogtemp.123": No space left on device`},
		{Severity: "ERROR", Code: "53200", Message: "out of memory"},
		{Severity: "FATAL", Code: "53300", Message: "sorry, too many clients already"},
		{Severity: "ERROR", Code: "53400", Message: "temporary file size exceeds temp_file_limit (64kB)"},
		// A full disk reported under another code still reads as one.
		{Severity: "ERROR", Code: "58030", Message: `could not extend file "base/16384/16397"`, Detail: "No space left on device"},
	} {
		in := fmtWrap(pe)
		got := dbErr(in)
		var back *pgconn.PgError
		if !errors.Is(got, store.ErrNoSpace) || !errors.As(got, &back) || back != pe {
			t.Errorf("dbErr(%s %s) = %v; want store.ErrNoSpace keeping the PgError", pe.Code, pe.Message, got)
		}
		if !strings.Contains(got.Error(), pe.Message) {
			t.Errorf("dbErr(%s) = %q lost the server's message", pe.Code, got)
		}
		if again := noSpaceErr(dbErr(got)); strings.Count(again.Error(), store.ErrNoSpace.Error()) != 1 {
			t.Errorf("mapped twice: %q", again)
		}
	}
	for _, tc := range []struct {
		pe   *pgconn.PgError
		want error
	}{
		{&pgconn.PgError{Code: "23505", Message: "duplicate key value violates unique constraint"}, store.ErrConflict},
		{&pgconn.PgError{Code: "40001", Message: "could not serialize access"}, nil},
		{&pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"}, nil},
		{&pgconn.PgError{Code: "58030", Message: "could not read block 7 in file"}, nil},
	} {
		got := dbErr(tc.pe)
		if errors.Is(got, store.ErrNoSpace) {
			t.Errorf("dbErr(%s) = %v: not a lack of space", tc.pe.Code, got)
		}
		if tc.want != nil && !errors.Is(got, tc.want) {
			t.Errorf("dbErr(%s) = %v; want %v", tc.pe.Code, got, tc.want)
		}
	}
	if err := noSpaceErr(nil); err != nil {
		t.Errorf("noSpaceErr(nil) = %v", err)
	}
	if errors.Is(dbErr(pgx.ErrNoRows), store.ErrNoSpace) {
		t.Error("ErrNoRows mapped to ErrNoSpace")
	}
}

func fmtWrap(pe *pgconn.PgError) error { return &wrapped{pe} }

// wrapped is an error around a PgError, as pgx and fmt.Errorf hand them on.
type wrapped struct{ err error }

func (w *wrapped) Error() string { return "write: " + w.err.Error() }
func (w *wrapped) Unwrap() error { return w.err }

// TestResourceLimitInAWriteIsErrNoSpace makes the real server refuse a
// write transaction for want of a resource (SQLSTATE 53400: a sort that
// needs more temporary file space than temp_file_limit allows) and checks
// that the store's write path returns store.ErrNoSpace, and that the same
// store writes again once the limit is gone.
func TestResourceLimitInAWriteIsErrNoSpace(t *testing.T) {
	s := open(t, freshSchema(t))
	defer s.Close()
	ctx := context.Background()
	err := s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL temp_file_limit = '64kB'"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "SET LOCAL work_mem = '64kB'"); err != nil {
			return err
		}
		var n int64
		return tx.QueryRow(ctx, "SELECT count(*) FROM (SELECT g FROM generate_series(1, 500000) g ORDER BY g DESC) x").Scan(&n)
	})
	var pe *pgconn.PgError
	if !errors.Is(err, store.ErrNoSpace) || !errors.As(err, &pe) || pe.Code != "53400" {
		t.Fatalf("write over temp_file_limit: %v; want store.ErrNoSpace from SQLSTATE 53400", err)
	}
	if _, err := s.UpdateCounter(ctx, "probe", func(c *store.Counter) error { c.Count++; return nil }); err != nil {
		t.Fatalf("write after the refused one: %v", err)
	}
}
