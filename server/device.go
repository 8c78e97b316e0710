package server

import (
	"bufio"
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/gorilla/websocket"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/server/store"
)

// Enrollment proof freshness: the enrollment JWS's iat must be this close to
// the server clock.
const enrollSkew = 5 * time.Minute

var errDeviceAuth = apiErr(http.StatusUnauthorized, "unauthorized", "device token not accepted")

// readJWSBody reads a request body that is one compact JWS.
func readJWSBody(w http.ResponseWriter, r *http.Request) (string, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, crypto.MaxJWSSize))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return "", apiErr(http.StatusRequestEntityTooLarge, "too_large", "request body is over %d bytes", crypto.MaxJWSSize)
	} else if err != nil {
		return "", apiErr(http.StatusBadRequest, "bad_request", "the request body could not be read (it stopped or came too slowly); send it again")
	}
	tok := strings.TrimSpace(string(body))
	if tok == "" {
		return "", apiErr(http.StatusBadRequest, "bad_request", "request body must be a compact JWS")
	}
	return tok, nil
}

func (s *Server) handleEnroll(w http.ResponseWriter, r *http.Request) {
	// Enrollment tokens are guessed from somewhere: slow the source down.
	if err := s.allowRequest(clientIP(r)); err != nil {
		writeError(w, err)
		return
	}
	tok, err := readJWSBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	resp, err := s.enroll(r.Context(), tok, clientIP(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func checkText(field, v string, max int, required bool) error {
	if required && v == "" {
		return apiErr(http.StatusBadRequest, "bad_request", "device.%s is required", field)
	}
	if len(v) > max || !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return apiErr(http.StatusBadRequest, "bad_request", "device.%s must be printable text of at most %d bytes", field, max)
	}
	return nil
}

func (s *Server) enroll(ctx context.Context, tok, ip string) (*push.EnrollResponse, error) {
	h, err := crypto.ParseJWSHeader(tok)
	if err != nil {
		return nil, apiErr(http.StatusBadRequest, "bad_jws", "enrollment request: %v", err)
	}
	if h.JWK == nil {
		return nil, apiErr(http.StatusBadRequest, "bad_jws", "enrollment request must carry the new device key in its jwk header")
	}
	var c push.EnrollClaims
	if err := crypto.VerifyJWS(tok, h.JWK, push.TypEnroll, &c); err != nil {
		return nil, apiErr(http.StatusBadRequest, "bad_jws", "enrollment request: %v", err)
	}
	now := s.now()
	if d := now.Sub(time.Unix(c.IAT, 0)).Abs(); d > enrollSkew {
		ae := apiErr(http.StatusBadRequest, "clock_skew", "enrollment request iat is %s from the server clock (server time %s); set the device clock right and try again",
			d.Round(time.Second), now.UTC().Format(time.RFC3339))
		ae.ServerTime = now.UnixMilli()
		return nil, ae
	}
	for _, f := range []struct {
		name, v  string
		max      int
		required bool
	}{{"name", c.Device.Name, 128, true}, {"platform", c.Device.Platform, 32, true}, {"os", c.Device.OS, 64, false}, {"model", c.Device.Model, 128, false}, {"keyStore", c.Device.KeyStore, 32, false}} {
		if err := checkText(f.name, f.v, f.max, f.required); err != nil {
			return nil, err
		}
	}
	if c.Token == "" || len(c.Token) > 128 {
		return nil, apiErr(http.StatusBadRequest, "invalid_token", "enrollment request carries no valid token")
	}
	pub, err := crypto.MarshalPublicJWK(h.JWK)
	if err != nil {
		return nil, s.internal("enroll: encode device key", err)
	}
	id := newID("dev_")
	secret := crypto.RandomBytes(20)
	dev := store.Device{
		ID: id, PublicKey: pub,
		Name: c.Device.Name, Platform: c.Device.Platform, OS: c.Device.OS, Model: c.Device.Model, KeyStore: c.Device.KeyStore,
		TOTPSecret: s.sealer.Seal(secret, totpAAD(id)), TOTPAlgorithm: "SHA1", TOTPDigits: 6, TOTPPeriod: 30,
		CreatedAt: now, LastSeen: now,
	}
	dev, err = s.st.CompleteEnrollment(ctx, crypto.HashToken(c.Token), now, dev)
	if err != nil {
		// A used or expired token was real: audit its reuse. An unknown one
		// could come from anyone and only goes to the server log, so that
		// strangers cannot fill the audit log.
		switch {
		case errors.Is(err, store.ErrTokenUsed):
			s.audit(ctx, store.AuditEvent{Type: "enroll.refused", ClientIP: ip, Detail: map[string]string{"reason": "link used already"}})
		case errors.Is(err, store.ErrExpired):
			s.audit(ctx, store.AuditEvent{Type: "enroll.refused", ClientIP: ip, Detail: map[string]string{"reason": "link expired"}})
		default:
			s.log.Warn("enrollment refused", "ip", ip, "err", err)
		}
		switch {
		case errors.Is(err, store.ErrTokenUsed):
			return nil, apiErr(http.StatusConflict, "token_used", "this enrollment link was used already; ask your administrator for a new one")
		case errors.Is(err, store.ErrExpired):
			return nil, apiErr(http.StatusGone, "token_expired", "this enrollment link has expired; ask your administrator for a new one")
		case errors.Is(err, store.ErrNotFound):
			return nil, apiErr(http.StatusBadRequest, "invalid_token", "this enrollment link was not issued by this server")
		}
		return nil, s.internal("enroll: store device", err)
	}
	u, err := s.st.GetUser(ctx, dev.UserID)
	if err != nil {
		return nil, s.internal("enroll: load user", err)
	}
	s.audit(ctx, store.AuditEvent{Type: "device.enrolled", UserID: u.ID, DeviceID: dev.ID, ClientIP: ip,
		Detail: map[string]string{"name": dev.Name, "platform": dev.Platform, "keyStore": dev.KeyStore}})
	serverKey, _ := crypto.MarshalPublicJWK(&s.signKey.PublicKey)
	return &push.EnrollResponse{
		EnrollmentID: dev.ID,
		User:         u.Login,
		Org:          s.opts.Org,
		Server:       s.opts.URL,
		ServerKey:    serverKey,
		PushURL:      wsURL(s.opts.URL) + push.PathPush,
		TOTP: push.TOTPParams{
			Secret:    base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret),
			Algorithm: dev.TOTPAlgorithm, Digits: dev.TOTPDigits, Period: dev.TOTPPeriod,
		},
	}, nil
}

func totpAAD(deviceID string) []byte { return []byte("assent:totp:" + deviceID) }

func wsURL(base string) string {
	if rest, ok := strings.CutPrefix(base, "https://"); ok {
		return "wss://" + rest
	}
	return "ws://" + strings.TrimPrefix(base, "http://")
}

// authDevice checks a device token: signed by an enrolled, unrevoked
// device, for this server, fresh, and not seen before.
func (s *Server) authDevice(ctx context.Context, tok string) (store.Device, error) {
	var c push.DeviceClaims
	j, err := crypto.ParseJWS(tok)
	if err != nil || j.UnverifiedClaims(&c) != nil || c.Issuer == "" {
		return store.Device{}, errDeviceAuth
	}
	d, err := s.st.GetDevice(ctx, c.Issuer)
	if errors.Is(err, store.ErrNotFound) {
		return store.Device{}, errDeviceAuth
	} else if err != nil {
		return store.Device{}, s.internal("device auth: load device", err)
	}
	pub, err := s.keys.of(d)
	if err != nil {
		return store.Device{}, s.internal("device auth: device key", err)
	}
	if err := j.Verify(pub, push.TypDevice, &c); err != nil {
		return store.Device{}, errDeviceAuth
	}
	if !d.RevokedAt.IsZero() {
		return store.Device{}, apiErr(http.StatusForbidden, "device_revoked", "this device was removed from the account; enroll it again")
	}
	if c.Audience != s.opts.URL {
		return store.Device{}, apiErr(http.StatusUnauthorized, "wrong_audience", "device token is for %q, this server is %q", c.Audience, s.opts.URL)
	}
	now := s.now()
	if ahead := time.Unix(c.IAT, 0).Sub(now.Truncate(time.Second)); ahead.Abs() > push.DeviceTokenMaxAge*time.Second {
		way := "ahead of"
		if ahead < 0 {
			way = "behind"
		}
		ae := apiErr(http.StatusUnauthorized, "clock_skew",
			"the device clock is %s %s the server's (server time %s; at most %ds apart); set the device clock right",
			ahead.Abs().Round(time.Second), way, now.UTC().Format(time.RFC3339), push.DeviceTokenMaxAge)
		ae.ServerTime = now.UnixMilli()
		return store.Device{}, ae
	}
	if c.Exp != 0 && !now.Before(time.Unix(c.Exp, 0)) {
		return store.Device{}, apiErr(http.StatusUnauthorized, "token_expired", "device token expired; make a fresh one for every request")
	}
	if c.JTI == "" || len(c.JTI) > 64 {
		return store.Device{}, errDeviceAuth
	}
	err = s.st.UseNonce(ctx, "device:"+d.ID+":"+c.JTI, now, now.Add(2*push.DeviceTokenMaxAge*time.Second))
	if errors.Is(err, store.ErrReplay) {
		return store.Device{}, apiErr(http.StatusUnauthorized, "token_replayed", "device token was used before; make a fresh one for every request")
	} else if err != nil {
		return store.Device{}, s.internal("device auth: record jti", err)
	}
	if now.Sub(d.LastSeen) > time.Minute {
		if t, ok := s.st.(deviceToucher); ok {
			// With the others that connect meanwhile, in one write.
			if did, err := t.TouchDevice(ctx, d.ID, now); did {
				if err == nil {
					d.LastSeen = now
				}
				return d, nil
			}
		}
		if d2, err := s.st.UpdateDevice(ctx, d.ID, func(d *store.Device) error { d.LastSeen = now; return nil }); err == nil {
			d = d2
		}
	}
	return d, nil
}

// deviceToucher is a store that records devices as seen in batches
// (soleStore).
type deviceToucher interface {
	TouchDevice(ctx context.Context, id string, at time.Time) (bool, error)
}

func deviceToken(r *http.Request) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, push.AuthScheme) {
		return ""
	}
	return strings.TrimSpace(tok)
}

func (s *Server) requireDevice(w http.ResponseWriter, r *http.Request) (store.Device, bool) {
	tok := deviceToken(r)
	if tok == "" {
		writeError(w, apiErr(http.StatusUnauthorized, "unauthorized", "send a device token: Authorization: %s <JWS>", push.AuthScheme))
		return store.Device{}, false
	}
	d, err := s.authDevice(r.Context(), tok)
	if err != nil {
		writeError(w, err)
		return store.Device{}, false
	}
	return d, true
}

// pendingChallenges are a device's unanswered, unexpired challenges.
func (s *Server) pendingChallenges(ctx context.Context, deviceID string) ([]string, error) {
	cs, err := s.st.ListChallenges(ctx, store.ChallengeFilter{DeviceID: deviceID, Status: store.ChallengePending})
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := []string{}
	for _, c := range cs {
		if now.Before(c.ExpiresAt) {
			out = append(out, c.JWS)
		}
	}
	return out, nil
}

func (s *Server) handleListChallenges(w http.ResponseWriter, r *http.Request) {
	d, ok := s.requireDevice(w, r)
	if !ok {
		return
	}
	list, err := s.pendingChallenges(r.Context(), d.ID)
	if err != nil {
		writeError(w, s.internal("list challenges", err))
		return
	}
	writeJSON(w, http.StatusOK, push.ChallengesResponse{ServerTime: s.now().UnixMilli(), Challenges: list})
}

// AnswerResult is the body of a successful response post.
type AnswerResult struct {
	ID      string `json:"id"`
	Outcome string `json:"outcome"`
}

func (s *Server) handleResponse(w http.ResponseWriter, r *http.Request) {
	tok, err := readJWSBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	c, err := s.answer(r.Context(), tok, r.PathValue("id"), clientIP(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, AnswerResult{ID: c.ID, Outcome: c.Status})
}

func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	d, ok := s.requireDevice(w, r)
	if !ok {
		return
	}
	if err := s.RevokeDevice(r.Context(), d.ID, "device"); err != nil {
		writeError(w, s.internal("revoke device", err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// RevokeDevice revokes an enrollment, cancels its pending challenges and
// drops its sockets. by says who asked (device, admin).
func (s *Server) RevokeDevice(ctx context.Context, deviceID, by string) error {
	// Once: of requests racing to revoke the same device, one revokes it
	// and audits it; the others (and any later one) change nothing.
	_, err := s.revokeDeviceOf(ctx, "", deviceID, by)
	if errors.Is(err, errDeviceGone) {
		return nil
	}
	return err
}

// upgrader answers the WebSocket handshake; the socket's frames are then
// read and written without it (socket.go), so it gets the smallest
// buffers (the read buffer is garbage at once; the write pool is never
// drawn from).
var upgrader = websocket.Upgrader{
	ReadBufferSize:  128,
	WriteBufferSize: 128,
	WriteBufferPool: &sync.Pool{},
	// Devices authenticate with a signed token, never a cookie, so a
	// cross-site page gains nothing from opening the socket.
	CheckOrigin: func(*http.Request) bool { return true },
}

// heldHandshake is the http.ResponseWriter the upgrader answers an
// authenticated device's handshake through: the connection it hijacks
// keeps what the upgrader writes (the 101 answer) instead of sending it,
// and the socket's first frame (the welcome) carries it, so that a
// connect costs the node one write to the socket, and the device one
// read, instead of two.
type heldHandshake struct {
	http.ResponseWriter
	conn *heldConn
}

func (h *heldHandshake) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("the response cannot be hijacked")
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = &heldConn{Conn: nc}
	return h.conn, brw, nil
}

// heldConn keeps what is written to it; the rest is the connection's.
type heldConn struct {
	net.Conn
	held []byte
}

func (c *heldConn) Write(p []byte) (int, error) {
	c.held = append(c.held, p...)
	return len(p), nil
}

// helloTimeout is how long a socket may stay unauthenticated.
const helloTimeout = 10 * time.Second

// maxBadFrames unparseable frames close a connection.
const maxBadFrames = 8

func (s *Server) handlePush(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ip := clientIP(r)
	var dev store.Device
	authed := false
	if tok := deviceToken(r); tok != "" {
		d, err := s.authDevice(ctx, tok)
		if err != nil {
			writeError(w, err)
			return
		}
		dev, authed = d, true
	}
	// A socket that will authenticate with a hello costs a goroutine and
	// buffers before anyone knows who opened it: such sockets are capped
	// on the node and per address, and refused before the upgrade.
	helloKey := ""
	if !authed {
		helloKey = addressKey(ip)
		if err := s.hub.admitHello(helloKey); err != nil {
			reason := "hello_address_cap"
			if errors.Is(err, errHelloNodeCap) {
				reason = "hello_node_cap"
			}
			s.metrics.refused.WithLabelValues(reason).Inc()
			writeError(w, err)
			return
		}
	}
	// A device that authenticated gets the handshake's answer in the
	// same write as its welcome (heldHandshake); one that will say hello
	// must see the answer first.
	uw := w
	var held *heldHandshake
	if authed {
		held = &heldHandshake{ResponseWriter: w}
		uw = held
	}
	wsc, err := upgrader.Upgrade(uw, r, nil)
	if err != nil {
		if !authed {
			s.hub.helloDone(helloKey)
		}
		return // the upgrader answered already
	}
	// gorilla has answered the handshake; from here on the frames are
	// read and written on the connection itself (socket.go).
	nc := wsc.NetConn()
	var answer []byte
	if held != nil {
		nc, answer = held.conn.Conn, held.conn.held
	}
	c := newConn(nc, ip)
	if answer != nil {
		c.pre.Store(&answer)
	}
	if !authed {
		d, err := s.socketHello(ctx, c)
		s.hub.helloDone(helloKey)
		if err != nil {
			refuseSocket(c, err)
			return
		}
		dev = d
	}
	c.deviceID = dev.ID
	if n := s.hub.add(c); n > 0 {
		s.metrics.replaced.Add(float64(n))
	}
	c.enqueue(&push.Message{Type: push.MsgWelcome, ServerTime: s.now().UnixMilli()})
	pending, err := s.pendingChallenges(ctx, dev.ID)
	if err != nil {
		s.log.Error("push: list pending", "err", err)
	}
	for _, j := range pending {
		c.enqueue(&push.Message{Type: push.MsgChallenge, JWS: j})
	}
	// The socket is read by a goroutine of its own, and this handler's
	// goroutine, whose stack grew while it authenticated and read the
	// database, ends: an idle connection keeps only a small stack.
	// Nothing of the request is kept: its context would hold the HTTP
	// connection's buffers.
	go s.readLoop(c)()
}

// socketHello waits for the hello message of a socket that brought no
// Authorization header.
func (s *Server) socketHello(ctx context.Context, c *conn) (store.Device, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(helloTimeout))
	op, data, err := c.readData(c.nc, nil, false)
	_ = c.nc.SetReadDeadline(time.Time{})
	if err != nil {
		return store.Device{}, apiErr(http.StatusUnauthorized, "unauthorized", "no hello within %s", helloTimeout)
	}
	m, err := decodeFrame(op, data)
	if err != nil || m.Type != push.MsgHello || m.Token == "" {
		return store.Device{}, apiErr(http.StatusUnauthorized, "unauthorized", "first message must be {\"type\":\"hello\",\"token\":<device JWS>}")
	}
	return s.authDevice(ctx, m.Token)
}

// refuseSocket sends an error message and closes a socket that was not
// registered.
func refuseSocket(c *conn, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = errInternal
	}
	c.enqueue(&push.Message{Type: push.MsgError, Error: ae.Code, Message: ae.Message})
	c.closeWith(ws.StatusPolicyViolation, ae.Code)
}

// readLoop returns the loop that reads a socket until it closes, run on a
// goroutine of its own. Every idle connection keeps that loop on its
// stack, parked in a one-byte read of the TCP connection, and a parked
// goroutine's stack is never shrunk: a reader that grew past the smallest
// stack (2 KB) would keep 4 KB or more for as long as the device stays
// (TestIdleSocketStack). So the loop only waits for the first byte of the
// next frame and hands the frame to a goroutine of its own (onFrame);
// it is a closure without arguments because a go statement with arguments
// adds a wrapper's frame. A WebSocket library's read (gorilla's
// ReadMessage, 1.1–1.3 KB of stack when parked) would also put the
// average stack the runtime starts new goroutines with past 2 KB.
func (s *Server) readLoop(c *conn) func() {
	return func() {
		for {
			if _, err := c.nc.Read(c.first[:]); err != nil {
				c.gone() // no one left to say goodbye to
				break
			}
			if !s.onFrame(c) {
				c.close()
				break
			}
		}
		s.hub.remove(c)
	}
}

// onFrame has the frame the reader saw start read and handled on a
// goroutine of its own and waits for it (a device's frames are handled one
// at a time, in order); false closes the socket.
//
//go:noinline
func (s *Server) onFrame(c *conn) bool {
	keep := make(chan bool, 1)
	go func() { keep <- s.readFrame(c) }()
	return <-keep
}

// frameReader is what reads the frames of one wakeup of a socket's
// reader (pooled): the byte the reader took, then the rest of the frame in
// one read of the connection instead of one per header part and payload.
type frameReader struct {
	br    *bufio.Reader
	hdr   [ws.MaxHeaderSize]byte
	first []byte // the byte the reader took, until it is read
	nc    net.Conn
}

func (fr *frameReader) Read(p []byte) (int, error) {
	if len(fr.first) > 0 {
		n := copy(p, fr.first)
		fr.first = fr.first[n:]
		return n, nil
	}
	return fr.nc.Read(p)
}

var frameReaders = sync.Pool{New: func() any {
	fr := new(frameReader)
	fr.br = bufio.NewReaderSize(fr, 2048)
	return fr
}}

// readFrame reads the rest of the frame (or message) whose first byte the
// reader took, and any that came with it, and handles them; false closes
// the socket. It returns once nothing it read is left unhandled: the
// reader's next one-byte read starts the next frame.
func (s *Server) readFrame(c *conn) bool {
	fr := frameReaders.Get().(*frameReader)
	fr.first, fr.nc = c.first[:], c.nc
	fr.br.Reset(fr)
	defer func() { fr.first, fr.nc = nil, nil; frameReaders.Put(fr) }()
	_ = c.nc.SetReadDeadline(time.Now().Add(frameTimeout))
	defer c.nc.SetReadDeadline(time.Time{})
	for {
		op, data, err := c.readData(fr.br, fr.hdr[:], true)
		if !s.handleFrame(c, op, data, err) {
			return false
		}
		if fr.br.Buffered() == 0 {
			return true
		}
	}
}

// handleFrame handles what readData returned; false closes the socket.
func (s *Server) handleFrame(c *conn, op ws.OpCode, data []byte, err error) bool {
	switch {
	case errors.Is(err, errFrameTooBig):
		s.log.Warn("push: frame over the size limit, connection closed", "device", c.deviceID, "limit", push.MaxMessageSize)
		return false
	case err != nil:
		return false
	case data == nil:
		return true // a ping or a pong
	}
	m, err := decodeFrame(op, data)
	if err == nil {
		switch m.Type {
		case push.MsgResponse:
			s.answerOnSocket(context.Background(), c, m.JWS, c.ip)
			return true
		case push.MsgHello:
			return true // already authenticated; harmless
		default:
			err = fmt.Errorf("unknown message type %q; a device sends hello or response", m.Type)
		}
	}
	c.bad++
	c.enqueue(&push.Message{Type: push.MsgError, Error: "bad_message", Message: err.Error()})
	if c.bad >= maxBadFrames {
		s.log.Warn("push: too many bad frames, connection closed", "device", c.deviceID)
		return false
	}
	return true
}

// answerOnSocket settles a response that came over the socket and answers
// with an ack or an error.
func (s *Server) answerOnSocket(ctx context.Context, c *conn, jws, ip string) {
	ch, err := s.answer(ctx, jws, "", ip)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = errInternal
		}
		c.enqueue(&push.Message{Type: push.MsgError, Error: ae.Code, Message: ae.Message, ID: ch.ID})
		return
	}
	c.enqueue(&push.Message{Type: push.MsgAck, ID: ch.ID, Outcome: ch.Status})
}
