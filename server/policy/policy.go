// Package policy is what decides what a sign-in, a recovery or a profile
// needs: app sign-on rules tried top to bottom (first match wins), a
// recovery policy, progressive profiling, password rules and push limits.
// Policies are YAML, checked at load with every error reported with its
// line; with no file the secure defaults apply.
package policy

import (
	"net"
	"slices"
	"time"
)

// Risk levels.
const (
	RiskLow    = "low"
	RiskMedium = "medium"
	RiskHigh   = "high"
)

// Number challenge settings.
const (
	NumberAlways   = "always"
	NumberHighRisk = "high-risk"
	NumberNever    = "never"
)

// User verification settings (as the push protocol names them).
const (
	UVRequired  = "required"
	UVPreferred = "preferred"
	UVNone      = "none"
)

// Authenticators a policy can name.
const (
	AuthPassword = "password"
	AuthPush     = "push"
	AuthTOTP     = "totp"
	AuthEmail    = "email"
	// AuthWebAuthn is a passkey or security key; AuthSameDevice a proof
	// from the Assent app on the browser's own machine. Both are
	// phishing-resistant: they are bound to the server's origin.
	AuthWebAuthn   = "webauthn"
	AuthSameDevice = "samedevice"
)

// DefaultAuthenticators are the possession factors a rule allows when it
// names none: every kind but email.
func DefaultAuthenticators() []string {
	return []string{AuthPush, AuthTOTP, AuthWebAuthn, AuthSameDevice}
}

// PhishingResistantAuthenticators are the authenticators a rule with
// phishingResistant may accept.
var PhishingResistantAuthenticators = []string{AuthWebAuthn, AuthSameDevice}

// Phishing resistance settings of a rule.
const (
	PhishingRequired = "required"
	PhishingHighRisk = "high-risk"
	PhishingOptional = "optional"
)

// Device conditions.
const (
	DeviceAny   = "any"
	DeviceNew   = "new"
	DeviceKnown = "known"
)

// Policy is a whole policy file.
type Policy struct {
	Zones      map[string][]*net.IPNet
	SignOn     []Rule
	Recovery   Recovery
	Profile    Profile
	Password   Password
	Push       Push
	Enrollment Enrollment
	// AdminFloor is set when no rule names the admin area's app: its
	// sign-ins then ask at least what AdminFloorAction asks, on top of
	// the rule that matches.
	AdminFloor bool
}

// AdminApp is the name of the admin area's built-in app.
const AdminApp = "admin"

// AdminFloorAction is what the admin area asks by default: two factors,
// one of them possession, with a number challenge, and a sign-in no older
// than 15 minutes.
var AdminFloorAction = Action{Factors: 2, Possession: true, Authenticators: []string{AuthPush, AuthTOTP, AuthWebAuthn, AuthSameDevice},
	UserVerification: UVPreferred, NumberChallenge: NumberAlways, Reauthenticate: 15 * time.Minute}

// Rule is one app sign-on rule.
type Rule struct {
	Name       string
	Conditions Conditions
	Action     Action
	Line       int
}

// Conditions all have to hold for a rule to match; an empty one holds
// always.
type Conditions struct {
	Apps     []string
	Groups   []string // any of
	Zones    []string // the client is in any of them
	NotZones []string // the client is in none of them
	Risk     []string // any of
	Device   string   // any, new or known
}

// Action is what a matching rule asks.
type Action struct {
	Deny bool
	// Factors is 1 or 2. One factor with Possession is passwordless (push
	// or a code); one without is a password alone; two are a password and
	// a possession factor.
	Factors          int
	Possession       bool
	Authenticators   []string // the possession factors allowed
	UserVerification string
	NumberChallenge  string
	// PhishingResistant (required, high-risk or optional) says whether
	// the possession factor must be bound to the server's origin: a
	// passkey or a same-device proof.
	PhishingResistant string
	// Reauthenticate is how long a hosted-page session stands in for the
	// factors before they are asked again.
	Reauthenticate time.Duration
}

// Recovery is how a forgotten password is reset.
type Recovery struct {
	// Authenticators may start a reset (push, email).
	Authenticators []string
	// SecondAuthenticator asks for a second, different authenticator.
	SecondAuthenticator bool
}

// Profile is progressive profiling.
type Profile struct {
	// Required attributes are asked after sign-in from users who lack them.
	Required []string
}

// Password rules apply wherever a password is set.
type Password struct {
	MinLength int
}

// Push settings.
type Push struct {
	Expiry time.Duration
	// MaxUnanswered pushes in Window; past that, pushes stop and a code is
	// offered instead (the MFA-fatigue guard).
	MaxUnanswered int
	Window        time.Duration
}

// Enrollment is self-service enrollment.
type Enrollment struct {
	// SelfService lets a signed-in user add a device (verifying with an
	// existing one first), and a user with none enroll one while signing in.
	SelfService bool
}

// Input is what a sign-on decision looks at.
type Input struct {
	App       string
	Groups    []string
	IP        net.IP
	Risk      string
	NewDevice bool
}

// Decision is the matching rule's action, with the rule named.
type Decision struct {
	Rule string
	Action
}

// SignOnFor returns the action of the first rule that matches. The last
// rule of a valid policy matches everything, so there always is one.
func (p *Policy) SignOnFor(in Input) Decision {
	for _, r := range p.SignOn {
		if p.matches(r.Conditions, in) {
			d := Decision{Rule: r.Name, Action: r.Action.ForRisk(in.Risk)}
			if in.App == AdminApp && p.AdminFloor && !d.Deny {
				d.Action = d.Action.Stricter(AdminFloorAction)
				d.Rule += " (and the admin area's own rule)"
			}
			return d
		}
	}
	// Unreachable for a checked policy; deny rather than guess.
	return Decision{Rule: "(no rule matched)", Action: Action{Deny: true}}
}

func (p *Policy) matches(c Conditions, in Input) bool {
	if len(c.Apps) > 0 && !slices.Contains(c.Apps, in.App) {
		return false
	}
	if len(c.Groups) > 0 && !slices.ContainsFunc(c.Groups, func(g string) bool { return slices.Contains(in.Groups, g) }) {
		return false
	}
	if len(c.Zones) > 0 && !slices.ContainsFunc(c.Zones, func(z string) bool { return p.inZone(z, in.IP) }) {
		return false
	}
	if slices.ContainsFunc(c.NotZones, func(z string) bool { return p.inZone(z, in.IP) }) {
		return false
	}
	if len(c.Risk) > 0 && !slices.Contains(c.Risk, in.Risk) {
		return false
	}
	switch c.Device {
	case DeviceNew:
		return in.NewDevice
	case DeviceKnown:
		return !in.NewDevice
	}
	return true
}

func (p *Policy) inZone(zone string, ip net.IP) bool {
	if ip == nil {
		return false
	}
	for _, n := range p.Zones[zone] {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// NumberChallengeFor says whether a push at this risk shows numbers.
func (a Action) NumberChallengeFor(risk string) bool {
	switch a.NumberChallenge {
	case NumberNever:
		return false
	case NumberHighRisk:
		return risk == RiskHigh
	}
	return true
}

// ForRisk is the action as it applies at a risk level: phishing
// resistance is then required (and only the phishing-resistant
// authenticators allowed) or not asked (""); a deny stays a deny.
func (a Action) ForRisk(risk string) Action {
	if a.Deny {
		return a
	}
	out := a
	out.Authenticators = slices.Clone(a.Authenticators)
	if a.PhishingResistantFor(risk) {
		out.PhishingResistant = PhishingRequired
		out.Authenticators = slices.DeleteFunc(out.Authenticators, func(x string) bool {
			return !slices.Contains(PhishingResistantAuthenticators, x)
		})
		if len(out.Authenticators) == 0 {
			out.Authenticators = slices.Clone(PhishingResistantAuthenticators)
		}
	} else {
		out.PhishingResistant = ""
	}
	return out
}

// PhishingResistantFor says whether a sign-in at this risk needs a
// phishing-resistant possession factor.
func (a Action) PhishingResistantFor(risk string) bool {
	switch a.PhishingResistant {
	case PhishingRequired:
		return true
	case PhishingHighRisk:
		return risk == RiskHigh
	}
	return false
}

// Passwordless says whether the rule signs in with a possession factor
// alone.
func (a Action) Passwordless() bool { return a.Factors == 1 && a.Possession }

// Stricter combines two actions into one that asks everything either
// asks: more factors, possession if either wants it, only authenticators
// both allow (those of a when they share none), the stronger user
// verification and number challenge, and the shorter re-authentication
// frequency (0, always, is the shortest).
func (a Action) Stricter(b Action) Action {
	if a.Deny || b.Deny {
		return Action{Deny: true}
	}
	out := a
	out.Factors = max(a.Factors, b.Factors)
	out.Possession = a.Possession || b.Possession
	var both []string
	for _, x := range a.Authenticators {
		if slices.Contains(b.Authenticators, x) {
			both = append(both, x)
		}
	}
	if len(both) > 0 {
		out.Authenticators = both
	}
	rank := func(v string, order ...string) int { return slices.Index(order, v) }
	if rank(b.UserVerification, UVNone, UVPreferred, UVRequired) > rank(a.UserVerification, UVNone, UVPreferred, UVRequired) {
		out.UserVerification = b.UserVerification
	}
	if rank(b.NumberChallenge, NumberNever, NumberHighRisk, NumberAlways) > rank(a.NumberChallenge, NumberNever, NumberHighRisk, NumberAlways) {
		out.NumberChallenge = b.NumberChallenge
	}
	if rank(b.PhishingResistant, "", PhishingOptional, PhishingHighRisk, PhishingRequired) >
		rank(a.PhishingResistant, "", PhishingOptional, PhishingHighRisk, PhishingRequired) {
		out.PhishingResistant = b.PhishingResistant
	}
	if out.PhishingResistant == PhishingRequired {
		// Only origin-bound factors count: those either allows.
		var pr []string
		for _, x := range PhishingResistantAuthenticators {
			if slices.Contains(a.Authenticators, x) || slices.Contains(b.Authenticators, x) {
				pr = append(pr, x)
			}
		}
		if len(pr) == 0 {
			pr = slices.Clone(PhishingResistantAuthenticators)
		}
		out.Authenticators = pr
	}
	out.Reauthenticate = min(a.Reauthenticate, b.Reauthenticate)
	return out
}

// PasswordOnly says whether a password alone suffices.
func (a Action) PasswordOnly() bool { return a.Factors == 1 && !a.Possession }

// Default is the policy with no file: two factors, number challenge
// always, user verification on high risk, pushes expiring in 5 minutes
// and stopping after 5 unanswered in 15 minutes.
func Default() *Policy {
	p, err := Parse([]byte(DefaultYAML))
	if err != nil {
		panic("the default policy does not parse: " + err.Error())
	}
	return p
}

// DefaultYAML is the default policy, as a file would say it.
const DefaultYAML = `# Assent's default policy: what applies when no policy file is given.
#
# The admin area (the built-in app "admin") asks at least two factors, one
# of them possession, from a sign-in of the last 15 minutes, on top of the
# rule that matches, unless a rule names the app admin itself.
signOn:
  - name: High risk needs user verification
    conditions:
      risk: [high]
    action:
      factors: 2
      userVerification: required
      numberChallenge: always
      reauthenticate: 0s
  - name: Default
    action:
      factors: 2
      numberChallenge: always
      userVerification: preferred
      reauthenticate: 12h
recovery:
  authenticators: [push, email]
  secondAuthenticator: false
profile:
  required: []
password:
  minLength: 12
push:
  expiry: 5m
  maxUnanswered: 5
  window: 15m
enrollment:
  selfService: true
`
