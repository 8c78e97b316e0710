package oidc

// Signing keys. The provider signs ID tokens with an RSA key (RS256,
// 2048 bits; what every relying party accepts) or, for clients that ask,
// an ECDSA P-256 key (ES256). Each key is a grant of kind oidc.signing_key:
// its ID is the JWK's kid, its Lookup "ALG:generation" (unique, so nodes
// starting or rotating at once agree on one key per generation), its Data
// the public JWK and the private key in PKCS#8, sealed with the node's
// seal key and bound to the key's ID.
//
// The current key of an algorithm is its live key of the highest
// generation. Rotation makes the next generation and retires the others:
// a retired key signs nothing more and stays published (its ExpiresAt)
// until every ID token it signed has expired, then the store's garbage
// collection removes it. Nodes reread the keys every few seconds, so a
// retired key is kept for the longest ID token lifetime plus that delay.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
)

// RSAKeyBits is the size of the RS256 keys.
const RSAKeyBits = 2048

// keyCacheTTL is how long a node trusts the keys it read.
const keyCacheTTL = 10 * time.Second

// keyRetirement is how long a retired key stays published: the longest ID
// token lifetime, the nodes' cache, and a margin for clocks.
const keyRetirement = MaxIDTokenTTL + keyCacheTTL + 5*time.Minute

// keyForever is the ExpiresAt of a key in use (the store wants one).
const keyForever = 100 * 365 * 24 * time.Hour

var keyAlgs = []string{AlgRS256, AlgES256}

type keyData struct {
	Alg        string    `json:"alg"`
	Generation int       `json:"generation"`
	Public     []byte    `json:"public"` // PKIX DER
	Sealed     []byte    `json:"sealed"` // PKCS#8 DER, sealed
	Retired    time.Time `json:"retired,omitzero"`
}

// KeyInfo describes a signing key for people (assentd keys list).
type KeyInfo struct {
	ID         string
	Alg        string
	Generation int
	CreatedAt  time.Time
	// Current says the key signs new ID tokens; a key that does not is
	// retired and published until ExpiresAt.
	Current   bool
	RetiredAt time.Time
	ExpiresAt time.Time
}

// signingKey is a parsed key.
type signingKey struct {
	id      string
	alg     string
	gen     int
	priv    crypto.Signer
	created time.Time
	expires time.Time
	retired bool
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm {
	return jose.SignatureAlgorithm(k.alg)
}
func (k *signingKey) Key() any   { return k.priv }
func (k *signingKey) ID() string { return k.id }

// publicKey is a key as the JWKS shows it.
type publicKey struct{ k *signingKey }

func (p publicKey) ID() string                         { return p.k.id }
func (p publicKey) Algorithm() jose.SignatureAlgorithm { return jose.SignatureAlgorithm(p.k.alg) }
func (p publicKey) Use() string                        { return "sig" }
func (p publicKey) Key() any                           { return p.k.priv.Public() }

// keyring reads, caches and makes the signing keys of one node.
type keyring struct {
	s *server.Server

	mu     sync.Mutex
	read   time.Time // monotonic, when the list was read
	keys   []*signingKey
	parsed map[string]crypto.Signer // by ID: a key is unsealed and parsed once
}

func newKeyring(s *server.Server) *keyring {
	return &keyring{s: s, parsed: map[string]crypto.Signer{}}
}

func keyAAD(id string) []byte { return []byte("assent:oidc:signing-key:" + id) }

// load reads the live keys (cached for keyCacheTTL).
func (kr *keyring) load(ctx context.Context, fresh bool) ([]*signingKey, error) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if !fresh && kr.keys != nil && time.Since(kr.read) < keyCacheTTL {
		return kr.keys, nil
	}
	gs, err := kr.s.Store().ListGrants(ctx, store.GrantFilter{Kind: kindKey, Live: kr.s.Now()})
	if err != nil {
		return nil, fmt.Errorf("read signing keys: %w", err)
	}
	var keys []*signingKey
	for _, g := range gs {
		k, err := kr.parse(g)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	kr.keys, kr.read = keys, time.Now()
	return keys, nil
}

func (kr *keyring) parse(g store.Grant) (*signingKey, error) {
	var d keyData
	if err := json.Unmarshal(g.Data, &d); err != nil {
		return nil, fmt.Errorf("signing key %s unreadable: %w", g.ID, err)
	}
	signer, ok := kr.parsed[g.ID]
	if !ok {
		var err error
		if signer, err = kr.open(g.ID, d); err != nil {
			return nil, err
		}
		kr.parsed[g.ID] = signer
	}
	return &signingKey{id: g.ID, alg: d.Alg, gen: d.Generation, priv: signer, created: g.CreatedAt, expires: g.ExpiresAt, retired: !d.Retired.IsZero()}, nil
}

// open unseals and checks a key's private part.
func (kr *keyring) open(id string, d keyData) (crypto.Signer, error) {
	der, err := kr.s.Open(d.Sealed, keyAAD(id))
	if err != nil {
		return nil, fmt.Errorf("open signing key %s: %w: the seal key is not the one this database was made with", id, err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", id, err)
	}
	switch pk := priv.(type) {
	case *rsa.PrivateKey:
		if d.Alg != AlgRS256 || pk.N.BitLen() < RSAKeyBits {
			return nil, fmt.Errorf("signing key %s: an RSA key must be RS256 and at least %d bits", id, RSAKeyBits)
		}
		return pk, nil
	case *ecdsa.PrivateKey:
		if d.Alg != AlgES256 || pk.Curve != elliptic.P256() {
			return nil, fmt.Errorf("signing key %s: an EC key must be ES256 on P-256", id)
		}
		return pk, nil
	}
	return nil, fmt.Errorf("signing key %s is of an unknown type", id)
}

// current is the key that signs with alg: the live, unretired key of the
// highest generation.
func current(keys []*signingKey, alg string) *signingKey {
	var best *signingKey
	for _, k := range keys {
		if k.alg == alg && !k.retired && (best == nil || k.gen > best.gen) {
			best = k
		}
	}
	return best
}

func (kr *keyring) signing(ctx context.Context, alg string) (op.SigningKey, error) {
	keys, err := kr.load(ctx, false)
	if err != nil {
		return nil, err
	}
	if k := current(keys, alg); k != nil {
		return k, nil
	}
	// Made (or rotated) by another node since the last read.
	if keys, err = kr.load(ctx, true); err != nil {
		return nil, err
	}
	if k := current(keys, alg); k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("no %s signing key: run 'assentd keys rotate'", alg)
}

func (kr *keyring) published(ctx context.Context) ([]op.Key, error) {
	keys, err := kr.load(ctx, false)
	if err != nil {
		return nil, err
	}
	out := make([]op.Key, 0, len(keys))
	for _, k := range keys {
		out = append(out, publicKey{k})
	}
	return out, nil
}

// ensure makes the keys a fresh store lacks.
func (kr *keyring) ensure(ctx context.Context) error {
	keys, err := kr.load(ctx, true)
	if err != nil {
		return err
	}
	for _, alg := range keyAlgs {
		if current(keys, alg) != nil {
			continue
		}
		if _, err := makeKey(ctx, kr.s, alg); err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	_, err = kr.load(ctx, true)
	return err
}

// makeKey makes and stores the next generation of alg; ErrConflict when
// another node made that generation at the same moment.
func makeKey(ctx context.Context, s *server.Server, alg string) (store.Grant, error) {
	all, err := s.Store().ListGrants(ctx, store.GrantFilter{Kind: kindKey})
	if err != nil {
		return store.Grant{}, fmt.Errorf("read signing keys: %w", err)
	}
	gen := 0
	for _, g := range all {
		var d keyData
		if json.Unmarshal(g.Data, &d) == nil && d.Alg == alg && d.Generation > gen {
			gen = d.Generation
		}
	}
	gen++
	var priv crypto.Signer
	switch alg {
	case AlgRS256:
		priv, err = rsa.GenerateKey(rand.Reader, RSAKeyBits)
	case AlgES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return store.Grant{}, fmt.Errorf("no key type for %s", alg)
	}
	if err != nil {
		return store.Grant{}, fmt.Errorf("make %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.Grant{}, err
	}
	pub, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return store.Grant{}, err
	}
	now := s.Now()
	id := newID("key_")
	data, _ := json.Marshal(keyData{Alg: alg, Generation: gen, Public: pub, Sealed: s.Seal(der, keyAAD(id))})
	g := store.Grant{ID: id, Kind: kindKey, Lookup: fmt.Sprintf("%s:%06d", alg, gen), Family: id, Data: data, CreatedAt: now, ExpiresAt: now.Add(keyForever)}
	if err := s.Store().CreateGrant(ctx, g); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.Grant{}, err
		}
		return store.Grant{}, fmt.Errorf("store %s key: %w", alg, err)
	}
	s.Audit(ctx, store.AuditEvent{Type: "oidc.key_created", Detail: map[string]string{"kid": id, "alg": alg, "generation": fmt.Sprint(gen)}})
	return g, nil
}

// RotateKeys makes a new RS256 and ES256 key and retires the ones in use:
// they sign nothing more and stay published until every ID token they
// signed has expired. Running nodes take the new keys within seconds. It
// answers the keys as Keys does.
func RotateKeys(ctx context.Context, s *server.Server) ([]KeyInfo, error) {
	for _, alg := range keyAlgs {
		g, err := makeKey(ctx, s, alg)
		if errors.Is(err, store.ErrConflict) {
			return nil, errors.New("another rotation ran at the same moment; list the keys and rotate again if needed")
		} else if err != nil {
			return nil, err
		}
		var fresh keyData
		_ = json.Unmarshal(g.Data, &fresh)
		all, err := s.Store().ListGrants(ctx, store.GrantFilter{Kind: kindKey, Live: s.Now()})
		if err != nil {
			return nil, fmt.Errorf("read signing keys: %w", err)
		}
		now := s.Now()
		for _, old := range all {
			var d keyData
			if json.Unmarshal(old.Data, &d) != nil || d.Alg != alg || old.ID == g.ID || !d.Retired.IsZero() || d.Generation > fresh.Generation {
				continue
			}
			_, err := s.Store().UpdateGrant(ctx, old.ID, func(kg *store.Grant) error {
				var kd keyData
				if err := json.Unmarshal(kg.Data, &kd); err != nil {
					return err
				}
				if !kd.Retired.IsZero() {
					return nil
				}
				kd.Retired = now
				kg.Data, _ = json.Marshal(kd)
				if end := now.Add(keyRetirement); end.Before(kg.ExpiresAt) {
					kg.ExpiresAt = end
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("retire key %s: %w", old.ID, err)
			}
			s.Audit(ctx, store.AuditEvent{Type: "oidc.key_retired", Detail: map[string]string{"kid": old.ID, "alg": alg}})
		}
	}
	return Keys(ctx, s)
}

// Keys lists the signing keys that are published: the current key of each
// algorithm and the retired ones whose tokens may still be about, newest
// first.
func Keys(ctx context.Context, s *server.Server) ([]KeyInfo, error) {
	gs, err := s.Store().ListGrants(ctx, store.GrantFilter{Kind: kindKey, Live: s.Now()})
	if err != nil {
		return nil, fmt.Errorf("read signing keys: %w", err)
	}
	var out []KeyInfo
	best := map[string]int{}
	for _, g := range gs {
		var d keyData
		if err := json.Unmarshal(g.Data, &d); err != nil {
			return nil, fmt.Errorf("signing key %s unreadable: %w", g.ID, err)
		}
		ki := KeyInfo{ID: g.ID, Alg: d.Alg, Generation: d.Generation, CreatedAt: g.CreatedAt, RetiredAt: d.Retired}
		if !d.Retired.IsZero() {
			ki.ExpiresAt = g.ExpiresAt
		} else if d.Generation > best[d.Alg] {
			best[d.Alg] = d.Generation
		}
		out = append(out, ki)
	}
	for i := range out {
		out[i].Current = out[i].RetiredAt.IsZero() && out[i].Generation == best[out[i].Alg]
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Alg != out[j].Alg {
			return slices.Index(keyAlgs, out[i].Alg) < slices.Index(keyAlgs, out[j].Alg)
		}
		return out[i].Generation > out[j].Generation
	})
	return out, nil
}
