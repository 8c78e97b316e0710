package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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

func TestHealthAndReadiness(t *testing.T) {
	s := newTestServer(t)
	if code, body := do(t, s, "GET", "/healthz", "", "", ""); code != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("healthz = %d %s", code, body)
	}
	if code, body := do(t, s, "GET", "/readyz", "", "", ""); code != 200 || !strings.Contains(body, `"store":"ok"`) {
		t.Fatalf("readyz = %d %s", code, body)
	}
	s.st.Close()
	if code, body := do(t, s, "GET", "/readyz", "", "", ""); code != 503 || strings.Contains(body, `"store":"ok"`) {
		t.Fatalf("readyz with the store closed = %d %s", code, body)
	}
}

func TestMetricsAreServedToLoopbackOnly(t *testing.T) {
	s := newTestServer(t)
	do(t, s, "GET", "/v1/server", "", "", "")
	code, body := do(t, s, "GET", "/metrics", "", "", "127.0.0.1:5000")
	if code != 200 {
		t.Fatalf("metrics = %d", code)
	}
	for _, want := range []string{"assent_connected_devices 0", "assent_http_request_duration_seconds_count{code=\"2xx\",route=\"GET /v1/server\"} 1", "go_goroutines"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if code, _ := do(t, s, "GET", "/metrics", "", "", "203.0.113.5:5000"); code != http.StatusForbidden {
		t.Fatalf("metrics from afar = %d, want 403", code)
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
