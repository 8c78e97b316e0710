package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to one assentd.
type Client struct {
	BaseURL string
	HTTP    *http.Client
	// UserAgent is sent with every request; the server shows it in push
	// prompts.
	UserAgent string
	// Device is a stable id of this app install, kept by the app: it lets
	// the server tell a known device from a new one when it weighs risk.
	Device string
}

// New returns a client for the server at baseURL.
func New(baseURL string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// Transaction is one sign-in in progress.
type Transaction struct {
	c    *Client
	Last *Response
}

// Interact starts a sign-in for app.
func (c *Client) Interact(ctx context.Context, app string) (*Transaction, error) {
	return c.Start(ctx, Request{App: app, Kind: KindSignIn, Device: c.Device})
}

// Start starts a transaction of any kind: sign-in, recovery, or (with the
// session token of a signed-in user) adding a device.
func (c *Client) Start(ctx context.Context, req Request) (*Transaction, error) {
	var r Response
	if err := c.post(ctx, "interact", req, &r); err != nil {
		return nil, err
	}
	return &Transaction{c: c, Last: &r}, nil
}

// Do takes a remediation with the fields of req (the state handle is
// filled in). On an error the transaction stays at its last answer.
func (t *Transaction) Do(ctx context.Context, remediation string, req Request) (*Response, error) {
	req.StateHandle = t.Last.StateHandle
	var r Response
	if err := t.c.post(ctx, remediation, req, &r); err != nil {
		return nil, err
	}
	if r.StateHandle == "" {
		r.StateHandle = t.Last.StateHandle
	}
	t.Last = &r
	return &r, nil
}

// PollWait is the Wait WaitPush asks of each challenge-poll, in seconds.
const PollWait = 15

// WaitPush waits for a waiting push to end, calling show with the number
// to display once. Each poll asks the server to hold its answer until the
// push ends (Request.Wait); a poll that comes back sooner than every, still
// waiting, is followed by a pause of every. A server from before Wait
// (which refuses the field) is polled every every.
func (t *Transaction) WaitPush(ctx context.Context, every time.Duration, show func(number int)) (*Response, error) {
	shown := false
	wait := PollWait
	var last time.Time
	for {
		if t.Last.Status == StatusWaiting && !shown && show != nil {
			show(t.Last.Number)
			shown = true
		}
		if t.Last.Status != StatusWaiting {
			return t.Last, nil
		}
		if pause := every - time.Since(last); pause > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(pause):
			}
		}
		last = time.Now()
		_, err := t.Do(ctx, RemChallengePoll, Request{Wait: wait})
		var e *Error
		if wait > 0 && errors.As(err, &e) && e.Code == "bad_request" && strings.Contains(e.Message, `unknown field "wait"`) {
			wait = 0
			_, err = t.Do(ctx, RemChallengePoll, Request{})
		}
		if err != nil {
			return nil, err
		}
	}
}

// Session checks a session token and returns whose it is.
func (c *Client) Session(ctx context.Context, token string) (*SessionUser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+"/v1/session", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	var su SessionUser
	return &su, c.do(req, &su)
}

// SessionFor checks a session token for one app: the server answers only
// when the session was made for that app or its factors meet that app's
// sign-on rule (403 step_up_required otherwise).
func (c *Client) SessionFor(ctx context.Context, token, app string) (*SessionUser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+"/v1/session?app="+url.QueryEscape(app), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	var su SessionUser
	return &su, c.do(req, &su)
}

// SignOut ends a session.
func (c *Client) SignOut(ctx context.Context, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.BaseURL+"/v1/session", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return c.do(req, nil)
}

func (c *Client) post(ctx context.Context, remediation string, body any, out any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+"/v1/idx/"+remediation, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return c.do(req, out)
}

func (c *Client) do(req *http.Request, out any) error {
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	httpc := c.HTTP
	if httpc == nil {
		httpc = http.DefaultClient
	}
	resp, err := httpc.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		e := &Error{Status: resp.StatusCode}
		if json.Unmarshal(data, e) != nil || e.Code == "" {
			return fmt.Errorf("%s answered HTTP %d", c.BaseURL, resp.StatusCode)
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("unexpected answer from %s: %w", c.BaseURL, err)
	}
	return nil
}

// Code returns the API error code of err, or "".
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
