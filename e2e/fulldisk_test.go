package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/seed-3a5b824e/assent/internal/testvol"
	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
)

// smallVolume is a tmpfs of the given size for the test (testvol.Small).
func smallVolume(t *testing.T, size string) string {
	t.Helper()
	return testvol.Small(t, size, "go test ./e2e -run TestFullDisk")
}

// fillUp appends to path until the volume has no space left.
func fillUp(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if errors.Is(err, syscall.ENOSPC) {
		return
	} else if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", path, err)
			}
			return
		}
	}
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (e *env) call(method, path string, body any, hdr http.Header) answer {
	e.t.Helper()
	a, err := e.try(method, path, body, hdr)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// try is call for other goroutines than the test's: it returns its error.
func (e *env) try(method, path string, body any, hdr http.Header) (answer, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return answer{}, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		return answer{}, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(data)}, nil
}

// wantUnavailable checks the answer of a request that needed to write:
// 503 with Retry-After and the "unavailable" error, not a 500.
func wantUnavailable(t *testing.T, what string, a answer) {
	t.Helper()
	ra, err := strconv.Atoi(a.header.Get("Retry-After"))
	if a.status != http.StatusServiceUnavailable || err != nil || ra < 1 {
		t.Fatalf("%s on a full disk = %d (Retry-After %q) %s; want 503 with Retry-After", what, a.status, a.header.Get("Retry-After"), a.body)
	}
	var ae push.APIError
	if json.Unmarshal([]byte(a.body), &ae) != nil || ae.Code != "unavailable" || !strings.Contains(ae.Message, "try again") || ae.RetryAfter != ra {
		t.Fatalf("%s on a full disk: body %s; want error unavailable, a message saying to try again, retryAfter %d", what, a.body, ra)
	}
}

// TestFullDiskAnswers503AndRecoversWhenSpaceIsFreed runs assentd with its
// database on a small volume and fills the volume: sign-ins, device
// requests and the device's push socket get 503 with Retry-After (not
// 500), /readyz says the node is not ready, and the hosted sign-in page
// says to try again in a moment. Once space is freed, everything works
// again within seconds, without a restart, and nothing committed before
// was lost.
func TestFullDiskAnswers503AndRecoversWhenSpaceIsFreed(t *testing.T) {
	dir := smallVolume(t, "24m")
	e := newEnvOn(t, dir)
	u, d, acct := e.enrolled("ada")
	session := e.pushAndApprove(e.signIn("ada", "correct horse battery"), d).Session
	if session == nil {
		t.Fatal("no session from the sign-in before the disk filled")
	}
	// Sign-ins under way when the disk fills: one at the login, one at the
	// choice of second factor.
	started, err := sdk.New(e.url).Interact(e.ctx, "intranet")
	if err != nil {
		t.Fatal(err)
	}
	pending := e.signIn("ada", "correct horse battery")
	pc, err := d.Client(acct)
	if err != nil {
		t.Fatal(err)
	}
	deviceAuth := func() http.Header {
		tok, err := pc.Token()
		if err != nil {
			t.Fatal(err)
		}
		return http.Header{"Authorization": {push.AuthScheme + " " + tok}}
	}
	interact := sdk.Request{App: "intranet", Kind: sdk.KindSignIn}
	if a := e.call("GET", "/readyz", nil, nil); a.status != http.StatusOK {
		t.Fatalf("readyz before = %d %s", a.status, a.body)
	}

	// Fill the volume. Writes go on for a while into space the database
	// has already; the first that fails makes the store give up its
	// reserve, which the filler then takes too, as a runaway log would.
	filler := filepath.Join(dir, "filler")
	fillUp(t, filler)
	failed := false
	for i := 0; i < 5000 && !failed; i++ {
		a := e.call("POST", "/v1/idx/interact", interact, nil)
		switch a.status {
		case http.StatusOK:
		case http.StatusServiceUnavailable:
			failed = true
			wantUnavailable(t, "first failing sign-in", a)
		default:
			t.Fatalf("sign-in while the disk fills = %d %s", a.status, a.body)
		}
	}
	if !failed {
		t.Fatal("sign-ins never failed on a full disk")
	}
	// It also truncates the WAL into the room the reserve made. Once both
	// are done the filler takes the room, and the store has nothing left
	// to free: every write fails from then on.
	waitUntil(t, "the store gives up its reserve and truncates its WAL", func() bool {
		return fileSize(filepath.Join(dir, "assent.db-reserve")) == 0 && fileSize(filepath.Join(dir, "assent.db-wal")) == 0
	})
	fillUp(t, filler)

	wantUnavailable(t, "POST /v1/idx/interact", e.call("POST", "/v1/idx/interact", interact, nil))
	// Fifty at once: every one a 503, none a 500 or a hang.
	answers := make([]answer, 50)
	parallel(len(answers), func(i int) {
		a, err := e.try("POST", "/v1/idx/interact", interact, nil)
		if err != nil {
			a.body = err.Error()
		}
		answers[i] = a
	})
	for i, a := range answers {
		wantUnavailable(t, "parallel sign-in "+strconv.Itoa(i), a)
	}
	wantUnavailable(t, "identify", e.call("POST", "/v1/idx/"+sdk.RemIdentify, sdk.Request{StateHandle: started.Last.StateHandle, Login: "ada"}, nil))
	wantUnavailable(t, "select push", e.call("POST", "/v1/idx/"+sdk.RemSelectAuth, sdk.Request{StateHandle: pending.Last.StateHandle, Authenticator: sdk.AuthPush}, nil))
	wantUnavailable(t, "GET /v1/challenges (device)", e.call("GET", push.PathChallenges, nil, deviceAuth()))
	// The device's push socket: refused before the upgrade.
	ws, resp, err := websocket.DefaultDialer.Dial(strings.Replace(e.url, "http", "ws", 1)+push.PathPush, deviceAuth())
	if err == nil {
		ws.Close()
		t.Fatal("push socket opened on a full disk")
	}
	if resp == nil {
		t.Fatalf("push socket on a full disk: %v, no HTTP answer", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantUnavailable(t, "push socket", answer{resp.StatusCode, resp.Header, string(body)})
	// /readyz: not ready, saying why.
	a := e.call("GET", "/readyz", nil, nil)
	if a.status != http.StatusServiceUnavailable || !strings.Contains(a.body, "out of space") {
		t.Fatalf("readyz on a full disk = %d %s; want 503 naming the lack of space", a.status, a.body)
	}
	if !strings.Contains(a.body, `"space":"low`) {
		t.Errorf("readyz on a full disk does not show the reserve given up: %s", a.body)
	}
	// The hosted sign-in page.
	a = e.call("GET", server.PathSignIn+"?app=intranet", nil, nil)
	if a.status != http.StatusServiceUnavailable || !strings.Contains(a.body, "Try again in a moment") {
		t.Fatalf("sign-in page on a full disk = %d; want 503 saying to try again in a moment: %s", a.status, a.body)
	}
	// Reads that need no write still work: the session made before.
	if su, err := sdk.New(e.url).Session(e.ctx, session.Token); err != nil || su.User != "ada" {
		t.Fatalf("session check on a full disk = %+v, %v", su, err)
	}

	// Free a little space (1.1 MB, what was freed in the incident): the
	// node recovers by itself, and the space is not eaten by the WAL.
	fi, err := os.Stat(filler)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filler, fi.Size()-1_100_000); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	waitUntil(t, "a sign-in succeeds after space was freed", func() bool {
		return e.call("POST", "/v1/idx/interact", interact, nil).status == http.StatusOK
	})
	signIn := time.Since(freed)
	waitUntil(t, "readyz says ready after space was freed", func() bool {
		return e.call("GET", "/readyz", nil, nil).status == http.StatusOK
	})
	ready := time.Since(freed)
	t.Logf("after space was freed: first sign-in answered in %s, readyz 200 in %s", signIn.Round(time.Millisecond), ready.Round(time.Millisecond))

	// The sign-in under way goes on, a whole new sign-in with a push
	// works, and the device's socket opens.
	if r, err := started.Do(e.ctx, sdk.RemIdentify, sdk.Request{Login: "ada"}); err != nil || !r.Has(sdk.RemChallengeAuth) {
		t.Fatalf("the sign-in under way after recovery: %+v, %v", r, err)
	}
	if r := e.pushAndApprove(pending, d); r.Session == nil {
		t.Fatalf("the sign-in at the second factor after recovery: %+v", r)
	}
	if r := e.pushAndApprove(e.signIn("ada", "correct horse battery"), d); r.Session == nil {
		t.Fatalf("sign-in after recovery: %+v", r)
	}
	ws, resp, err = websocket.DefaultDialer.Dial(strings.Replace(e.url, "http", "ws", 1)+push.PathPush, deviceAuth())
	if err != nil {
		t.Fatalf("push socket after recovery: %v (%v)", err, resp)
	}
	var welcome push.Message
	if err := ws.ReadJSON(&welcome); err != nil || welcome.Type != push.MsgWelcome {
		t.Fatalf("push socket after recovery: %+v, %v", welcome, err)
	}
	ws.Close()

	// The rest of the space comes back: the store takes its reserve back
	// and /readyz no longer says space is low.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "readyz no longer says space is low", func() bool {
		a := e.call("GET", "/readyz", nil, nil)
		return a.status == http.StatusOK && !strings.Contains(a.body, `"space"`)
	})
	if got := fileSize(filepath.Join(dir, "assent.db-reserve")); got < 1<<20 {
		t.Fatalf("reserve file is %d bytes once space is back", got)
	}

	// Nothing committed before the disk filled was lost.
	if su, err := sdk.New(e.url).Session(e.ctx, session.Token); err != nil || su.User != "ada" {
		t.Fatalf("session from before after recovery = %+v, %v", su, err)
	}
	if got, err := e.st.GetUser(e.ctx, u.ID); err != nil || got.Login != "ada" {
		t.Fatalf("user after recovery = %+v, %v", got, err)
	}
	if devs, err := e.st.ListDevices(e.ctx, u.ID); err != nil || len(devs) != 1 || devs[0].ID != acct.EnrollmentID {
		t.Fatalf("devices after recovery = %+v, %v", devs, err)
	}
	check, err := store.VerifyAudit(e.ctx, e.st)
	if err != nil || check.Broken != nil || check.Checked == 0 {
		t.Fatalf("audit chain after recovery: %+v, %v", check, err)
	}
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// waitUntil polls cond every 50 ms until it holds, for at most a minute: a
// deadline for a loaded CI machine, not a measure of speed.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a minute", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
