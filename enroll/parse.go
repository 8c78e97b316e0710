package enroll

import (
	"errors"
	"fmt"
	"strings"
)

// Parse reads either kind of link a person may scan or paste into the app
// and returns a *Link or an *OTPAuth. Anything else is an error that says
// what was expected; it names the scheme it got but never echoes the text,
// which may hold a secret.
func Parse(s string) (any, error) {
	s = strings.TrimSpace(s)
	u, ok := splitURI(s)
	if !ok {
		return nil, errors.New("unrecognised link: want assent://enroll?... or otpauth://..., got text that is not a link")
	}
	// On error the result must be a nil interface, not a nil *Link inside
	// a non-nil one, or "v != nil" would lie to callers.
	switch u.scheme {
	case "assent":
		l, err := ParseLink(s)
		if err != nil {
			return nil, err
		}
		return l, nil
	case "otpauth":
		o, err := ParseOTPAuth(s)
		if err != nil {
			return nil, err
		}
		return o, nil
	case "otpauth-migration":
		// Recognisable, and common: a Google Authenticator export. Saying so
		// beats "unrecognised".
		return nil, errors.New("unrecognised link: this is a Google Authenticator export (otpauth-migration://), which must be imported, not scanned as an account: want assent://enroll?... or otpauth://...")
	}
	return nil, fmt.Errorf("unrecognised link: want assent://enroll?... or otpauth://..., got %s", quoteShort(u.scheme))
}
