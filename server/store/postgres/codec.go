package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/seed-3a5b824e/assent/server/store"
)

// isNoSpace says whether err is the server running short of a resource,
// disk space above all: SQLSTATE class 53 "insufficient resources" (53100
// disk_full, 53200 out_of_memory, 53300 too_many_connections, 53400
// configuration_limit_exceeded), or a message that names a full disk
// ("could not extend file", "No space left on device") whatever its code.
// Each is worth trying again later, unlike the request's own faults.
func isNoSpace(err error) bool {
	if errors.Is(err, store.ErrNoSpace) {
		return true
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	if strings.HasPrefix(pe.Code, "53") {
		return true
	}
	for _, m := range []string{pe.Message, pe.Detail} {
		if strings.Contains(m, "could not extend file") || strings.Contains(m, "No space left on device") {
			return true
		}
	}
	return false
}

// noSpaceErr puts store.ErrNoSpace in front of err when err is a lack of
// space (isNoSpace), once; other errors come back unchanged.
func noSpaceErr(err error) error {
	if err == nil || errors.Is(err, store.ErrNoSpace) || !isNoSpace(err) {
		return err
	}
	return fmt.Errorf("%w: %w", store.ErrNoSpace, err)
}

// ts stores a time that may be unset: NULL for the zero time, otherwise
// the instant at millisecond precision in UTC.
func ts(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: t.Truncate(time.Millisecond).UTC(), Valid: true}
}

// tsSet stores a created_at or expires_at: the zero time is -infinity, so
// that it sorts first and is "expired long ago" (see the schema).
func tsSet(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}
	}
	return ts(t)
}

// fromTS is the inverse of ts and tsSet, in UTC (pgx scans into the local
// zone).
func fromTS(v pgtype.Timestamptz) time.Time {
	if !v.Valid || v.InfinityModifier != pgtype.Finite {
		return time.Time{}
	}
	return v.Time.UTC()
}

// blob keeps nil out of NOT NULL bytea columns; pgx sends nil as NULL.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// fromBlob reads an empty bytea back as nil, the way Go code spells "none".
func fromBlob(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// encodeJSON stores a slice or map as JSON text for a jsonb column, nil and
// empty alike. Marshalling []string, []int and map[string]string cannot
// fail.
func encodeJSON[T any](v T, n int, empty string) string {
	if n == 0 {
		return empty
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func encodeList[T any](v []T) string { return encodeJSON(v, len(v), "[]") }

func encodeMap(v map[string]string) string { return encodeJSON(v, len(v), "{}") }

func decodeList[T any](col string, b []byte) ([]T, error) {
	var v []T
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("decode %s: %w", col, err)
	}
	if len(v) == 0 {
		return nil, nil
	}
	return v, nil
}

func decodeMap(col string, b []byte) (map[string]string, error) {
	var v map[string]string
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("decode %s: %w", col, err)
	}
	if len(v) == 0 {
		return nil, nil
	}
	return v, nil
}

// table generates a table's statements from its column list, the key
// first, so that the SQL and the Go argument order are written down once.
type table struct {
	name string
	cols []string
}

func (t table) columns() string { return strings.Join(t.cols, ", ") }

func (t table) selectSQL() string {
	return "SELECT " + t.columns() + " FROM " + t.name
}

func (t table) getSQL() string {
	return t.selectSQL() + " WHERE " + t.cols[0] + " = $1"
}

// lockSQL reads a row for an update. FOR NO KEY UPDATE, not FOR UPDATE:
// it serialises updaters of the row just the same, but does not block
// foreign-key checks of rows that refer to it (a challenge being created
// for a user whose row is being updated), since the key never changes.
func (t table) lockSQL() string {
	return t.getSQL() + " FOR NO KEY UPDATE"
}

func (t table) insertSQL() string {
	return "INSERT INTO " + t.name + " (" + t.columns() + ") VALUES (" + placeholders(1, len(t.cols)) + ")"
}

// updateSQL takes the same arguments as insertSQL, the key first, and
// returns the row as stored.
func (t table) updateSQL() string {
	return "UPDATE " + t.name + " SET (" + strings.Join(t.cols[1:], ", ") + ") = (" + placeholders(2, len(t.cols)-1) +
		") WHERE " + t.cols[0] + " = $1 RETURNING " + t.columns()
}

// placeholders is "$from, ..." n of them.
func placeholders(from, n int) string {
	ps := make([]string, n)
	for i := range ps {
		ps[i] = "$" + strconv.Itoa(from+i)
	}
	return strings.Join(ps, ", ")
}

// args collects the arguments of a query built piece by piece and names
// their placeholders.
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// list runs a query and scans every row.
func list[T any](ctx context.Context, q querier, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
