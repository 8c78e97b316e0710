package push

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Same-device sign-in: the browser on the machine where the app runs asks
// the app, over loopback, for a proof that it may sign in (DESIGN.md,
// "Same-device proof"). The server signs a challenge (TypSameDevice); the
// page posts it to the app; the app checks it and the request's Origin,
// asks the person, and answers a proof signed by the device key
// (TypSameDeviceProof) naming the origin it saw.
const (
	TypSameDevice      = "assent-samedevice+jwt"
	TypSameDeviceProof = "assent-samedevice-proof+jwt"

	// PathSameDevice is the one route the app serves on loopback.
	PathSameDevice = "/v1/samedevice"
	// SameDeviceHost is where the app listens: IPv4 loopback only.
	SameDeviceHost = "127.0.0.1"
	// SameDeviceFirstPort .. SameDeviceLastPort is the fixed range the app
	// takes the first free port of, and the page asks every port of.
	SameDeviceFirstPort = 47770
	SameDeviceLastPort  = 47779
	// MaxSameDeviceLifetime bounds a same-device challenge (seconds).
	MaxSameDeviceLifetime = 120
	// MaxSameDeviceBody bounds the body the app reads.
	MaxSameDeviceBody = 16 << 10
)

// Error codes of the app's loopback answers ({error, message}).
const (
	SameDeviceNoAccount = "no_account" // no enrolled account for that server and user
	SameDeviceDeclined  = "declined"   // the person said no
	SameDeviceTimeout   = "timeout"    // nobody answered before the challenge expired
	SameDeviceBad       = "bad_request"
	SameDeviceBusy      = "busy" // another same-device request is being asked
)

// SameDeviceRequest is the body the page posts to the app.
type SameDeviceRequest struct {
	Challenge string `json:"challenge"`
}

// SameDeviceAnswer is the app's answer: a proof, or an error.
type SameDeviceAnswer struct {
	Proof   string `json:"proof,omitempty"`
	Error   string `json:"error,omitempty"`
	Message string `json:"message,omitempty"`
}

// SameDeviceClaims are the claims of a same-device challenge
// (TypSameDevice), signed by the server key.
type SameDeviceClaims struct {
	Issuer  string `json:"iss"`    // the server's URL, as in the enrollment link
	Origin  string `json:"origin"` // the origin the page must be served from
	Subject string `json:"sub"`    // the login typed (normalized)
	ID      string `json:"jti"`    // the challenge id, answered once
	// Transaction binds the challenge to one transaction (an opaque hash).
	Transaction      string `json:"tx"`
	Org              string `json:"org"`
	App              string `json:"app"`
	IAT              int64  `json:"iat"`
	Exp              int64  `json:"exp"`
	UserVerification string `json:"userVerification"`
}

// Check validates a challenge whose signature has been verified.
func (c *SameDeviceClaims) Check() error {
	if c.ID == "" || c.Transaction == "" || c.Subject == "" {
		return errors.New("same-device challenge: missing jti, tx or sub")
	}
	if c.Exp <= c.IAT || c.Exp-c.IAT > MaxSameDeviceLifetime {
		return fmt.Errorf("same-device challenge: lifetime %ds is outside 1..%d", c.Exp-c.IAT, MaxSameDeviceLifetime)
	}
	if o, err := Origin(c.Issuer); err != nil || o != c.Origin {
		return fmt.Errorf("same-device challenge: origin %q is not the issuer's", c.Origin)
	}
	switch c.UserVerification {
	case UVRequired, UVPreferred, UVNone:
	default:
		return fmt.Errorf("same-device challenge: unknown userVerification %q", c.UserVerification)
	}
	return nil
}

// SameDeviceProofClaims are the app's proof (TypSameDeviceProof), signed by
// the device key.
type SameDeviceProofClaims struct {
	Issuer   string `json:"iss"` // enrollment id
	Audience string `json:"aud"` // the server's URL
	ID       string `json:"jti"` // the challenge's jti
	// Origin is the Origin header of the request the app answered.
	Origin string `json:"origin"`
	IAT    int64  `json:"iat"`
	UV     bool   `json:"uv"`
}

// Origin is the Web origin of a URL (RFC 6454): scheme "://" host, with
// the port only when it is not the scheme's default, all lower case. It
// is what a browser sends in an Origin header for a page of that URL.
func Origin(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("%q is not an http or https URL", raw)
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}
