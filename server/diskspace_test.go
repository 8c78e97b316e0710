package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/server/store"
)

// fullStore is a real store whose writes fail with store.ErrNoSpace, as the
// SQLite and PostgreSQL stores report a full disk, while full is set (or
// with fail, when set). The real full disk is in e2e/fulldisk_test.go;
// this runs without root.
type fullStore struct {
	store.Store
	full atomic.Bool
	fail atomic.Pointer[error]
}

func (f *fullStore) err(op string) error {
	if p := f.fail.Load(); p != nil {
		return *p
	}
	if f.full.Load() {
		return fmt.Errorf("sqlite: %s: %w: database or disk is full (13)", op, store.ErrNoSpace)
	}
	return nil
}

func (f *fullStore) CreateTransaction(ctx context.Context, t store.Transaction) error {
	if err := f.err("create transaction"); err != nil {
		return err
	}
	return f.Store.CreateTransaction(ctx, t)
}

func (f *fullStore) UpdateCounter(ctx context.Context, key string, fn func(*store.Counter) error) (store.Counter, error) {
	if err := f.err("update counter " + key); err != nil {
		return store.Counter{}, err
	}
	return f.Store.UpdateCounter(ctx, key, fn)
}

func newFullServer(t *testing.T) (*Server, *fullStore) {
	t.Helper()
	s := newTestServer(t)
	fs := &fullStore{Store: s.st}
	s.st = fs
	if _, err := s.AddApp(context.Background(), "intranet", "web"); err != nil {
		t.Fatal(err)
	}
	return s, fs
}

func serve(s *Server, method, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec
}

// TestStoreOutOfSpaceIs503WithRetryAfter: a write refused for want of space
// is 503 with Retry-After and the "unavailable" error in words a person
// understands (not 500 "internal"), /readyz says not ready at once, the
// hosted page says to try again in a moment, and all of it ends as soon as
// writes succeed again.
func TestStoreOutOfSpaceIs503WithRetryAfter(t *testing.T) {
	s, fs := newFullServer(t)
	interact := `{"app":"intranet","kind":"signin"}`
	if rec := serve(s, "POST", "/v1/idx/interact", interact); rec.Code != http.StatusOK {
		t.Fatalf("interact = %d %s", rec.Code, rec.Body)
	}
	if rec := serve(s, "GET", "/readyz", ""); rec.Code != http.StatusOK {
		t.Fatalf("readyz = %d %s", rec.Code, rec.Body)
	}

	fs.full.Store(true)
	rec := serve(s, "POST", "/v1/idx/interact", interact)
	var ae push.APIError
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "10" ||
		json.Unmarshal(rec.Body.Bytes(), &ae) != nil || ae.Code != "unavailable" || ae.RetryAfter != 10 {
		t.Fatalf("interact out of space = %d Retry-After %q %s; want 503 unavailable, Retry-After 10",
			rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	if strings.Contains(ae.Message, "sqlite") || strings.Contains(ae.Message, "(13)") || !strings.Contains(ae.Message, "try again") {
		t.Fatalf("message %q: want plain words saying to try again, no database details", ae.Message)
	}
	// Though the last probe succeeded a moment ago, /readyz knows.
	rec = serve(s, "GET", "/readyz", "")
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"store-write":"failing: the database is out of space`) {
		t.Fatalf("readyz out of space = %d %s", rec.Code, rec.Body)
	}
	if rec := serve(s, "GET", "/readyz", ""); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("readyz again = %d %s", rec.Code, rec.Body)
	}
	rec = serve(s, "GET", PathSignIn+"?app=intranet", "")
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "Try again in a moment") {
		t.Fatalf("sign-in page out of space = %d %s", rec.Code, rec.Body)
	}

	fs.full.Store(false)
	if rec := serve(s, "POST", "/v1/idx/interact", interact); rec.Code != http.StatusOK {
		t.Fatalf("interact once space is back = %d %s", rec.Code, rec.Body)
	}
	deadline := time.Now().Add(time.Minute)
	for serve(s, "GET", "/readyz", "").Code != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("readyz not ready within a minute of space coming back")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReadyzFailsWhileWritesFail: a store that answers pings but cannot
// write (for any reason) makes the node unready, saying why.
func TestReadyzFailsWhileWritesFail(t *testing.T) {
	s, fs := newFullServer(t)
	boom := errors.New("sqlite: update counter: attempt to write a readonly database (8)")
	fs.fail.Store(&boom)
	// The public listener says that the write failed, not the store's
	// words (they name files and hosts); the operator listener says why.
	rec := serve(s, "GET", "/readyz", "")
	if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "readonly database") ||
		!strings.Contains(rec.Body.String(), `"store-write":"failing`) || !strings.Contains(rec.Body.String(), `"store":"ok"`) {
		t.Fatalf("readyz with writes failing = %d %s", rec.Code, rec.Body)
	}
	if rec := doOpsRec(s, "/readyz"); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "readonly database") {
		t.Fatalf("operator readyz with writes failing = %d %s", rec.Code, rec.Body)
	}
}

func doOpsRec(s *Server, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	s.OpsHandler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec
}

// TestReadyzProbeWritesOnceForManyCallers: fifty parallel /readyz calls
// share one probe write, not one each.
func TestReadyzProbeWritesOnceForManyCallers(t *testing.T) {
	s, _ := newFullServer(t)
	var wg sync.WaitGroup
	var bad atomic.Int32
	for range 50 {
		wg.Go(func() {
			if serve(s, "GET", "/readyz", "").Code != http.StatusOK {
				bad.Add(1)
			}
		})
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d of 50 parallel readyz calls were not 200", bad.Load())
	}
	c, err := s.st.GetCounter(context.Background(), probeKey)
	if err != nil {
		t.Fatal(err)
	}
	if c.Count < 1 || c.Count >= 10 {
		t.Fatalf("50 parallel readyz calls wrote the probe %d times; want one (a few on a very slow machine)", c.Count)
	}
}
