// Package testidp is an identity server as far as the app's tests need one:
// it enrolls devices over the real enrollment protocol (proof of
// possession, the pinned key) and signs same-device challenges with a key
// the test holds — assentd keeps its own sealed in its database.
package testidp

import (
	"crypto/ecdsa"
	"encoding/base32"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/enroll"
	"github.com/seed-3a5b824e/assent/push"
)

// User and Org are whom every enrollment is for.
const (
	User = "alice"
	Org  = "Example Org"
)

// IDP is a running fake identity server.
type IDP struct {
	URL, Origin string
	Key         *ecdsa.PrivateKey

	mu      sync.Mutex
	devices map[string]*ecdsa.PublicKey
}

// New starts one for the test.
func New(t testing.TB) *IDP {
	t.Helper()
	key, err := crypto.NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	s := &IDP{Key: key, devices: map[string]*ecdsa.PublicKey{}}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	s.Origin, _ = push.Origin(srv.URL)
	return s
}

func (s *IDP) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != push.PathEnroll {
		http.Error(w, `{"error":"not_found"}`, http.StatusNotFound)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, push.MaxMessageSize))
	h, err := crypto.ParseJWSHeader(string(body))
	var cl push.EnrollClaims
	if err == nil {
		err = crypto.VerifyJWS(string(body), h.JWK, push.TypEnroll, &cl)
	}
	if err != nil {
		http.Error(w, `{"error":"bad_request"}`, http.StatusBadRequest)
		return
	}
	id := "enr-" + crypto.RandomToken(8)
	s.mu.Lock()
	s.devices[id] = h.JWK
	s.mu.Unlock()
	jwk, _ := crypto.MarshalPublicJWK(&s.Key.PublicKey)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(push.EnrollResponse{
		EnrollmentID: id, User: User, Org: Org, Server: s.URL, ServerKey: jwk,
		PushURL: strings.Replace(s.URL, "http", "ws", 1) + push.PathPush,
		TOTP:    push.TOTPParams{Secret: base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(crypto.NewOTPSecret()), Algorithm: "SHA1", Digits: 6, Period: 30},
	})
}

// Link is an enrollment link for User, pinned to the server's key.
func (s *IDP) Link(t testing.TB) *enroll.Link {
	t.Helper()
	pin, err := crypto.Thumbprint(&s.Key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return &enroll.Link{Version: 1, Server: s.URL, Token: crypto.RandomToken(16), User: User, Org: Org,
		Expires: time.Now().Add(10 * time.Minute).UTC().Truncate(time.Second), Pin: pin}
}

// Claims are a same-device challenge for User, made at now.
func (s *IDP) Claims(now time.Time, uv string, life time.Duration) push.SameDeviceClaims {
	return push.SameDeviceClaims{
		Issuer: s.URL, Origin: s.Origin, Subject: User, ID: "sd-" + crypto.RandomToken(8), Transaction: "tx",
		Org: Org, App: "intranet", IAT: now.Unix(), Exp: now.Add(life).Unix(), UserVerification: uv,
	}
}

// Sign signs a same-device challenge with the server's key.
func (s *IDP) Sign(t testing.TB, cl push.SameDeviceClaims) string {
	t.Helper()
	jws, err := crypto.SignJWS(s.Key, push.TypSameDevice, cl, crypto.SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return jws
}

// Device is the key a device enrolled with (nil for none); with id empty,
// the only one.
func (s *IDP) Device(id string) *ecdsa.PublicKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == "" && len(s.devices) == 1 {
		for _, k := range s.devices {
			return k
		}
	}
	return s.devices[id]
}

// DeviceIDs lists the enrollment ids given out.
func (s *IDP) DeviceIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id := range s.devices {
		ids = append(ids, id)
	}
	return ids
}
