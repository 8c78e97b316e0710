package e2e

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

// TestCLIAuditVerifyAndExport fills the audit log from the running server
// and from admin commands beside it, checks the chain with the built
// assentd, exports it and checks the chain again from the export alone,
// then changes one event in the database file and has audit verify name
// exactly that event.
func TestCLIAuditVerifyAndExport(t *testing.T) {
	c := newServedCLI(t)
	c.fails("unknown audit subcommand", "assentd", "audit", "check")
	c.fails("the one format is jsonl", "assentd", c.server("audit", "export", "--format", "csv")...)
	c.fails("--since \"yesterday\"", "assentd", c.server("audit", "export", "--since", "yesterday")...)
	c.fails("there is no database at", "assentd", "audit", "verify", "--data", filepath.Join(t.TempDir(), "none"))

	// Events from two processes on one file: admin commands, and the
	// server answering the admin API.
	c.must("a long enough password\n", "assentd", c.server("user", "add", "alice")...)
	tok, _ := makeToken(t, c, c.server("--name", "audit-test")...)
	for i := range 3 {
		code, body := adminCall(t, "POST", c.url+"/v1/admin/apps", tok, fmt.Sprintf(`{"name":"wiki%d","type":"web"}`, i))
		wantStatus(t, "add an app", code, body, 201, "")
	}
	c.must("another long password\n", "assentd", c.server("user", "add", "bob")...)

	out := c.must("", "assentd", c.server("audit", "verify")...)
	m := regexp.MustCompile(`^audit log intact: (\d+) events checked, through seq (\d+) \(.*\) with hash ([0-9a-f]{64})\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("audit verify said %q", out)
	}
	var n int
	fmt.Sscan(m[1], &n)
	if n < 6 {
		t.Fatalf("audit verify checked %d events, want at least the 6 made here", n)
	}

	lines := exportAudit(t, c)
	if len(lines) != n {
		t.Fatalf("export has %d events, verify checked %d", len(lines), n)
	}
	// The export is enough to check the chain.
	prev := ""
	types := map[string]int{}
	for i, l := range lines {
		if l.PrevHash != prev || store.AuditHash(l.event(t), l.PrevHash) != l.Hash {
			t.Fatalf("export line %d does not chain: %+v", i, l)
		}
		prev = l.Hash
		types[l.Type]++
	}
	if prev != m[3] {
		t.Errorf("the export ends in %s, verify in %s", prev, m[3])
	}
	if types["user.created"] != 2 || types["app.created"] != 3 || types["admin.token_created"] != 1 {
		t.Errorf("exported event types %v", types)
	}
	if later := exportAudit(t, c, "--since", "2h"); len(later) != n {
		t.Errorf("export --since 2h has %d events, want %d", len(later), n)
	}
	// --since keeps the events at or after the time.
	from := lines[len(lines)-2].Time
	wantSince := 0
	for _, l := range lines {
		if !l.event(t).Time.Before(lines[len(lines)-2].event(t).Time) {
			wantSince++
		}
	}
	if since := exportAudit(t, c, "--since", from); len(since) != wantSince || since[len(since)-1].Hash != prev {
		t.Errorf("export --since %s has %d events, want the last %d", from, len(since), wantSince)
	}
	if none := exportAudit(t, c, "--since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)); len(none) != 0 {
		t.Errorf("export --since in an hour has %d events", len(none))
	}

	// Change one event in the file, the way someone with write access to
	// it would cover their tracks: the append-only trigger dropped and put
	// back in the same transaction.
	victim := lines[len(lines)-3]
	db, err := sql.Open("sqlite", filepath.Join(c.data, "assent.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	var trigger string
	if err := tx.QueryRow("SELECT sql FROM sqlite_schema WHERE name = 'audit_no_update'").Scan(&trigger); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"DROP TRIGGER audit_no_update",
		fmt.Sprintf("UPDATE audit SET detail_json = '{\"name\":\"innocent\"}' WHERE seq = %d", victim.Seq),
		trigger,
	} {
		if _, err := tx.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	db.Close()
	// The server goes on appending after the change.
	code, body := adminCall(t, "POST", c.url+"/v1/admin/apps", tok, `{"name":"after","type":"web"}`)
	wantStatus(t, "add an app after the change", code, body, 201, "")

	want := fmt.Sprintf("audit log broken at event seq %d (%s, %s): its content does not match its hash", victim.Seq, victim.Time, victim.Type)
	c.fails(want, "assentd", c.server("audit", "verify")...)
	stdout, _, _ := c.runBoth("", "assentd", c.server("audit", "verify")...)
	if !strings.HasPrefix(stdout, fmt.Sprintf("%d events checked and whole before the break", n-3)) {
		t.Errorf("audit verify said %q on standard output, want %d events before the break", stdout, n-3)
	}
	var ee *exec.ExitError
	if _, _, err := c.runBoth("", "assentd", c.server("audit", "verify")...); !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("audit verify of a broken log: %v, want exit status 1", err)
	}
}

// exportedEvent is one line of assentd audit export: the record the
// server writes (store.AuditRecord).
type exportedEvent struct{ store.AuditRecord }

func (l exportedEvent) event(t *testing.T) store.AuditEvent {
	t.Helper()
	e, err := l.Event()
	if err != nil {
		t.Fatalf("export line: %v", err)
	}
	e.PrevHash, e.Hash = "", "" // what the chain hash covers
	return e
}

func exportAudit(t *testing.T, c *cliEnv, args ...string) []exportedEvent {
	t.Helper()
	out := c.must("", "assentd", c.server(append([]string{"audit", "export", "--format", "jsonl"}, args...)...)...)
	var lines []exportedEvent
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if l == "" {
			continue
		}
		var e exportedEvent
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("export line %q: %v", l, err)
		}
		lines = append(lines, e)
	}
	return lines
}

// TestCLIAuditSyslog runs the built assentd with --audit-syslog pointed at
// a UDP listener standing in for a syslog daemon: the events the server
// writes arrive as JSON with the same hashes that audit export shows.
func TestCLIAuditSyslog(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c := newCLIEnv(t)
	c.fails("audit-syslog \"nowhere\"", "assentd", c.server("serve", "--audit-syslog", "nowhere")...)
	srv := exec.Command(filepath.Join(c.bin, "assentd"), c.server("serve", "--audit-syslog", "udp://"+pc.LocalAddr().String())...)
	srv.Env = c.env
	srvLog := &strings.Builder{}
	srv.Stderr = srvLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		srv.Process.Kill()
		srv.Wait()
		if t.Failed() {
			t.Logf("assentd log:\n%s", srvLog)
		}
	}()
	waitUp(t, c.url)
	tok, _ := makeToken(t, c, c.server("--name", "syslog-test")...)
	code, body := adminCall(t, "POST", c.url+"/v1/admin/apps", tok, `{"name":"wiki","type":"web"}`)
	wantStatus(t, "add an app", code, body, 201, "")

	exported := map[int64]exportedEvent{}
	for _, l := range exportAudit(t, c) {
		exported[l.Seq] = l
	}
	buf := make([]byte, 64<<10)
	for {
		pc.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no app.created from syslog: %v", err)
		}
		msg := string(buf[:n])
		i := strings.Index(msg, "{")
		if !strings.HasPrefix(msg, "<86>") || i < 0 {
			t.Fatalf("syslog message %q, want authpriv.info with a JSON record", msg)
		}
		var got exportedEvent
		if err := json.Unmarshal([]byte(strings.TrimSpace(msg[i:])), &got); err != nil {
			t.Fatalf("syslog message %q: %v", msg, err)
		}
		if want := exported[got.Seq]; want.Hash != got.Hash || want.Type != got.Type {
			t.Fatalf("syslog sent %+v, export has %+v", got, want)
		}
		if got.Type == "app.created" && got.Detail["app"] == "wiki" {
			return
		}
	}
}
