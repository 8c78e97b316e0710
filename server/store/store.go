// Package store is the persistence interface of assentd. Every backend
// (SQLite, the embedded default; PostgreSQL for several nodes) implements
// Store and passes the one conformance suite in store/storetest.
//
// Conventions every backend keeps:
//   - Callers choose IDs; the store never invents them.
//   - Times round-trip at millisecond precision in UTC; the zero time stays
//     zero ("not set").
//   - UpdateX(ctx, id, fn) reads the row, calls fn on it and writes the result
//     back inside one database transaction, so that concurrent updates of the
//     same row serialize; if fn returns an error nothing is written and that
//     error is returned unchanged (errors.Is works on it).
//   - Slices and maps round-trip with nil and empty treated alike.
//   - fn may run more than once (backends that retry on serialization
//     failures), must not call the Store, and cannot change the row's ID.
//   - Rows refer to their parents: a token, device, session or challenge
//     needs its user, and a challenge its device; a missing parent is
//     ErrNotFound. Transactions may name no user yet. Grants name users and
//     apps without needing them: a grant outlives what it names.
//   - Every ExpiresAt is set; GarbageCollect treats ExpiresAt <= now as
//     expired, and removes tokens, transactions and grants GCGrace after
//     that.
//   - The audit log is append-only: there is no way to change or delete an
//     event through this interface, and backends refuse it in the schema too.
//     It is a hash chain in Seq order (AuditHash, VerifyAudit), so that a
//     change made around the store shows.
package store

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
)

// GCGrace is how long enrollment tokens and transactions are kept past
// their expiry, so that a late request still gets "expired", not "unknown".
const GCGrace = 24 * time.Hour

// ExpiredReason is the Reason GarbageCollect gives a challenge it expires.
const ExpiredReason = "not answered in time"

// Errors callers branch on.
var (
	ErrNotFound = errors.New("not found")
	// ErrConflict: a row with that ID or unique key exists already.
	ErrConflict = errors.New("already exists")
	// ErrTokenUsed: the enrollment token was consumed already.
	ErrTokenUsed = errors.New("enrollment token already used")
	// ErrExpired: the enrollment token is past its expiry.
	ErrExpired = errors.New("expired")
	// ErrReplay: UseNonce saw that key before.
	ErrReplay = errors.New("seen before")
	// ErrNoSpace: the database cannot write for want of disk space (on
	// PostgreSQL also another resource: SQLSTATE class 53). Nothing of the
	// failed write was kept; the same write may succeed once space is
	// freed.
	ErrNoSpace = errors.New("database is out of space")
)

// User statuses.
const (
	UserActive    = "active"
	UserSuspended = "suspended"
)

// User is a person who signs in.
type User struct {
	ID           string
	Login        string // unique, case-sensitive as stored; callers normalise
	Email        string
	Groups       []string
	Profile      map[string]string
	Status       string
	PasswordHash string // argon2id PHC string; empty when none is set
	// Risk is the user's standing risk level ("low", "medium", "high"),
	// raised when a push is reported; RiskSince is when it was last set.
	Risk      string
	RiskSince time.Time
	// FailedAttempts counts consecutive failed factor checks; LockedUntil is
	// set once they pass the limit.
	FailedAttempts int
	LockedUntil    time.Time
	CreatedAt      time.Time
}

// EnrollToken is a single-use enrollment token. Only its hash is stored.
type EnrollToken struct {
	Hash      string
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero while unused
	DeviceID  string    // the device it enrolled, once used
}

// Device is an enrolled Assent authenticator (push + TOTP).
type Device struct {
	ID        string // the enrollment id
	UserID    string
	PublicKey []byte // JWK JSON of the device's P-256 key
	Name      string
	Platform  string
	OS        string
	Model     string
	KeyStore  string
	// TOTP authenticator; the secret is sealed by the server.
	TOTPSecret    []byte
	TOTPAlgorithm string
	TOTPDigits    int
	TOTPPeriod    int
	// TOTPLastStep is the last time step accepted; a step is accepted once.
	TOTPLastStep int64
	CreatedAt    time.Time
	LastSeen     time.Time
	RevokedAt    time.Time // zero while active
}

// Challenge statuses (the same words as push.Outcome*).
const (
	ChallengePending   = "pending"
	ChallengeApproved  = "approved"
	ChallengeDenied    = "denied"
	ChallengeReported  = "reported"
	ChallengeFailed    = "failed"
	ChallengeExpired   = "expired"
	ChallengeCancelled = "cancelled"
)

// Challenge is one push sent to one device.
type Challenge struct {
	ID       string
	TxID     string
	DeviceID string
	UserID   string
	Kind     string
	Nonce    string
	Numbers  []int // the three choices shown on the device; empty when no number challenge
	Correct  int   // the number shown on the sign-in page; 0 when none
	Context  []byte
	JWS      string // the signed challenge as sent
	Status   string
	Reason   string // why it ended, for the audit log and the poller
	// UV is whether the device said the user verified locally.
	UV         bool
	CreatedAt  time.Time
	ExpiresAt  time.Time
	AnsweredAt time.Time
}

// ChallengeFilter selects challenges; empty fields match everything.
type ChallengeFilter struct {
	DeviceID string
	UserID   string
	TxID     string
	Status   string
	// Since keeps challenges created at or after it.
	Since time.Time
}

// Transaction statuses.
const (
	TxActive  = "active"
	TxSuccess = "success"
	TxFailed  = "failed"
)

// Transaction is one sign-in, recovery or enrollment in progress. Data holds
// the engine's own state as JSON; the store does not look inside it.
type Transaction struct {
	ID        string // hash of the state handle
	App       string
	Kind      string
	UserID    string
	Status    string
	Data      []byte
	ClientIP  string
	UserAgent string
	CreatedAt time.Time
	UpdatedAt time.Time
	ExpiresAt time.Time
}

// Session is a signed-in session. Only the hash of its token is stored.
// It carries what it proves, so that every use can check it again: whose
// it is, the app it was made for, the factors used (RFC 8176 amr values),
// when the person last authenticated in full, and the risk at the time.
type Session struct {
	ID        string // hash of the session token
	UserID    string
	TxID      string
	ClientIP  string
	UserAgent string
	// App is the name of the registered app the session was made for.
	App string
	// AMR lists the authentication methods used (pwd, swk, otp, email,
	// user, mfa), in the order they were passed.
	AMR []string
	// AuthTime is when the person authenticated originally; a session made
	// by reusing another keeps the other's AuthTime.
	AuthTime time.Time
	// Risk is the risk level the session was made at.
	Risk      string
	CreatedAt time.Time
	ExpiresAt time.Time
	RevokedAt time.Time
}

// App types. Web and embedded apps sign people in through the engine's
// hosted pages and JSON API; the other types are clients of a protocol
// front (OpenID Connect, RADIUS) with their settings in Config.
const (
	AppWeb      = "web"
	AppEmbedded = "embedded"
	AppOIDC     = "oidc"
	AppRADIUS   = "radius"
)

// App is a registered application: what sign-on rules name and sessions
// are made for. Name is unique. Config holds the settings of the app's
// type (an OpenID Connect client's redirect URIs and hashed secret, a
// RADIUS client's networks and sealed secret) as JSON the store does not
// look inside.
type App struct {
	ID        string
	Name      string
	Type      string
	Builtin   bool // made by assentd itself; cannot be removed
	Config    []byte
	CreatedAt time.Time
}

// Counter is the state of one limit (a throttle, a lockout, a push
// budget), shared by every node: how many hits since WindowStart, and
// until when it refuses. Its meaning is the caller's; the store keeps it
// and removes it once ExpiresAt has passed.
type Counter struct {
	Key         string
	Count       int
	WindowStart time.Time
	// Until is when a block ends; zero when none is set.
	Until time.Time
	// Last is when the counter last changed.
	Last      time.Time
	ExpiresAt time.Time
}

// Grant is one object of a protocol front's flows — an OpenID Connect
// authorization request, code, access or refresh token, device
// authorization, signing key — kept in the store so that any node can
// finish a flow another began. Its meaning is the front's: the store keeps
// Data as it is and finds grants by ID, by (Kind, Lookup) and by filter.
type Grant struct {
	ID       string // unique
	Kind     string
	ClientID string // the app's ID, when the grant is for one
	UserID   string
	// Lookup is a second key, unique within Kind when not empty (the hash
	// of a code or a refresh token, a device's user code).
	Lookup string
	// Family names the grant a grant descends from (the authorization
	// that a code, its tokens and their refreshed tokens come from), so
	// that a whole family can be revoked at once.
	Family    string
	Data      []byte
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero until used (a code, a refresh token)
	RevokedAt time.Time // zero while valid
}

// GrantFilter selects grants: a grant matches when it matches every field
// that is set, and empty fields match everything. At least one of Kind,
// ClientID, UserID and Family must be set; ListGrants and RevokeGrants
// refuse a filter without any with an error, so that nothing lists or
// revokes every grant by mistake.
type GrantFilter struct {
	Kind     string
	ClientID string
	UserID   string
	Family   string
	// Live keeps grants that are neither revoked (RevokedAt zero) nor
	// expired at Live (ExpiresAt after it). Used grants are live.
	Live time.Time
}

// AdminToken is an admin API token. Only the SHA-256 of the token is
// stored.
type AdminToken struct {
	ID        string // public handle, shown by admin-token list, used to revoke
	Hash      string // unique
	Name      string
	CreatedAt time.Time
	ExpiresAt time.Time
	RevokedAt time.Time // zero while valid
}

// AuditEvent is one line of the append-only audit log. Seq follows commit
// order, so a reader paging with AfterSeq never skips an event that
// committed late.
type AuditEvent struct {
	Seq         int64 // assigned by the store, increasing
	Time        time.Time
	Type        string
	UserID      string
	DeviceID    string
	TxID        string
	ChallengeID string
	ClientIP    string
	Detail      map[string]string
	// PrevHash and Hash chain the log (see AuditHash): set by the store
	// when it appends the event; Hash is empty on events stored before
	// the chain began.
	PrevHash string
	Hash     string
}

// Audit carries audit events that commit in the same transaction as the
// change they record (CreateChallenge, UpdateChallenge), so that a crash
// can never leave the change without its events.
type Audit struct {
	// Events are appended as given.
	Events []AuditEvent
	// For, when set, makes further events from the changed challenge,
	// inside the transaction, after the change; it may run more than once
	// if the transaction is retried, and must not have side effects.
	For func(Challenge) []AuditEvent
	// Stored is set after the commit: the events as stored, with their
	// Seq, PrevHash and Hash.
	Stored []AuditEvent
}

// Make returns the events to append for the changed challenge c.
func (a *Audit) Make(c Challenge) []AuditEvent {
	es := slices.Clone(a.Events)
	if a.For != nil {
		es = append(es, a.For(c)...)
	}
	return es
}

// AppendAudited appends each Audit's events for the changed challenge c
// through appendAudits (a backend's chained insert, inside the transaction
// that changed c) and keeps them as stored.
func AppendAudited(c Challenge, audit []*Audit, appendAudits func([]AuditEvent) ([]AuditEvent, error)) error {
	for _, a := range audit {
		a.Stored = nil
		es := a.Make(c)
		if len(es) == 0 {
			continue
		}
		out, err := appendAudits(es)
		if err != nil {
			return err
		}
		a.Stored = out
	}
	return nil
}

// ChallengeWrite is a challenge to create with the events that commit
// with it (CreateChallenge's arguments).
type ChallengeWrite struct {
	Challenge Challenge
	Audit     []*Audit
}

// ChallengeForm is a store that can say how a challenge it wrote reads
// back (GetChallenge): times as it keeps them, empty lists as nil. The
// SQLite store is one; a node that alone serves it keeps the challenges
// it settled in that form, so that a read from memory and a read from the
// store give the same.
type ChallengeForm interface {
	AsStored(c Challenge) Challenge
}

// ChallengeBatcher is a store that can create several challenges, each
// with its events, in one transaction: all of them or none. The SQLite
// store is one; a node that alone serves it writes the answers that come
// in together through it (group commit).
type ChallengeBatcher interface {
	CreateChallenges(ctx context.Context, ws []ChallengeWrite) error
}

// ChallengeChange is one CreateChallenge call (New set) or one
// UpdateChallenge call (ID and Fn), with the events that commit with it.
type ChallengeChange struct {
	New   *Challenge
	ID    string
	Fn    func(*Challenge) error
	Audit []*Audit
}

// ChallengeChanger is a store that can create and update several
// challenges, each with its events, in one transaction. Each change gets
// its own outcome, as CreateChallenge or UpdateChallenge would give it:
// the challenge as stored, or fn's error (or ErrNotFound), and then
// nothing of it is written and its Audits keep no events. Creations go
// first; updates of one id run in turn, each on what the one before it
// wrote. The error is for the transaction as a whole, when it failed
// (a created challenge that was there already fails it) and none was
// written. Nodes that share a store write the pushes that are sent and
// answered together through it (group commit), so that they take the audit
// log's lock once.
type ChallengeChanger interface {
	ChangeChallenges(ctx context.Context, cs []ChallengeChange) ([]Challenge, []error, error)
}

// ForgetStored clears what the Audits of cs kept: a batch that failed
// wrote none of their events.
func ForgetStored(cs []ChallengeChange) {
	for _, c := range cs {
		for _, a := range c.Audit {
			a.Stored = nil
		}
	}
}

// MakeAudited returns the events of every Audit of every changed
// challenge (audits[i] for cs[i]), in that order, and how many each Audit
// made, for KeepAudited; it clears what the Audits kept before.
func MakeAudited(cs []Challenge, audits [][]*Audit) (all []AuditEvent, ns []int) {
	for i, as := range audits {
		for _, a := range as {
			a.Stored = nil
			es := a.Make(cs[i])
			all = append(all, es...)
			ns = append(ns, len(es))
		}
	}
	return all, ns
}

// KeepAudited gives each Audit its share of stored, the events
// MakeAudited made as they were stored.
func KeepAudited(audits [][]*Audit, ns []int, stored []AuditEvent) {
	for _, as := range audits {
		for _, a := range as {
			n := ns[0]
			ns = ns[1:]
			if n > 0 {
				a.Stored, stored = stored[:n:n], stored[n:]
			}
		}
	}
}

// NonceUse is one UseNonce call.
type NonceUse struct {
	Key          string
	Now, Expires time.Time
}

// NonceBatcher is a store that can record several one-time keys in one
// transaction, each with its own answer (nil, or ErrReplay when that key
// was seen before, also earlier in the same batch); the error is for the
// transaction as a whole, when it failed and none was recorded.
type NonceBatcher interface {
	UseNonces(ctx context.Context, us []NonceUse) ([]error, error)
}

// SessionBatcher is a store that can create several sessions in one
// transaction, all or none.
type SessionBatcher interface {
	CreateSessions(ctx context.Context, ss []Session) error
}

// TransactionCreator is a store that can create several transactions
// (sign-ins, recoveries, enrollments) in one transaction, all or none.
type TransactionCreator interface {
	CreateTransactions(ctx context.Context, ts []Transaction) error
}

// TransactionPutter is a store that can write several transactions as
// they are, in one transaction, each with its own answer (nil, or
// ErrNotFound when it is no longer stored); the error is for the
// transaction as a whole, when it failed and none was written. A node that
// alone changes transactions, and so knows their state, writes their
// changes through it (group commit). ts[i] is as a read would return it
// once the call succeeded.
type TransactionPutter interface {
	PutTransactions(ctx context.Context, ts []Transaction) ([]error, error)
}

// CounterPutter is a store that can write several counters as they are
// (each created or overwritten), in one transaction: all of them or none.
// A node that alone changes counters writes their changes through it
// (group commit). cs[i] is as a read would return it once the call
// succeeded.
type CounterPutter interface {
	PutCounters(ctx context.Context, cs []Counter) error
}

// DeviceTouch says a device was seen at At.
type DeviceTouch struct {
	ID string
	At time.Time
}

// DeviceToucher is a store that records when devices were last seen,
// many in one call (a store may split them over several transactions);
// a device's LastSeen only moves forward.
type DeviceToucher interface {
	TouchDevices(ctx context.Context, ts []DeviceTouch) error
}

// DeviceScanner is a store that can read every device in one query (to
// fill a node's cache at start). ListAllDevices gives each user's devices
// one after another, in the order ListDevices gives them.
type DeviceScanner interface {
	ListAllDevices(ctx context.Context) ([]Device, error)
}

// ExpiredEvent is the audit event of a challenge the sweep expired; the
// store appends it in the sweep's transaction.
func ExpiredEvent(c Challenge, now time.Time) AuditEvent {
	return AuditEvent{Time: now, Type: "push." + ChallengeExpired, UserID: c.UserID, DeviceID: c.DeviceID, TxID: c.TxID, ChallengeID: c.ID}
}

// UserAuditTypes are the audit event types the backends index by user
// (migration 7 of both; 8 of SQLite): what the server reads of one user's log (the
// risk of a sign-in: its successful sign-ins, failures and reports; and
// whether the user was signed out everywhere). A filter by user whose
// Types are all among these reads that index; any other filter by user
// walks the log. Every other event (push.sent and push.approved above
// all, two for every push) enters no index by user, so that writing it
// adds no index page to the commit. Sorted; a type added here needs a
// migration that rebuilds the index with it.
var UserAuditTypes = []string{
	"password.reset",
	"push.denied",
	"push.failed",
	"push.reported",
	"session.revoked_all",
	"signin.password_failed",
	"signin.success",
	"totp.refused",
	"totp.replayed",
}

// UserAuditIndexed says whether a filter by user naming types reads the
// index by user: it names some, and each is one of UserAuditTypes.
func UserAuditIndexed(types []string) bool {
	if len(types) == 0 {
		return false
	}
	for _, t := range types {
		if _, ok := slices.BinarySearch(UserAuditTypes, t); !ok {
			return false
		}
	}
	return true
}

// UserAuditCondition is the condition of the index by user, as
// PostgreSQL's migration 7 writes it: a query names it, besides its own
// types, so that the planner can prove the partial index holds every row
// it wants (a bound parameter does not let it). SQLite's index writes the
// same types as comparisons joined by OR (its migration 8), which it
// checks at an insert without building a table of them.
func UserAuditCondition() string { return userAuditCondition }

// userAuditCondition is made once: every sign-in's risk names it.
var userAuditCondition = "type IN ('" + strings.Join(UserAuditTypes, "', '") + "')"

// AuditFilter selects audit events, oldest first (newest first with
// Newest); empty fields match everything. Limit 0 means no limit.
type AuditFilter struct {
	UserID string
	// Types keeps events of any of these types.
	Types []string
	// Since keeps events at or after it.
	Since     time.Time
	AfterSeq  int64
	BeforeSeq int64
	Newest    bool
	Limit     int
}

// GCResult reports what GarbageCollect did.
type GCResult struct {
	// Expired are the challenges that were pending past their expiry and
	// are now ChallengeExpired with ExpiredReason; the caller tells their
	// devices.
	Expired []Challenge
	// Audits are the push.expired events of Expired, appended in the same
	// transaction, as stored.
	Audits []AuditEvent
	// Deleted counts rows removed: used nonces past expiry, enrollment
	// tokens and transactions long past expiry, expired sessions, counters
	// past their ExpiresAt, grants GCGrace past their ExpiresAt.
	Deleted int64
}

// Store is everything assentd keeps.
type Store interface {
	CreateUser(ctx context.Context, u User) error
	GetUser(ctx context.Context, id string) (User, error)
	GetUserByLogin(ctx context.Context, login string) (User, error)
	ListUsers(ctx context.Context) ([]User, error) // by login
	UpdateUser(ctx context.Context, id string, fn func(*User) error) (User, error)

	CreateEnrollToken(ctx context.Context, t EnrollToken) error
	// CompleteEnrollment consumes the token with that hash and creates dev
	// (its UserID set from the token) in one transaction. Errors:
	// ErrNotFound, ErrTokenUsed, ErrExpired (ExpiresAt <= now), ErrConflict.
	// On any error nothing changes.
	CompleteEnrollment(ctx context.Context, tokenHash string, now time.Time, dev Device) (Device, error)

	GetDevice(ctx context.Context, id string) (Device, error)
	// ListDevices lists a user's devices, revoked ones included, oldest first.
	ListDevices(ctx context.Context, userID string) ([]Device, error)
	UpdateDevice(ctx context.Context, id string, fn func(*Device) error) (Device, error)

	// CreateChallenge stores c. With an Audit, its Events are appended to
	// the audit log in the same transaction: the challenge is never
	// visible, not even after a crash, without them.
	CreateChallenge(ctx context.Context, c Challenge, audit ...*Audit) error
	GetChallenge(ctx context.Context, id string) (Challenge, error)
	// ListChallenges lists matching challenges, oldest first.
	ListChallenges(ctx context.Context, f ChallengeFilter) ([]Challenge, error)
	// UpdateChallenge changes a challenge with fn. With an Audit, the
	// events its For makes of the changed challenge commit with the change.
	UpdateChallenge(ctx context.Context, id string, fn func(*Challenge) error, audit ...*Audit) (Challenge, error)

	CreateTransaction(ctx context.Context, t Transaction) error
	GetTransaction(ctx context.Context, id string) (Transaction, error)
	UpdateTransaction(ctx context.Context, id string, fn func(*Transaction) error) (Transaction, error)

	CreateSession(ctx context.Context, s Session) error
	GetSession(ctx context.Context, id string) (Session, error)
	// RevokeSession revokes one session (sign-out); revoking a revoked one
	// keeps its first RevokedAt. ErrNotFound for an unknown id.
	RevokeSession(ctx context.Context, id string, now time.Time) error
	// RevokeSessions revokes every unrevoked session of a user and says how
	// many.
	RevokeSessions(ctx context.Context, userID string, now time.Time) (int, error)

	// CreateApp registers an app; ErrConflict when its ID or Name is taken.
	CreateApp(ctx context.Context, a App) error
	GetApp(ctx context.Context, id string) (App, error)
	GetAppByName(ctx context.Context, name string) (App, error)
	// ListApps lists every app by name.
	ListApps(ctx context.Context) ([]App, error)
	UpdateApp(ctx context.Context, id string, fn func(*App) error) (App, error)
	// DeleteApp removes an app; ErrNotFound for an unknown id. The store
	// does not look at Builtin: refusing to remove a built-in app is the
	// caller's.
	DeleteApp(ctx context.Context, id string) error

	// UpdateCounter reads the counter with that key (a zero Counter with
	// only Key set when there is none), calls fn on it and writes the
	// result, in one database transaction that holds the row locked:
	// concurrent updates of one key serialize, so a limit checked in fn
	// can never be passed by racing callers. If fn returns an error
	// nothing is written and that error is returned unchanged with the
	// counter as read.
	UpdateCounter(ctx context.Context, key string, fn func(*Counter) error) (Counter, error)
	// GetCounter reads a counter; ErrNotFound when there is none.
	GetCounter(ctx context.Context, key string) (Counter, error)

	// CreateGrant stores a grant; ErrConflict when its ID, or its Lookup
	// within its Kind, is taken.
	CreateGrant(ctx context.Context, g Grant) error
	GetGrant(ctx context.Context, id string) (Grant, error)
	// GetGrantByLookup finds the grant of a kind with that Lookup; an
	// empty lookup finds nothing (ErrNotFound).
	GetGrantByLookup(ctx context.Context, kind, lookup string) (Grant, error)
	// UpdateGrant is the read-modify-write of the store's conventions; a
	// new Lookup (or Kind) that makes the pair taken is ErrConflict, and
	// nothing is written.
	UpdateGrant(ctx context.Context, id string, fn func(*Grant) error) (Grant, error)
	// ListGrants lists matching grants, oldest first (by CreatedAt, then
	// ID).
	ListGrants(ctx context.Context, f GrantFilter) ([]Grant, error)
	// RevokeGrants sets RevokedAt to now on every matching grant not
	// revoked yet and says how many; revoked ones keep their first
	// RevokedAt.
	RevokeGrants(ctx context.Context, f GrantFilter, now time.Time) (int, error)
	// DeleteGrant removes a grant; ErrNotFound for an unknown id.
	DeleteGrant(ctx context.Context, id string) error

	// CreateAdminToken stores a token; ErrConflict for a taken ID or Hash.
	CreateAdminToken(ctx context.Context, t AdminToken) error
	// GetAdminToken finds a token by its hash.
	GetAdminToken(ctx context.Context, hash string) (AdminToken, error)
	// ListAdminTokens lists every token, expired and revoked ones included,
	// oldest first (by CreatedAt, then ID). GarbageCollect keeps them.
	ListAdminTokens(ctx context.Context) ([]AdminToken, error)
	// RevokeAdminToken revokes a token by ID, keeping the first RevokedAt;
	// ErrNotFound for an unknown ID.
	RevokeAdminToken(ctx context.Context, id string, now time.Time) error

	// AppendAudit stores an event and returns it as ListAudit will (with
	// its Seq, PrevHash and Hash).
	AppendAudit(ctx context.Context, e AuditEvent) (AuditEvent, error)
	// AppendAudits stores several events in one transaction, in order:
	// all of them or none. Once they are stored it sets each event of es
	// as ListAudit will return it (Seq, PrevHash, Hash, the time as kept).
	AppendAudits(ctx context.Context, es []AuditEvent) error
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
	// AuditChainStart is the Seq from which every event carries its hash
	// (see AuditHash): events before it were stored before the chain
	// began. Appends ignore PrevHash and Hash of the events given and set
	// them, in the transaction that stores them.
	AuditChainStart(ctx context.Context) (int64, error)

	// UseNonce records key as used until expires; ErrReplay if it is
	// recorded already with an expiry after now.
	UseNonce(ctx context.Context, key string, now, expires time.Time) error

	// GetSecret returns a named server secret (already sealed by the caller).
	GetSecret(ctx context.Context, name string) ([]byte, error)
	// PutSecretIfAbsent stores value under name unless a value is there
	// already, and returns whichever value is stored: the first of several
	// racing nodes wins and all of them agree.
	PutSecretIfAbsent(ctx context.Context, name string, value []byte) ([]byte, error)

	GarbageCollect(ctx context.Context, now time.Time) (GCResult, error)

	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	Close() error
}
