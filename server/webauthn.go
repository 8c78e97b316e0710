package server

// Passkeys and security keys (WebAuthn), on github.com/go-webauthn/webauthn:
// the ceremonies the engine runs (a second factor, a passwordless sign-in
// with a discoverable credential, a registration) and the credentials,
// kept as store grants of kind "webauthn.credential".
//
// Nothing here trusts the browser: go-webauthn checks the challenge, the
// origin, the RP ID hash, user presence (and verification when the rule
// requires it) and the signature; this file adds what a relying party
// must decide itself: whose credential it is (the user handle is an HMAC
// of the user's id, compared in constant time), that an assertion is used
// once (its challenge is recorded), and that the signature counter moved
// on (a counter that went back is a copied key: the credential is turned
// off and the event audited).

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"golang.org/x/crypto/hkdf"

	"github.com/seed-3a5b824e/assent/server/policy"
	"github.com/seed-3a5b824e/assent/server/store"
)

const (
	// kindPasskey is the grant kind of a registered credential; its Lookup
	// is the credential id in base64url, so a credential id is registered
	// once across every user.
	kindPasskey = "webauthn.credential"
	// passkeyForever is the ExpiresAt of a credential in use (the store
	// wants one); a removed one expires at once and is collected a day
	// later.
	passkeyForever = 100 * 365 * 24 * time.Hour
	// maxPasskeys bounds one user's credentials (and so the
	// allowCredentials list a sign-in sends).
	maxPasskeys = 20
	// maxPasskeyName bounds a passkey's nickname, in characters.
	maxPasskeyName = 64
	// passkeyChallengeTTL is how long a used challenge is remembered: past
	// any transaction that could still hold it.
	passkeyChallengeTTL = 2 * txTTL
)

// Passkey is a registered credential as the pages and the engine see it.
type Passkey struct {
	// ID is the grant's id (what the pages remove by); CredentialID is the
	// WebAuthn credential id in base64url.
	ID, UserID, Name string
	CredentialID     string
	CreatedAt        time.Time
	LastUsedAt       time.Time
	SignCount        uint32
	// BackupEligible: a synced passkey (iCloud Keychain, Google Password
	// Manager, a password manager); BackupState: it is backed up now.
	BackupEligible, BackupState bool
	// UV: the authenticator verified the person (PIN, biometrics) at
	// registration or at its last use.
	UV         bool
	AAGUID     string
	Transports []string
	// Disabled: its counter went back (a copy was used); it no longer
	// signs in.
	Disabled   bool
	DisabledAt time.Time
}

// Synced says whether the passkey may live on several devices.
func (p Passkey) Synced() bool { return p.BackupEligible }

// passkeyResult is what a verified assertion proves.
type passkeyResult struct {
	UserID, CredentialID, Name string
	UV                         bool // user verified (flags.UV)
	BackupEligible             bool // synced passkey (BE flag) → amr "swk"; device-bound → "hwk"
}

// passkeyRecord is a credential grant's Data.
type passkeyRecord struct {
	Name       string              `json:"name"`
	Credential webauthn.Credential `json:"credential"`
	LastUsedAt time.Time           `json:"lastUsedAt,omitzero"`
	// Discoverable is what the browser said (credProps), when it said.
	Discoverable *bool     `json:"discoverable,omitempty"`
	DisabledAt   time.Time `json:"disabledAt,omitzero"`
}

// passkeyUser is a user as go-webauthn sees it.
type passkeyUser struct {
	handle []byte
	login  string
	creds  []webauthn.Credential
}

func (u *passkeyUser) WebAuthnID() []byte                         { return u.handle }
func (u *passkeyUser) WebAuthnName() string                       { return u.login }
func (u *passkeyUser) WebAuthnDisplayName() string                { return u.login }
func (u *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// Errors a ceremony answers, in the person's words. Details go to the log.
var (
	errPasskeysOff = apiErr(http.StatusBadRequest, "passkeys_unavailable",
		"passkeys need this server to be reached by a name, not an IP address; choose another way")
	errPasskeyRefused = apiErr(http.StatusUnauthorized, "passkey_refused",
		"the passkey was not accepted; try again, or choose another way")
	errPasskeyUnknown = apiErr(http.StatusUnauthorized, "passkey_refused",
		"this passkey is not registered here; sign in another way, then add it on your account page")
	errPasskeyNoUV = apiErr(http.StatusUnauthorized, "passkey_refused",
		"the passkey did not check that it is you (no PIN, fingerprint or face); try again and unlock it when asked")
	errPasskeyReplayed = apiErr(http.StatusUnauthorized, "passkey_refused",
		"that passkey answer was used already; use your passkey again")
	errPasskeyCloned = apiErr(http.StatusUnauthorized, "passkey_refused",
		"this passkey was turned off: it answered with an old counter, a sign it may have been copied; remove it on your account page, add it again, and choose another way for now")
	errPasskeyUnreadable = apiErr(http.StatusBadRequest, "bad_request",
		"the browser's passkey answer could not be read; try again")
	errNoPasskey = apiErr(http.StatusBadRequest, "no_passkey",
		"this account has no passkey; choose another way")
	errPasskeyExists = apiErr(http.StatusConflict, "passkey_exists",
		"this passkey is registered already")
	errTooManyPasskeys = apiErr(http.StatusConflict, "too_many_passkeys",
		"an account can have at most %d passkeys; remove one first", maxPasskeys)
	errPasskeyNotAdded = apiErr(http.StatusBadRequest, "passkey_refused",
		"the passkey could not be added; try again")
	errPasskeyNotAddedNoUV = apiErr(http.StatusBadRequest, "passkey_refused",
		"the passkey could not be added: it did not check that it is you (no PIN, fingerprint or face); use one that does")
	errPasskeyNotFound = apiErr(http.StatusNotFound, "no_passkey", "there is no such passkey")
)

// rpOf is the relying party of the server's public URL: its host name as
// the RP ID, and its origin (without a default port).
func rpOf(serverURL string) (rpID, origin string, err error) {
	u, err := url.Parse(serverURL)
	if err != nil || u.Hostname() == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", "", fmt.Errorf("server URL %q has no host", serverURL)
	}
	host := u.Hostname()
	if net.ParseIP(host) != nil {
		return "", "", fmt.Errorf("server URL %q names an IP address, which cannot be a WebAuthn RP ID", serverURL)
	}
	port := u.Port()
	if (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		port = ""
	}
	origin = u.Scheme + "://" + strings.ToLower(host)
	if port != "" {
		origin += ":" + port
	}
	return strings.ToLower(host), origin, nil
}

// webAuthn is the relying party: RP ID the host of the server's public
// URL, the origin of that URL, and the organisation's name.
func (s *Server) webAuthn() (*webauthn.WebAuthn, error) {
	rpID, origin, err := rpOf(s.opts.URL)
	if err != nil {
		return nil, errPasskeysOff
	}
	w, err := webauthn.New(&webauthn.Config{
		RPID:          rpID,
		RPDisplayName: s.opts.Org,
		RPOrigins:     []string{origin},
		// No attestation: Assent does not restrict makes of
		// authenticator, and "none" asks the person nothing more.
		AttestationPreference: protocol.PreferNoAttestation,
	})
	if err != nil {
		return nil, s.internal("webauthn config", err)
	}
	return w, nil
}

// passkeyHandle is the user handle of a user: an HMAC of the user's id
// under a key derived from the seal key. It names the user to
// authenticators without giving away the id or the login, and needs no
// storage: a discoverable sign-in compares it again.
func (s *Server) passkeyHandle(userID string) []byte {
	key := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, s.opts.SealKey, nil, []byte("assent webauthn: user handle")), key); err != nil {
		panic("hkdf: " + err.Error())
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("webauthn-user:" + userID))
	return m.Sum(nil)
}

func uvRequirement(uv string) protocol.UserVerificationRequirement {
	switch uv {
	case policy.UVRequired:
		return protocol.VerificationRequired
	case policy.UVNone:
		return protocol.VerificationDiscouraged
	}
	return protocol.VerificationPreferred
}

func credentialLookup(id []byte) string { return base64.RawURLEncoding.EncodeToString(id) }

// passkeyGrants are the user's live credential grants with their records.
func (s *Server) passkeyGrants(ctx context.Context, userID string) ([]store.Grant, []passkeyRecord, error) {
	gs, err := s.st.ListGrants(ctx, store.GrantFilter{Kind: kindPasskey, UserID: userID, Live: s.now()})
	if err != nil {
		return nil, nil, err
	}
	recs := make([]passkeyRecord, 0, len(gs))
	out := gs[:0]
	for _, g := range gs {
		var rec passkeyRecord
		if err := json.Unmarshal(g.Data, &rec); err != nil {
			s.log.Error("passkey: unreadable credential grant", "grant", g.ID, "err", err)
			continue
		}
		out = append(out, g)
		recs = append(recs, rec)
	}
	return out, recs, nil
}

// passkeyUserOf is u with the credentials that may sign in (not turned
// off).
func (s *Server) passkeyUserOf(ctx context.Context, u store.User) (*passkeyUser, map[string]store.Grant, error) {
	gs, recs, err := s.passkeyGrants(ctx, u.ID)
	if err != nil {
		return nil, nil, err
	}
	pu := &passkeyUser{handle: s.passkeyHandle(u.ID), login: u.Login}
	byID := map[string]store.Grant{}
	for i, rec := range recs {
		if !rec.DisabledAt.IsZero() {
			continue
		}
		pu.creds = append(pu.creds, rec.Credential)
		byID[gs[i].Lookup] = gs[i]
	}
	return pu, byID, nil
}

// beginPasskeyLogin makes the options of navigator.credentials.get and the
// session to keep (in the transaction) until the answer comes. With a user
// it lists that user's credentials (a second factor: only after a factor,
// since the list shows that the user has passkeys); with nil it asks for a
// discoverable credential (allowCredentials empty, mediation conditional),
// which tells nothing about anybody.
func (s *Server) beginPasskeyLogin(ctx context.Context, u *store.User, uv string) (json.RawMessage, []byte, error) {
	w, err := s.webAuthn()
	if err != nil {
		return nil, nil, err
	}
	opt := webauthn.WithUserVerification(uvRequirement(uv))
	var assertion *protocol.CredentialAssertion
	var sess *webauthn.SessionData
	if u == nil {
		assertion, sess, err = w.BeginDiscoverableMediatedLogin(protocol.MediationConditional, opt)
	} else {
		pu, _, lerr := s.passkeyUserOf(ctx, *u)
		if lerr != nil {
			return nil, nil, s.internal("passkey: list credentials", lerr)
		}
		if len(pu.creds) == 0 {
			return nil, nil, errNoPasskey
		}
		assertion, sess, err = w.BeginLogin(pu, opt)
	}
	if err != nil {
		return nil, nil, s.internal("passkey: begin login", err)
	}
	options, err := json.Marshal(assertion)
	if err != nil {
		return nil, nil, s.internal("passkey: encode options", err)
	}
	session, err := json.Marshal(sess)
	if err != nil {
		return nil, nil, s.internal("passkey: encode session", err)
	}
	return options, session, nil
}

// finishPasskeyLogin verifies an assertion against the session kept from
// beginPasskeyLogin. For a discoverable session it finds the user by the
// credential's id and checks the user handle; when u is given too, the
// credential must be u's. It records the challenge as used, moves the
// stored counter on and keeps the flags; a counter that went back turns
// the credential off (passkey.clone_detected) and is refused.
func (s *Server) finishPasskeyLogin(ctx context.Context, u *store.User, session []byte, credential json.RawMessage) (passkeyResult, error) {
	w, err := s.webAuthn()
	if err != nil {
		return passkeyResult{}, err
	}
	var sess webauthn.SessionData
	if err := json.Unmarshal(session, &sess); err != nil || sess.Challenge == "" {
		return passkeyResult{}, s.internal("passkey: read session", fmt.Errorf("bad session: %v", err))
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(credential)
	if err != nil {
		s.log.Info("passkey: unreadable assertion", "err", describeWebAuthnErr(err))
		return passkeyResult{}, errPasskeyUnreadable
	}
	// go-webauthn refuses this too; checked first for a clearer message.
	if sess.UserVerification == protocol.VerificationRequired && !parsed.Response.AuthenticatorData.Flags.HasUserVerified() {
		s.log.Info("passkey: user verification required but not done")
		return passkeyResult{}, errPasskeyNoUV
	}

	var (
		owner   store.User
		grant   store.Grant
		refusal error // why the discoverable lookup refused, in words
		cred    *webauthn.Credential
	)
	if len(sess.UserID) == 0 {
		handler := func(rawID, userHandle []byte) (webauthn.User, error) {
			g, rec, err := s.passkeyByCredentialID(ctx, rawID)
			if err != nil {
				refusal = err
				return nil, err
			}
			if !rec.DisabledAt.IsZero() {
				refusal = errPasskeyCloned
				return nil, errors.New("credential turned off")
			}
			if u != nil && g.UserID != u.ID {
				refusal = errPasskeyRefused
				return nil, errors.New("credential of another user")
			}
			usr, err := s.st.GetUser(ctx, g.UserID)
			if err != nil || usr.Status != store.UserActive {
				refusal = errPasskeyUnknown
				return nil, fmt.Errorf("owner not active: %v", err)
			}
			if !hmac.Equal(userHandle, s.passkeyHandle(usr.ID)) {
				refusal = errPasskeyRefused
				return nil, errors.New("user handle is not the owner's")
			}
			owner, grant = usr, g
			return &passkeyUser{handle: s.passkeyHandle(usr.ID), login: usr.Login, creds: []webauthn.Credential{rec.Credential}}, nil
		}
		_, cred, err = w.ValidatePasskeyLogin(handler, sess, parsed)
		if err != nil && refusal != nil {
			s.log.Info("passkey: discoverable sign-in refused", "err", describeWebAuthnErr(err))
			return passkeyResult{}, refusal
		}
	} else {
		if u == nil {
			return passkeyResult{}, s.internal("passkey: finish login", errors.New("a session for a user was given no user"))
		}
		pu, byID, lerr := s.passkeyUserOf(ctx, *u)
		if lerr != nil {
			return passkeyResult{}, s.internal("passkey: list credentials", lerr)
		}
		owner = *u
		cred, err = w.ValidateLogin(pu, sess, parsed)
		if err == nil {
			grant = byID[credentialLookup(cred.ID)]
		}
	}
	if err != nil {
		s.log.Info("passkey: assertion refused", "err", describeWebAuthnErr(err))
		return passkeyResult{}, errPasskeyRefused
	}
	if grant.ID == "" {
		return passkeyResult{}, s.internal("passkey: finish login", errors.New("verified credential has no grant"))
	}

	// An assertion is good once: its challenge is recorded, whether or
	// not the caller would have used the session again. Checked before the
	// counter, so a replay is not mistaken for a copied key.
	now := s.now()
	if err := s.st.UseNonce(ctx, "webauthn:"+sess.Challenge, now, now.Add(passkeyChallengeTTL)); errors.Is(err, store.ErrReplay) {
		s.audit(ctx, store.AuditEvent{Type: "passkey.replayed", UserID: owner.ID, Detail: map[string]string{"passkey": grant.ID}})
		return passkeyResult{}, errPasskeyReplayed
	} else if err != nil {
		return passkeyResult{}, s.internal("passkey: record challenge", err)
	}

	presented := parsed.Response.AuthenticatorData.Counter
	flags := parsed.Response.AuthenticatorData.Flags
	var (
		cloned bool
		stored uint32
		rec    passkeyRecord
	)
	g, err := s.st.UpdateGrant(ctx, grant.ID, func(g *store.Grant) error {
		cloned, stored = false, 0
		if err := json.Unmarshal(g.Data, &rec); err != nil {
			return err
		}
		if !g.RevokedAt.IsZero() || !now.Before(g.ExpiresAt) || !rec.DisabledAt.IsZero() {
			return errPasskeyUnknown // removed or turned off meanwhile
		}
		stored = rec.Credential.Authenticator.SignCount
		// The counter must move on, unless the authenticator keeps none
		// (both zero: synced passkeys). Checked here, under the row's
		// lock, against the counter as stored now.
		if cred.Authenticator.CloneWarning || (presented <= stored && (presented != 0 || stored != 0)) {
			cloned = true
			rec.DisabledAt = now
			rec.Credential.Authenticator.CloneWarning = true
		} else {
			rec.Credential.Authenticator.SignCount = presented
			rec.Credential.Flags.UserVerified = flags.HasUserVerified()
			rec.Credential.Flags.BackupState = flags.HasBackupState()
			rec.LastUsedAt = now
		}
		data, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		g.Data = data
		return nil
	})
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return passkeyResult{}, err
		}
		return passkeyResult{}, s.internal("passkey: update credential", err)
	}
	if cloned {
		s.audit(ctx, store.AuditEvent{Type: "passkey.clone_detected", UserID: owner.ID, Detail: map[string]string{
			"passkey": g.ID, "name": rec.Name, "storedCount": fmt.Sprint(stored), "presentedCount": fmt.Sprint(presented)}})
		s.tellUser(ctx, owner, fmt.Sprintf("Your passkey %q was turned off: it answered with an old counter, a sign it may have been copied.", rec.Name),
			"A passkey of your account was turned off",
			fmt.Sprintf("Your passkey %q answered a sign-in to your %s account %s with an old counter at %s, a sign that it may have been copied. It no longer signs in.\n\nIf you did not expect this, tell your administrator at once. Remove the passkey on your account page and add it again.",
				rec.Name, s.opts.Org, owner.Login, now.UTC().Format(time.RFC1123)))
		return passkeyResult{}, errPasskeyCloned
	}
	res := passkeyResult{UserID: owner.ID, CredentialID: g.ID, Name: rec.Name, UV: flags.HasUserVerified(),
		BackupEligible: rec.Credential.Flags.BackupEligible}
	s.audit(ctx, store.AuditEvent{Type: "passkey.used", UserID: owner.ID, Detail: map[string]string{
		"passkey": g.ID, "name": rec.Name, "uv": fmt.Sprint(res.UV), "synced": fmt.Sprint(res.BackupEligible)}})
	return res, nil
}

// passkeyByCredentialID finds a live credential grant by the credential's
// raw id.
func (s *Server) passkeyByCredentialID(ctx context.Context, rawID []byte) (store.Grant, passkeyRecord, error) {
	g, err := s.st.GetGrantByLookup(ctx, kindPasskey, credentialLookup(rawID))
	if errors.Is(err, store.ErrNotFound) {
		return store.Grant{}, passkeyRecord{}, errPasskeyUnknown
	}
	if err != nil {
		return store.Grant{}, passkeyRecord{}, s.internal("passkey: look up credential", err)
	}
	if !g.RevokedAt.IsZero() || !s.now().Before(g.ExpiresAt) {
		return store.Grant{}, passkeyRecord{}, errPasskeyUnknown
	}
	var rec passkeyRecord
	if err := json.Unmarshal(g.Data, &rec); err != nil {
		return store.Grant{}, passkeyRecord{}, s.internal("passkey: read credential", err)
	}
	return g, rec, nil
}

// beginPasskeyRegistration makes the options of
// navigator.credentials.create: the user's handle, a resident key
// preferred (so that it can sign in without a login), the user's
// credentials excluded (an authenticator registers once), and the
// credProps extension (to learn whether it is discoverable).
func (s *Server) beginPasskeyRegistration(ctx context.Context, u store.User, uv string) (json.RawMessage, []byte, error) {
	w, err := s.webAuthn()
	if err != nil {
		return nil, nil, err
	}
	pu, _, err := s.passkeyUserOf(ctx, u)
	if err != nil {
		return nil, nil, s.internal("passkey: list credentials", err)
	}
	if gs, _, err := s.passkeyGrants(ctx, u.ID); err != nil {
		return nil, nil, s.internal("passkey: list credentials", err)
	} else if len(gs) >= maxPasskeys {
		return nil, nil, errTooManyPasskeys
	}
	creation, sess, err := w.BeginRegistration(pu,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: uvRequirement(uv),
		}),
		webauthn.WithExclusions(webauthn.Credentials(pu.creds).CredentialDescriptors()),
		webauthn.WithExtensions(webauthn.WithExtensionCredProps()),
	)
	if err != nil {
		return nil, nil, s.internal("passkey: begin registration", err)
	}
	options, err := json.Marshal(creation)
	if err != nil {
		return nil, nil, s.internal("passkey: encode options", err)
	}
	session, err := json.Marshal(sess)
	if err != nil {
		return nil, nil, s.internal("passkey: encode session", err)
	}
	return options, session, nil
}

// finishPasskeyRegistration verifies an attestation against the session
// kept from beginPasskeyRegistration and stores the credential
// (passkey.registered). The engine announces it (announcePasskey).
func (s *Server) finishPasskeyRegistration(ctx context.Context, u store.User, session []byte, credential json.RawMessage, name string) (Passkey, error) {
	w, err := s.webAuthn()
	if err != nil {
		return Passkey{}, err
	}
	var sess webauthn.SessionData
	if err := json.Unmarshal(session, &sess); err != nil || sess.Challenge == "" {
		return Passkey{}, s.internal("passkey: read session", fmt.Errorf("bad session: %v", err))
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(credential)
	if err != nil {
		s.log.Info("passkey: unreadable attestation", "err", describeWebAuthnErr(err))
		return Passkey{}, errPasskeyUnreadable
	}
	if sess.UserVerification == protocol.VerificationRequired && !parsed.Response.AttestationObject.AuthData.Flags.HasUserVerified() {
		return Passkey{}, errPasskeyNotAddedNoUV
	}
	pu, _, err := s.passkeyUserOf(ctx, u)
	if err != nil {
		return Passkey{}, s.internal("passkey: list credentials", err)
	}
	cred, err := w.CreateCredential(pu, sess, parsed)
	if err != nil {
		s.log.Info("passkey: attestation refused", "user", u.ID, "err", describeWebAuthnErr(err))
		return Passkey{}, errPasskeyNotAdded
	}
	now := s.now()
	if err := s.st.UseNonce(ctx, "webauthn:"+sess.Challenge, now, now.Add(passkeyChallengeTTL)); errors.Is(err, store.ErrReplay) {
		return Passkey{}, errPasskeyReplayed
	} else if err != nil {
		return Passkey{}, s.internal("passkey: record challenge", err)
	}
	if gs, _, err := s.passkeyGrants(ctx, u.ID); err != nil {
		return Passkey{}, s.internal("passkey: list credentials", err)
	} else if len(gs) >= maxPasskeys {
		return Passkey{}, errTooManyPasskeys
	}
	rec := passkeyRecord{Name: passkeyName(name, now), Credential: *cred, Discoverable: cred.Extensions.RK}
	data, err := json.Marshal(rec)
	if err != nil {
		return Passkey{}, s.internal("passkey: encode credential", err)
	}
	g := store.Grant{ID: newID("pk_"), Kind: kindPasskey, UserID: u.ID, Lookup: credentialLookup(cred.ID),
		Data: data, CreatedAt: now, ExpiresAt: now.Add(passkeyForever)}
	if err := s.st.CreateGrant(ctx, g); errors.Is(err, store.ErrConflict) {
		// The credential id is taken (by this user or another): never
		// let a second registration take over the first.
		return Passkey{}, errPasskeyExists
	} else if err != nil {
		return Passkey{}, s.internal("passkey: store credential", err)
	}
	pk := passkeyOf(g, rec)
	s.audit(ctx, store.AuditEvent{Type: "passkey.registered", UserID: u.ID, Detail: map[string]string{
		"passkey": pk.ID, "name": pk.Name, "aaguid": pk.AAGUID, "synced": fmt.Sprint(pk.BackupEligible), "uv": fmt.Sprint(pk.UV)}})
	return pk, nil
}

// passkeyName cleans a nickname: printable, at most maxPasskeyName
// characters; a default when none is left.
func passkeyName(name string, now time.Time) string {
	if !utf8.ValidString(name) {
		name = strings.ToValidUTF8(name, "")
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, name)
	name = strings.Join(strings.Fields(name), " ")
	if utf8.RuneCountInString(name) > maxPasskeyName {
		name = strings.TrimSpace(string([]rune(name)[:maxPasskeyName]))
	}
	if name == "" {
		name = "Passkey added " + now.UTC().Format("2 Jan 2006")
	}
	return name
}

func passkeyOf(g store.Grant, rec passkeyRecord) Passkey {
	c := rec.Credential
	pk := Passkey{
		ID: g.ID, UserID: g.UserID, Name: rec.Name, CredentialID: credentialLookup(c.ID),
		CreatedAt: g.CreatedAt, LastUsedAt: rec.LastUsedAt, SignCount: c.Authenticator.SignCount,
		BackupEligible: c.Flags.BackupEligible, BackupState: c.Flags.BackupState, UV: c.Flags.UserVerified,
		AAGUID: formatAAGUID(c.Authenticator.AAGUID), Disabled: !rec.DisabledAt.IsZero(), DisabledAt: rec.DisabledAt,
	}
	for _, t := range c.Transport {
		pk.Transports = append(pk.Transports, string(t))
	}
	return pk
}

// formatAAGUID writes an authenticator's AAGUID as a UUID.
func formatAAGUID(b []byte) string {
	if len(b) != 16 {
		return ""
	}
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// listPasskeys lists a user's credentials, turned-off ones included,
// oldest first.
func (s *Server) listPasskeys(ctx context.Context, userID string) ([]Passkey, error) {
	gs, recs, err := s.passkeyGrants(ctx, userID)
	if err != nil {
		return nil, s.internal("passkey: list credentials", err)
	}
	out := make([]Passkey, 0, len(gs))
	for i, g := range gs {
		out = append(out, passkeyOf(g, recs[i]))
	}
	return out, nil
}

// hasPasskey says whether the user has a credential that can sign in.
func (s *Server) hasPasskey(ctx context.Context, userID string) bool {
	_, recs, err := s.passkeyGrants(ctx, userID)
	if err != nil {
		s.log.Error("passkey: list credentials", "err", err)
		return false
	}
	for _, rec := range recs {
		if rec.DisabledAt.IsZero() {
			return true
		}
	}
	return false
}

// removePasskey removes one of the user's credentials (passkey.removed).
func (s *Server) removePasskey(ctx context.Context, userID, id string) error {
	return s.removePasskeyBy(ctx, userID, id, "user")
}

// removePasskeyBy removes a credential; by says who asked ("user",
// "admin LOGIN"). The grant expires at once, so that it signs in no more
// and is collected later; a credential of another user is not found.
func (s *Server) removePasskeyBy(ctx context.Context, userID, id, by string) error {
	now := s.now()
	var rec passkeyRecord
	g, err := s.st.UpdateGrant(ctx, id, func(g *store.Grant) error {
		if g.Kind != kindPasskey || g.UserID != userID || !g.RevokedAt.IsZero() || !now.Before(g.ExpiresAt) {
			return errPasskeyNotFound
		}
		if err := json.Unmarshal(g.Data, &rec); err != nil {
			return err
		}
		g.RevokedAt, g.ExpiresAt = now, now
		return nil
	})
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, errPasskeyNotFound) {
		return errPasskeyNotFound
	}
	if err != nil {
		return s.internal("passkey: remove credential", err)
	}
	s.audit(ctx, store.AuditEvent{Type: "passkey.removed", UserID: userID, Detail: map[string]string{"passkey": g.ID, "name": rec.Name, "by": by}})
	if u, err := s.st.GetUser(ctx, userID); err == nil {
		s.tellUser(ctx, u, fmt.Sprintf("The passkey %q was removed from your account.", rec.Name),
			"A passkey was removed from your account",
			fmt.Sprintf("The passkey %q was removed from your %s account %s at %s.\n\nIf this was not you, tell your administrator at once.",
				rec.Name, s.opts.Org, u.Login, now.UTC().Format(time.RFC1123)))
	}
	return nil
}

// announcePasskey tells the user's devices (a notice) and the user (a
// mail) that a passkey was added, as adding a device does.
func (s *Server) announcePasskey(ctx context.Context, u store.User, pk Passkey) {
	kind := "a device-bound passkey"
	if pk.Synced() {
		kind = "a synced passkey"
	}
	s.tellUser(ctx, u, fmt.Sprintf("A passkey, %q, was added to your account.", pk.Name),
		"A passkey was added to your account",
		fmt.Sprintf("The passkey %q (%s) was added to your %s account %s at %s.\n\nIf this was not you, tell your administrator at once.",
			pk.Name, kind, s.opts.Org, u.Login, pk.CreatedAt.UTC().Format(time.RFC1123)))
}

// tellUser sends a notice to every active device of the user and a mail.
func (s *Server) tellUser(ctx context.Context, u store.User, notice, subject, mail string) {
	for _, d := range s.activeDevices(ctx, u.ID) {
		s.notice(ctx, d.ID, notice)
	}
	s.mailUser(ctx, u, subject, mail)
}

// describeWebAuthnErr is a go-webauthn error with its developer detail,
// for the log.
func describeWebAuthnErr(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return strings.TrimSpace(pe.Type + ": " + pe.Details + " " + pe.DevInfo)
	}
	return err.Error()
}
