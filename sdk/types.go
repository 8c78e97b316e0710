// Package sdk is the Go client of Assent's embedded sign-in API: an app
// starts a transaction with Interact and follows the remediations the
// server offers until success. The wire types here are the API's single
// definition; assentd serves exactly these.
package sdk

import "time"

// Remediation names (the Identity Engine's words).
const (
	RemIdentify      = "identify"
	RemChallengeAuth = "challenge-authenticator"
	RemSelectAuth    = "select-authenticator-authenticate"
	RemChallengePoll = "challenge-poll"
	RemCancel        = "cancel"
)

// Authenticators.
const (
	AuthPassword = "password"
	AuthPush     = "push"
	AuthTOTP     = "totp"
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
	StateHandle   string `json:"stateHandle,omitempty"`
	App           string `json:"app,omitempty"`
	Login         string `json:"login,omitempty"`
	Authenticator string `json:"authenticator,omitempty"`
	Passcode      string `json:"passcode,omitempty"`
}

// SessionUser is the body of GET /v1/session.
type SessionUser struct {
	User      string    `json:"user"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Error is the API's error body.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"error"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }
