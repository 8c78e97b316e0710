package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/seed-3a5b824e/assent/push"
)

func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{`{"type":"response","jws":"a.b.c"}`, `{"type":"hello","token":"x"}`, `not json`, `[]`, `{"type":1}`, ``} {
		f.Add(websocket.TextMessage, []byte(s))
	}
	f.Add(websocket.BinaryMessage, []byte{0, 1, 2})
	f.Fuzz(func(t *testing.T, typ int, data []byte) {
		m, err := decodeFrame(typ, data)
		if err == nil && typ != websocket.TextMessage {
			t.Fatalf("accepted a frame of type %d", typ)
		}
		if err != nil && m.Type != "" && typ != websocket.TextMessage {
			t.Fatalf("refused frame produced a message %+v", m)
		}
	})
}

// fuzzAPI checks the one promise every endpoint makes to strangers: an
// answer with a JSON error body and a 4xx status, never a panic or a 500.
func fuzzAPI(t *testing.T, s *Server, method, path, auth, body string) {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code >= 500 {
		t.Fatalf("%s %s %q: status %d: %s", method, path, body, rec.Code, rec.Body)
	}
	if rec.Code >= 400 {
		var e push.APIError
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == "" || e.Message == "" {
			t.Fatalf("%s %s: error body %q is not {error, message}", method, path, rec.Body)
		}
	}
}

func FuzzIDX(f *testing.F) {
	s := newTestServer(f)
	for _, c := range [][2]string{
		{"interact", `{"app":"x"}`},
		{"identify", `{"stateHandle":"abc","login":"alice"}`},
		{"challenge-authenticator", `{"stateHandle":"abc","authenticator":"password","passcode":"pw"}`},
		{"challenge-poll", `{"stateHandle":""}`},
		{"cancel", `{}`},
		{"bogus", `{"unknown":1}`},
		{"interact", `{"app":` + strings.Repeat(`"a`, 40) + `}`},
	} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, remediation, body string) {
		if remediation == "" {
			return
		}
		fuzzAPI(t, s, http.MethodPost, "/v1/idx/"+url.PathEscape(remediation), "", body)
	})
}

func FuzzDeviceAPI(f *testing.F) {
	s := newTestServer(f)
	f.Add(0, "eyJhbGciOiJFUzI1NiJ9.e30.AAAA")
	f.Add(1, "a.b.c")
	f.Add(2, "Assent x.y.z")
	f.Add(3, "")
	f.Fuzz(func(t *testing.T, which int, data string) {
		switch ((which % 4) + 4) % 4 {
		case 0:
			fuzzAPI(t, s, http.MethodPost, push.PathEnroll, "", data)
		case 1:
			fuzzAPI(t, s, http.MethodPost, push.PathChallenges+"/chl_x/response", "", data)
		case 2:
			fuzzAPI(t, s, http.MethodGet, push.PathChallenges, push.AuthScheme+" "+data, "")
		case 3:
			fuzzAPI(t, s, http.MethodDelete, push.PathDevice, push.AuthScheme+" "+data, "")
		}
	})
}
