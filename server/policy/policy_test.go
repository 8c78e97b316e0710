package policy

import (
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

const example = `zones:
  office: [10.0.0.0/8, 192.168.1.0/24]
  blocked: 203.0.113.7
signOn:
  - name: Block flagged networks
    conditions:
      zones: [blocked]
    action: deny
  - name: Contractors only from the office
    conditions:
      groups: [contractors]
      notZones: [office]
    action: deny
  - name: Payroll outside the office
    conditions:
      apps: [payroll]
      notZones: [office]
    action:
      factors: 2
      userVerification: required
  - name: Passwordless on known devices
    conditions:
      groups: [staff]
      device: known
      risk: [low]
    action:
      factors: 1
      possession: true
      numberChallenge: high-risk
  - name: Default
    action:
      factors: 2
      reauthenticate: 8h
recovery:
  authenticators: [push]
  secondAuthenticator: true
profile:
  required: [email, department]
password:
  minLength: 14
push:
  expiry: 2m
  maxUnanswered: 3
  window: 10m
`

func TestParseReadsEverySetting(t *testing.T) {
	p, err := Parse([]byte(example))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.SignOn) != 5 || p.SignOn[4].Action.Reauthenticate != 8*time.Hour || !p.SignOn[0].Action.Deny {
		t.Fatalf("rules = %+v", p.SignOn)
	}
	if !p.SignOn[3].Action.Passwordless() || p.SignOn[3].Action.NumberChallenge != NumberHighRisk {
		t.Fatalf("passwordless rule = %+v", p.SignOn[3].Action)
	}
	if !p.Recovery.SecondAuthenticator || strings.Join(p.Recovery.Authenticators, ",") != "push" {
		t.Fatalf("recovery = %+v", p.Recovery)
	}
	if strings.Join(p.Profile.Required, ",") != "email,department" || p.Password.MinLength != 14 {
		t.Fatalf("profile %+v password %+v", p.Profile, p.Password)
	}
	if p.Push != (Push{Expiry: 2 * time.Minute, MaxUnanswered: 3, Window: 10 * time.Minute}) {
		t.Fatalf("push = %+v", p.Push)
	}
	if !p.inZone("blocked", net.ParseIP("203.0.113.7")) || p.inZone("blocked", net.ParseIP("203.0.113.8")) {
		t.Fatal("a single address as a zone does not work")
	}
}

func TestFirstMatchingRuleWins(t *testing.T) {
	p, err := Parse([]byte(example))
	if err != nil {
		t.Fatal(err)
	}
	office, home, flagged := net.ParseIP("10.1.2.3"), net.ParseIP("198.51.100.9"), net.ParseIP("203.0.113.7")
	for _, c := range []struct {
		in   Input
		rule string
	}{
		{Input{App: "payroll", IP: flagged, Risk: RiskLow}, "Block flagged networks"},
		{Input{Groups: []string{"contractors"}, IP: home}, "Contractors only from the office"},
		{Input{Groups: []string{"contractors"}, IP: office}, "Default"},
		{Input{App: "payroll", IP: home}, "Payroll outside the office"},
		{Input{App: "payroll", IP: office}, "Default"},
		{Input{Groups: []string{"staff"}, IP: office, Risk: RiskLow}, "Passwordless on known devices"},
		{Input{Groups: []string{"staff"}, IP: office, Risk: RiskLow, NewDevice: true}, "Default"},
		{Input{Groups: []string{"staff"}, IP: office, Risk: RiskHigh}, "Default"},
		{Input{}, "Default"},
	} {
		if got := p.SignOnFor(c.in); got.Rule != c.rule {
			t.Errorf("%+v → %q, want %q", c.in, got.Rule, c.rule)
		}
	}
}

func TestDefaultPolicyIsSecure(t *testing.T) {
	p := Default()
	d := p.SignOnFor(Input{Risk: RiskLow})
	if d.Deny || d.Factors != 2 || !d.Possession || !d.NumberChallengeFor(RiskLow) {
		t.Fatalf("default decision = %+v", d)
	}
	high := p.SignOnFor(Input{Risk: RiskHigh})
	if high.UserVerification != UVRequired || high.Reauthenticate != 0 {
		t.Fatalf("high risk decision = %+v", high)
	}
	if p.Push.Expiry != 5*time.Minute || p.Push.MaxUnanswered != 5 || p.Push.Window != 15*time.Minute {
		t.Fatalf("push defaults = %+v", p.Push)
	}
	if p.Password.MinLength < 12 || !p.Enrollment.SelfService {
		t.Fatalf("password %+v enrollment %+v", p.Password, p.Enrollment)
	}
	if empty, err := Parse(nil); err != nil || len(empty.SignOn) != len(p.SignOn) {
		t.Fatalf("an empty file does not give the default rules: %v", err)
	}
}

func TestNumberChallengeSettings(t *testing.T) {
	for _, c := range []struct {
		setting, risk string
		want          bool
	}{
		{NumberAlways, RiskLow, true}, {NumberNever, RiskHigh, false},
		{NumberHighRisk, RiskHigh, true}, {NumberHighRisk, RiskMedium, false},
	} {
		if got := (Action{NumberChallenge: c.setting}).NumberChallengeFor(c.risk); got != c.want {
			t.Errorf("%s at %s risk = %v", c.setting, c.risk, got)
		}
	}
}

func TestParseReportsEveryProblemWithItsLine(t *testing.T) {
	bad := `zones:
  office: [10.0.0.0/33, nonsense]
signOn:
  - name: Typo zone
    conditions:
      zones: [ofice]
      risk: [extreme]
      colour: blue
    action:
      factors: 3
      numberChallenge: sometimes
  - conditions:
      device: old
    action: allow
  - name: Not last
    conditions:
      groups: [staff]
    action: deny
push:
  expiry: 20m
  maxUnanswered: zero
recovery:
  authenticators: []
profile:
  required: [email, "bad name"]
extra: 1
`
	_, err := Parse([]byte(bad))
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("want Problems, got %v", err)
	}
	want := []string{
		`line 2: zones.office: "10.0.0.0/33" is not a CIDR range`,
		`line 2: zones.office: "nonsense" is not a CIDR range`,
		`line 6: signOn[0].conditions.zones: unknown zone "ofice" (zones: office)`,
		`line 7: signOn[0].conditions.risk: "extreme": want one of low, medium, high`,
		`line 8: signOn[0].conditions: unknown setting "colour"`,
		`line 10: signOn[0].action.factors: want a whole number from 1 to 2, got "3"`,
		`line 11: signOn[0].action.numberChallenge: "sometimes": want one of always, high-risk, never`,
		`line 12: signOn[1]: every rule needs a name`,
		`line 13: signOn[1].conditions.device: "old": want one of any, new, known`,
		`line 14: signOn[1].action: "allow": want deny`,
		`line 15: signOn[2]: the last rule must have no conditions`,
		`line 20: push.expiry: want a duration from 1s to 10m0s`,
		`line 21: push.maxUnanswered: want a whole number from 1 to 1000, got "zero"`,
		`line 23: recovery.authenticators: name at least one`,
		`line 25: profile.required: "bad name" is not an attribute name`,
		`line 26: unknown setting "extra"`,
	}
	got := strings.Split(err.Error(), "\n")
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(got), len(want), err)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d:\n got %s\nwant %s…", i, got[i], want[i])
		}
	}
}

func TestParseRefusesMalformedYAMLWithItsLine(t *testing.T) {
	_, err := Parse([]byte("signOn:\n  - name: x\n    action: [\n"))
	var ps Problems
	if !errors.As(err, &ps) || ps[0].Line == 0 || !strings.Contains(err.Error(), "not valid YAML") {
		t.Fatalf("got %v", err)
	}
}

func TestContradictoryFactorsAreRefused(t *testing.T) {
	_, err := Parse([]byte("signOn:\n  - name: x\n    action:\n      factors: 2\n      possession: false\n"))
	if err == nil || !strings.Contains(err.Error(), "contradicts") {
		t.Fatalf("got %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(example))
	f.Add([]byte(DefaultYAML))
	f.Add([]byte("signOn: [{name: a, action: deny}]"))
	f.Add([]byte("zones: {a: [1.2.3.4/32]}\nsignOn: [{name: a, conditions: {zones: [a]}, action: deny}, {name: b, action: {factors: 1}}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			var ps Problems
			if !errors.As(err, &ps) || len(ps) == 0 {
				t.Fatalf("error is not a list of problems: %v", err)
			}
			return
		}
		// A valid policy always decides.
		d := p.SignOnFor(Input{})
		if d.Rule == "" {
			t.Fatal("no rule decided")
		}
	})
}

func TestAdminAreaAsksAtLeastTwoFactorsWithin15Minutes(t *testing.T) {
	p, err := Parse([]byte(`
zones:
  blocked: [203.0.113.0/24]
signOn:
  - name: Blocked
    conditions: {zones: [blocked]}
    action: deny
  - name: Wiki with a password
    conditions: {apps: [wiki]}
    action: {factors: 1}
  - name: Anything passwordless
    action: {factors: 1, possession: true, reauthenticate: 24h, numberChallenge: never}
`))
	if err != nil {
		t.Fatal(err)
	}
	if !p.AdminFloor {
		t.Fatal("no rule names admin, but the admin floor is off")
	}
	d := p.SignOnFor(Input{App: AdminApp, IP: net.ParseIP("10.1.2.3")})
	if d.Factors != 2 || !d.Possession || d.Reauthenticate != 15*time.Minute || d.NumberChallenge != NumberAlways {
		t.Fatalf("admin decision = %+v, want the floor: 2 factors, possession, 15m, numbers always", d)
	}
	// A deny rule still denies the admin area.
	if d := p.SignOnFor(Input{App: AdminApp, IP: net.ParseIP("203.0.113.9")}); !d.Deny {
		t.Fatalf("admin from a blocked network = %+v, want deny", d)
	}
	// Other apps keep their own rule.
	if d := p.SignOnFor(Input{App: "wiki", IP: net.ParseIP("10.1.2.3")}); d.Factors != 1 || d.Possession {
		t.Fatalf("wiki = %+v", d)
	}
	// A file that names admin decides for itself.
	own, err := Parse([]byte(`
signOn:
  - name: Admins from anywhere with a push
    conditions: {apps: [admin]}
    action: {factors: 1, possession: true}
  - name: Default
    action: {factors: 2}
`))
	if err != nil {
		t.Fatal(err)
	}
	if d := own.SignOnFor(Input{App: AdminApp}); own.AdminFloor || d.Factors != 1 {
		t.Fatalf("own admin rule = %+v (floor %v)", d, own.AdminFloor)
	}
}

func TestStricterAsksWhatEitherAsks(t *testing.T) {
	a := Action{Factors: 1, Possession: false, Authenticators: []string{AuthPush, AuthEmail}, UserVerification: UVRequired,
		NumberChallenge: NumberNever, Reauthenticate: 0}
	got := a.Stricter(AdminFloorAction)
	if got.Factors != 2 || !got.Possession || got.UserVerification != UVRequired || got.NumberChallenge != NumberAlways ||
		got.Reauthenticate != 0 || strings.Join(got.Authenticators, ",") != AuthPush {
		t.Fatalf("Stricter = %+v", got)
	}
	if !(Action{Deny: true}).Stricter(AdminFloorAction).Deny {
		t.Fatal("a deny softened")
	}
}

func TestPhishingResistanceNeedsAnOriginBoundAuthenticator(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"signOn:\n  - name: x\n    action:\n      factors: 2\n      authenticators: [push, totp]\n      phishingResistant: required\n", "needs webauthn or samedevice"},
		{"signOn:\n  - name: x\n    action:\n      factors: 1\n      phishingResistant: high-risk\n", "never meets it"},
		{"signOn:\n  - name: x\n    action:\n      factors: 2\n      phishingResistant: always\n", "phishingResistant"},
	} {
		if _, err := Parse([]byte(c.yaml)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want an error saying %q", c.yaml, err, c.want)
		}
	}
	p, err := Parse([]byte("signOn:\n  - name: x\n    action:\n      factors: 2\n      phishingResistant: high-risk\n"))
	if err != nil {
		t.Fatal(err)
	}
	low, high := p.SignOnFor(Input{Risk: RiskLow}), p.SignOnFor(Input{Risk: RiskHigh})
	if low.PhishingResistant != "" || !slices.Contains(low.Authenticators, AuthPush) {
		t.Errorf("low risk: %+v, want push allowed and no phishing resistance", low.Action)
	}
	if high.PhishingResistant != PhishingRequired || !slices.Equal(high.Authenticators, PhishingResistantAuthenticators) {
		t.Errorf("high risk: %+v, want only webauthn and samedevice", high.Action)
	}
	// A level that asks for phishing resistance makes any rule stricter.
	a := low.Action.Stricter(Action{Factors: 2, Possession: true, Authenticators: PhishingResistantAuthenticators, PhishingResistant: PhishingRequired})
	if a.PhishingResistant != PhishingRequired || !slices.Equal(a.Authenticators, PhishingResistantAuthenticators) {
		t.Errorf("stricter: %+v", a)
	}
}

func TestRulesAllowPasskeysAndSameDeviceByDefault(t *testing.T) {
	d := Default().SignOnFor(Input{Risk: RiskLow})
	for _, a := range []string{AuthPush, AuthTOTP, AuthWebAuthn, AuthSameDevice} {
		if !slices.Contains(d.Authenticators, a) {
			t.Errorf("the default rule does not allow %s: %v", a, d.Authenticators)
		}
	}
	if slices.Contains(d.Authenticators, AuthEmail) {
		t.Errorf("the default rule allows email as a second factor: %v", d.Authenticators)
	}
}
