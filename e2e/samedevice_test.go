package e2e

// Same-device sign-in: the server's side through the embedded API with a
// device key of the test's own (to forge what a relay or a thief could
// send), and the whole path through real Chromium, the hosted pages and
// the app core listening on loopback.

import (
	"crypto/ecdsa"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server"
)

// rawDevice enrolls a device whose key the test holds.
func rawDevice(t *testing.T, e *env, login string) (*ecdsa.PrivateKey, string) {
	t.Helper()
	key, err := crypto.NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	claims := push.EnrollClaims{Token: e.link(login).Token, Device: push.Device{Name: "raw", Platform: "linux", KeyStore: "file"},
		IAT: e.clock.Now().Unix()}
	resp, err := http.Post(e.url+push.PathEnroll, "application/jose", strings.NewReader(mustSign(t, key, push.TypEnroll, claims)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var er push.EnrollResponse
	if err := json.NewDecoder(resp.Body).Decode(&er); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("enroll: %d %v", resp.StatusCode, err)
	}
	return key, er.EnrollmentID
}

// sameDeviceStart signs in with the password and chooses samedevice; it
// returns the transaction and the challenge's claims (checked as the app
// checks them, with the server's key).
func sameDeviceStart(t *testing.T, e *env, login string) (*sdk.Transaction, push.SameDeviceClaims) {
	t.Helper()
	tx := e.signIn(login, "correct horse battery")
	r, err := tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthSameDevice})
	if err != nil {
		t.Fatal(err)
	}
	if r.Factor != sdk.AuthSameDevice || r.SameDevice == "" || !r.Has(sdk.RemChallengeAuth) || !r.Has(sdk.RemSelectAuth) {
		t.Fatalf("after choosing samedevice: %+v", r)
	}
	pub := serverKey(t, e)
	var c push.SameDeviceClaims
	if err := crypto.VerifyJWS(r.SameDevice, pub, push.TypSameDevice, &c); err != nil {
		t.Fatalf("the challenge does not verify with the server key: %v", err)
	}
	if err := c.Check(); err != nil {
		t.Fatal(err)
	}
	if c.Issuer != e.url || c.Origin != e.url || c.Subject != login || c.Org != "Example Org" {
		t.Fatalf("challenge claims %+v", c)
	}
	return tx, c
}

func serverKey(t *testing.T, e *env) *ecdsa.PublicKey {
	t.Helper()
	resp, err := http.Get(e.url + "/v1/server")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info struct {
		Key json.RawMessage `json:"key"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	pub, err := crypto.ParsePublicJWK(info.Key)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func proofOf(t *testing.T, key *ecdsa.PrivateKey, c push.SameDeviceProofClaims) string {
	t.Helper()
	tok, err := crypto.SignJWS(key, push.TypSameDeviceProof, c, crypto.SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestSameDeviceProofCountsOnlyForThisOriginTransactionAndDeviceOnce(t *testing.T) {
	e := newEnv(t)
	e.addUser("sam", "correct horse battery")
	key, id := rawDevice(t, e, "sam")
	e.addUser("eve", "correct horse battery")
	eveKey, eveID := rawDevice(t, e, "eve")
	now := e.clock.Now().Unix()

	tx, c := sameDeviceStart(t, e, "sam")
	good := push.SameDeviceProofClaims{Issuer: id, Audience: e.url, ID: c.ID, Origin: e.url, IAT: now}
	for name, bad := range map[string]string{
		// A phishing page relayed the challenge; the proof names its origin.
		"relayed from another origin": proofOf(t, key, func() push.SameDeviceProofClaims { p := good; p.Origin = "https://assent.example.evil"; return p }()),
		"another server":              proofOf(t, key, func() push.SameDeviceProofClaims { p := good; p.Audience = "https://other.example"; return p }()),
		"another challenge":           proofOf(t, key, func() push.SameDeviceProofClaims { p := good; p.ID = "not-the-challenge"; return p }()),
		"made long ago":               proofOf(t, key, func() push.SameDeviceProofClaims { p := good; p.IAT = now - 600; return p }()),
		"another user's device":       proofOf(t, eveKey, func() push.SameDeviceProofClaims { p := good; p.Issuer = eveID; return p }()),
		"signed by another key":       proofOf(t, eveKey, good),
		"wrong type":                  mustSign(t, key, push.TypResponse, good),
		"garbage":                     "a.b.c",
	} {
		_, err := tx.Do(e.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthSameDevice, Proof: bad})
		if code := errCode(err); code != "proof_refused" {
			t.Errorf("%s: got %v, want proof_refused", name, err)
		}
	}
	if types := strings.Join(e.auditTypes(mustUser(t, e, "sam").ID), " "); !strings.Contains(types, "samedevice.refused") {
		t.Errorf("refusals by sam's own device are not audited: %s", types)
	}
	// The refusals changed nothing: the right proof still counts, once.
	proof := proofOf(t, key, good)
	r, err := tx.Do(e.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthSameDevice, Proof: proof})
	if err != nil || r.Status != sdk.StatusSuccess {
		t.Fatalf("the right proof: %+v %v", r, err)
	}
	su, err := sdk.New(e.url).Session(e.ctx, r.Session.Token)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(su.AMR, " "); got != "pwd swk phr mfa" {
		t.Errorf("amr %q, want pwd swk phr mfa", got)
	}
	if _, err := tx.Do(e.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthSameDevice, Proof: proof}); err == nil {
		t.Fatal("a proof was taken twice")
	}
	// Replayed into another transaction of the same user: another challenge.
	tx2, _ := sameDeviceStart(t, e, "sam")
	if _, err := tx2.Do(e.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthSameDevice, Proof: proof}); errCode(err) != "proof_refused" {
		t.Fatalf("a proof replayed into another transaction: %v", err)
	}
}

func TestSameDeviceProofNeedsTheAppLockWhereTheRuleRequiresIt(t *testing.T) {
	e := newEnv(t, withPolicy(t, `signOn:
  - name: Verified
    action:
      factors: 2
      userVerification: required
`))
	e.addUser("sam", "correct horse battery")
	key, id := rawDevice(t, e, "sam")
	tx, c := sameDeviceStart(t, e, "sam")
	if c.UserVerification != push.UVRequired {
		t.Fatalf("challenge userVerification %q, want required", c.UserVerification)
	}
	p := push.SameDeviceProofClaims{Issuer: id, Audience: e.url, ID: c.ID, Origin: e.url, IAT: e.clock.Now().Unix()}
	if _, err := tx.Do(e.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthSameDevice, Proof: proofOf(t, key, p)}); errCode(err) != "verification_required" {
		t.Fatalf("a proof without uv: %v", err)
	}
	p.UV = true
	r, err := tx.Do(e.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthSameDevice, Proof: proofOf(t, key, p)})
	if err != nil || r.Status != sdk.StatusSuccess {
		t.Fatalf("a verified proof: %+v %v", r, err)
	}
}

func TestPhishingResistantRuleRefusesPushAndCodesAndTakesTheSameDeviceProof(t *testing.T) {
	e := newEnv(t, withPolicy(t, `signOn:
  - name: Phishing-resistant
    action:
      factors: 2
      phishingResistant: required
`))
	e.addUser("sam", "correct horse battery")
	key, id := rawDevice(t, e, "sam")
	tx := e.signIn("sam", "correct horse battery")
	for _, a := range []string{sdk.AuthPush, sdk.AuthTOTP, sdk.AuthEmail} {
		if _, err := tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: a}); errCode(err) != "bad_request" {
			t.Errorf("%s under phishingResistant: required: %v", a, err)
		}
	}
	r, err := tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthSameDevice})
	if err != nil {
		t.Fatal(err)
	}
	var c push.SameDeviceClaims
	if err := crypto.UnverifiedClaims(r.SameDevice, &c); err != nil {
		t.Fatal(err)
	}
	p := push.SameDeviceProofClaims{Issuer: id, Audience: e.url, ID: c.ID, Origin: e.url, IAT: e.clock.Now().Unix()}
	r, err = tx.Do(e.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthSameDevice, Proof: proofOf(t, key, p)})
	if err != nil || r.Status != sdk.StatusSuccess {
		t.Fatalf("the proof: %+v %v", r, err)
	}
}

func TestSameDeviceChallengeExpires(t *testing.T) {
	e := newEnv(t)
	e.addUser("sam", "correct horse battery")
	key, id := rawDevice(t, e, "sam")
	tx, c := sameDeviceStart(t, e, "sam")
	e.clock.Advance(3 * time.Minute)
	p := push.SameDeviceProofClaims{Issuer: id, Audience: e.url, ID: c.ID, Origin: e.url, IAT: e.clock.Now().Unix()}
	if _, err := tx.Do(e.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthSameDevice, Proof: proofOf(t, key, p)}); errCode(err) != "samedevice_expired" {
		t.Fatalf("a proof after the challenge expired: %v", err)
	}
	// Back to the choice: a push still works.
	if _, err := tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush}); err != nil {
		t.Fatal(err)
	}
}

func TestLevelPhrAsksForAPhishingResistantFactorAndTheSessionReachesIt(t *testing.T) {
	e := newEnv(t)
	e.addUser("sam", "correct horse battery")
	key, id := rawDevice(t, e, "sam")
	tx, err := e.api().Start(e.ctx, sdk.Request{App: "intranet", Level: "phr"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Do(e.ctx, sdk.RemIdentify, sdk.Request{Login: "sam"}); err != nil {
		t.Fatal(err)
	}
	r, err := tx.Do(e.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthPassword, Passcode: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	// This server has no passkeys (an IP address); the app on this
	// computer is the one way left.
	if opts := r.Remediation[0].Fields[0].Options; !slices.Equal(opts, []string{sdk.AuthSameDevice}) {
		t.Fatalf("options at level phr = %v, want samedevice alone", opts)
	}
	r, err = tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthSameDevice})
	if err != nil {
		t.Fatal(err)
	}
	var c push.SameDeviceClaims
	if err := crypto.UnverifiedClaims(r.SameDevice, &c); err != nil {
		t.Fatal(err)
	}
	p := push.SameDeviceProofClaims{Issuer: id, Audience: e.url, ID: c.ID, Origin: e.url, IAT: e.clock.Now().Unix()}
	r, err = tx.Do(e.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthSameDevice, Proof: proofOf(t, key, p)})
	if err != nil || r.Session == nil {
		t.Fatalf("the proof: %+v %v", r, err)
	}
	su, err := e.api().Session(e.ctx, r.Session.Token)
	if err != nil {
		t.Fatal(err)
	}
	if got := server.LevelOf(su.AMR); got != server.LevelPhR {
		t.Fatalf("the session's amr %v reaches level %q, want phr", su.AMR, got)
	}
}

// Fifty copies of one proof sent at once: one sign-in, and no session for
// the others.
func TestSameDeviceProofSentFiftyTimesAtOnceSignsInOnce(t *testing.T) {
	e := newEnv(t)
	e.addUser("sam", "correct horse battery")
	key, id := rawDevice(t, e, "sam")
	tx, c := sameDeviceStart(t, e, "sam")
	proof := proofOf(t, key, push.SameDeviceProofClaims{Issuer: id, Audience: e.url, ID: c.ID, Origin: e.url, IAT: e.clock.Now().Unix()})
	var wg sync.WaitGroup
	var sessions atomic.Int32
	for range 50 {
		wg.Go(func() {
			own := *tx // each request its own copy (Do records its answer), as heldPoll does
			r, err := own.Do(e.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthSameDevice, Proof: proof})
			if err == nil && r.Session != nil {
				sessions.Add(1)
			}
		})
	}
	wg.Wait()
	if n := sessions.Load(); n != 1 {
		t.Fatalf("one proof sent 50 times at once made %d sessions, want 1", n)
	}
}
