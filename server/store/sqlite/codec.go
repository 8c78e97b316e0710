package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/seed-3a5b824e/assent/server/store"
)

// isNoSpace says whether err is a failure for want of space: SQLite's
// SQLITE_FULL (which its Unix VFS returns for ENOSPC), or the operating
// system's ENOSPC or EDQUOT.
func isNoSpace(err error) bool {
	if errors.Is(err, store.ErrNoSpace) || isOSNoSpace(err) {
		return true
	}
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL
}

// noSpaceErr puts store.ErrNoSpace in front of err, once.
func noSpaceErr(err error) error {
	if errors.Is(err, store.ErrNoSpace) {
		return err
	}
	return fmt.Errorf("%w: %w", store.ErrNoSpace, err)
}

// ms stores a time as unix milliseconds; the zero time is 0.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMS is the inverse of ms, in UTC.
func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// blob keeps nil out of NOT NULL BLOB columns; the driver binds nil as NULL.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// fromBlob reads an empty blob back as nil, the way Go code spells "none".
func fromBlob(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// encodeJSON stores a slice or map as JSON text, nil and empty alike.
// Marshalling []string, []int and map[string]string cannot fail.
func encodeJSON[T any](v T, n int, empty string) string {
	if n == 0 {
		return empty
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func encodeList[T any](v []T) string { return encodeJSON(v, len(v), "[]") }

func encodeMap(v map[string]string) string { return encodeJSON(v, len(v), "{}") }

func decodeList[T any](col, s string) ([]T, error) {
	var v []T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("decode %s: %w", col, err)
	}
	if len(v) == 0 {
		return nil, nil
	}
	return v, nil
}

func decodeMap(col, s string) (map[string]string, error) {
	var v map[string]string
	if err := json.Unmarshal([]byte(s), &v); err != nil {
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

func (t table) selectSQL() string {
	return "SELECT " + strings.Join(t.cols, ", ") + " FROM " + t.name
}

func (t table) getSQL() string {
	return t.selectSQL() + " WHERE " + t.cols[0] + " = ?"
}

func (t table) insertSQL() string {
	return "INSERT INTO " + t.name + " (" + strings.Join(t.cols, ", ") + ") VALUES (" + placeholders(len(t.cols)) + ")"
}

// updateSQL takes the non-key columns, then the key.
func (t table) updateSQL() string {
	return "UPDATE " + t.name + " SET (" + strings.Join(t.cols[1:], ", ") + ") = (" + placeholders(len(t.cols)-1) + ") WHERE " + t.cols[0] + " = ?"
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// list runs a query and scans every row.
func list[T any](ctx context.Context, q querier, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
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

// execRows runs a statement and says how many rows it changed.
func execRows(ctx context.Context, q querier, query string, args ...any) (int64, error) {
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
