// Package sdk is the Go client of Assent's embedded sign-in API: an app
// starts a transaction with Interact and follows the remediations the
// server offers until success. The wire types here are the API's single
// definition; assentd serves exactly these.
package sdk

import (
	"encoding/json"
	"time"
)

// Remediation names (the Identity Engine's words).
const (
	RemIdentify      = "identify"
	RemChallengeAuth = "challenge-authenticator"
	RemSelectAuth    = "select-authenticator-authenticate"
	RemChallengePoll = "challenge-poll"
	RemCancel        = "cancel"
	// Recovery.
	RemIdentifyRecovery = "identify-recovery"
	RemResetAuth        = "reset-authenticator"
	// Enrolling an Assent device (self-service, or during sign-in when the
	// user has none).
	RemEnrollAuth = "enroll-authenticator"
	RemEnrollPoll = "enroll-poll"
	// Progressive profiling.
	RemEnrollProfile = "enroll-profile"
)

// Transaction kinds, chosen at interact.
const (
	KindSignIn   = "signin"
	KindRecovery = "recovery"
	KindEnroll   = "enroll" // add a device to a signed-in account
)

// Authenticators.
const (
	AuthPassword = "password"
	AuthPush     = "push"
	AuthTOTP     = "totp"
	AuthEmail    = "email"
	// AuthWebAuthn is a passkey or security key (WebAuthn).
	AuthWebAuthn = "webauthn"
	// AuthSameDevice is a proof from the Assent app on the browser's own
	// machine, asked over loopback.
	AuthSameDevice = "samedevice"
)

// Transaction statuses.
const (
	StatusActive  = "active"
	StatusWaiting = "waiting" // a push waits for the person; show Number
	StatusSuccess = "success"
	StatusEnded   = "ended"
)

// Field is one input a remediation takes.
type Field struct {
	Name     string   `json:"name"`
	Type     string   `json:"type,omitempty"`
	Required bool     `json:"required,omitempty"`
	Secret   bool     `json:"secret,omitempty"`
	Options  []string `json:"options,omitempty"`
}

// Remediation is one step the client may take next.
type Remediation struct {
	Name   string  `json:"name"`
	Fields []Field `json:"fields,omitempty"`
}

// Session is the session a successful transaction makes.
type Session struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Response is the answer to every step.
type Response struct {
	StateHandle string        `json:"stateHandle,omitempty"`
	Status      string        `json:"status"`
	ExpiresAt   *time.Time    `json:"expiresAt,omitempty"`
	Remediation []Remediation `json:"remediation,omitempty"`
	// Number is shown to the person while a push with number challenge
	// waits: they pick it on their device.
	Number  int      `json:"number,omitempty"`
	User    string   `json:"user,omitempty"`
	Session *Session `json:"session,omitempty"`
	// Kind is what the transaction does: signin, recovery or enroll.
	Kind string `json:"kind,omitempty"`
	// Factor is the authenticator a waiting step waits for (push, email,
	// enrollment).
	Factor string `json:"factor,omitempty"`
	// Enrollment is the link to show (as a QR code) while a device enrolls.
	Enrollment *Enrollment `json:"enrollment,omitempty"`
	// Message says something to the person (an email was sent, …).
	Message string `json:"message,omitempty"`
	// WebAuthn holds the options for the browser's WebAuthn call: a
	// credential request (navigator.credentials.get) to sign in, or a
	// creation (navigator.credentials.create) to register a passkey.
	WebAuthn json.RawMessage `json:"webAuthn,omitempty"`
	// SameDevice is the server-signed challenge the page hands to the
	// Assent app on loopback.
	SameDevice string `json:"sameDevice,omitempty"`
}

// Enrollment is an enrollment link being offered.
type Enrollment struct {
	Link      string    `json:"link"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Has says whether a remediation is offered.
func (r *Response) Has(name string) bool {
	for _, m := range r.Remediation {
		if m.Name == name {
			return true
		}
	}
	return false
}

// Request holds every field any remediation takes.
type Request struct {
	StateHandle string `json:"stateHandle,omitempty"`
	// interact: the app, the kind (signin by default), a stable id of the
	// browser or app install (it lets risk tell known devices from new
	// ones), and for kind enroll the session token of the signed-in user.
	App          string `json:"app,omitempty"`
	Kind         string `json:"kind,omitempty"`
	Device       string `json:"device,omitempty"`
	SessionToken string `json:"sessionToken,omitempty"`
	// Level asks a sign-in for more than its app's rule: "mfa" (two
	// factors, one a device) or "mfa-uv" (and the person verified on the
	// device). AuthAfter (unix seconds) asks for a full authentication at
	// or after that time: a session from before it counts for nothing.
	Level     string `json:"level,omitempty"`
	AuthAfter int64  `json:"authAfter,omitempty"`
	Login     string `json:"login,omitempty"`
	// Authenticator is password, push, totp or email.
	Authenticator string `json:"authenticator,omitempty"`
	// Passcode is the password, the code, or (reset-authenticator) the new
	// password.
	Passcode string `json:"passcode,omitempty"`
	// Profile holds the attributes enroll-profile asks for.
	Profile map[string]string `json:"profile,omitempty"`
	// Credential is the browser's PublicKeyCredential as JSON: an
	// assertion (identify, challenge-authenticator) or an attestation
	// (enroll-authenticator) for authenticator webauthn.
	Credential json.RawMessage `json:"credential,omitempty"`
	// Proof is the same-device proof the Assent app answered.
	Proof string `json:"proof,omitempty"`
	// Name is a new passkey's nickname.
	Name string `json:"name,omitempty"`
	// Wait (challenge-poll) is how many seconds the server may hold its
	// answer while the push still waits: it answers the moment the push
	// ends, or "waiting" when the time is up (at most 20 s). 0 answers at
	// once. A poll may also come back at once, still waiting (the server
	// holds at most two polls of a transaction); poll again after a pause.
	Wait int `json:"wait,omitempty"`
}

// SessionUser is the body of GET /v1/session: whose the session is, the
// app it was made for, how the person authenticated (RFC 8176 amr values:
// pwd, swk, otp, email, user, mfa) and when, and the risk it was made at.
// An app checks App (or asks with ?app=NAME) before it trusts a token.
type SessionUser struct {
	User      string    `json:"user"`
	App       string    `json:"app"`
	AMR       []string  `json:"amr"`
	AuthTime  time.Time `json:"authTime"`
	Risk      string    `json:"risk,omitempty"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Error is the API's error body.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"error"`
	Message string `json:"message"`
	// RetryAfter is how many seconds to wait before trying again (429).
	RetryAfter int `json:"retryAfter,omitempty"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }
