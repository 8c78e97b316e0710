package server

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/internal/fakeclock"
)

// testKind is a front's kind of app as the registry sees it: one list
// setting that must be an https URL, a flag, and a secret made once.
func testKind() AppKind {
	return AppKind{
		Type: "oidc", Label: "test client",
		Fields: []AppField{{Name: "redirect_uri", Label: "Redirect URI", List: true}, {Name: "public", Label: "Public", Flag: true}},
		Configure: func(_ context.Context, _ string, set map[string][]string) ([]byte, string, error) {
			if len(set["redirect_uri"]) == 0 {
				return nil, "", errors.New("redirect_uri: give at least one")
			}
			for _, u := range set["redirect_uri"] {
				if !strings.HasPrefix(u, "https://") {
					return nil, "", errors.New("redirect_uri " + u + ": want https")
				}
			}
			secret := ""
			if len(set["public"]) == 0 {
				secret = "s3cret"
			}
			cfg, _ := json.Marshal(map[string]any{"redirect": set["redirect_uri"], "hash": crypto.HashToken(secret)})
			return cfg, secret, nil
		},
		Describe: func(config []byte) []AppSetting {
			var c struct{ Redirect []string }
			_ = json.Unmarshal(config, &c)
			return []AppSetting{{Name: "redirect_uri", Value: strings.Join(c.Redirect, " ")}}
		},
	}
}

func TestAppKindsAddAppsWithSettingsAndASecretShownOnce(t *testing.T) {
	clock := fakeclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	s := adminNode(t, openSQLite(t, filepath.Join(t.TempDir(), "assent.db")), clock, crypto.RandomBytes(32))
	tok, _, err := s.IssueAdminToken(context.Background(), "t", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	auth := "Bearer " + tok
	// Before a front registers its kind, the type is not on offer.
	code, body := do(t, s, "POST", "/v1/admin/apps", auth, `{"name":"grafana","type":"oidc","settings":{"redirect_uri":["https://g.example/cb"]}}`, "")
	wantAPI(t, "oidc without the kind", code, body, 400, "bad_request")
	s.RegisterAppKind(testKind())
	for _, bad := range []string{
		`{"name":"grafana","type":"oidc"}`,
		`{"name":"grafana","type":"oidc","settings":{"redirect_uri":["http://g.example/cb"]}}`,
		`{"name":"grafana","type":"oidc","settings":{"redirect_uri":["https://g.example/cb"],"nonsense":["1"]}}`,
		`{"name":"wiki","type":"web","settings":{"redirect_uri":["https://g.example/cb"]}}`,
	} {
		code, body = do(t, s, "POST", "/v1/admin/apps", auth, bad, "")
		wantAPI(t, bad, code, body, 400, "bad_request")
	}
	code, body = do(t, s, "POST", "/v1/admin/apps", auth, `{"name":"grafana","type":"oidc","settings":{"redirect_uri":["https://g.example/cb"]}}`, "")
	wantAPI(t, "add grafana", code, body, 201, "")
	var a AdminApp
	if err := json.Unmarshal([]byte(body), &a); err != nil || a.Secret != "s3cret" || a.Type != "oidc" || len(a.Settings) != 1 || a.Settings[0].Value != "https://g.example/cb" {
		t.Fatalf("added = %s (%v)", body, err)
	}
	code, body = do(t, s, "GET", "/v1/admin/apps", auth, "", "")
	wantAPI(t, "list", code, body, 200, "")
	if strings.Contains(body, "s3cret") || !strings.Contains(body, "https://g.example/cb") {
		t.Fatalf("the list shows the secret or hides the settings: %s", body)
	}
	code, body = do(t, s, "POST", "/v1/admin/apps", auth, `{"name":"grafana","type":"oidc","settings":{"redirect_uri":["https://g.example/cb"]}}`, "")
	wantAPI(t, "add grafana again", code, body, 409, "app_exists")
}
