package push

import (
	"bytes"
	"context"
	gocrypto "crypto"
	"crypto/ecdsa"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/enroll"
)

// ErrPinMismatch means the server's signing key is not the one the
// enrollment link pinned: the device refuses to trust it.
var ErrPinMismatch = errors.New("the server's key does not match the enrollment link's pin: refusing to enroll (the link may be forged, or someone is between you and the server)")

// EnrollDevice enrolls a new device key with the server of a link: it
// proves possession of key, consumes the link's token, and checks the
// server's key against the link's pin and its name against the link's. An
// answer that fails those checks is refused and its enrollment revoked.
func EnrollDevice(ctx context.Context, httpc *http.Client, link *enroll.Link, key gocrypto.Signer, dev Device, now time.Time) (*EnrollResponse, *ecdsa.PublicKey, error) {
	var resp EnrollResponse
	clock := new(Clock)
	post := func() error {
		at := now.Add(clock.Offset())
		tok, err := crypto.SignJWS(key, TypEnroll, EnrollClaims{Token: link.Token, Device: dev, IAT: at.Unix()}, crypto.SignOptions{EmbedJWK: true})
		if err != nil {
			return err
		}
		return doHTTP(ctx, httpc, http.MethodPost, link.Server+PathEnroll, "", strings.NewReader(tok), &resp)
	}
	err := post()
	// A clock too far off is refused before the link is used: once more on
	// the server's time, when it said it.
	var ae *APIError
	if errors.As(err, &ae) && ae.Code == "clock_skew" && clock.learn(ae.ServerTime, now) {
		err = post()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("enroll with %s: %w", link.Server, err)
	}
	if resp.EnrollmentID == "" {
		return nil, nil, errors.New("enroll: server answered without an enrollment id")
	}
	// The server has enrolled the key by now: an answer the device will not
	// trust is taken back, so no enrollment is left that nobody uses.
	refuse := func(cause error) (*EnrollResponse, *ecdsa.PublicKey, error) {
		c := &Client{Server: link.Server, EnrollmentID: resp.EnrollmentID, Key: key, HTTP: httpc, Now: func() time.Time { return now }, Clock: clock}
		if err := c.Revoke(context.WithoutCancel(ctx)); err != nil {
			return nil, nil, fmt.Errorf("%w (and revoking the enrollment failed: %v)", cause, err)
		}
		return nil, nil, cause
	}
	serverKey, err := crypto.ParsePublicJWK(resp.ServerKey)
	if err != nil {
		return refuse(fmt.Errorf("enroll: server key: %w", err))
	}
	tp, err := crypto.Thumbprint(serverKey)
	if err != nil {
		return refuse(err)
	}
	if subtle.ConstantTimeCompare([]byte(tp), []byte(link.Pin)) != 1 {
		return refuse(ErrPinMismatch)
	}
	if strings.TrimRight(resp.Server, "/") != link.Server {
		return refuse(fmt.Errorf("enroll: server calls itself %q but the link names %q", resp.Server, link.Server))
	}
	return &resp, serverKey, nil
}

// Client is an enrolled device talking to its server.
type Client struct {
	// Server is the server's base URL and issuer.
	Server       string
	PushURL      string
	EnrollmentID string
	Key          gocrypto.Signer
	ServerKey    *ecdsa.PublicKey
	HTTP         *http.Client
	Now          func() time.Time
	// Clock corrects the device's times by the server's, when set (see
	// MaxClockCorrection).
	Clock *Clock
	// After waits between reconnects (time.After when nil); tests stand
	// in for the clock with it.
	After func(time.Duration) <-chan time.Time
}

func (c *Client) after(d time.Duration) <-chan time.Time {
	if c.After != nil {
		return c.After(d)
	}
	return time.After(d)
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// Token makes a fresh single-use device token.
func (c *Client) Token() (string, error) {
	now := c.serverNow().Unix()
	return crypto.SignJWS(c.Key, TypDevice, DeviceClaims{
		Issuer: c.EnrollmentID, Audience: c.Server, IAT: now, JTI: crypto.RandomToken(16), Exp: now + DeviceTokenMaxAge,
	}, crypto.SignOptions{})
}

// Challenge is a verified challenge.
type Challenge struct {
	JWS string
	ChallengeClaims
}

// ExpiresAt is when the server stops accepting an answer.
func (c *Challenge) ExpiresAt() time.Time { return time.Unix(c.Exp, 0) }

// VerifyChallenge checks a challenge's signature (the server key from
// enrollment), issuer, audience (this enrollment) and fields.
func (c *Client) VerifyChallenge(jws string) (*Challenge, error) {
	var ch Challenge
	if err := crypto.VerifyJWS(jws, c.ServerKey, TypChallenge, &ch.ChallengeClaims); err != nil {
		return nil, fmt.Errorf("challenge refused: %w", err)
	}
	if ch.Audience != c.EnrollmentID {
		return nil, fmt.Errorf("challenge refused: it is for enrollment %q, not this one", ch.Audience)
	}
	if ch.Issuer != c.Server {
		return nil, fmt.Errorf("challenge refused: issued by %q, not %q", ch.Issuer, c.Server)
	}
	if err := ch.Check(); err != nil {
		return nil, fmt.Errorf("challenge refused: %w", err)
	}
	ch.JWS = jws
	return &ch, nil
}

// Poll lists the device's pending challenges (the fallback to the socket).
// Challenges that do not verify are left out and reported in the error.
func (c *Client) Poll(ctx context.Context) ([]*Challenge, time.Time, error) {
	var resp ChallengesResponse
	err := c.retryOnSkew(func() error {
		tok, err := c.Token()
		if err != nil {
			return err
		}
		return doHTTP(ctx, c.httpClient(), http.MethodGet, c.Server+PathChallenges, tok, nil, &resp)
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("poll %s: %w", c.Server, err)
	}
	c.Clock.learn(resp.ServerTime, c.now())
	var out []*Challenge
	var errs []error
	for _, j := range resp.Challenges {
		ch, err := c.VerifyChallenge(j)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, ch)
	}
	return out, time.UnixMilli(resp.ServerTime), errors.Join(errs...)
}

// Answer is what the person chose.
type Answer struct {
	Consent string
	Number  int
	UV      bool
}

// SignResponse makes the signed response to a challenge.
func (c *Client) SignResponse(ch *Challenge, a Answer) (string, error) {
	return crypto.SignJWS(c.Key, TypResponse, ResponseClaims{
		Issuer: c.EnrollmentID, Audience: c.Server, ID: ch.ID, Nonce: ch.Nonce, IAT: c.serverNow().Unix(),
		Consent: a.Consent, Number: a.Number, UV: a.UV,
	}, crypto.SignOptions{})
}

// Respond answers a challenge over HTTP and returns the outcome the server
// recorded (approved, denied, reported, failed).
func (c *Client) Respond(ctx context.Context, ch *Challenge, a Answer) (string, error) {
	tok, err := c.SignResponse(ch, a)
	if err != nil {
		return "", err
	}
	var res struct {
		Outcome string `json:"outcome"`
	}
	u := c.Server + PathChallenges + "/" + url.PathEscape(ch.ID) + "/response"
	if err := doHTTP(ctx, c.httpClient(), http.MethodPost, u, "", strings.NewReader(tok), &res); err != nil {
		return "", fmt.Errorf("answer challenge: %w", err)
	}
	return res.Outcome, nil
}

// Revoke asks the server to revoke this enrollment.
func (c *Client) Revoke(ctx context.Context) error {
	err := c.retryOnSkew(func() error {
		tok, err := c.Token()
		if err != nil {
			return err
		}
		return doHTTP(ctx, c.httpClient(), http.MethodDelete, c.Server+PathDevice, tok, nil, nil)
	})
	if err != nil {
		return fmt.Errorf("revoke device at %s: %w", c.Server, err)
	}
	return nil
}

// doHTTP sends a request and decodes a JSON answer into out, or the
// server's error body into an *APIError.
func doHTTP(ctx context.Context, httpc *http.Client, method, u, deviceToken string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/jose")
	}
	if deviceToken != "" {
		req.Header.Set("Authorization", AuthScheme+" "+deviceToken)
	}
	resp, err := httpc.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the server: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxMessageSize+1))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if len(data) > MaxMessageSize {
		return fmt.Errorf("server answer is over %d bytes", MaxMessageSize)
	}
	if resp.StatusCode/100 != 2 {
		ae := &APIError{Status: resp.StatusCode}
		if json.Unmarshal(data, ae) != nil || ae.Code == "" {
			return fmt.Errorf("server answered HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(data[:min(len(data), 200)]))
		}
		return ae
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("server answer is not the expected JSON: %w", err)
	}
	return nil
}

// Handler receives what arrives on the push channel. Nil funcs are skipped.
// Calls come from the connection's goroutine, one at a time.
type Handler struct {
	Welcome   func(serverTime time.Time)
	Challenge func(*Challenge)
	Resolved  func(id, outcome string)
	// Ack reports the outcome of a response sent over the socket.
	Ack func(id, outcome string)
	// Notice tells the person something about their account.
	Notice func(message string)
	// Error reports refused challenges and server error messages; the
	// connection stays up.
	Error func(error)
	State func(ConnState, error)
}

// ConnState is the state of the push channel.
type ConnState string

const (
	StateConnecting   ConnState = "connecting"
	StateConnected    ConnState = "connected"
	StateReconnecting ConnState = "reconnecting"
	StateOffline      ConnState = "offline"
)

// readTimeout: the server pings every 30 s, so a silent minute and a bit
// means the connection is dead.
const readTimeout = 75 * time.Second

// Connect opens the push channel once and serves it until it drops or ctx
// ends. It returns nil only when ctx ended.
func (c *Client) Connect(ctx context.Context, h Handler) error {
	tok, err := c.Token()
	if err != nil {
		return err
	}
	d := websocket.Dialer{HandshakeTimeout: 15 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024}
	if c.HTTP != nil {
		if t, ok := c.HTTP.Transport.(*http.Transport); ok {
			// Through Clone: net/http sets up the transport's TLS
			// settings on its first use, which may be happening on
			// another goroutine now; Clone waits for that.
			d.TLSClientConfig = t.Clone().TLSClientConfig
		}
	}
	hdr := http.Header{"Authorization": {AuthScheme + " " + tok}}
	pushURL := c.PushURL
	if pushURL == "" {
		pushURL = strings.Replace(strings.Replace(c.Server, "https://", "wss://", 1), "http://", "ws://", 1) + PathPush
	}
	ws, resp, err := d.DialContext(ctx, pushURL, hdr)
	if err != nil {
		if resp != nil {
			defer resp.Body.Close()
			ae := &APIError{Status: resp.StatusCode}
			data, _ := io.ReadAll(io.LimitReader(resp.Body, MaxMessageSize))
			if json.Unmarshal(data, ae) == nil && ae.Code != "" {
				if ae.Code == "clock_skew" {
					// The next attempt makes its token on the server's time.
					c.Clock.learn(ae.ServerTime, c.now())
				}
				return ae
			}
		}
		return fmt.Errorf("connect to %s: %w", pushURL, err)
	}
	defer ws.Close()
	ws.SetReadLimit(MaxMessageSize)
	stop := context.AfterFunc(ctx, func() {
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		ws.Close()
	})
	defer stop()
	ws.SetPingHandler(func(data string) error {
		_ = ws.SetReadDeadline(time.Now().Add(readTimeout))
		return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(10*time.Second))
	})
	for {
		_ = ws.SetReadDeadline(time.Now().Add(readTimeout))
		_, data, err := ws.ReadMessage()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("push channel closed: %w", err)
		}
		var m Message
		if err := json.Unmarshal(data, &m); err != nil {
			if h.Error != nil {
				h.Error(fmt.Errorf("server sent a frame that is not a message: %w", err))
			}
			continue
		}
		switch m.Type {
		case MsgWelcome:
			if h.State != nil {
				h.State(StateConnected, nil)
			}
			c.Clock.learn(m.ServerTime, c.now())
			if h.Welcome != nil {
				h.Welcome(time.UnixMilli(m.ServerTime))
			}
		case MsgChallenge:
			ch, err := c.VerifyChallenge(m.JWS)
			if err != nil {
				if h.Error != nil {
					h.Error(err)
				}
				continue
			}
			if h.Challenge != nil {
				h.Challenge(ch)
			}
		case MsgResolved:
			if h.Resolved != nil {
				h.Resolved(m.ID, m.Outcome)
			}
		case MsgAck:
			if h.Ack != nil {
				h.Ack(m.ID, m.Outcome)
			}
		case MsgNotice:
			if h.Notice != nil {
				h.Notice(m.Message)
			}
		case MsgError:
			ae := &APIError{Code: m.Error, Message: m.Message}
			if h.Error != nil {
				h.Error(ae)
			}
			if m.Error == "device_revoked" || m.Error == "unauthorized" || m.Error == ErrReplaced {
				return ae
			}
		}
	}
}

// Permanent reports whether an error from Connect means retrying is
// pointless: the device was revoked or its token refused.
func Permanent(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		switch ae.Code {
		case "device_revoked", "unauthorized", "wrong_audience":
			return true
		}
	}
	return false
}

// ErrReplaced is the error code of a socket the server closed because a
// newer socket of the same device took its place (a device keeps at most
// four on a node).
const ErrReplaced = "replaced"

// Replaced reports whether Connect ended because a newer connection of
// this device took its place: another copy of it is connected, so Run waits
// the longest backoff before it takes the place back.
func Replaced(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == ErrReplaced
}

// Backoff bounds for Run.
const (
	minBackoff = time.Second
	maxBackoff = time.Minute
)

// Run keeps the push channel up: it reconnects with exponential backoff and
// jitter until ctx ends or the error is permanent. The backoff never grows
// past the time the channel has been down, so that a device comes back
// within about as long as its server was away, not a minute after a short
// restart. The server sends every pending challenge on each connect, so
// nothing is missed while offline.
func (c *Client) Run(ctx context.Context, h Handler) error {
	backoff := minBackoff
	down := time.Now() // since when the channel is down
	state := func(s ConnState, err error) {
		if h.State != nil {
			h.State(s, err)
		}
	}
	state(StateConnecting, nil)
	for {
		connected := false
		inner := h
		inner.State = func(s ConnState, err error) {
			connected = connected || s == StateConnected
			state(s, err)
		}
		err := c.Connect(ctx, inner)
		if ctx.Err() != nil {
			state(StateOffline, nil)
			return nil
		}
		if Permanent(err) {
			state(StateOffline, err)
			return err
		}
		replaced := Replaced(err)
		switch {
		case replaced:
			// Copies of one device would otherwise push each other off
			// the server about once a second.
			backoff = maxBackoff
		case connected:
			backoff, down = minBackoff, time.Now()
		}
		state(StateReconnecting, err)
		// Jitter spreads reconnects of many devices after a server restart:
		// wait between half a second and the backoff and a half.
		wait := time.Duration(rand.Int64N(int64(backoff))) + minBackoff/2
		select {
		case <-ctx.Done():
			state(StateOffline, nil)
			return nil
		case <-c.after(wait):
		}
		backoff = min(backoff*2, maxBackoff)
		if !replaced {
			backoff = min(backoff, max(minBackoff, time.Since(down)))
		}
	}
}
