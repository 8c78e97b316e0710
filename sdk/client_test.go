package sdk

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// pollServer answers challenge-poll "waiting" until the fourth poll, then
// success; old is a server from before Request.Wait, which refuses
// unknown fields as assentd does.
func pollServer(t *testing.T, old bool, polls, waited *atomic.Int32) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req map[string]any
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			t.Errorf("poll body: %v", err)
		}
		w.Header().Set("Content-Type", "application/json")
		if _, ok := req["wait"]; ok {
			if old {
				w.WriteHeader(http.StatusBadRequest)
				json.NewEncoder(w).Encode(Error{Code: "bad_request", Message: `request body is not the expected JSON: json: unknown field "wait"`})
				return
			}
			waited.Add(1)
		}
		resp := Response{StateHandle: "h", Status: StatusWaiting, Number: 42}
		if polls.Add(1) >= 4 {
			resp = Response{Status: StatusSuccess, Session: &Session{Token: "tok"}}
		}
		json.NewEncoder(w).Encode(resp)
	}))
}

// WaitPush asks the server to hold each poll; an older server that
// refuses the field is polled without it, and the sign-in still ends.
func TestWaitPushHoldsAndFallsBack(t *testing.T) {
	for _, old := range []bool{false, true} {
		var polls, waited atomic.Int32
		srv := pollServer(t, old, &polls, &waited)
		tx := &Transaction{c: New(srv.URL), Last: &Response{StateHandle: "h", Status: StatusWaiting, Number: 42}}
		shown := 0
		r, err := tx.WaitPush(context.Background(), time.Millisecond, func(n int) { shown = n })
		srv.Close()
		if err != nil || r.Status != StatusSuccess || shown != 42 {
			t.Fatalf("old server %v: WaitPush = %+v, %v (shown %d)", old, r, err, shown)
		}
		if old && waited.Load() != 0 || !old && waited.Load() != polls.Load() {
			t.Fatalf("old server %v: %d of %d polls asked to be held", old, waited.Load(), polls.Load())
		}
	}
}
