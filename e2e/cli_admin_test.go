package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
	"github.com/seed-3a5b824e/assent/server/store/sqlite"
)

// runBoth runs a command to completion and returns its standard output and
// standard error apart.
func (c *cliEnv) runBoth(stdin string, name string, args ...string) (stdout, stderr string, err error) {
	c.t.Helper()
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Env = c.env
	cmd.Stdin = strings.NewReader(stdin)
	var errb strings.Builder
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		err = fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, errb.String())
	}
	return string(out), errb.String(), err
}

// fails runs a command that must exit with status 1 and say want on
// standard error.
func (c *cliEnv) fails(want string, name string, args ...string) {
	c.t.Helper()
	_, stderr, err := c.runBoth("", name, args...)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		c.t.Fatalf("%s %s: want exit status 1, got %v", name, strings.Join(args, " "), err)
	}
	if !strings.Contains(stderr, want) {
		c.t.Fatalf("%s %s said %q, want %q", name, strings.Join(args, " "), stderr, want)
	}
}

// newServedCLI starts the built assentd on a free loopback port with a
// fresh data folder.
func newServedCLI(t *testing.T) *cliEnv {
	t.Helper()
	c := newCLIEnv(t)
	serveCLI(t, c)
	return c
}

// serveCLI starts the built assentd serving c's data folder, waits until it
// answers, and stops it when the test ends (its log shown if it failed).
func serveCLI(t *testing.T, c *cliEnv) *exec.Cmd {
	t.Helper()
	srv := exec.Command(filepath.Join(c.bin, "assentd"), c.server("serve")...)
	srv.Env = c.env
	srvLog := &strings.Builder{}
	srv.Stderr = srvLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Process.Kill()
		srv.Wait()
		if t.Failed() {
			t.Logf("assentd log:\n%s", srvLog)
		}
	})
	waitUp(t, c.url)
	return srv
}

// TestCLIAdminTokens makes, lists and revokes admin tokens with the built
// binary against a running assentd, and uses them over HTTP.
func TestCLIAdminTokens(t *testing.T) {
	c := newServedCLI(t)
	c.fails("must expire in the future", "assentd", c.server("admin-token", "--ttl", "0")...)
	c.fails("must expire in the future", "assentd", c.server("admin-token", "--ttl", "-5m")...)
	c.fails("at most 8760h", "assentd", c.server("admin-token", "--ttl", "8761h")...)
	c.fails("want a duration in hours", "assentd", c.server("admin-token", "--ttl", "30d")...)
	c.fails("not for \"list\"", "assentd", c.server("admin-token", "list", "--ttl", "1h")...)
	c.fails("say which token", "assentd", c.server("admin-token", "revoke")...)

	before := time.Now()
	tok, id := makeToken(t, c, c.server("--name", "deploy")...)
	after := time.Now()
	year, yearID := makeToken(t, c, c.server("--name", "yearly", "--ttl", "8760h")...)
	unused, unusedID := makeToken(t, c, c.server("--name", "unused", "--ttl", "1h")...)

	for _, tk := range []string{tok, year} {
		code, body := adminCall(t, "GET", c.url+"/v1/admin/apps", tk, "")
		wantStatus(t, "list apps with a new token", code, body, 200, "")
	}

	out := c.must("", "assentd", c.server("admin-token", "list")...)
	if !strings.HasPrefix(out, "ID") || !strings.Contains(out, "STATE") {
		t.Fatalf("admin-token list has no header:\n%s", out)
	}
	for _, tc := range []struct{ id, name string }{{id, "deploy"}, {yearID, "yearly"}, {unusedID, "unused"}} {
		line := lineWith(out, tc.id)
		if !strings.Contains(line, tc.name) || !strings.HasSuffix(strings.TrimSpace(line), "active") {
			t.Fatalf("admin-token list line for %s = %q", tc.id, line)
		}
	}
	// The default lifetime is 30 days; --ttl 8760h is a year.
	expires := func(id string) time.Time {
		f := strings.Fields(lineWith(out, id))
		e, err := time.Parse(time.RFC3339, f[3])
		if err != nil {
			t.Fatalf("expiry of %s: %v (%q)", id, err, f)
		}
		return e
	}
	if e := expires(id); e.Before(before.Add(720*time.Hour).Truncate(time.Second)) || e.After(after.Add(720*time.Hour)) {
		t.Fatalf("the default token expires %s, want 720h after it was made (%s)", e, before)
	}
	if e := expires(yearID); e.Sub(expires(id)) < 8040*time.Hour {
		t.Fatalf("the --ttl 8760h token expires %s", e)
	}

	c.fails("no admin token has the id \"tok_nosuch\"", "assentd", c.server("admin-token", "revoke", "tok_nosuch")...)
	// A token nobody has used is in no node's cache: refused at once.
	if out := c.must("", "assentd", c.server("admin-token", "revoke", unusedID)...); !strings.Contains(out, "revoked admin token "+unusedID+" (unused)") {
		t.Fatalf("revoke said %q", out)
	}
	code, body := adminCall(t, "GET", c.url+"/v1/admin/apps", unused, "")
	wantStatus(t, "a revoked token", code, body, 401, "unauthorized")
	if out := c.must("", "assentd", c.server("admin-token", "revoke", unusedID)...); !strings.Contains(out, "revoked already") {
		t.Fatalf("revoke again said %q", out)
	}
	out = c.must("", "assentd", c.server("admin-token", "list")...)
	if line := lineWith(out, unusedID); !regexp.MustCompile(`revoked at \d{4}-\d\d-\d\dT`).MatchString(line) {
		t.Fatalf("list line of the revoked token = %q", line)
	}
	code, body = adminCall(t, "GET", c.url+"/v1/admin/apps", tok, "")
	wantStatus(t, "another token after a revocation", code, body, 200, "")

	// The audit log names the tokens, never holds them.
	st, err := sqlite.Open(filepath.Join(c.data, "assent.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.ListAudit(context.Background(), store.AuditFilter{Types: []string{"admin.token_created", "admin.token_revoked"}})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, ev := range evs {
		seen = append(seen, ev.Type+" "+ev.Detail["id"]+" "+ev.Detail["name"])
		raw, _ := json.Marshal(ev)
		for _, tk := range []string{tok, year, unused} {
			if strings.Contains(string(raw), tk) {
				t.Fatalf("the audit log holds a token: %s", raw)
			}
		}
		if ev.Type == "admin.token_created" && ev.Detail["expires"] == "" {
			t.Fatalf("token_created without its expiry: %v", ev.Detail)
		}
	}
	want := []string{"admin.token_created " + id + " deploy", "admin.token_created " + yearID + " yearly",
		"admin.token_created " + unusedID + " unused", "admin.token_revoked " + unusedID + " unused"}
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audit events:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
}

// TestCLIAndAdminAPIManageApps registers and removes apps with the built
// binary and through the admin API of a running assentd; each sees what
// the other did.
func TestCLIAndAdminAPIManageApps(t *testing.T) {
	c := newServedCLI(t)
	out := c.must("", "assentd", c.server("app", "add", "wiki")...)
	if !regexp.MustCompile(`^added app wiki \(type web, id app_[A-Za-z0-9_-]+\)\n$`).MatchString(out) {
		t.Fatalf("app add said %q", out)
	}
	if out := c.must("", "assentd", c.server("app", "add", "example-app", "--type", "embedded")...); !strings.Contains(out, "added app example-app (type embedded") {
		t.Fatalf("app add --type embedded said %q", out)
	}
	c.fails(`app "wiki" is registered already`, "assentd", c.server("app", "add", "wiki")...)
	c.fails(`app name "Wiki"`, "assentd", c.server("app", "add", "Wiki")...)
	c.fails(`app type "saml": want one of web, embedded, oidc`, "assentd", c.server("app", "add", "sso", "--type", "saml")...)
	c.fails(`needs at least one redirect URI`, "assentd", c.server("app", "add", "sso", "--type", "oidc")...)
	c.fails(`take no settings`, "assentd", c.server("app", "add", "sso", "--redirect-uri", "https://sso.example/cb")...)
	c.fails(`"account" is built in`, "assentd", c.server("app", "remove", "account")...)
	c.fails(`no app named "wikki" is registered`, "assentd", c.server("app", "remove", "wikki")...)
	c.fails("usage: assentd app add NAME", "assentd", c.server("app", "add")...)
	c.fails(`unknown app subcommand "rm"`, "assentd", c.server("app", "rm", "wiki")...)

	out = c.must("", "assentd", c.server("app", "list")...)
	for _, want := range []string{`^NAME\s+TYPE\s+BUILT-IN\s+ID\s+CREATED$`, `^account\s+web\s+yes\s+app_\S+\s+\d{4}-`, `^admin\s+web\s+yes\s+app_`,
		`^example-app\s+embedded\s+no\s+app_`, `^wiki\s+web\s+no\s+app_`} {
		if !regexp.MustCompile(`(?m)` + want).MatchString(out) {
			t.Fatalf("app list lacks %s:\n%s", want, out)
		}
	}

	tok, _ := makeToken(t, c, c.server("--name", "apps")...)
	code, body := adminCall(t, "GET", c.url+"/v1/admin/apps", tok, "")
	wantStatus(t, "GET /v1/admin/apps", code, body, 200, "")
	var list struct {
		Apps []struct {
			ID, Name, Type string
			Builtin        bool
			CreatedAt      time.Time
		}
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range list.Apps {
		names = append(names, fmt.Sprintf("%s/%s/%v", a.Name, a.Type, a.Builtin))
		if !strings.HasPrefix(a.ID, "app_") || a.CreatedAt.IsZero() {
			t.Fatalf("app %+v", a)
		}
	}
	if got := strings.Join(names, " "); got != "account/web/true admin/web/true example-app/embedded/false wiki/web/false" {
		t.Fatalf("GET /v1/admin/apps = %s", got)
	}
	code, body = adminCall(t, "POST", c.url+"/v1/admin/apps", tok, `{"name":"crm","type":"embedded"}`)
	wantStatus(t, "POST /v1/admin/apps crm", code, body, 201, "")
	if !strings.Contains(body, `"name":"crm"`) || !strings.Contains(body, `"type":"embedded"`) || !strings.Contains(body, `"builtin":false`) {
		t.Fatalf("added app = %s", body)
	}
	code, body = adminCall(t, "POST", c.url+"/v1/admin/apps", tok, `{"name":"wiki"}`)
	wantStatus(t, "POST an existing app", code, body, 409, "app_exists")
	code, body = adminCall(t, "POST", c.url+"/v1/admin/apps", tok, `{"name":"CRM!"}`)
	wantStatus(t, "POST a bad name", code, body, 400, "bad_request")
	if !strings.Contains(body, "lower-case letters") {
		t.Fatalf("the bad-name answer does not say what is allowed: %s", body)
	}
	code, body = adminCall(t, "POST", c.url+"/v1/admin/apps", "", `{"name":"sneaky"}`)
	wantStatus(t, "POST without a token", code, body, 401, "unauthorized")
	code, body = adminCall(t, "DELETE", c.url+"/v1/admin/apps/admin", tok, "")
	wantStatus(t, "DELETE admin", code, body, 409, "builtin_app")
	code, body = adminCall(t, "DELETE", c.url+"/v1/admin/apps/nosuch", tok, "")
	wantStatus(t, "DELETE nosuch", code, body, 404, "unknown_app")
	code, body = adminCall(t, "DELETE", c.url+"/v1/admin/apps/wiki", tok, "")
	wantStatus(t, "DELETE wiki", code, body, 204, "")

	out = c.must("", "assentd", c.server("app", "list")...)
	if !strings.Contains(out, "crm") || strings.Contains(out, "wiki") || strings.Contains(out, "sneaky") {
		t.Fatalf("app list after the API calls:\n%s", out)
	}
	if out := c.must("", "assentd", c.server("app", "remove", "crm")...); !strings.HasPrefix(out, "removed app crm") {
		t.Fatalf("app remove said %q", out)
	}
	code, body = adminCall(t, "DELETE", c.url+"/v1/admin/apps/crm", tok, "")
	wantStatus(t, "DELETE an app the CLI removed", code, body, 404, "unknown_app")
}

// TestCLIRegistersOpenIDConnectClientsAndRotatesKeys: the commands the
// README gives for an OpenID Connect client and for the signing keys, with
// the built binary against a running assentd.
func TestCLIRegistersOpenIDConnectClientsAndRotatesKeys(t *testing.T) {
	c := newServedCLI(t)
	out := c.must("", "assentd", c.server("app", "add", "grafana", "--type", "oidc",
		"--redirect-uri", "https://grafana.example.com/login/generic_oauth", "--post-logout-uri", "https://grafana.example.com/")...)
	m := regexp.MustCompile(`(?m)^client ID:\s+(app_\S+)\nclient secret: (\S{40,})$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("app add --type oidc said %q; want the client ID and secret", out)
	}
	id, secret := m[1], m[2]
	out = c.must("", "assentd", c.server("app", "add", "kubectl", "--type", "oidc", "--public", "--device",
		"--redirect-uri", "http://127.0.0.1:8000")...)
	if strings.Contains(out, "client secret") {
		t.Fatalf("a public client got a secret: %q", out)
	}
	c.fails(`redirect URI "http://grafana.example.com/cb"`, "assentd", c.server("app", "add", "bad", "--type", "oidc",
		"--redirect-uri", "http://grafana.example.com/cb")...)
	out = c.must("", "assentd", c.server("app", "list")...)
	if !strings.Contains(out, "https://grafana.example.com/login/generic_oauth") || strings.Contains(out, secret) {
		t.Fatalf("app list shows the settings without the secret? %q", out)
	}
	// The server's discovery document and the client's secret work.
	code, body := adminCall(t, "GET", c.url+"/.well-known/openid-configuration", "", "")
	wantStatus(t, "discovery", code, body, 200, "")
	if !strings.Contains(body, `"issuer":"`+c.url+`"`) {
		t.Fatalf("discovery = %s", body)
	}
	req, _ := http.NewRequest("POST", c.url+"/oidc/introspect", strings.NewReader("token=nope"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret+"x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a wrong client secret at the introspection endpoint = %d, want 401 invalid_client", resp.StatusCode)
	}

	before := c.must("", "assentd", c.server("keys", "list")...)
	if n := strings.Count(before, "signs new tokens"); n != 2 {
		t.Fatalf("keys list: want an RS256 and an ES256 key signing, got:\n%s", before)
	}
	after := c.must("", "assentd", c.server("keys", "rotate")...)
	if strings.Count(after, "signs new tokens") != 2 || strings.Count(after, "published until") != 2 {
		t.Fatalf("keys rotate: want two new keys and the two old ones published:\n%s", after)
	}
	// The running node reads the keys again within its cache time (10 s).
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body = adminCall(t, "GET", c.url+"/oidc/keys", "", "")
		wantStatus(t, "JWKS", code, body, 200, "")
		n := strings.Count(body, `"kid"`)
		if n == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the JWKS publishes %d keys after a rotation, want 4: %s", n, body)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

const policyWithApps = `signOn:
  - name: Wiki
    conditions: {apps: [wiki]}
    action: {factors: 2}
  - name: Typo
    conditions: {apps: [wikki, admin]}
    action: {factors: 2}
  - name: Shouting
    conditions: {apps: [CRM]}
    action: {factors: 2}
  - name: Default
    action: {factors: 2}
`

// TestCLIPolicyCheckNamesUnknownApps: policy check reports rules naming
// apps the database does not hold, with their lines, and exits 1; with no
// database it says the names were not checked, and makes none.
func TestCLIPolicyCheckNamesUnknownApps(t *testing.T) {
	bin, err := binaries()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := &cliEnv{t: t, bin: bin, data: filepath.Join(dir, "data"), listen: "127.0.0.1:8080", env: os.Environ()}
	file := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(file, []byte(policyWithApps), 0o600); err != nil {
		t.Fatal(err)
	}

	out, stderr, err := c.runBoth("", "assentd", c.server("policy", "check", file)...)
	if err != nil {
		t.Fatalf("policy check with no database: %v", err)
	}
	if !strings.Contains(out, "fine: 4 sign-on rules") || !strings.Contains(out, "not checked: there is no database at "+filepath.Join(c.data, "assent.db")) {
		t.Fatalf("policy check with no database said %q %q", out, stderr)
	}
	if _, err := os.Stat(filepath.Join(c.data, "assent.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("policy check made a database: %v", err)
	}

	c.must("", "assentd", c.server("app", "add", "wiki")...)
	out, stderr, err = c.runBoth("", "assentd", c.server("policy", "check", file)...)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("policy check naming unknown apps: want exit status 1, got %v", err)
	}
	want := file + `: line 5: signOn[1] "Typo" names app "wikki", which is not registered (assentd app add wikki)` + "\n" +
		file + `: line 8: signOn[2] "Shouting" names app "CRM", which cannot be registered: app names are 1 to 64 lower-case letters, digits, '.', '-' or '_'` + "\n"
	if out != want {
		t.Fatalf("policy check said\n%s\nwant\n%s", out, want)
	}
	if !strings.Contains(stderr, "2 app names in the sign-on rules are not registered apps") {
		t.Fatalf("policy check's error = %q", stderr)
	}

	c.must("", "assentd", c.server("app", "add", "wikki")...)
	c.must("", "assentd", c.server("app", "add", "crm")...)
	fixed := strings.Replace(policyWithApps, "[CRM]", "[crm]", 1)
	if err := os.WriteFile(file, []byte(fixed), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := c.must("", "assentd", c.server("policy", "check", file)...); !strings.Contains(out, "every app they name is registered") {
		t.Fatalf("policy check of a fixed file said %q", out)
	}
}

// TestCLIRegistersRADIUSClientsAndPolicyCheckNotesWhatNoNumberGivesUp: the
// commands the README gives for a RADIUS client, with the built binary.
func TestCLIRegistersRADIUSClientsAndPolicyCheckNotesWhatNoNumberGivesUp(t *testing.T) {
	c := newServedCLI(t)
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "vpn.secret")
	if err := os.WriteFile(secretFile, []byte("a shared secret of some length\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := c.must("", "assentd", c.server("app", "add", "vpn", "--type", "radius", "--client", "10.0.0.0/8", "--client", "192.0.2.10",
		"--secret-file", secretFile)...)
	if !strings.Contains(out, "added app vpn (type radius") {
		t.Fatalf("app add --type radius said %q", out)
	}
	short := filepath.Join(dir, "short.secret")
	os.WriteFile(short, []byte("tiny"), 0o600)
	c.fails("16", "assentd", c.server("app", "add", "vpn2", "--type", "radius", "--client", "10.0.0.0/8", "--secret-file", short)...)
	out = c.must("", "assentd", c.server("app", "list")...)
	if !strings.Contains(out, "10.0.0.0/8") || strings.Contains(out, "a shared secret") {
		t.Fatalf("app list shows the networks without the secret? %q", out)
	}
	file := filepath.Join(dir, "policy.yaml")
	os.WriteFile(file, []byte("signOn:\n  - name: VPN\n    conditions: {apps: [vpn]}\n    action: {factors: 2, numberChallenge: never}\n  - name: Default\n    action: {factors: 2}\n"), 0o600)
	out = c.must("", "assentd", c.server("policy", "check", file)...)
	if !strings.Contains(out, "line 2: note:") || !strings.Contains(out, "numberChallenge: never") || !strings.Contains(out, "fine") {
		t.Fatalf("policy check said %q", out)
	}
	os.WriteFile(file, []byte("signOn:\n  - name: Strong\n    action: {factors: 2, authenticators: [push, webauthn], phishingResistant: high-risk}\n"), 0o600)
	out = c.must("", "assentd", c.server("policy", "check", file)...)
	if !strings.Contains(out, "line 2: note:") || !strings.Contains(out, "phishing resistance at high risk") || !strings.Contains(out, "push are not offered then") {
		t.Fatalf("policy check of a phishing-resistant rule said %q", out)
	}
	os.WriteFile(file, []byte("signOn:\n  - name: Strong\n    action: {factors: 2, authenticators: [push], phishingResistant: required}\n"), 0o600)
	c.fails("needs webauthn or samedevice", "assentd", c.server("policy", "check", file)...)
}
