// Package loadgen is assent-load: it enrolls many simulated devices with
// the real protocol, holds their push sockets from several processes and
// source addresses, drives pushes or whole sign-ins at a set rate, and
// measures the server: memory per connection, push round trips and
// approvals per second.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/server"
)

// Device is one enrolled simulated device. Its key is a throwaway test
// key, kept in the state file so that reruns skip enrollment.
type Device struct {
	Login        string          `json:"login"`
	EnrollmentID string          `json:"enrollmentId"`
	Key          []byte          `json:"key"` // PKCS#8
	ServerKey    json.RawMessage `json:"serverKey"`
	PushURL      string          `json:"pushUrl"`
}

// State is every device enrolled with one server.
type State struct {
	Server  string   `json:"server"`
	Devices []Device `json:"devices"`
}

// LoadState reads a state file; a missing one is an empty state.
func LoadState(path string) (*State, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &State{}, nil
	}
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("state file %s is damaged (delete it to enroll afresh): %w", path, err)
	}
	return &s, nil
}

// Save writes the state file (0600: it holds device keys).
func (s *State) Save(path string) error {
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// client makes the device's push client.
func (d *Device) client(server string, httpc *http.Client) (*push.Client, error) {
	key, err := crypto.ParsePrivateKey(d.Key)
	if err != nil {
		return nil, err
	}
	sk, err := crypto.ParsePublicJWK(d.ServerKey)
	if err != nil {
		return nil, err
	}
	return &push.Client{Server: server, PushURL: d.PushURL, EnrollmentID: d.EnrollmentID, Key: key, ServerKey: sk, HTTP: httpc}, nil
}

// Admin talks to the admin API.
type Admin struct {
	URL   string
	Token string
	HTTP  *http.Client
}

func (a *Admin) post(ctx context.Context, path string, body, out any) (int, error) {
	data, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.URL+path, bytes.NewReader(data))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+a.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s: HTTP %d: %s", path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return resp.StatusCode, json.Unmarshal(b, out)
	}
	return resp.StatusCode, nil
}

// AddUser adds a passwordless load user; one that exists is fine.
func (a *Admin) AddUser(ctx context.Context, login string) error {
	code, err := a.post(ctx, "/v1/admin/users", server.AdminUser{Login: login, Groups: []string{"load"}}, nil)
	if code == http.StatusConflict {
		return nil
	}
	return err
}

// EnrollLink issues an enrollment link for a user.
func (a *Admin) EnrollLink(ctx context.Context, login string) (string, error) {
	var l server.AdminLink
	_, err := a.post(ctx, "/v1/admin/users/"+login+"/enroll", nil, &l)
	return l.Link, err
}

// Push sends a test push to a user's devices.
func (a *Admin) Push(ctx context.Context, login string) (server.AdminPushResult, error) {
	var r server.AdminPushResult
	_, err := a.post(ctx, "/v1/admin/push", server.AdminPush{Login: login}, &r)
	return r, err
}
