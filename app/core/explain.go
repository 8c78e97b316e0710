package core

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/enroll"
	"github.com/seed-3a5b824e/assent/push"
)

// Explain turns an error from app/core, push, enroll or the network into
// what a person reads. summary says what happened and what to do, in plain
// words ("Couldn't reach Acme Corp. Check your connection and try
// again."); details is the full technical text (err.Error()) for a
// "Details" expander and the log. org names the organisation or server the
// action was for; "" says "the server". A nil err gives "", "".
//
// It matches typed errors (errors.Is/As): the server's error codes
// (*push.APIError), network failures, the enrollment link's and otpauth
// URI's fields (*enroll.FieldError), the app lock's errors and the key
// store's. An error it does not know is shown as it is when it reads as a
// sentence, else as "Something went wrong".
func Explain(err error, org string) (summary, details string) {
	if err == nil {
		return "", ""
	}
	return explain(err, orgName(org)), err.Error()
}

func orgName(org string) string {
	org = strings.TrimSpace(org)
	if org == "" {
		return "the server"
	}
	return org
}

// upper capitalises the first letter of a sentence.
func upper(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// sentence makes s one sentence: capitalised, with a full stop.
func sentence(s string) string {
	s = upper(strings.TrimSpace(s))
	if s != "" && !strings.ContainsAny(s[len(s)-1:], ".!?") {
		s += "."
	}
	return s
}

const tryAgain = "Check your connection and try again."

func explain(err error, org string) string {
	Org := upper(org)
	var (
		replace   *ReplaceError
		api       *push.APIError
		field     *enroll.FieldError
		throttled *ThrottledError
		lockErr   *LockSecretError
		dnsErr    *net.DNSError
		netErr    net.Error
		opErr     *net.OpError
		wsClose   *websocket.CloseError
		certErr   *tls.CertificateVerificationError
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &replace):
		return fmt.Sprintf("Enrolled again, but the old enrollment could not be revoked on %s, so it is still listed. %s", org, explain(replace.Err, org))
	case errors.As(err, &api):
		return explainAPI(api, org)
	case errors.Is(err, push.ErrPinMismatch):
		who := Org + "'s server key"
		if org == "the server" {
			who = "The server's key"
		}
		return who + " does not match the one in the enrollment link, so Assent did not trust it and did not enroll. The link may be forged, or something is between you and the server: ask your administrator for a new link."
	case errors.Is(err, context.Canceled):
		return "Cancelled."
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalid):
		return fmt.Sprintf("Couldn't connect to %s securely: its certificate is not trusted by this device. Tell your administrator.", org)
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("Couldn't find %s's server. Check your connection (and the address, if you typed it), then try again.", org)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("Couldn't reach %s: its server is not answering. %s", org, tryAgain)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Sprintf("%s took too long to answer. %s", Org, tryAgain)
	case errors.As(err, &opErr), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return fmt.Sprintf("Couldn't reach %s. %s", org, tryAgain)
	case errors.As(err, &wsClose), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Sprintf("The connection to %s was lost. Assent reconnects by itself; if it does not, check your connection.", org)
	case errors.As(err, &field):
		return explainField(field)
	case errors.Is(err, enroll.ErrNoQRCode):
		return "No QR code was found in the picture. Use a sharper or larger picture, or paste the link instead."
	case errors.Is(err, enroll.ErrWrongPassword):
		return "Wrong password for this export. Enter the password it was exported with."
	case errors.Is(err, enroll.ErrPasswordNeeded):
		return "This export is encrypted. Enter the password it was exported with."
	case errors.Is(err, ErrNoQRCodeOnScreen):
		return "No QR code was found on the screen. Show the QR code fully on screen (not covered by this window), then try again."
	case errors.As(err, &throttled):
		return fmt.Sprintf("Too many wrong tries. Try again in %s.", humanDuration(throttled.Wait))
	case errors.Is(err, ErrWrongUnlock):
		return "Wrong PIN or passphrase. Try again."
	case errors.Is(err, ErrNoAppLock):
		return "This request needs an app lock to confirm it's you. Set a PIN or passphrase, then approve it."
	case errors.Is(err, ErrVerificationRequired):
		return "This request asks you to confirm it's you: enter your PIN or passphrase to approve it."
	case errors.Is(err, ErrNotAChoice):
		return "That number is not one of the choices. Pick the number shown on the sign-in page."
	case errors.Is(err, ErrNoSuchChallenge):
		return "This request is no longer waiting: it was answered, cancelled, or it expired."
	case errors.As(err, &lockErr):
		return sentence(lockErr.Problem)
	case errors.Is(err, crypto.ErrKeychainUnavailable):
		return "The system keychain is not available. Unlock your keyring (log in to your desktop session), or use the file key store (--keystore file)."
	case errors.Is(err, crypto.ErrKeyNotFound):
		return "This account's key is missing from this device's key store. Remove the account and enroll again."
	}
	if readable(err.Error()) {
		return sentence(err.Error())
	}
	return "Something went wrong. Try again; if it keeps happening, see Details."
}

// readable says whether an error text reads as a sentence for a person:
// one clause, no addresses, quotes, status codes or Go syntax.
func readable(s string) bool {
	if len(s) > 200 {
		return false
	}
	for _, tech := range []string{"://", "HTTP ", "dial ", "tcp", "\"", "%!", "(0x", "0x", "json:", "EOF", "unexpected"} {
		if strings.Contains(s, tech) {
			return false
		}
	}
	// "op: op: cause" chains are wrapped internals.
	return strings.Count(s, ": ") <= 1
}

func humanDuration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d seconds", max(1, int(d/time.Second)))
	case d < time.Hour:
		m := int((d + 30*time.Second) / time.Minute)
		if m == 1 {
			return "a minute"
		}
		return fmt.Sprintf("%d minutes", m)
	}
	h := int((d + 30*time.Minute) / time.Hour)
	if h == 1 {
		return "an hour"
	}
	return fmt.Sprintf("%d hours", h)
}

func explainAPI(e *push.APIError, org string) string {
	Org := upper(org)
	switch e.Code {
	case "token_used":
		return "This QR code was used already. Ask your administrator for a new one."
	case "token_expired":
		if e.Status == 410 || e.Status == 0 {
			return "This QR code has expired. Ask your administrator for a new one."
		}
		return fmt.Sprintf("%s refused this device's request because it came too late. Check that this device's clock is set automatically, then try again.", Org)
	case "invalid_token":
		return fmt.Sprintf("This QR code was not made by %s, or it is damaged. Ask your administrator for a new one.", org)
	case CodeDeviceRevoked:
		return fmt.Sprintf("This device was removed from your account at %s (by your administrator, or by a newer enrollment). Remove the account here; enroll again if you still need it.", org)
	case "unauthorized", "wrong_audience", "bad_jws", "token_replayed":
		return fmt.Sprintf("%s did not accept this device. Try again; if it keeps happening, remove the account and enroll again.", Org)
	case "clock_skew":
		return fmt.Sprintf("This device's clock is too far from %s's. Set the clock to update automatically, then try again.", org)
	case "already_answered":
		return "This request was answered already or cancelled."
	case "challenge_expired":
		return "This request expired before it was answered. Start the sign-in again."
	case "too_many_attempts", "push_limited", "email_limited", "rate_limited":
		if e.RetryAfter > 0 {
			return fmt.Sprintf("Too many attempts. Wait %s, then try again.", humanDuration(time.Duration(e.RetryAfter)*time.Second))
		}
		return "Too many attempts. Wait a little, then try again."
	case "verification_required":
		return "This request asks you to confirm it's you: enter your PIN or passphrase to approve it."
	case "user_inactive", "enrollment_disabled", "access_denied":
		return fmt.Sprintf("%s did not allow this: %s Ask your administrator.", Org, sentence(e.Message))
	case "too_large":
		return "That was too large to send. Try something smaller."
	case "internal", "unavailable":
		return fmt.Sprintf("%s has a problem right now. Try again in a few minutes; if it goes on, tell your administrator.", Org)
	}
	if e.Status >= 500 {
		return fmt.Sprintf("%s has a problem right now. Try again in a few minutes; if it goes on, tell your administrator.", Org)
	}
	if e.Status == 429 {
		return "Too many attempts. Wait a little, then try again."
	}
	if e.Message != "" && readable(e.Message) {
		return fmt.Sprintf("%s refused: %s", Org, sentence(e.Message))
	}
	return fmt.Sprintf("%s refused the request. See Details.", Org)
}

// FieldProblem is what is wrong with one field of an enrollment link or
// otpauth URI, for showing under the field of a form: ok is false when err
// is about no field.
func FieldProblem(err error) (field, problem string, ok bool) {
	var f *enroll.FieldError
	if !errors.As(err, &f) {
		return "", "", false
	}
	return f.Field, explainField(f), true
}

func explainField(f *enroll.FieldError) string {
	if f.Kind != "otpauth URI" {
		return "This enrollment link is damaged or incomplete. Scan the QR code again, or ask your administrator for a new one."
	}
	switch f.Field {
	case "secret":
		switch {
		case strings.HasPrefix(f.Problem, "is empty"):
			return "Enter the secret (the setup key the site shows)."
		case strings.HasPrefix(f.Problem, "contains "):
			bad := strings.TrimPrefix(f.Problem, "contains ")
			if i := strings.Index(bad, ":"); i >= 0 {
				bad = bad[:i]
			}
			return fmt.Sprintf("The secret can't contain %s: a secret is base32, only the letters A–Z and the digits 2–7. Check it was copied exactly.", bad)
		case strings.Contains(f.Problem, "bytes"):
			return "The secret is too short, too long or cut off. Check it was copied whole."
		}
		return "The secret is not valid. Check it was copied exactly."
	case "digits":
		return "This code length is not supported."
	case "period":
		return "The period is the number of seconds a code lasts: usually 30."
	case "counter":
		return "The counter is a whole number: 0 for a new account."
	case "algorithm":
		return "Pick SHA1, SHA256 or SHA512 (SHA1 unless the site says otherwise)."
	case "label", "issuer":
		if strings.Contains(f.Problem, "missing") {
			return "Enter the account name."
		}
	}
	noun := map[string]string{"label": "account name", "issuer": "issuer", "type": "type"}[f.Field]
	if noun == "" {
		noun = f.Field
	}
	if p, _, _ := strings.Cut(f.Problem, ": want"); strings.HasPrefix(p, "is ") || strings.HasPrefix(p, "has ") || strings.HasPrefix(p, "contains ") {
		return sentence("The " + noun + " " + p)
	}
	return sentence(fmt.Sprintf("The %s is not valid: %s", noun, f.Problem))
}
