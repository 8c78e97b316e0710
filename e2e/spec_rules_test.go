package e2e

// One test per rule of the wire protocol that a device written from
// DESIGN.md alone must meet exactly.

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/push"
)

// pendingChallenge starts a push for a new user and returns the device's
// client and the verified challenge it got.
func pendingChallenge(t *testing.T, e *env, login string) (*push.Client, *push.Challenge) {
	t.Helper()
	_, d, a := e.enrolled(login)
	e.startPush(login)
	cl, err := d.Client(a)
	if err != nil {
		t.Fatal(err)
	}
	chs, _, err := cl.Poll(e.ctx)
	if err != nil || len(chs) != 1 {
		t.Fatalf("poll: %d challenges, %v", len(chs), err)
	}
	return cl, chs[0]
}

func TestAnAnswerAfterExpiryGetsTheSameAnswerBeforeAndAfterTheSweep(t *testing.T) {
	e := newEnv(t)
	cl, ch := pendingChallenge(t, e, "ana")
	e.clock.Advance(6 * time.Minute)
	approve := push.Answer{Consent: push.ConsentApproved, Number: 0}
	// Before the sweep: the late answer marks it expired.
	tok, _ := cl.SignResponse(ch, approve)
	_, err := postResponse(e, ch.ID, tok)
	wantCode(t, err, "challenge_expired")
	// Again, and after the sweep: the same.
	tok, _ = cl.SignResponse(ch, approve)
	_, err = postResponse(e, ch.ID, tok)
	wantCode(t, err, "challenge_expired")

	cl2, ch2 := pendingChallenge(t, e, "bo")
	e.clock.Advance(6 * time.Minute)
	if err := e.srv.GarbageCollect(e.ctx); err != nil {
		t.Fatal(err)
	}
	tok, _ = cl2.SignResponse(ch2, approve)
	_, err = postResponse(e, ch2.ID, tok)
	wantCode(t, err, "challenge_expired")
}

func TestAResponseMadeOutsideTheChallengesLifetimeIsRefused(t *testing.T) {
	e := newEnv(t)
	cl, ch := pendingChallenge(t, e, "ana")
	for name, at := range map[string]time.Time{
		"long before the challenge": e.clock.Now().Add(-10 * time.Minute),
		"long after it expires":     e.clock.Now().Add(20 * time.Minute),
	} {
		c := *cl
		c.Now = func() time.Time { return at }
		tok, _ := c.SignResponse(ch, push.Answer{Consent: push.ConsentDenied})
		_, err := postResponse(e, ch.ID, tok)
		wantCode(t, err, "bad_request")
		if err != nil && !strings.Contains(err.Error(), "lifetime") {
			t.Errorf("%s: %v does not say why", name, err)
		}
	}
	// Nothing changed: the right answer still counts.
	tok, _ := cl.SignResponse(ch, push.Answer{Consent: push.ConsentDenied})
	if out, err := postResponse(e, ch.ID, tok); err != nil || out != push.OutcomeDenied {
		t.Fatalf("the answer made in time: %q %v", out, err)
	}
}

func TestDeviceTokensPastTheirExpiryAreRefused(t *testing.T) {
	e := newEnv(t)
	_, d, a := e.enrolled("ana")
	cl, _ := d.Client(a)
	now := e.clock.Now().Unix()
	get := func(claims push.DeviceClaims) error {
		tok, err := crypto.SignJWS(cl.Key, push.TypDevice, claims, crypto.SignOptions{})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodGet, e.url+push.PathChallenges, nil)
		req.Header.Set("Authorization", push.AuthScheme+" "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			ae := &push.APIError{Status: resp.StatusCode}
			if err := json.NewDecoder(resp.Body).Decode(ae); err != nil {
				t.Fatal(err)
			}
			return ae
		}
		return nil
	}
	base := push.DeviceClaims{Issuer: a.EnrollmentID, Audience: e.url, IAT: now - 30}
	expired := base
	expired.JTI, expired.Exp = crypto.RandomToken(16), now-1
	wantCode(t, get(expired), "token_expired")
	fresh := base
	fresh.JTI, fresh.Exp = crypto.RandomToken(16), now+30
	if err := get(fresh); err != nil {
		t.Fatalf("a fresh token: %v", err)
	}
	// The audience is compared byte for byte: the server's URL exactly.
	slash := base
	slash.JTI, slash.Audience = crypto.RandomToken(16), e.url+"/"
	wantCode(t, get(slash), "wrong_audience")
	// The clock check says which way the device is off.
	ahead := base
	ahead.JTI, ahead.IAT = crypto.RandomToken(16), now+90
	err := get(ahead)
	wantCode(t, err, "clock_skew")
	if !strings.Contains(err.Error(), "1m30s ahead of the server's") {
		t.Fatalf("a device 90 s ahead is told %q", err)
	}
	if resp, err := http.Get(e.url + "/healthz"); err != nil || resp.Header.Get("Date") == "" {
		t.Fatalf("answers carry no Date header to tell the server's time: %v", err)
	}
}

// A device whose clock is off by less than push.MaxClockCorrection works
// on the server's time, measured from the server's answers; the server
// still checks every token's freshness against its own clock.
func TestADeviceClockMinutesOffIsCorrectedByTheServersTime(t *testing.T) {
	for _, off := range []time.Duration{90 * time.Second, -4 * time.Minute} {
		t.Run(off.String(), func(t *testing.T) {
			e := newEnv(t)
			e.addUser("ana", "correct horse battery")
			d, err := core.Open(core.Options{
				Home: filepath.Join(t.TempDir(), "skewed"), KeyStore: core.KeyStoreFile,
				Passphrase: func() ([]byte, error) { return []byte("device passphrase"), nil },
				FileKDF:    cheapArgon2, Now: func() time.Time { return e.clock.Now().Add(off) }, DeviceName: "skewed",
			})
			if err != nil {
				t.Fatal(err)
			}
			a, err := d.Enroll(e.ctx, e.link("ana"))
			if err != nil {
				t.Fatalf("enroll with a clock %v off: %v", off, err)
			}
			_, n := e.startPush("ana")
			p := e.onlyPrompt(d)
			if _, err := d.Approve(e.ctx, p, n); err != nil {
				t.Fatalf("approve with a clock %v off: %v", off, err)
			}
			cl, _ := d.Client(a)
			if got := cl.Clock.Offset(); (got + off).Abs() > 2*time.Second {
				t.Fatalf("the device measured the server %v ahead; it is %v", got, -off)
			}
		})
	}
}
