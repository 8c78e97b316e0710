// Package pgtest gives tests a PostgreSQL schema of their own on the
// database ASSENT_TEST_POSTGRES names, dropped when the test ends.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// HowToRun says how to give the tests a database.
const HowToRun = "set ASSENT_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test (make test and CI set it), " +
	"and start PostgreSQL if it is down: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"

// Schema makes a schema named prefix_<random> for one test and returns a
// URL that uses it. A test fails rather than skips without the database:
// a suite that silently does not run looks like one that passes.
func Schema(t testing.TB, prefix string) string {
	t.Helper()
	base := os.Getenv("ASSENT_TEST_POSTGRES")
	if base == "" {
		t.Fatal("ASSENT_TEST_POSTGRES is not set: " + HowToRun)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := prefix + "_" + hex.EncodeToString(b)
	exec := func(sql string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Fatalf("connect to PostgreSQL: %v\n%s", err, HowToRun)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec("CREATE SCHEMA " + name)
	t.Cleanup(func() { exec("DROP SCHEMA " + name + " CASCADE") })
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + name
}
