package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
)

// postResponse sends a signed response over the HTTP fallback.
func postResponse(e *env, id, tok string) (string, error) {
	req, _ := http.NewRequest(http.MethodPost, e.url+push.PathChallenges+"/"+id+"/response", strings.NewReader(tok))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		ae := &push.APIError{Status: resp.StatusCode}
		if err := json.Unmarshal(data, ae); err != nil {
			return "", err
		}
		return "", ae
	}
	var out struct{ Outcome string }
	return out.Outcome, json.Unmarshal(data, &out)
}

func TestEnrollmentLinkWorksOnce(t *testing.T) {
	e := newEnv(t)
	e.addUser("olga", "correct horse battery")
	l := e.link("olga")
	if _, err := e.device("first").Enroll(e.ctx, l); err != nil {
		t.Fatal(err)
	}
	d2 := e.device("second")
	_, err := d2.Enroll(e.ctx, l)
	wantCode(t, err, "token_used")
	if n := len(d2.Accounts()); n != 0 {
		t.Fatalf("a refused enrollment left %d accounts", n)
	}
}

func TestEnrollmentLinkExpiresAfterTenMinutes(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("pete", "correct horse battery")
	l := e.link("pete")
	e.clock.Advance(10*time.Minute + time.Second)
	d := e.device("late")
	_, err := d.Enroll(e.ctx, l)
	wantCode(t, err, "token_expired")
	devs, _ := e.st.ListDevices(e.ctx, u.ID)
	if len(devs) != 0 || len(d.Accounts()) != 0 {
		t.Fatalf("an expired link enrolled something: %d devices, %d accounts", len(devs), len(d.Accounts()))
	}
}

func TestEnrollmentRefusesAServerWhoseKeyDoesNotMatchThePin(t *testing.T) {
	e := newEnv(t)
	e.addUser("quinn", "correct horse battery")
	l := e.link("quinn")
	other, _ := crypto.NewDeviceKey()
	l.Pin, _ = crypto.Thumbprint(&other.PublicKey)
	d := e.device("pinned")
	_, err := d.Enroll(e.ctx, l)
	if err == nil || !strings.Contains(err.Error(), "pin") {
		t.Fatalf("want a pin mismatch, got %v", err)
	}
	if len(d.Accounts()) != 0 {
		t.Fatal("the account was kept despite the pin mismatch")
	}
}

func TestOfflineDeviceFindsThePushWhenItAsks(t *testing.T) {
	e := newEnv(t)
	_, d, _ := e.enrolled("rita")
	// No socket is open: the push is stored and waits.
	tx, number := e.startPush("rita")
	p := e.onlyPrompt(d)
	if _, err := d.Approve(e.ctx, p, number); err != nil {
		t.Fatal(err)
	}
	if r, err := e.poll(tx); err != nil || r.Status != "success" {
		t.Fatalf("poll = %+v, %v", r, err)
	}
	// The settled push went through the group commit, which the
	// operator's metrics count (batch size = items ÷ batches).
	rec := httptest.NewRecorder()
	e.srv.OpsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{`assent_group_commit_batches_total{kind="challenges"} 1`, `assent_group_commit_items_total{kind="challenges"} 1`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestListeningDeviceGetsThePushLiveAndPendingOnesOnConnect(t *testing.T) {
	e := newEnv(t)
	_, d, _ := e.enrolled("sam")
	// One push is made while the device is offline...
	tx1, n1 := e.startPush("sam")
	prompts := make(chan core.Prompt, 4)
	resolved := make(chan string, 4)
	drift := make(chan time.Duration, 4)
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	go d.Listen(ctx, core.Events{
		Prompt:   func(p core.Prompt) { prompts <- p },
		Resolved: func(_ core.Account, id, outcome string) { resolved <- id + " " + outcome },
		Drift:    func(_ core.Account, dd time.Duration) { drift <- dd },
	})
	// ...and arrives when it connects.
	p1 := recv(t, prompts)
	if d := recv(t, drift); d.Abs() > time.Second {
		t.Fatalf("drift against the shared clock = %s", d)
	}
	if _, err := d.Approve(e.ctx, p1, n1); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, resolved); got != p1.ID+" approved" {
		t.Fatalf("resolved = %q", got)
	}
	if r, _ := e.poll(tx1); r == nil || r.Status != "success" {
		t.Fatalf("first sign-in did not succeed: %+v", r)
	}
	// A push made while connected arrives at once.
	tx2, _ := e.startPush("sam")
	p2 := recv(t, prompts)
	// Cancelling the sign-in takes the prompt away.
	if _, err := tx2.Do(e.ctx, "cancel", sdk.Request{}); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, resolved); got != p2.ID+" cancelled" {
		t.Fatalf("resolved after cancel = %q", got)
	}
}

func recv[T any](t *testing.T, c chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("nothing arrived within 10s")
	}
	var zero T
	return zero
}

func TestPushSocketAnswersGarbageWithErrorsAndStaysUp(t *testing.T) {
	e := newEnv(t)
	_, d, a := e.enrolled("tina")
	ws := dialDevice(t, e, d, a)
	expectType(t, ws, push.MsgWelcome)
	for _, frame := range []string{"not json", `{"type":"bogus"}`, `[1,2,3]`, `{"type":"response","jws":"a.b.c"}`} {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			t.Fatal(err)
		}
		m := expectType(t, ws, push.MsgError)
		if m.Message == "" {
			t.Fatalf("error for %q says nothing", frame)
		}
	}
	// Still connected: a push arrives.
	e.startPush("tina")
	m := expectType(t, ws, push.MsgChallenge)
	cl, _ := d.Client(a)
	ch, err := cl.VerifyChallenge(m.JWS)
	if err != nil {
		t.Fatal(err)
	}
	// Answering over the socket works and is acknowledged.
	tok, _ := cl.SignResponse(ch, push.Answer{Consent: push.ConsentDenied})
	ws.WriteJSON(push.Message{Type: push.MsgResponse, JWS: tok})
	for {
		m = readMsg(t, ws)
		if m.Type == push.MsgAck {
			break
		}
	}
	if m.ID != ch.ID || m.Outcome != push.OutcomeDenied {
		t.Fatalf("ack = %+v", m)
	}
}

func TestPushSocketClosesOnOversizedFrame(t *testing.T) {
	e := newEnv(t)
	_, d, a := e.enrolled("uma")
	ws := dialDevice(t, e, d, a)
	expectType(t, ws, push.MsgWelcome)
	big := bytes.Repeat([]byte("x"), push.MaxMessageSize+1)
	ws.WriteMessage(websocket.TextMessage, big)
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
			t.Fatalf("want close 1009 (message too big), got %v", err)
		}
		break
	}
	// The server is fine and the device can reconnect.
	ws2 := dialDevice(t, e, d, a)
	expectType(t, ws2, push.MsgWelcome)
}

func TestPushSocketRefusesForgedAndReplayedTokens(t *testing.T) {
	e := newEnv(t)
	_, d, a := e.enrolled("vera")
	cl, _ := d.Client(a)
	tok, _ := cl.Token()
	// A token signed by another key for this device.
	forger := *cl
	forger.Key, _ = crypto.NewDeviceKey()
	forged, _ := forger.Token()
	for name, c := range map[string]struct {
		tok  string
		code string
	}{
		"garbage": {"not-a-jws", "unauthorized"},
		"forged":  {forged, "unauthorized"},
	} {
		t.Run(name, func(t *testing.T) {
			_, resp, err := websocket.DefaultDialer.Dial(strings.Replace(e.url, "http", "ws", 1)+push.PathPush,
				http.Header{"Authorization": {push.AuthScheme + " " + c.tok}})
			if err == nil {
				t.Fatal("connected with a bad token")
			}
			if resp == nil || resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("want 401, got %v", resp)
			}
		})
	}
	// A good token works once.
	h := http.Header{"Authorization": {push.AuthScheme + " " + tok}}
	ws, _, err := websocket.DefaultDialer.Dial(strings.Replace(e.url, "http", "ws", 1)+push.PathPush, h)
	if err != nil {
		t.Fatal(err)
	}
	ws.Close()
	_, resp, err := websocket.DefaultDialer.Dial(strings.Replace(e.url, "http", "ws", 1)+push.PathPush, h)
	if err == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a replayed device token was accepted: %v", err)
	}
	// A token made on a clock further off than the app corrects is
	// refused with the reason.
	skewed := *cl
	skewed.Now = func() time.Time { return e.clock.Now().Add(-15 * time.Minute) }
	_, _, err = skewed.Poll(e.ctx)
	wantCode(t, err, "clock_skew")
	if !strings.Contains(err.Error(), "15m0s behind the server's") {
		t.Fatalf("a device 15 minutes behind is told %v", err)
	}
}

func TestDeviceRefusesForgedChallenges(t *testing.T) {
	e := newEnv(t)
	_, d, a := e.enrolled("wes")
	cl, _ := d.Client(a)
	evil, _ := crypto.NewDeviceKey()
	claims := push.ChallengeClaims{Issuer: e.url, Audience: a.EnrollmentID, Subject: "wes", ID: "chl_x", Nonce: "n",
		IAT: time.Now().Unix(), Exp: time.Now().Add(time.Minute).Unix(), Kind: push.KindSignIn, Numbers: []int{11, 22, 33}, UserVerification: push.UVNone}
	forged, _ := crypto.SignJWS(evil, push.TypChallenge, claims, crypto.SignOptions{})
	if _, err := cl.VerifyChallenge(forged); err == nil {
		t.Fatal("a challenge signed by another key was accepted")
	}
	// A genuine challenge for another enrollment is refused too.
	_, _, other := e.enrolled("xena")
	e.startPush("xena")
	xs, _ := e.st.ListChallenges(e.ctx, store.ChallengeFilter{DeviceID: other.EnrollmentID})
	if _, err := cl.VerifyChallenge(xs[0].JWS); err == nil || !strings.Contains(err.Error(), "enrollment") {
		t.Fatalf("a challenge for another enrollment: %v", err)
	}
}

func TestBadEnrollmentInputsAreClearErrorsAndStoreNothing(t *testing.T) {
	e := newEnv(t)
	e.addUser("yara", "correct horse battery")
	d := e.device("yara-phone")
	dir := t.TempDir()
	blank := filepath.Join(dir, "blank.png")
	img := image.NewGray(image.Rect(0, 0, 200, 200))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	os.WriteFile(blank, buf.Bytes(), 0o600)
	notImage := filepath.Join(dir, "notes.png")
	os.WriteFile(notImage, []byte("hello"), 0o600)
	good := e.link("yara")
	for name, c := range map[string]struct{ input, want string }{
		"no QR in the image":   {blank, "no QR code"},
		"not an image":         {notImage, "PNG or JPEG"},
		"missing file":         {filepath.Join(dir, "nope.png"), "neither a link"},
		"wrong scheme":         {"https://example.com/enroll", "unrecognised"},
		"token cut short":      {strings.Replace(good.String(), good.Token, good.Token[:10], 1), "token"},
		"plain http elsewhere": {strings.Replace(good.String(), "server=http://127.0.0.1", "server=http://example.com", 1), "server"},
		"bad otpauth secret":   {"otpauth://totp/X:y?secret=0189", "secret"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := d.Add(e.ctx, c.input)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error about %q, got %v", c.want, err)
			}
		})
	}
	if n := len(d.Accounts()); n != 0 {
		t.Fatalf("bad inputs stored %d accounts", n)
	}
	// The link was never spent: it still enrolls.
	if _, err := d.Enroll(e.ctx, good); err != nil {
		t.Fatal(err)
	}
}

func TestForgedEnrollmentRequestsAreRefused(t *testing.T) {
	e := newEnv(t)
	e.addUser("zoe", "correct horse battery")
	l := e.link("zoe")
	key, _ := crypto.NewDeviceKey()
	other, _ := crypto.NewDeviceKey()
	dev := push.Device{Name: "x", Platform: "linux", KeyStore: "file"}
	// Signed by one key, embedding another: proof of possession fails.
	claims := push.EnrollClaims{Token: l.Token, Device: dev, IAT: e.clock.Now().Unix()}
	tok, _ := crypto.SignJWS(key, push.TypEnroll, claims, crypto.SignOptions{EmbedJWK: true})
	parts := strings.Split(tok, ".")
	tok2, _ := crypto.SignJWS(other, push.TypEnroll, claims, crypto.SignOptions{EmbedJWK: true})
	mixed := strings.Split(tok2, ".")[0] + "." + parts[1] + "." + parts[2]
	for name, body := range map[string]string{"mixed key": mixed, "garbage": "zzz", "empty": "", "wrong typ": mustSign(t, key, push.TypDevice, claims)} {
		t.Run(name, func(t *testing.T) {
			resp, err := http.Post(e.url+push.PathEnroll, "application/jose", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", resp.StatusCode)
			}
		})
	}
	// The token is still good for a real enrollment.
	if _, err := e.device("real").Enroll(e.ctx, l); err != nil {
		t.Fatal(err)
	}
}

func mustSign(t *testing.T, key *ecdsa.PrivateKey, typ string, claims any) string {
	t.Helper()
	tok, err := crypto.SignJWS(key, typ, claims, crypto.SignOptions{EmbedJWK: true})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// dialDevice opens the push socket as an enrolled device.
func dialDevice(t testing.TB, e *env, d *core.Core, a core.Account) *websocket.Conn {
	t.Helper()
	cl, err := d.Client(a)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := cl.Token()
	ws, _, err := websocket.DefaultDialer.Dial(strings.Replace(e.url, "http", "ws", 1)+push.PathPush,
		http.Header{"Authorization": {push.AuthScheme + " " + tok}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func readMsg(t testing.TB, ws *websocket.Conn) push.Message {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var m push.Message
	if err := ws.ReadJSON(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// expectType reads the next message and insists on its type.
func expectType(t testing.TB, ws *websocket.Conn, typ string) push.Message {
	t.Helper()
	m := readMsg(t, ws)
	if m.Type != typ {
		t.Fatalf("want a %s message, got %+v", typ, m)
	}
	return m
}

func TestPushSocketKeepsDevicesThatAnswerPingsAndDropsSilentOnes(t *testing.T) {
	e := newEnv(t, func(o *server.Options) { o.PingInterval, o.IdleTimeout = 100*time.Millisecond, 2*time.Second })
	_, d, a := e.enrolled("pat")
	alive := dialDevice(t, e, d, a)
	expectType(t, alive, push.MsgWelcome)
	silent := dialDevice(t, e, d, a)
	expectType(t, silent, push.MsgWelcome)
	// The silent one never reads, so it never answers a ping.
	pings := make(chan struct{}, 100)
	alive.SetPingHandler(func(data string) error {
		pings <- struct{}{}
		return alive.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	msgs := make(chan push.Message, 16)
	go func() {
		for {
			var m push.Message
			if err := alive.ReadJSON(&m); err != nil {
				return
			}
			msgs <- m
		}
	}()
	for range 3 {
		recv(t, pings)
	}
	// Wait until the server has dropped the silent socket.
	deadline := time.Now().Add(15 * time.Second)
	for e.srv.ConnectedDevices() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sockets open; the silent one was not closed", e.srv.ConnectedDevices())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The answering one is still there and still gets pushes.
	e.startPush("pat")
	if m := recv(t, msgs); m.Type != push.MsgChallenge {
		t.Fatalf("the answering socket got %+v, want the challenge", m)
	}
}
