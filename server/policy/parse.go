package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong in a policy file.
type Problem struct {
	Line int
	Path string
	Msg  string
}

func (p Problem) String() string {
	if p.Path == "" {
		return fmt.Sprintf("line %d: %s", p.Line, p.Msg)
	}
	return fmt.Sprintf("line %d: %s: %s", p.Line, p.Path, p.Msg)
}

// Problems is every problem found, in line order.
type Problems []Problem

func (ps Problems) Error() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, "\n")
}

// Load reads and checks a policy file; every problem is reported with its
// line (errors.As to Problems).
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	p, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("policy %s:\n%w", path, err)
	}
	return p, nil
}

// Parse checks a policy document. Settings left out take their defaults
// (see DefaultYAML), except that a file naming signOn rules replaces the
// default rules entirely.
func Parse(data []byte) (*Policy, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return nil, Problems{{Line: yamlLine(err), Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	c := &checker{}
	p := &Policy{
		Zones:      map[string][]*net.IPNet{},
		Password:   Password{MinLength: 12},
		Push:       Push{Expiry: 5 * time.Minute, MaxUnanswered: 5, Window: 15 * time.Minute},
		Recovery:   Recovery{Authenticators: []string{AuthPush, AuthEmail}},
		Enrollment: Enrollment{SelfService: true},
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	var zoneRefs []ref
	if doc.Kind != 0 && !(doc.Kind == yaml.ScalarNode && doc.Tag == "!!null") {
		c.mapping(doc, "", map[string]func(*yaml.Node, string){
			"zones": func(n *yaml.Node, path string) {
				c.eachKey(n, path, func(k, v *yaml.Node, path string) {
					var nets []*net.IPNet
					for _, item := range c.list(v, path) {
						_, ipn, err := net.ParseCIDR(item.Value)
						if ip := net.ParseIP(item.Value); err != nil && ip != nil {
							bits := 32
							if ip.To4() == nil {
								bits = 128
							}
							ipn = &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}
							err = nil
						}
						if err != nil {
							c.errf(item, path, "%q is not a CIDR range such as 10.0.0.0/8 or an IP address", item.Value)
							continue
						}
						nets = append(nets, ipn)
					}
					p.Zones[k.Value] = nets
				})
			},
			"signOn": func(n *yaml.Node, path string) {
				items := c.seq(n, path)
				if len(items) == 0 {
					c.errf(n, path, "name at least one rule; the last one, with no conditions, says what applies otherwise")
				}
				for i, item := range items {
					r, refs := c.rule(item, fmt.Sprintf("%s[%d]", path, i))
					p.SignOn = append(p.SignOn, r)
					zoneRefs = append(zoneRefs, refs...)
				}
			},
			"recovery": func(n *yaml.Node, path string) {
				c.mapping(n, path, map[string]func(*yaml.Node, string){
					"authenticators": func(n *yaml.Node, path string) {
						p.Recovery.Authenticators = c.oneOfList(n, path, AuthPush, AuthEmail, AuthTOTP)
						if len(p.Recovery.Authenticators) == 0 {
							c.errf(n, path, "name at least one of push, email, totp, or nobody can reset a password")
						}
					},
					"secondAuthenticator": func(n *yaml.Node, path string) { p.Recovery.SecondAuthenticator = c.boolean(n, path) },
				})
			},
			"profile": func(n *yaml.Node, path string) {
				c.mapping(n, path, map[string]func(*yaml.Node, string){
					"required": func(n *yaml.Node, path string) {
						for _, item := range c.list(n, path) {
							if !validAttribute(item.Value) {
								c.errf(item, path, "%q is not an attribute name (letters, digits, - and _, starting with a letter)", item.Value)
								continue
							}
							p.Profile.Required = append(p.Profile.Required, item.Value)
						}
					},
				})
			},
			"password": func(n *yaml.Node, path string) {
				c.mapping(n, path, map[string]func(*yaml.Node, string){
					"minLength": func(n *yaml.Node, path string) {
						p.Password.MinLength = c.integer(n, path, 8, 256)
					},
				})
			},
			"push": func(n *yaml.Node, path string) {
				c.mapping(n, path, map[string]func(*yaml.Node, string){
					"expiry":        func(n *yaml.Node, path string) { p.Push.Expiry = c.duration(n, path, time.Second, 10*time.Minute) },
					"maxUnanswered": func(n *yaml.Node, path string) { p.Push.MaxUnanswered = c.integer(n, path, 1, 1000) },
					"window":        func(n *yaml.Node, path string) { p.Push.Window = c.duration(n, path, time.Minute, 24*time.Hour) },
				})
			},
			"enrollment": func(n *yaml.Node, path string) {
				c.mapping(n, path, map[string]func(*yaml.Node, string){
					"selfService": func(n *yaml.Node, path string) { p.Enrollment.SelfService = c.boolean(n, path) },
				})
			},
		})
	}
	if len(p.SignOn) == 0 && !c.saw("signOn") {
		p.SignOn = Default().SignOn
	}
	p.AdminFloor = !slices.ContainsFunc(p.SignOn, func(r Rule) bool { return slices.Contains(r.Conditions.Apps, AdminApp) })
	for _, r := range zoneRefs {
		if _, ok := p.Zones[r.name]; !ok {
			c.errf(r.node, r.path, "unknown zone %q (zones: %s)", r.name, zoneNames(p.Zones))
		}
	}
	if n := len(p.SignOn); n > 0 && c.saw("signOn") {
		last := p.SignOn[n-1]
		if !last.Conditions.empty() {
			c.problems = append(c.problems, Problem{Line: last.Line, Path: fmt.Sprintf("signOn[%d]", n-1),
				Msg: "the last rule must have no conditions, so that every sign-in meets a rule (add a default rule at the end)"})
		}
	}
	if len(c.problems) > 0 {
		sort.SliceStable(c.problems, func(i, j int) bool { return c.problems[i].Line < c.problems[j].Line })
		return nil, c.problems
	}
	return p, nil
}

func (c Conditions) empty() bool {
	return len(c.Apps) == 0 && len(c.Groups) == 0 && len(c.Zones) == 0 && len(c.NotZones) == 0 && len(c.Risk) == 0 &&
		(c.Device == "" || c.Device == DeviceAny)
}

type ref struct {
	name string
	node *yaml.Node
	path string
}

func (c *checker) rule(n *yaml.Node, path string) (Rule, []ref) {
	r := Rule{Line: n.Line, Action: Action{Factors: 2, Possession: true, UserVerification: UVPreferred, NumberChallenge: NumberAlways,
		Authenticators: DefaultAuthenticators()}}
	var refs []ref
	zones := func(n *yaml.Node, path string) []string {
		var out []string
		for _, item := range c.list(n, path) {
			out = append(out, item.Value)
			refs = append(refs, ref{item.Value, item, path})
		}
		return out
	}
	sawAction := false
	c.mapping(n, path, map[string]func(*yaml.Node, string){
		"name": func(n *yaml.Node, path string) { r.Name = c.str(n, path) },
		"conditions": func(n *yaml.Node, path string) {
			c.mapping(n, path, map[string]func(*yaml.Node, string){
				"apps":     func(n *yaml.Node, path string) { r.Conditions.Apps = c.strings(n, path) },
				"groups":   func(n *yaml.Node, path string) { r.Conditions.Groups = c.strings(n, path) },
				"zones":    func(n *yaml.Node, path string) { r.Conditions.Zones = zones(n, path) },
				"notZones": func(n *yaml.Node, path string) { r.Conditions.NotZones = zones(n, path) },
				"risk": func(n *yaml.Node, path string) {
					r.Conditions.Risk = c.oneOfList(n, path, RiskLow, RiskMedium, RiskHigh)
				},
				"device": func(n *yaml.Node, path string) {
					r.Conditions.Device = c.oneOf(n, path, DeviceAny, DeviceNew, DeviceKnown)
				},
			})
		},
		"action": func(n *yaml.Node, path string) {
			sawAction = true
			if n.Kind == yaml.ScalarNode {
				if n.Value != "deny" {
					c.errf(n, path, "%q: want deny, or settings (factors, possession, …)", n.Value)
				}
				r.Action = Action{Deny: true}
				return
			}
			possessionSet := false
			c.mapping(n, path, map[string]func(*yaml.Node, string){
				"factors": func(n *yaml.Node, path string) { r.Action.Factors = c.integer(n, path, 1, 2) },
				"possession": func(n *yaml.Node, path string) {
					r.Action.Possession, possessionSet = c.boolean(n, path), true
				},
				"authenticators": func(n *yaml.Node, path string) {
					r.Action.Authenticators = c.oneOfList(n, path, AuthPush, AuthTOTP, AuthEmail, AuthWebAuthn, AuthSameDevice)
					if len(r.Action.Authenticators) == 0 {
						c.errf(n, path, "name at least one of push, totp, email, webauthn, samedevice")
					}
				},
				"userVerification": func(n *yaml.Node, path string) {
					r.Action.UserVerification = c.oneOf(n, path, UVRequired, UVPreferred, UVNone)
				},
				"numberChallenge": func(n *yaml.Node, path string) {
					r.Action.NumberChallenge = c.oneOf(n, path, NumberAlways, NumberHighRisk, NumberNever)
				},
				"phishingResistant": func(n *yaml.Node, path string) {
					r.Action.PhishingResistant = c.oneOf(n, path, PhishingRequired, PhishingHighRisk, PhishingOptional)
				},
				"reauthenticate": func(n *yaml.Node, path string) { r.Action.Reauthenticate = c.duration(n, path, 0, 30*24*time.Hour) },
			})
			if r.Action.Factors == 2 && possessionSet && !r.Action.Possession {
				c.errf(n, path, "two factors are a password and a possession factor; possession: false contradicts factors: 2")
			}
			if r.Action.Factors == 1 && !possessionSet {
				r.Action.Possession = false
			}
			if pr := r.Action.PhishingResistant; pr == PhishingRequired || pr == PhishingHighRisk {
				if !slices.ContainsFunc(r.Action.Authenticators, func(a string) bool { return slices.Contains(PhishingResistantAuthenticators, a) }) {
					c.errf(n, path, "phishingResistant: %s needs webauthn or samedevice among the authenticators (a push or a code can be relayed by a phishing page)", pr)
				}
				if r.Action.Factors == 1 && !r.Action.Possession {
					c.errf(n, path, "phishingResistant: %s asks for a possession factor; a password alone (factors: 1 without possession) never meets it", pr)
				}
			}
		},
	})
	if r.Name == "" {
		c.errf(n, path, "every rule needs a name (it is written to the audit log)")
	}
	if !sawAction {
		c.errf(n, path, "every rule needs an action: deny, or settings such as factors: 2")
	}
	return r, refs
}

func validAttribute(s string) bool {
	if s == "" || len(s) > 64 || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == ""
}

func zoneNames(z map[string][]*net.IPNet) string {
	var names []string
	for k := range z {
		names = append(names, k)
	}
	if len(names) == 0 {
		return "none defined"
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// yamlLine digs the line out of a YAML syntax error.
func yamlLine(err error) int {
	s := err.Error()
	if i := strings.Index(s, "line "); i >= 0 {
		var n int
		fmt.Sscanf(s[i+5:], "%d", &n)
		return n
	}
	return 1
}

// checker walks YAML nodes and collects every problem with its line.
type checker struct {
	problems Problems
	seen     map[string]bool
}

func (c *checker) errf(n *yaml.Node, path, format string, args ...any) {
	c.problems = append(c.problems, Problem{Line: n.Line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) saw(path string) bool { return c.seen[path] }

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// mapping calls the handler of each key, refusing unknown and repeated
// keys.
func (c *checker) mapping(n *yaml.Node, path string, fields map[string]func(*yaml.Node, string)) {
	if n.Kind != yaml.MappingNode {
		if n.Tag == "!!null" {
			return
		}
		c.errf(n, path, "want settings (key: value), got %s", describe(n))
		return
	}
	if c.seen == nil {
		c.seen = map[string]bool{}
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := join(path, k.Value)
		if seen[k.Value] {
			c.errf(k, p, "given twice")
			continue
		}
		seen[k.Value] = true
		h, ok := fields[k.Value]
		if !ok {
			var known []string
			for f := range fields {
				known = append(known, f)
			}
			slices.Sort(known)
			c.errf(k, path, "unknown setting %q (known here: %s)", k.Value, strings.Join(known, ", "))
			continue
		}
		c.seen[p] = true
		h(v, p)
	}
}

func (c *checker) eachKey(n *yaml.Node, path string, fn func(k, v *yaml.Node, path string)) {
	if n.Kind != yaml.MappingNode {
		c.errf(n, path, "want name: value pairs, got %s", describe(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			c.errf(k, join(path, k.Value), "given twice")
			continue
		}
		seen[k.Value] = true
		fn(k, v, join(path, k.Value))
	}
}

func (c *checker) seq(n *yaml.Node, path string) []*yaml.Node {
	if n.Kind != yaml.SequenceNode {
		c.errf(n, path, "want a list, got %s", describe(n))
		return nil
	}
	return n.Content
}

// list reads a list of scalars (a single scalar counts as a list of one).
func (c *checker) list(n *yaml.Node, path string) []*yaml.Node {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		return []*yaml.Node{n}
	}
	var out []*yaml.Node
	for i, item := range c.seq(n, path) {
		if item.Kind != yaml.ScalarNode {
			c.errf(item, fmt.Sprintf("%s[%d]", path, i), "want a plain value, got %s", describe(item))
			continue
		}
		out = append(out, item)
	}
	return out
}

func (c *checker) strings(n *yaml.Node, path string) []string {
	var out []string
	for _, item := range c.list(n, path) {
		out = append(out, item.Value)
	}
	return out
}

func (c *checker) str(n *yaml.Node, path string) string {
	if n.Kind != yaml.ScalarNode {
		c.errf(n, path, "want text, got %s", describe(n))
		return ""
	}
	return n.Value
}

func (c *checker) oneOf(n *yaml.Node, path string, allowed ...string) string {
	v := c.str(n, path)
	if v != "" && !slices.Contains(allowed, v) {
		c.errf(n, path, "%q: want one of %s", v, strings.Join(allowed, ", "))
		return ""
	}
	return v
}

func (c *checker) oneOfList(n *yaml.Node, path string, allowed ...string) []string {
	out := []string{}
	for _, item := range c.list(n, path) {
		if !slices.Contains(allowed, item.Value) {
			c.errf(item, path, "%q: want one of %s", item.Value, strings.Join(allowed, ", "))
			continue
		}
		if slices.Contains(out, item.Value) {
			c.errf(item, path, "%q is listed twice", item.Value)
			continue
		}
		out = append(out, item.Value)
	}
	return out
}

func (c *checker) boolean(n *yaml.Node, path string) bool {
	switch c.str(n, path) {
	case "true":
		return true
	case "false":
		return false
	}
	c.errf(n, path, "want true or false, got %q", n.Value)
	return false
}

func (c *checker) integer(n *yaml.Node, path string, lo, hi int) int {
	v, err := strconv.Atoi(c.str(n, path))
	if err != nil || v < lo || v > hi {
		c.errf(n, path, "want a whole number from %d to %d, got %q", lo, hi, n.Value)
		return lo
	}
	return v
}

func (c *checker) duration(n *yaml.Node, path string, lo, hi time.Duration) time.Duration {
	d, err := time.ParseDuration(c.str(n, path))
	if err != nil || d < lo || d > hi {
		c.errf(n, path, "want a duration from %s to %s such as 5m or 12h, got %q", lo, hi, n.Value)
		return lo
	}
	return d
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "settings"
	case yaml.SequenceNode:
		return "a list"
	}
	if n.Tag == "!!null" {
		return "nothing"
	}
	return strconv.Quote(n.Value)
}
