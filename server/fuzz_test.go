package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gobwas/ws"

	"github.com/seed-3a5b824e/assent/push"
)

func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{`{"type":"response","jws":"a.b.c"}`, `{"type":"hello","token":"x"}`, `not json`, `[]`, `{"type":1}`, ``} {
		f.Add(byte(ws.OpText), []byte(s))
	}
	f.Add(byte(ws.OpBinary), []byte{0, 1, 2})
	f.Fuzz(func(t *testing.T, typ byte, data []byte) {
		op := ws.OpCode(typ)
		m, err := decodeFrame(op, data)
		if err == nil && op != ws.OpText {
			t.Fatalf("accepted a frame of type %d", typ)
		}
		if err != nil && m.Type != "" && op != ws.OpText {
			t.Fatalf("refused frame produced a message %+v", m)
		}
	})
}

// FuzzReadData feeds a push socket's reader arbitrary bytes as what a
// device sent: it never panics, never returns more than a message's
// limit, returns a message only when the frames that carried it were
// masked and whole, and closes the socket with a code when it refuses.
func FuzzReadData(f *testing.F) {
	frame := func(op ws.OpCode, fin bool, p string) []byte {
		fr := ws.MaskFrame(ws.NewFrame(op, fin, []byte(p)))
		b, err := ws.CompileFrame(fr)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	join := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	f.Add(frame(ws.OpText, true, `{"type":"hello"}`))
	f.Add(join(frame(ws.OpPing, true, "x"), frame(ws.OpText, false, `{"type":`), frame(ws.OpPong, true, ""), frame(ws.OpContinuation, true, `"hello"}`)))
	f.Add(join(frame(ws.OpClose, true, "\x03\xe8bye")))
	f.Add(ws.MustCompileFrame(ws.NewTextFrame([]byte("unmasked"))))
	f.Add([]byte{0x81, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, controlEnds := range []bool{false, true} {
			a, b := net.Pipe()
			go io.Copy(io.Discard, b) // the writer's pongs and close frame
			c := newConn(a, "192.0.2.1")
			op, data, err := c.readData(bytes.NewReader(in), nil, controlEnds)
			if err == nil && data != nil {
				if len(data) > push.MaxMessageSize {
					t.Fatalf("a message of %d bytes passed the %d-byte limit", len(data), push.MaxMessageSize)
				}
				if !op.IsData() {
					t.Fatalf("a message with opcode %v", op)
				}
			}
			if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				c.mu.Lock()
				closing := c.closing || c.closed
				c.mu.Unlock()
				if !closing {
					t.Fatalf("refused (%v) but left the socket open", err)
				}
			}
			a.Close()
			b.Close()
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
