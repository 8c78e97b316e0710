package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/server/policy"
	"github.com/seed-3a5b824e/assent/server/store"
	"github.com/seed-3a5b824e/assent/server/store/sqlite"
)

// The component's tests run real ceremonies: a software authenticator
// (an ECDSA P-256 key, "none" attestation encoded with go-webauthn's own
// CBOR and COSE types) answers the options the server made, and the
// server checks the answers with go-webauthn. The e2e tests do the same
// with Chromium's virtual authenticator.

const testRPOrigin = "https://id.example.com"

func newPasskeyServer(t testing.TB) *Server {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "assent.db"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(context.Background(), Options{URL: testRPOrigin, Org: "Example Org", Store: st, SealKey: crypto.RandomBytes(32),
		PasswordParams: crypto.Argon2Params{Time: 1, Memory: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown() })
	return s
}

func addPasskeyUser(t testing.TB, s *Server, login string) store.User {
	t.Helper()
	u, err := s.AddUser(context.Background(), NewUser{Login: login, Password: "correct horse battery", Email: login + "@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// softKey is a software authenticator holding one credential.
type softKey struct {
	id     []byte
	key    *ecdsa.PrivateKey
	count  uint32
	handle []byte // the user handle it keeps (a discoverable credential)
	// What it does: verify the person, a synced (backup-eligible) key,
	// and where it thinks it is (a phishing page is another origin).
	uv, synced   bool
	rpID, origin string
}

func newSoftKey(t testing.TB) *softKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &softKey{id: crypto.RandomBytes(32), key: k, uv: true, rpID: "id.example.com", origin: testRPOrigin}
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (k *softKey) flags(attested bool) byte {
	f := byte(protocol.FlagUserPresent)
	if k.uv {
		f |= byte(protocol.FlagUserVerified)
	}
	if k.synced {
		f |= byte(protocol.FlagBackupEligible) | byte(protocol.FlagBackupState)
	}
	if attested {
		f |= byte(protocol.FlagAttestedCredentialData)
	}
	return f
}

func (k *softKey) authData(attested bool) []byte {
	rp := sha256.Sum256([]byte(k.rpID))
	out := append(rp[:], k.flags(attested))
	out = binary.BigEndian.AppendUint32(out, k.count)
	return out
}

func clientData(typ, challenge, origin string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": origin, "crossOrigin": false})
	return b
}

// create answers navigator.credentials.create.
func (k *softKey) create(t testing.TB, options json.RawMessage) json.RawMessage {
	t.Helper()
	var cc struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			User      struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &cc); err != nil {
		t.Fatal(err)
	}
	handle, err := base64.RawURLEncoding.DecodeString(cc.PublicKey.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	k.handle = handle
	cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         1, XCoord: k.key.X.FillBytes(make([]byte, 32)), YCoord: k.key.Y.FillBytes(make([]byte, 32)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ad := k.authData(true)
	ad = append(ad, make([]byte, 16)...) // AAGUID: none
	ad = binary.BigEndian.AppendUint16(ad, uint16(len(k.id)))
	ad = append(ad, k.id...)
	ad = append(ad, cose...)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": ad})
	if err != nil {
		t.Fatal(err)
	}
	cdj := clientData("webauthn.create", cc.PublicKey.Challenge, k.origin)
	out, _ := json.Marshal(map[string]any{
		"id": b64u(k.id), "rawId": b64u(k.id), "type": "public-key", "authenticatorAttachment": "platform",
		"response": map[string]any{"clientDataJSON": b64u(cdj), "attestationObject": b64u(att), "transports": []string{"internal"}},
	})
	return out
}

// get answers navigator.credentials.get: the counter moves on first.
func (k *softKey) get(t testing.TB, options json.RawMessage) json.RawMessage {
	t.Helper()
	k.count++
	return k.sign(t, options, k.handle)
}

// sign makes an assertion with the counter as it is and the given user
// handle.
func (k *softKey) sign(t testing.TB, options json.RawMessage, handle []byte) json.RawMessage {
	t.Helper()
	var ca struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &ca); err != nil {
		t.Fatal(err)
	}
	cdj := clientData("webauthn.get", ca.PublicKey.Challenge, k.origin)
	ad := k.authData(false)
	h := sha256.Sum256(cdj)
	digest := sha256.Sum256(append(slices.Clone(ad), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	resp := map[string]any{"clientDataJSON": b64u(cdj), "authenticatorData": b64u(ad), "signature": b64u(sig)}
	if handle != nil {
		resp["userHandle"] = b64u(handle)
	}
	out, _ := json.Marshal(map[string]any{"id": b64u(k.id), "rawId": b64u(k.id), "type": "public-key", "response": resp})
	return out
}

// register makes k a passkey of u.
func register(t testing.TB, s *Server, u store.User, k *softKey, name string) Passkey {
	t.Helper()
	ctx := context.Background()
	opts, sess, err := s.beginPasskeyRegistration(ctx, u, policy.UVPreferred)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := s.finishPasskeyRegistration(ctx, u, sess, k.create(t, opts), name)
	if err != nil {
		t.Fatal(err)
	}
	return pk
}

// login runs a sign-in ceremony with k: for u (a second factor), or
// discoverable (u nil).
func login(t testing.TB, s *Server, u *store.User, uv string, k *softKey) (passkeyResult, error) {
	t.Helper()
	opts, sess, err := s.beginPasskeyLogin(context.Background(), u, uv)
	if err != nil {
		t.Fatal(err)
	}
	return s.finishPasskeyLogin(context.Background(), u, sess, k.get(t, opts))
}

func wantRefused(t testing.TB, err error, want *apiError) {
	t.Helper()
	var ae *apiError
	if !errors.As(err, &ae) {
		t.Fatalf("want %q (%s), got %v", want.Code, want.Message, err)
	}
	if ae.Code != want.Code || ae.Message != want.Message {
		t.Fatalf("want %s %q, got %s %q", want.Code, want.Message, ae.Code, ae.Message)
	}
}

func auditTypes(t testing.TB, s *Server, userID string) []string {
	t.Helper()
	evs, err := s.st.ListAudit(context.Background(), store.AuditFilter{UserID: userID})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

func TestPasskeyRegistersAndSignsInAsASecondFactor(t *testing.T) {
	s := newPasskeyServer(t)
	ctx := context.Background()
	u := addPasskeyUser(t, s, "ana")
	if s.hasPasskey(ctx, u.ID) {
		t.Fatal("a new user has a passkey")
	}
	k := newSoftKey(t)
	pk := register(t, s, u, k, "  Work\tlaptop\u200b ")
	if pk.Name != "Work laptop" || pk.UserID != u.ID || pk.CredentialID != b64u(k.id) || !pk.UV || pk.Synced() {
		t.Fatalf("registered %+v", pk)
	}
	if !s.hasPasskey(ctx, u.ID) {
		t.Fatal("hasPasskey is false after registering")
	}
	// The options name the user by the handle (no id, no login), and
	// exclude the passkey the user has.
	opts, _, err := s.beginPasskeyRegistration(ctx, u, policy.UVRequired)
	if err != nil {
		t.Fatal(err)
	}
	var cc protocol.CredentialCreation
	if err := json.Unmarshal(opts, &cc); err != nil {
		t.Fatal(err)
	}
	if cc.Response.RelyingParty.ID != "id.example.com" || cc.Response.RelyingParty.Name != "Example Org" ||
		cc.Response.AuthenticatorSelection.ResidentKey != protocol.ResidentKeyRequirementPreferred ||
		cc.Response.AuthenticatorSelection.UserVerification != protocol.VerificationRequired {
		t.Fatalf("creation options %+v", cc.Response)
	}
	if len(cc.Response.CredentialExcludeList) != 1 || b64u(cc.Response.CredentialExcludeList[0].CredentialID) != b64u(k.id) {
		t.Fatalf("excludeCredentials = %+v", cc.Response.CredentialExcludeList)
	}
	if strings.Contains(string(opts), u.ID) || b64u(k.handle) != b64u(s.passkeyHandle(u.ID)) || len(k.handle) != 32 {
		t.Fatal("the user handle is not the HMAC of the user's id")
	}

	// A second factor: the options list the user's credential.
	lopts, sess, err := s.beginPasskeyLogin(ctx, &u, policy.UVPreferred)
	if err != nil {
		t.Fatal(err)
	}
	var ca protocol.CredentialAssertion
	if err := json.Unmarshal(lopts, &ca); err != nil {
		t.Fatal(err)
	}
	if ca.Response.RelyingPartyID != "id.example.com" || len(ca.Response.AllowedCredentials) != 1 || ca.Mediation != "" {
		t.Fatalf("request options %+v", ca)
	}
	r, err := s.finishPasskeyLogin(ctx, &u, sess, k.get(t, lopts))
	if err != nil {
		t.Fatal(err)
	}
	if r.UserID != u.ID || r.CredentialID != pk.ID || r.Name != "Work laptop" || !r.UV || r.BackupEligible {
		t.Fatalf("result %+v", r)
	}
	pks, err := s.listPasskeys(ctx, u.ID)
	if err != nil || len(pks) != 1 {
		t.Fatalf("list = %v, %v", pks, err)
	}
	if pks[0].SignCount != 1 || pks[0].LastUsedAt.IsZero() || pks[0].Disabled {
		t.Fatalf("after use %+v", pks[0])
	}
	if got := auditTypes(t, s, u.ID); !slices.Contains(got, "passkey.registered") || !slices.Contains(got, "passkey.used") {
		t.Fatalf("audit = %v", got)
	}
}

func TestPasskeySignsInWithoutALoginAndKnowsItsUser(t *testing.T) {
	s := newPasskeyServer(t)
	ana, ben := addPasskeyUser(t, s, "ana"), addPasskeyUser(t, s, "ben")
	ka, kb := newSoftKey(t), newSoftKey(t)
	ka.synced = true
	register(t, s, ana, ka, "phone")
	register(t, s, ben, kb, "key")

	opts, _, err := s.beginPasskeyLogin(context.Background(), nil, policy.UVPreferred)
	if err != nil {
		t.Fatal(err)
	}
	var ca protocol.CredentialAssertion
	if err := json.Unmarshal(opts, &ca); err != nil {
		t.Fatal(err)
	}
	if len(ca.Response.AllowedCredentials) != 0 || ca.Mediation != protocol.MediationConditional {
		t.Fatalf("discoverable options %+v", ca)
	}
	r, err := login(t, s, nil, policy.UVPreferred, ka)
	if err != nil {
		t.Fatal(err)
	}
	if r.UserID != ana.ID || !r.BackupEligible {
		t.Fatalf("ana's synced passkey signed in as %+v", r)
	}
	if r, err = login(t, s, nil, policy.UVPreferred, kb); err != nil || r.UserID != ben.ID || r.BackupEligible {
		t.Fatalf("ben's key: %+v, %v", r, err)
	}
}

func TestPasskeyOfAnotherUserIsRefused(t *testing.T) {
	s := newPasskeyServer(t)
	ctx := context.Background()
	ana, ben := addPasskeyUser(t, s, "ana"), addPasskeyUser(t, s, "ben")
	ka, kb := newSoftKey(t), newSoftKey(t)
	register(t, s, ana, ka, "ana's")
	register(t, s, ben, kb, "ben's")

	// Ben's sign-in lists Ben's credential; Ana's key answers it.
	opts, sess, err := s.beginPasskeyLogin(ctx, &ben, policy.UVPreferred)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.finishPasskeyLogin(ctx, &ben, sess, ka.get(t, opts)); err == nil {
		t.Fatal("ana's passkey passed ben's second factor")
	}
	// A discoverable request for Ben (a sign-in before any factor): Ana's
	// credential is refused too.
	opts, sess, _ = s.beginPasskeyLogin(ctx, nil, policy.UVPreferred)
	_, err = s.finishPasskeyLogin(ctx, &ben, sess, ka.get(t, opts))
	wantRefused(t, err, errPasskeyRefused)
	// Ana's credential claiming Ben's user handle.
	opts, sess, _ = s.beginPasskeyLogin(ctx, nil, policy.UVPreferred)
	ka.count++
	_, err = s.finishPasskeyLogin(ctx, nil, sess, ka.sign(t, opts, kb.handle))
	wantRefused(t, err, errPasskeyRefused)
	// A credential nobody registered.
	stranger := newSoftKey(t)
	stranger.handle = crypto.RandomBytes(32)
	_, err = login(t, s, nil, policy.UVPreferred, stranger)
	wantRefused(t, err, errPasskeyUnknown)
	// Ben still signs in.
	if r, err := login(t, s, &ben, policy.UVPreferred, kb); err != nil || r.UserID != ben.ID {
		t.Fatalf("ben: %+v, %v", r, err)
	}
}

func TestPasskeyAssertionIsGoodOnceAndOnlyForItsChallenge(t *testing.T) {
	s := newPasskeyServer(t)
	ctx := context.Background()
	u := addPasskeyUser(t, s, "ana")
	k := newSoftKey(t)
	register(t, s, u, k, "laptop")

	opts, sess, _ := s.beginPasskeyLogin(ctx, &u, policy.UVPreferred)
	answer := k.get(t, opts)
	if _, err := s.finishPasskeyLogin(ctx, &u, sess, answer); err != nil {
		t.Fatal(err)
	}
	// The same answer again (a replay): refused, and not taken for a
	// copied key (the credential stays on).
	_, err := s.finishPasskeyLogin(ctx, &u, sess, answer)
	wantRefused(t, err, errPasskeyReplayed)
	if !s.hasPasskey(ctx, u.ID) {
		t.Fatal("a replay turned the passkey off")
	}

	// An answer to one transaction's challenge given to another's.
	optsA, _, _ := s.beginPasskeyLogin(ctx, &u, policy.UVPreferred)
	_, sessB, _ := s.beginPasskeyLogin(ctx, &u, policy.UVPreferred)
	if _, err := s.finishPasskeyLogin(ctx, &u, sessB, k.get(t, optsA)); err == nil {
		t.Fatal("an answer to another challenge was accepted")
	}
	// The same for a discoverable sign-in.
	optsA, _, _ = s.beginPasskeyLogin(ctx, nil, policy.UVPreferred)
	_, sessB, _ = s.beginPasskeyLogin(ctx, nil, policy.UVPreferred)
	if _, err := s.finishPasskeyLogin(ctx, nil, sessB, k.get(t, optsA)); err == nil {
		t.Fatal("a discoverable answer to another challenge was accepted")
	}
	// Garbage is a plain refusal.
	_, err = s.finishPasskeyLogin(ctx, &u, sess, json.RawMessage(`{"id":"x"}`))
	wantRefused(t, err, errPasskeyUnreadable)
}

func TestPasskeyFromAnotherSiteIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name         string
		origin, rpID string
	}{
		{"a phishing origin", "https://id-example.com", "id.example.com"},
		{"another RP ID", testRPOrigin, "example.org"},
		{"http instead of https", "http://id.example.com", "id.example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newPasskeyServer(t)
			ctx := context.Background()
			u := addPasskeyUser(t, s, "ana")
			k := newSoftKey(t)
			register(t, s, u, k, "laptop")
			k.origin, k.rpID = tc.origin, tc.rpID
			if _, err := login(t, s, &u, policy.UVPreferred, k); err == nil {
				t.Fatal("a sign-in answered for another site was accepted")
			}
			// Registration from there is refused as well.
			k2 := newSoftKey(t)
			k2.origin, k2.rpID = tc.origin, tc.rpID
			opts, sess, _ := s.beginPasskeyRegistration(ctx, u, policy.UVPreferred)
			_, err := s.finishPasskeyRegistration(ctx, u, sess, k2.create(t, opts), "")
			wantRefused(t, err, errPasskeyNotAdded)
		})
	}
}

func TestPasskeyWithoutUserVerificationIsRefusedWhenRequired(t *testing.T) {
	s := newPasskeyServer(t)
	ctx := context.Background()
	u := addPasskeyUser(t, s, "ana")
	k := newSoftKey(t)
	k.uv = false
	pk := register(t, s, u, k, "key")
	if pk.UV {
		t.Fatal("a key without verification is stored as verified")
	}
	// Preferred: accepted, and it says the person was not verified.
	r, err := login(t, s, &u, policy.UVPreferred, k)
	if err != nil || r.UV {
		t.Fatalf("preferred: %+v, %v", r, err)
	}
	// Required: refused, in the second factor and without a login.
	_, err = login(t, s, &u, policy.UVRequired, k)
	wantRefused(t, err, errPasskeyNoUV)
	_, err = login(t, s, nil, policy.UVRequired, k)
	wantRefused(t, err, errPasskeyNoUV)
	// The same key with the person verified.
	k.uv = true
	if r, err = login(t, s, &u, policy.UVRequired, k); err != nil || !r.UV {
		t.Fatalf("required with UV: %+v, %v", r, err)
	}
	// Registration under a rule that requires verification.
	k2 := newSoftKey(t)
	k2.uv = false
	opts, sess, _ := s.beginPasskeyRegistration(ctx, u, policy.UVRequired)
	_, err = s.finishPasskeyRegistration(ctx, u, sess, k2.create(t, opts), "")
	wantRefused(t, err, errPasskeyNotAddedNoUV)
}

func TestPasskeyWhoseCounterWentBackIsTurnedOff(t *testing.T) {
	s := newPasskeyServer(t)
	ctx := context.Background()
	sink := &MailSink{}
	s.opts.Mailer = sink
	u := addPasskeyUser(t, s, "ana")
	k := newSoftKey(t)
	register(t, s, u, k, "laptop")
	for range 3 {
		if _, err := login(t, s, &u, policy.UVPreferred, k); err != nil {
			t.Fatal(err)
		}
	}
	// A copy of the key, made after its first use, signs with a counter
	// the server has seen already.
	clone := *k
	clone.count = 1
	_, err := login(t, s, &u, policy.UVPreferred, &clone)
	wantRefused(t, err, errPasskeyCloned)
	pks, _ := s.listPasskeys(ctx, u.ID)
	if len(pks) != 1 || !pks[0].Disabled || pks[0].SignCount != 3 {
		t.Fatalf("after the copy was used: %+v", pks)
	}
	if s.hasPasskey(ctx, u.ID) {
		t.Fatal("a turned-off passkey still counts")
	}
	evs, _ := s.st.ListAudit(ctx, store.AuditFilter{UserID: u.ID})
	var clonedEv *store.AuditEvent
	for i := range evs {
		if evs[i].Type == "passkey.clone_detected" {
			clonedEv = &evs[i]
		}
	}
	if clonedEv == nil || clonedEv.Detail["storedCount"] != "3" || clonedEv.Detail["presentedCount"] != "2" || clonedEv.Detail["passkey"] != pks[0].ID {
		t.Fatalf("clone audit event = %+v", clonedEv)
	}
	if ms := sink.Messages(); len(ms) == 0 || !strings.Contains(ms[len(ms)-1].Subject, "turned off") {
		t.Fatalf("mails = %+v", ms)
	}
	// Neither the copy nor the original signs in any more.
	if _, _, err := s.beginPasskeyLogin(ctx, &u, policy.UVPreferred); err == nil {
		t.Fatal("a sign-in was offered with only a turned-off passkey")
	}
	_, err = login(t, s, nil, policy.UVPreferred, k)
	wantRefused(t, err, errPasskeyCloned)
}

func TestPasskeysWithoutACounterAreNotTakenForCopies(t *testing.T) {
	s := newPasskeyServer(t)
	u := addPasskeyUser(t, s, "ana")
	k := newSoftKey(t)
	k.synced = true
	register(t, s, u, k, "synced")
	for range 3 {
		k.count = 0 // synced passkeys keep no counter
		opts, sess, _ := s.beginPasskeyLogin(context.Background(), &u, policy.UVPreferred)
		if _, err := s.finishPasskeyLogin(context.Background(), &u, sess, k.sign(t, opts, k.handle)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRemovedPasskeyNoLongerSignsIn(t *testing.T) {
	s := newPasskeyServer(t)
	ctx := context.Background()
	ana, ben := addPasskeyUser(t, s, "ana"), addPasskeyUser(t, s, "ben")
	k := newSoftKey(t)
	pk := register(t, s, ana, k, "laptop")
	// A sign-in begun before the removal.
	opts, sess, _ := s.beginPasskeyLogin(ctx, &ana, policy.UVPreferred)

	// Nobody else removes it.
	if err := s.removePasskey(ctx, ben.ID, pk.ID); !errors.Is(err, errPasskeyNotFound) {
		t.Fatalf("ben removed ana's passkey: %v", err)
	}
	if err := s.removePasskey(ctx, ana.ID, pk.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.removePasskey(ctx, ana.ID, pk.ID); !errors.Is(err, errPasskeyNotFound) {
		t.Fatalf("removed twice: %v", err)
	}
	if _, err := s.finishPasskeyLogin(ctx, &ana, sess, k.get(t, opts)); err == nil {
		t.Fatal("a removed passkey finished a sign-in begun before")
	}
	_, err := login(t, s, nil, policy.UVPreferred, k)
	wantRefused(t, err, errPasskeyUnknown)
	if _, _, err := s.beginPasskeyLogin(ctx, &ana, policy.UVPreferred); !errors.Is(err, errNoPasskey) {
		t.Fatalf("begin after removal: %v", err)
	}
	if pks, _ := s.listPasskeys(ctx, ana.ID); len(pks) != 0 {
		t.Fatalf("listed after removal: %+v", pks)
	}
	if got := auditTypes(t, s, ana.ID); !slices.Contains(got, "passkey.removed") {
		t.Fatalf("audit = %v", got)
	}
}

func TestPasskeyCredentialIDIsRegisteredOnce(t *testing.T) {
	s := newPasskeyServer(t)
	ctx := context.Background()
	ana, ben := addPasskeyUser(t, s, "ana"), addPasskeyUser(t, s, "ben")
	k := newSoftKey(t)
	register(t, s, ana, k, "ana's")
	// Ben's authenticator claims Ana's credential id with a key of its
	// own: refused, and Ana's passkey is untouched.
	evil := newSoftKey(t)
	evil.id = k.id
	opts, sess, _ := s.beginPasskeyRegistration(ctx, ben, policy.UVPreferred)
	_, err := s.finishPasskeyRegistration(ctx, ben, sess, evil.create(t, opts), "mine now")
	wantRefused(t, err, errPasskeyExists)
	if r, err := login(t, s, nil, policy.UVPreferred, k); err != nil || r.UserID != ana.ID {
		t.Fatalf("ana after ben's attempt: %+v, %v", r, err)
	}
	// A registration answer is good once too.
	k2 := newSoftKey(t)
	opts, sess, _ = s.beginPasskeyRegistration(ctx, ana, policy.UVPreferred)
	answer := k2.create(t, opts)
	if _, err := s.finishPasskeyRegistration(ctx, ana, sess, answer, ""); err != nil {
		t.Fatal(err)
	}
	_, err = s.finishPasskeyRegistration(ctx, ana, sess, answer, "")
	wantRefused(t, err, errPasskeyReplayed)
	// Another user's registration session does not take it either.
	k3 := newSoftKey(t)
	opts, sess, _ = s.beginPasskeyRegistration(ctx, ana, policy.UVPreferred)
	_, err = s.finishPasskeyRegistration(ctx, ben, sess, k3.create(t, opts), "")
	wantRefused(t, err, errPasskeyNotAdded)
}

func TestPasskeysNeedAHostName(t *testing.T) {
	for url, ok := range map[string]bool{
		"https://id.example.com":     true,
		"http://localhost:8080":      true,
		"https://id.example.com:443": true,
		"http://127.0.0.1:8080":      false,
		"https://[::1]:8443":         false,
	} {
		rpID, origin, err := rpOf(url)
		if (err == nil) != ok {
			t.Errorf("rpOf(%q) = %q %q %v", url, rpID, origin, err)
		}
		if url == "https://id.example.com:443" && origin != "https://id.example.com" {
			t.Errorf("the default port stays in the origin: %q", origin)
		}
	}
	s := newTestServer(t) // http://127.0.0.1:8080
	if s.passkeysOn() {
		t.Fatal("passkeys are on for a server reached by an IP address")
	}
	_, _, err := s.beginPasskeyLogin(context.Background(), nil, policy.UVPreferred)
	wantRefused(t, err, errPasskeysOff)
}

func TestPasskeyNamesAreCleaned(t *testing.T) {
	s := newPasskeyServer(t)
	now := s.now()
	for in, want := range map[string]string{
		"Laptop":                 "Laptop",
		"  two\n lines ":         "two lines",
		"\x00\x1b[31mred":        "[31mred",
		strings.Repeat("é", 100): strings.Repeat("é", maxPasskeyName),
	} {
		if got := passkeyName(in, now); got != want {
			t.Errorf("passkeyName(%q) = %q, want %q", in, got, want)
		}
	}
	if got := passkeyName(" \u200b ", now); !strings.HasPrefix(got, "Passkey added ") {
		t.Errorf("an empty name became %q", got)
	}
}

// BenchmarkPasskeySignIn measures the server's side of a passkey sign-in
// (begin, then verify the answer and update the stored counter, on SQLite),
// beside an ES256 JWS verification, the cost of checking a push answer.
// The authenticator's signing is left out of the timing.
func BenchmarkPasskeySignIn(b *testing.B) {
	s := newPasskeyServer(b)
	ctx := context.Background()
	u := addPasskeyUser(b, s, "ana")
	k := newSoftKey(b)
	register(b, s, u, k, "laptop")
	b.Run("passkey", func(b *testing.B) {
		for b.Loop() {
			opts, sess, err := s.beginPasskeyLogin(ctx, &u, policy.UVPreferred)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			answer := k.get(b, opts)
			b.StartTimer()
			if _, err := s.finishPasskeyLogin(ctx, &u, sess, answer); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("es256-verify", func(b *testing.B) {
		key, _ := crypto.NewDeviceKey()
		tok, err := crypto.SignJWS(key, "assent-response+jwt", map[string]any{"jti": "x"}, crypto.SignOptions{})
		if err != nil {
			b.Fatal(err)
		}
		var out map[string]any
		for b.Loop() {
			if err := crypto.VerifyJWS(tok, &key.PublicKey, "assent-response+jwt", &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Fifty copies of one passkey answer at once: it counts once, and the
// copies are replays, never taken for a cloned authenticator.
func TestPasskeyAnswerSentFiftyTimesAtOnceCountsOnce(t *testing.T) {
	s := newPasskeyServer(t)
	ctx := context.Background()
	u := addPasskeyUser(t, s, "ana")
	k := newSoftKey(t)
	register(t, s, u, k, "laptop")
	opts, sess, err := s.beginPasskeyLogin(ctx, &u, policy.UVPreferred)
	if err != nil {
		t.Fatal(err)
	}
	answer := k.get(t, opts)
	var wg sync.WaitGroup
	var ok atomic.Int32
	for range 50 {
		wg.Go(func() {
			if _, err := s.finishPasskeyLogin(ctx, &u, sess, answer); err == nil {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if n := ok.Load(); n != 1 {
		t.Fatalf("one answer sent 50 times at once was taken %d times, want 1", n)
	}
	pks, err := s.listPasskeys(ctx, u.ID)
	if err != nil || len(pks) != 1 || pks[0].Disabled {
		t.Fatalf("after the copies: %+v %v; want the passkey still on", pks, err)
	}
}
