package push

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// goodClaims is a challenge every rule of Check accepts; cases change one
// field each.
func goodClaims() ChallengeClaims {
	return ChallengeClaims{
		Issuer: "https://idp.example.com", Audience: "enr_1", Subject: "alice",
		ID: "ch_1", Transaction: "tx_1", Nonce: "n0nce",
		IAT: 1_700_000_000, Exp: 1_700_000_300,
		Kind: KindSignIn, Numbers: []int{12, 47, 93}, UserVerification: UVPreferred,
	}
}

func TestChallengeClaimsCheck(t *testing.T) {
	tests := []struct {
		name    string
		change  func(c *ChallengeClaims)
		wantErr string // "" means Check accepts it
	}{
		{"accepts a well-formed sign-in", func(c *ChallengeClaims) {}, ""},
		{"accepts kind recovery", func(c *ChallengeClaims) { c.Kind = KindRecovery }, ""},
		{"accepts kind enroll", func(c *ChallengeClaims) { c.Kind = KindEnroll }, ""},
		{"accepts kind stepup", func(c *ChallengeClaims) { c.Kind = KindStepUp }, ""},
		{"refuses an unknown kind", func(c *ChallengeClaims) { c.Kind = "login" }, `unknown kind "login"`},
		{"refuses an empty kind", func(c *ChallengeClaims) { c.Kind = "" }, `unknown kind ""`},
		{"refuses a kind in other case", func(c *ChallengeClaims) { c.Kind = "SignIn" }, "unknown kind"},

		{"refuses a missing jti", func(c *ChallengeClaims) { c.ID = "" }, "missing jti or nonce"},
		{"refuses a missing nonce", func(c *ChallengeClaims) { c.Nonce = "" }, "missing jti or nonce"},

		{"refuses a lifetime of 0", func(c *ChallengeClaims) { c.Exp = c.IAT }, "lifetime 0s"},
		{"refuses a negative lifetime", func(c *ChallengeClaims) { c.Exp = c.IAT - 10 }, "lifetime -10s"},
		{"accepts a lifetime of 1 s", func(c *ChallengeClaims) { c.Exp = c.IAT + 1 }, ""},
		{"accepts the longest lifetime, 600 s", func(c *ChallengeClaims) { c.Exp = c.IAT + MaxChallengeLifetime }, ""},
		{"refuses a lifetime over 600 s", func(c *ChallengeClaims) { c.Exp = c.IAT + MaxChallengeLifetime + 1 }, "lifetime 601s is outside 1..600"},

		{"accepts no numbers (no number challenge)", func(c *ChallengeClaims) { c.Numbers = nil }, ""},
		{"refuses two numbers", func(c *ChallengeClaims) { c.Numbers = []int{12, 47} }, "want 3 numbers, got 2"},
		{"refuses four numbers", func(c *ChallengeClaims) { c.Numbers = []int{12, 47, 93, 55} }, "want 3 numbers, got 4"},
		{"refuses one number", func(c *ChallengeClaims) { c.Numbers = []int{12} }, "want 3 numbers, got 1"},
		{"accepts the bounds 10 and 99", func(c *ChallengeClaims) { c.Numbers = []int{10, 55, 99} }, ""},
		{"refuses a one-digit number", func(c *ChallengeClaims) { c.Numbers = []int{9, 47, 93} }, "three distinct two-digit numbers"},
		{"refuses a three-digit number", func(c *ChallengeClaims) { c.Numbers = []int{12, 47, 100} }, "three distinct two-digit numbers"},
		{"refuses a negative number", func(c *ChallengeClaims) { c.Numbers = []int{12, -47, 93} }, "three distinct two-digit numbers"},
		{"refuses duplicate numbers", func(c *ChallengeClaims) { c.Numbers = []int{12, 47, 12} }, "three distinct two-digit numbers"},
		{"refuses three equal numbers", func(c *ChallengeClaims) { c.Numbers = []int{47, 47, 47} }, "three distinct two-digit numbers"},

		{"accepts userVerification required", func(c *ChallengeClaims) { c.UserVerification = UVRequired }, ""},
		{"accepts userVerification preferred", func(c *ChallengeClaims) { c.UserVerification = UVPreferred }, ""},
		{"accepts userVerification none", func(c *ChallengeClaims) { c.UserVerification = UVNone }, ""},
		{"refuses an empty userVerification", func(c *ChallengeClaims) { c.UserVerification = "" }, `unknown userVerification ""`},
		{"refuses an unknown userVerification", func(c *ChallengeClaims) { c.UserVerification = "always" }, `unknown userVerification "always"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := goodClaims()
			tt.change(&c)
			err := c.Check()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Check() = %v, want nil", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("Check() = nil, want an error with %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("Check() = %q, want it to say %q", err, tt.wantErr)
			}
		})
	}
}

func TestPermanentOnlyForErrorsRetryingCannotFix(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"a network error", errors.New("connect to ws://x/v1/push: dial tcp: connection refused"), false},
		{"device_revoked", &APIError{Status: 403, Code: "device_revoked"}, true},
		{"device_revoked sent as a socket message (no status)", &APIError{Code: "device_revoked"}, true},
		{"unauthorized", &APIError{Status: 401, Code: "unauthorized"}, true},
		{"wrong_audience", &APIError{Status: 401, Code: "wrong_audience"}, true},
		{"a wrapped device_revoked", fmt.Errorf("listen: %w", &APIError{Status: 403, Code: "device_revoked"}), true},
		{"clock_skew (the clock can be set right)", &APIError{Status: 401, Code: "clock_skew"}, false},
		{"token_replayed (the next token is fresh)", &APIError{Status: 401, Code: "token_replayed"}, false},
		{"an internal server error", &APIError{Status: 500, Code: "internal"}, false},
		{"an HTTP error without a code", fmt.Errorf("server answered HTTP 502: bad gateway"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Permanent(tt.err); got != tt.want {
				t.Fatalf("Permanent(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestAPIErrorSaysCodeMessageAndStatus(t *testing.T) {
	tests := []struct {
		err  *APIError
		want string
	}{
		{&APIError{Status: 409, Code: "token_used", Message: "this link was used"}, "token_used: this link was used (HTTP 409)"},
		{&APIError{Code: "bad_message", Message: "not JSON"}, "bad_message: not JSON"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}
