package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/seed-3a5b824e/assent/push"
)

func do(t *testing.T, s *Server, method, path, auth, body, remote string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if remote != "" {
		req.RemoteAddr = remote
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	data, _ := io.ReadAll(rec.Body)
	return rec.Code, string(data)
}

// doOps sends a request to the operator handler.
func doOps(t *testing.T, s *Server, method, path, remote string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if remote != "" {
		req.RemoteAddr = remote
	}
	rec := httptest.NewRecorder()
	s.OpsHandler().ServeHTTP(rec, req)
	data, _ := io.ReadAll(rec.Body)
	return rec.Code, string(data)
}

func TestHealthAndReadiness(t *testing.T) {
	s := newTestServer(t)
	for name, get := range map[string]func(path string) (int, string){
		"public":   func(path string) (int, string) { return do(t, s, "GET", path, "", "", "") },
		"operator": func(path string) (int, string) { return doOps(t, s, "GET", path, "") },
	} {
		if code, body := get("/healthz"); code != 200 || !strings.Contains(body, "ok") {
			t.Fatalf("%s healthz = %d %s", name, code, body)
		}
		if code, body := get("/readyz"); code != 200 || !strings.Contains(body, `"store":"ok"`) {
			t.Fatalf("%s readyz = %d %s", name, code, body)
		}
	}
	s.st.Close()
	if code, body := do(t, s, "GET", "/readyz", "", "", ""); code != 503 || strings.Contains(body, `"store":"ok"`) {
		t.Fatalf("readyz with the store closed = %d %s", code, body)
	}
	if code, body := doOps(t, s, "GET", "/readyz", ""); code != 503 || strings.Contains(body, `"store":"ok"`) {
		t.Fatalf("operator readyz with the store closed = %d %s", code, body)
	}
}

func TestOperatorEndpointsAreNotOnThePublicHandler(t *testing.T) {
	s := newTestServer(t)
	// Not even to loopback peers: a proxy on the same machine makes every
	// visitor a loopback peer.
	for _, c := range [][2]string{{"GET", "/metrics"}, {"POST", "/debug/gc"}, {"GET", "/debug/pprof/"}, {"GET", "/debug/pprof/heap"}, {"GET", "/debug/pprof/profile"}} {
		code, body := do(t, s, c[0], c[1], "", "", "127.0.0.1:5000")
		var e push.APIError
		if code != http.StatusNotFound || json.Unmarshal([]byte(body), &e) != nil || e.Code != "not_found" || !strings.Contains(e.Message, c[1]) {
			t.Errorf("public %s %s = %d %s, want the 404 JSON", c[0], c[1], code, body)
		}
	}
}

func TestOperatorHandlerServesMetricsProfilesAndGC(t *testing.T) {
	s := newTestServer(t)
	do(t, s, "GET", "/v1/server", "", "", "")
	// The operator handler does not look at the caller: its listener's
	// address is what keeps it private.
	code, body := doOps(t, s, "GET", "/metrics", "203.0.113.5:5000")
	if code != 200 {
		t.Fatalf("metrics = %d", code)
	}
	for _, want := range []string{"assent_connected_devices 0", "assent_http_request_duration_seconds_count{code=\"2xx\",route=\"GET /v1/server\"} 1",
		"go_goroutines", "assent_push_sockets_replaced_total 0"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	code, body = doOps(t, s, "POST", "/debug/gc", "")
	var gc map[string]uint64
	if code != 200 || json.Unmarshal([]byte(body), &gc) != nil || gc["heapInuse"] == 0 {
		t.Fatalf("debug/gc = %d %s", code, body)
	}
	if code, body := doOps(t, s, "GET", "/debug/pprof/goroutine?debug=1", ""); code != 200 || !strings.Contains(body, "goroutine profile") {
		t.Fatalf("goroutine profile = %d %.200s", code, body)
	}
	// The command line may hold a password (--smtp-password).
	if code, _ := doOps(t, s, "GET", "/debug/pprof/cmdline", ""); code == 200 {
		t.Fatal("the command line is served")
	}
	if code, body := doOps(t, s, "GET", "/v1/server", ""); code != http.StatusNotFound || !strings.Contains(body, "not_found") {
		t.Fatalf("the operator handler serves the API: %d %s", code, body)
	}
}

func TestAdminAPINeedsATokenAndManagesUsers(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	if code, _ := do(t, s, "POST", "/v1/admin/users", "", `{"login":"x"}`, ""); code != 401 {
		t.Fatalf("no token = %d", code)
	}
	if code, _ := do(t, s, "POST", "/v1/admin/users", "Bearer aat_forged", `{"login":"x"}`, ""); code != 401 {
		t.Fatalf("forged token = %d", code)
	}
	tok, err := s.NewAdminToken(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	auth := "Bearer " + tok
	if code, body := do(t, s, "POST", "/v1/admin/users", auth, `{"login":"Load-1","groups":["load"]}`, ""); code != 201 || !strings.Contains(body, `"login":"load-1"`) {
		t.Fatalf("add passwordless user = %d %s", code, body)
	}
	if code, _ := do(t, s, "POST", "/v1/admin/users", auth, `{"login":"load-1"}`, ""); code != 409 {
		t.Fatalf("duplicate user = %d", code)
	}
	if code, body := do(t, s, "POST", "/v1/admin/users", auth, `{"login":"bob","password":"short"}`, ""); code != 400 || !strings.Contains(body, "at least 12") {
		t.Fatalf("short password = %d %s", code, body)
	}
	code, body := do(t, s, "POST", "/v1/admin/users/load-1/enroll", auth, "", "")
	var link AdminLink
	if code != 200 || json.Unmarshal([]byte(body), &link) != nil || !strings.HasPrefix(link.Link, "assent://enroll?") {
		t.Fatalf("enroll link = %d %s", code, body)
	}
	if code, body := do(t, s, "POST", "/v1/admin/push", auth, `{"login":"load-1"}`, ""); code != http.StatusConflict || !strings.Contains(body, "no_push_device") {
		t.Fatalf("push to a user without devices = %d %s", code, body)
	}
}
