// Package push is the device↔server wire protocol of Assent, version 1:
// message and claim types, their field names (written down here once), the
// checks both sides apply, and the device-side client.
package push

import (
	"encoding/json"
	"errors"
	"fmt"
)

// JWS `typ` values. Every signed object carries one, so a token made for one
// purpose is never accepted for another.
const (
	TypEnroll    = "assent-enroll+jwt"
	TypDevice    = "assent-device+jwt"
	TypChallenge = "assent-push+jwt"
	TypResponse  = "assent-response+jwt"
)

// HTTP paths of the device API.
const (
	PathEnroll     = "/v1/enroll"
	PathPush       = "/v1/push"
	PathChallenges = "/v1/challenges"
	PathDevice     = "/v1/device"
	// AuthScheme is the Authorization scheme carrying a device JWS.
	AuthScheme = "Assent"
)

// Challenge kinds.
const (
	KindSignIn   = "signin"
	KindRecovery = "recovery"
	KindEnroll   = "enroll"
	KindStepUp   = "stepup"
)

// Consent values of a response.
const (
	ConsentApproved = "approved"
	ConsentDenied   = "denied"
	ConsentReported = "reported"
)

// User verification levels a challenge asks for.
const (
	UVRequired  = "required"
	UVPreferred = "preferred"
	UVNone      = "none"
)

// Limits both sides enforce.
const (
	// MaxMessageSize bounds one WebSocket frame and one HTTP body of the
	// device API.
	MaxMessageSize = 32 << 10
	// DeviceTokenMaxAge is how far a device token's iat may be from the
	// server's clock.
	DeviceTokenMaxAge = 60 // seconds
	// MaxChallengeLifetime is the longest a challenge may live.
	MaxChallengeLifetime = 600 // seconds
)

// Device describes the enrolling device; shown to admins and the user.
type Device struct {
	Name     string `json:"name"`
	Platform string `json:"platform"`
	OS       string `json:"os,omitempty"`
	Model    string `json:"model,omitempty"`
	KeyStore string `json:"keyStore"`
}

// EnrollClaims are the claims of the enrollment JWS (TypEnroll), signed by the
// new device key, which rides in the `jwk` header.
type EnrollClaims struct {
	Token  string `json:"token"`
	Device Device `json:"device"`
	IAT    int64  `json:"iat"`
}

// TOTPParams is how the server hands a device its TOTP authenticator.
type TOTPParams struct {
	Secret    string `json:"secret"` // base32, unpadded
	Algorithm string `json:"algorithm"`
	Digits    int    `json:"digits"`
	Period    int    `json:"period"`
}

// EnrollResponse answers a successful enrollment.
type EnrollResponse struct {
	EnrollmentID string          `json:"enrollmentId"`
	User         string          `json:"user"`
	Org          string          `json:"org"`
	Server       string          `json:"server"` // issuer; the aud of device tokens
	ServerKey    json.RawMessage `json:"serverKey"`
	PushURL      string          `json:"pushUrl"`
	TOTP         TOTPParams      `json:"totp"`
}

// DeviceClaims authenticate a device on the push channel, the poll endpoint
// and device requests (TypDevice). The server accepts each jti once.
type DeviceClaims struct {
	Issuer   string `json:"iss"` // enrollment id
	Audience string `json:"aud"` // server
	IAT      int64  `json:"iat"`
	JTI      string `json:"jti"`
	// Exp, when present, is when the token stops being good (the app sets
	// iat + DeviceTokenMaxAge); a token past it is refused.
	Exp int64 `json:"exp,omitempty"`
}

// ChallengeContext tells the person what they are approving.
type ChallengeContext struct {
	App       string `json:"app,omitempty"`
	ClientIP  string `json:"clientIP,omitempty"`
	Location  string `json:"location,omitempty"`
	UserAgent string `json:"userAgent,omitempty"`
	Time      int64  `json:"time"`
	// Risk is the sign-in's assessed risk (low, medium, high) and
	// RiskReasons why (new device, new network, …).
	Risk        string   `json:"risk,omitempty"`
	RiskReasons []string `json:"riskReasons,omitempty"`
}

// ChallengeClaims are the claims of a push challenge (TypChallenge), signed by
// the server key.
type ChallengeClaims struct {
	Issuer           string           `json:"iss"`
	Audience         string           `json:"aud"` // enrollment id
	Subject          string           `json:"sub"` // user login
	ID               string           `json:"jti"`
	Transaction      string           `json:"tx"`
	Nonce            string           `json:"nonce"`
	IAT              int64            `json:"iat"`
	Exp              int64            `json:"exp"`
	Kind             string           `json:"kind"`
	Context          ChallengeContext `json:"context"`
	Numbers          []int            `json:"numbers,omitempty"`
	UserVerification string           `json:"userVerification"`
}

// Check validates the fields of a challenge a device has verified the
// signature of: the kind, numbers and lifetime must make sense.
func (c *ChallengeClaims) Check() error {
	switch c.Kind {
	case KindSignIn, KindRecovery, KindEnroll, KindStepUp:
	default:
		return fmt.Errorf("challenge: unknown kind %q", c.Kind)
	}
	if c.ID == "" || c.Nonce == "" {
		return errors.New("challenge: missing jti or nonce")
	}
	if c.Exp <= c.IAT || c.Exp-c.IAT > MaxChallengeLifetime {
		return fmt.Errorf("challenge: lifetime %ds is outside 1..%d", c.Exp-c.IAT, MaxChallengeLifetime)
	}
	if len(c.Numbers) != 0 {
		if len(c.Numbers) != 3 {
			return fmt.Errorf("challenge: want 3 numbers, got %d", len(c.Numbers))
		}
		seen := map[int]bool{}
		for _, n := range c.Numbers {
			if n < 10 || n > 99 || seen[n] {
				return fmt.Errorf("challenge: numbers must be three distinct two-digit numbers, got %v", c.Numbers)
			}
			seen[n] = true
		}
	}
	switch c.UserVerification {
	case UVRequired, UVPreferred, UVNone:
	default:
		return fmt.Errorf("challenge: unknown userVerification %q", c.UserVerification)
	}
	return nil
}

// ResponseClaims are a device's answer to a challenge (TypResponse).
type ResponseClaims struct {
	Issuer   string `json:"iss"` // enrollment id
	Audience string `json:"aud"` // server
	ID       string `json:"jti"` // challenge id
	Nonce    string `json:"nonce"`
	IAT      int64  `json:"iat"`
	Consent  string `json:"consent"`
	Number   int    `json:"number,omitempty"`
	UV       bool   `json:"uv"`
}

// WebSocket message types.
const (
	MsgHello     = "hello"
	MsgResponse  = "response"
	MsgWelcome   = "welcome"
	MsgChallenge = "challenge"
	MsgResolved  = "resolved"
	MsgError     = "error"
	MsgAck       = "ack"
	// MsgNotice tells the person something about their account (a device
	// was added, the password was reset); it asks for no answer.
	MsgNotice = "notice"
)

// Message is one WebSocket message: a JSON object with a type. Only the fields
// of its type are set.
type Message struct {
	Type string `json:"type"`
	// hello
	Token string `json:"token,omitempty"`
	// response, challenge
	JWS string `json:"jws,omitempty"`
	// welcome
	ServerTime int64 `json:"serverTime,omitempty"` // unix milliseconds
	// resolved, ack
	ID      string `json:"id,omitempty"`
	Outcome string `json:"outcome,omitempty"`
	// error, notice
	Error   string `json:"error,omitempty"`
	Message string `json:"message,omitempty"`
}

// Challenge outcomes, as the server records them and reports in `resolved`.
const (
	OutcomePending   = "pending"
	OutcomeApproved  = "approved"
	OutcomeDenied    = "denied"
	OutcomeReported  = "reported"
	OutcomeFailed    = "failed" // wrong number
	OutcomeExpired   = "expired"
	OutcomeCancelled = "cancelled"
)

// APIError is the JSON error body of every endpoint.
type APIError struct {
	Status  int    `json:"-"`
	Code    string `json:"error"`
	Message string `json:"message"`
	// RetryAfter is how many seconds to wait before trying again (also
	// sent as the Retry-After header); 0 when it does not apply.
	RetryAfter int `json:"retryAfter,omitempty"`
	// ServerTime (unix milliseconds) comes with clock_skew, so that the
	// device can work out how far off its clock is.
	ServerTime int64 `json:"serverTime,omitempty"`
}

func (e *APIError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%s: %s (HTTP %d)", e.Code, e.Message, e.Status)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// ChallengesResponse is the body of GET /v1/challenges.
type ChallengesResponse struct {
	ServerTime int64    `json:"serverTime"`
	Challenges []string `json:"challenges"` // JWS
}
