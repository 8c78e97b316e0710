package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server/store"
)

// TypMagic is the JWS type of an email magic link.
const TypMagic = "assent-magic+jwt"

// magicTTL is how long a magic link works.
const magicTTL = 10 * time.Minute

type magicClaims struct {
	Issuer string `json:"iss"`
	Tx     string `json:"tx"`
	JTI    string `json:"jti"`
	Exp    int64  `json:"exp"`
}

// sendMagicLink mails a single-use, short-lived link that completes the
// transaction's email factor. quiet (no factor passed yet): the answer is
// the same whether the login exists, has an address or may be sent more
// mail, so the mail goes out in the background (later, which the caller
// runs once the state is stored), and nothing is sent for an unknown
// login.
func (f *flow) sendMagicLink(u store.User, known, quiet bool) (es *emailState, later func(), err error) {
	s := f.s
	now := s.now()
	es = &emailState{JTI: crypto.RandomToken(16), SentAt: now, ExpiresAt: now.Add(magicTTL), Quiet: quiet}
	if s.opts.Mailer == nil {
		return nil, nil, apiErr(http.StatusConflict, "email_unavailable", "%v", errNoMailer)
	}
	if !known || u.Email == "" {
		if !quiet {
			return nil, nil, apiErr(http.StatusConflict, "email_unavailable", "this account has no email address")
		}
		return es, nil, nil
	}
	tok, err := crypto.SignJWS(s.signKey, TypMagic, magicClaims{Issuer: s.opts.URL, Tx: f.tx.ID, JTI: es.JTI, Exp: es.ExpiresAt.Unix()}, crypto.SignOptions{})
	if err != nil {
		return nil, nil, s.internal("magic link: sign", err)
	}
	what := map[string]string{sdk.KindSignIn: "sign in to " + f.tx.App, sdk.KindRecovery: "reset your password", sdk.KindEnroll: "add a device"}[f.st.Kind]
	text := fmt.Sprintf("Someone (we hope you) asked to %s with your %s account %s, from %s.\n\n"+
		"Open this link to continue:\n%s\n\nIt works once, until %s. If this was not you, ignore this mail; nothing happens without the link.",
		what, s.opts.Org, u.Login, f.tx.ClientIP, s.opts.URL+PathMagic+"?token="+url.QueryEscape(tok), es.ExpiresAt.UTC().Format(time.RFC1123))
	m := Mail{To: u.Email, Subject: "Your " + s.opts.Org + " link", Text: text}
	txID, ip, purpose := f.tx.ID, f.meta.ip, f.st.Kind
	send := func(ctx context.Context) error {
		if !s.chargeMail(ctx, u.ID) {
			s.audit(ctx, store.AuditEvent{Type: "email.limited", UserID: u.ID, TxID: txID, ClientIP: ip})
			return errEmailLimited
		}
		if err := s.opts.Mailer.Send(ctx, m); err != nil {
			s.log.Error("magic link: send", "user", u.ID, "err", err)
			return apiErr(http.StatusBadGateway, "email_failed", "the email could not be sent; try again, or choose another way")
		}
		s.audit(ctx, store.AuditEvent{Type: "email.sent", UserID: u.ID, TxID: txID, ClientIP: ip, Detail: map[string]string{"purpose": purpose}})
		return nil
	}
	if quiet {
		return es, func() { s.background(func(ctx context.Context) { _ = send(ctx) }) }, nil
	}
	if err := send(f.ctx); err != nil {
		return nil, nil, err
	}
	return es, nil, nil
}

var errEmailLimited = apiErr(http.StatusTooManyRequests, "email_limited",
	"too many links were mailed to this account lately; use another way, or wait a while")

// readMagic checks a magic link's signature, issuer and expiry, without
// using it.
func (s *Server) readMagic(tok string) (magicClaims, error) {
	var c magicClaims
	if len(tok) > 4096 {
		return c, errMagicInvalid
	}
	if err := crypto.VerifyJWS(tok, &s.signKey.PublicKey, TypMagic, &c); err != nil || c.Issuer != s.opts.URL || c.JTI == "" {
		return c, errMagicInvalid
	}
	if !s.now().Before(time.Unix(c.Exp, 0)) {
		return c, errMagicExpired
	}
	return c, nil
}

// checkMagic says, reading only, whether a magic link would work now: its
// transaction still waits for it.
func (s *Server) checkMagic(ctx context.Context, tok string) error {
	c, err := s.readMagic(tok)
	if err != nil {
		return err
	}
	tx, err := s.st.GetTransaction(ctx, c.Tx)
	if errors.Is(err, store.ErrNotFound) {
		return errMagicStale
	} else if err != nil {
		s.log.Error("magic link: load transaction", "err", err)
		return fmt.Errorf("the server failed; try again")
	}
	var st txState
	if json.Unmarshal(tx.Data, &st) != nil || st.Email == nil || st.Email.JTI != c.JTI {
		return errMagicStale
	}
	if st.Email.Clicked {
		return errMagicUsed
	}
	if tx.Status != store.TxActive || !s.now().Before(tx.ExpiresAt) || st.Step != stepEmail {
		return errMagicStale
	}
	return nil
}

// PathMagic is where magic links land.
const PathMagic = "/v1/magic"

// notice tells a device something about its account.
func (s *Server) notice(ctx context.Context, deviceID, text string) {
	if err := s.broker.Publish(ctx, deviceID, push.Message{Type: push.MsgNotice, Message: text}); err != nil {
		s.log.Warn("publish notice", "device", deviceID, "err", err)
	}
}

// mailUser mails a user when mail is set up and the user has an address.
func (s *Server) mailUser(ctx context.Context, u store.User, subject, text string) {
	if s.opts.Mailer == nil || u.Email == "" {
		return
	}
	if err := s.opts.Mailer.Send(context.WithoutCancel(ctx), Mail{To: u.Email, Subject: subject, Text: text}); err != nil {
		s.log.Error("mail failed", "user", u.ID, "subject", subject, "err", err)
	}
}

// handleMagicPage is where a magic link lands (GET): it only shows a
// button. Mail scanners fetch links; a GET changes nothing, so a scanner
// cannot pass the factor for anyone.
func (s *Server) handleMagicPage(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	if err := s.allowRequest(clientIP(r)); err != nil {
		s.web.renderMagic(w, http.StatusTooManyRequests, "Too many requests", "Too many requests came from your network; wait a minute and open the link again", "")
		return
	}
	if err := s.checkMagic(r.Context(), tok); err != nil {
		s.web.renderMagic(w, http.StatusBadRequest, "This link does not work", err.Error(), "")
		return
	}
	s.web.renderMagic(w, http.StatusOK, "Continue?", "Press the button to confirm it is you. Then go back to the window where you started; it goes on by itself", tok)
}

// handleMagic uses a magic link (POST, from the button of its page).
func (s *Server) handleMagic(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil || !s.web.sameOrigin(r) {
		s.web.renderMagic(w, http.StatusForbidden, "This link does not work", "The request did not come from this page; open the link from the email again", "")
		return
	}
	if err := s.allowRequest(clientIP(r)); err != nil {
		s.web.renderMagic(w, http.StatusTooManyRequests, "Too many requests", "Too many requests came from your network; wait a minute and try again", "")
		return
	}
	title, text, status := "Link accepted", "You can close this page and go back to the window where you started; it goes on by itself.", http.StatusOK
	if err := s.useMagicLink(r.Context(), r.PostForm.Get("token")); err != nil {
		title, status = "This link does not work", http.StatusBadRequest
		text = err.Error()
	}
	s.web.renderMagic(w, status, title, text, "")
}

var (
	errMagicInvalid = errors.New("it is not a link Assent made, or it was changed; ask for a new one")
	errMagicUsed    = errors.New("it was used already: a link works once; ask for a new one")
	errMagicExpired = errors.New("it has expired: a link works for 10 minutes; ask for a new one")
	errMagicStale   = errors.New("the sign-in it belongs to has moved on or ended; start again")
)

// useMagicLink marks the email factor of the link's transaction as done,
// once.
func (s *Server) useMagicLink(ctx context.Context, tok string) error {
	c, err := s.readMagic(tok)
	if err != nil {
		return err
	}
	now := s.now()
	exp := time.Unix(c.Exp, 0)
	if err := s.st.UseNonce(ctx, "magic:"+c.JTI, now, exp.Add(time.Minute)); errors.Is(err, store.ErrReplay) {
		return errMagicUsed
	} else if err != nil {
		return fmt.Errorf("the server failed; try again")
	}
	var userID string
	_, err = s.st.UpdateTransaction(ctx, c.Tx, func(t *store.Transaction) error {
		var st txState
		if err := json.Unmarshal(t.Data, &st); err != nil || t.Status != store.TxActive || !now.Before(t.ExpiresAt) ||
			st.Step != stepEmail || st.Email == nil || st.Email.JTI != c.JTI {
			return errMagicStale
		}
		st.Email.Clicked = true
		st.Gen++
		t.Data, _ = json.Marshal(st)
		userID = t.UserID
		return nil
	})
	if errors.Is(err, errMagicStale) || errors.Is(err, store.ErrNotFound) {
		return errMagicStale
	} else if err != nil {
		s.log.Error("magic link: update transaction", "err", err)
		return fmt.Errorf("the server failed; try again")
	}
	s.audit(ctx, store.AuditEvent{Type: "email.verified", UserID: userID, TxID: c.Tx})
	return nil
}
