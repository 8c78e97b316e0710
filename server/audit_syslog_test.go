package server

import (
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

func TestParseAuditSyslog(t *testing.T) {
	for _, tc := range []struct{ in, network, addr, err string }{
		{"local", "", "", ""},
		{"udp://192.0.2.7:514", "udp", "192.0.2.7:514", ""},
		{"tcp://logs.example.com:6514", "tcp", "logs.example.com:6514", ""},
		{"[2001:db8::1]:514", "udp", "[2001:db8::1]:514", ""},
		{"logs.example.com", "", "", "want local"},
		{"http://logs:514", "", "", "want local"},
		{"udp://:514", "", "", "want local"},
		{"journald", "", "", "want local"},
	} {
		n, a, err := ParseAuditSyslog(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseAuditSyslog(%q) = %v, want an error saying %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || n != tc.network || a != tc.addr {
			t.Errorf("ParseAuditSyslog(%q) = %q %q %v, want %q %q", tc.in, n, a, err, tc.network, tc.addr)
		}
	}
	if _, _, err := loadTest(t, []string{"--audit-syslog", "nowhere"}, nil); err == nil || !strings.Contains(err.Error(), "audit-syslog") {
		t.Errorf("--audit-syslog nowhere: %v, want it refused", err)
	}
	cfg, _, err := loadTest(t, nil, map[string]string{"ASSENT_AUDIT_SYSLOG": "udp://127.0.0.1:514"})
	if err != nil || cfg.AuditSyslog != "udp://127.0.0.1:514" {
		t.Errorf("ASSENT_AUDIT_SYSLOG: %q %v", cfg.AuditSyslog, err)
	}
}

// TestAuditSyslogSendsEachEventWithItsHashes listens as a syslog daemon
// on UDP and checks that each event the server writes arrives once, as
// authpriv.info from assentd, with the seq and hashes the store gave it.
func TestAuditSyslogSendsEachEventWithItsHashes(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s := newTestServer(t)
	if err := s.AttachAuditSyslog("udp://" + pc.LocalAddr().String()); err != nil {
		t.Fatal(err)
	}
	if err := s.AttachAuditSyslog("udp://" + pc.LocalAddr().String()); err == nil {
		t.Error("a second sink was attached")
	}
	ctx := t.Context()
	types := []string{"syslog.one", "syslog.two", "syslog.three"}
	for _, typ := range types {
		s.audit(ctx, store.AuditEvent{Type: typ, UserID: "u1", Detail: map[string]string{"k": "v <&>"}})
	}
	stored, err := s.st.ListAudit(ctx, store.AuditFilter{Types: types})
	if err != nil || len(stored) != 3 {
		t.Fatalf("ListAudit = %+v, %v", stored, err)
	}
	buf := make([]byte, 64<<10)
	for i, want := range stored {
		pc.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		msg := string(buf[:n])
		// <priority>: authpriv (10) * 8 + info (6).
		if !strings.HasPrefix(msg, "<86>") || !strings.Contains(msg, " assentd[") {
			t.Errorf("message %d = %q, want authpriv.info from assentd", i, msg)
		}
		var rec store.AuditRecord
		if err := json.Unmarshal([]byte(strings.TrimSpace(msg[strings.Index(msg, "{"):])), &rec); err != nil {
			t.Fatalf("message %d = %q: %v", i, msg, err)
		}
		got, err := rec.Event()
		if err != nil {
			t.Fatal(err)
		}
		if got.Seq != want.Seq || got.Hash != want.Hash || got.PrevHash != want.PrevHash || got.Type != want.Type ||
			store.AuditHash(got, got.PrevHash) != got.Hash {
			t.Errorf("message %d = %+v, want %+v", i, got, want)
		}
	}
}
