package main

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seed-3a5b824e/assent/internal/testbin"
)

// assentdBinary is the real assentd, built once.
func assentdBinary(t *testing.T) string {
	t.Helper()
	return filepath.Join(testbin.Build(t, "."), "assentd")
}

// machineEnv is the environment without the machine's ASSENT_ variables.
func machineEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ASSENT_") {
			env = append(env, kv)
		}
	}
	return env
}

type runResult struct {
	stdout, stderr string
	code           int
}

// assentd runs the real binary to its end, with env added to a clean
// environment (no ASSENT_ variables of the machine's).
func assentd(t *testing.T, env []string, stdin string, args ...string) runResult {
	t.Helper()
	cmd := exec.Command(assentdBinary(t), args...)
	cmd.Env = machineEnv()
	cmd.Env = append(cmd.Env, "ASSENT_OPS_LISTEN=off")
	cmd.Env = append(cmd.Env, env...)
	var r runResult
	r.stdout, r.stderr, r.code = testbin.Run(t, cmd, stdin)
	return r
}

// startServe runs assentd serve with args until the test ends, and waits
// until it answers at addr.
func startServe(t *testing.T, addr string, args ...string) {
	t.Helper()
	cmd := exec.Command(assentdBinary(t), append([]string{"serve", "--listen", addr, "--ops-listen", "off"}, args...)...)
	cmd.Env = machineEnv()
	testbin.Serve(t, cmd, "http://"+addr)
}

// linkOf is the enrollment link assentd enroll printed last, parsed.
func linkOf(t *testing.T, r runResult) url.Values {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	u, err := url.Parse(lines[len(lines)-1])
	if err != nil || u.Scheme != "assent" {
		t.Fatalf("no link in %+v", r)
	}
	return u.Query()
}

func TestEnrollMakesLinksForTheURLAndOrgTheServerRunsWith(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real server")
	}
	data := filepath.Join(t.TempDir(), "data")

	// Before any server ran there, enroll refuses to guess.
	r := assentd(t, nil, "", "enroll", "alice", "--data", data)
	if r.code != 1 || !strings.Contains(r.stderr, "no server has run from the data folder "+data) || !strings.Contains(r.stderr, "--url") {
		t.Fatalf("enroll before serve: %+v", r)
	}

	addr := testbin.FreeAddr(t)
	startServe(t, addr, "--data", data, "--org", "Acme Corp")
	if r := assentd(t, nil, "correct horse battery\n", "user", "add", "alice", "--data", data); r.code != 0 {
		t.Fatalf("user add: %+v", r)
	}
	// No --listen, no --org: the server's.
	q := linkOf(t, assentd(t, nil, "", "enroll", "alice", "--data", data))
	if q.Get("server") != "http://"+addr || q.Get("org") != "Acme Corp" {
		t.Fatalf("link names server %q org %q; the server runs at http://%s as Acme Corp", q.Get("server"), q.Get("org"), addr)
	}
	// The same from the environment's data folder.
	q = linkOf(t, assentd(t, []string{"ASSENT_DATA=" + data}, "", "enroll", "alice"))
	if q.Get("server") != "http://"+addr || q.Get("org") != "Acme Corp" {
		t.Fatalf("with ASSENT_DATA: %v", q)
	}
	// A --listen that differs does not win over the running server.
	q = linkOf(t, assentd(t, nil, "", "enroll", "alice", "--data", data, "--listen", "127.0.0.1:8080"))
	if q.Get("server") != "http://"+addr {
		t.Fatalf("with a stale --listen: %v", q)
	}
	// What the person says outright wins, with a note.
	r = assentd(t, nil, "", "enroll", "alice", "--data", data, "--url", "https://assent.example.com", "--org", "Acme")
	q = linkOf(t, r)
	if q.Get("server") != "https://assent.example.com" || q.Get("org") != "Acme" || !strings.Contains(r.stderr, "http://"+addr) {
		t.Fatalf("with --url and --org: %v\n%s", q, r.stderr)
	}
	r = assentd(t, []string{"ASSENT_ORG=Env Org"}, "", "enroll", "alice", "--data", data)
	if q := linkOf(t, r); q.Get("org") != "Env Org" || q.Get("server") != "http://"+addr {
		t.Fatalf("with ASSENT_ORG: %v", q)
	}
	// A damaged record is said, not guessed around.
	if err := os.WriteFile(filepath.Join(data, serveRecordFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := assentd(t, nil, "", "enroll", "alice", "--data", data); r.code != 1 || !strings.Contains(r.stderr, "damaged") {
		t.Fatalf("a damaged record: %+v", r)
	}
}

func TestEachSubcommandsHelpListsItsOwnFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	for _, tc := range []struct {
		args     []string
		want     []string
		dontWant []string
	}{
		{[]string{"serve", "-h"}, []string{"assentd serve", "--listen", "--answer-floor", "--tls-cert"}, nil},
		{[]string{"serve", "--help"}, []string{"--listen"}, nil},
		{[]string{"enroll", "--help"}, []string{"assentd enroll LOGIN", "--qr FILE.png", "--data", "--url", "--org"}, []string{"--answer-floor", "--tls-cert", "--smtp"}},
		{[]string{"policy", "check", "--help"}, []string{"assentd policy check FILE", "--data", "--database"}, []string{"--answer-floor", "no such file"}},
		{[]string{"policy", "--help"}, []string{"assentd policy check FILE", "assentd policy default"}, []string{"--answer-floor"}},
		{[]string{"user", "add", "--help"}, []string{"assentd user add LOGIN", "--email", "--group", "--data"}, []string{"--answer-floor"}},
		{[]string{"user", "--help"}, []string{"assentd user add LOGIN"}, nil},
		{[]string{"admin-token", "--help"}, []string{"admin-token", "--name", "--ttl", "--data"}, []string{"--answer-floor"}},
		{[]string{"app", "--help"}, []string{"assentd app add NAME"}, nil},
		{[]string{"app", "add", "--help"}, []string{"--type", "--redirect-uri", "--secret-file", "--data"}, []string{"--answer-floor"}},
		{[]string{"app", "list", "-h"}, []string{"assentd app list", "--data"}, []string{"--answer-floor"}},
		{[]string{"keys", "--help"}, []string{"assentd keys list", "assentd keys rotate"}, nil},
		{[]string{"keys", "rotate", "--help"}, []string{"assentd keys rotate", "--data"}, []string{"--answer-floor"}},
		{[]string{"audit", "--help"}, []string{"assentd audit verify", "assentd audit export"}, nil},
		{[]string{"audit", "export", "--help"}, []string{"--since", "--format", "--data"}, []string{"--answer-floor"}},
		{[]string{"help", "enroll"}, []string{"assentd enroll LOGIN"}, []string{"--answer-floor"}},
		{[]string{"--help"}, []string{"assentd serve", "assentd enroll"}, nil},
	} {
		r := assentd(t, nil, "", tc.args...)
		name := strings.Join(tc.args, " ")
		if r.code != 0 || r.stderr != "" {
			t.Errorf("assentd %s: exit %d, stderr %q", name, r.code, r.stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("assentd %s lacks %q:\n%s", name, w, r.stdout)
			}
		}
		for _, w := range tc.dontWant {
			if strings.Contains(r.stdout, w) {
				t.Errorf("assentd %s has %q:\n%s", name, w, r.stdout)
			}
		}
	}
	// Mistakes still fail, and say where the help is.
	if r := assentd(t, nil, "", "enroll", "alice", "--frob"); r.code != 1 || !strings.Contains(r.stderr, "assentd enroll --help") {
		t.Errorf("an unknown flag: %+v", r)
	}
	if r := assentd(t, nil, "", "nonsense"); r.code != 1 {
		t.Errorf("an unknown subcommand: %+v", r)
	}
}
