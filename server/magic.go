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
// transaction's email factor. For an unknown login nothing is sent, and
// the answer is the same.
func (f *flow) sendMagicLink(u store.User, known bool) (*emailState, error) {
	s := f.s
	now := s.now()
	es := &emailState{JTI: crypto.RandomToken(16), SentAt: now, ExpiresAt: now.Add(magicTTL)}
	if !known {
		return es, nil
	}
	if s.opts.Mailer == nil {
		return nil, apiErr(http.StatusConflict, "email_unavailable", "%v", errNoMailer)
	}
	tok, err := crypto.SignJWS(s.signKey, TypMagic, magicClaims{Issuer: s.opts.URL, Tx: f.tx.ID, JTI: es.JTI, Exp: es.ExpiresAt.Unix()}, crypto.SignOptions{})
	if err != nil {
		return nil, s.internal("magic link: sign", err)
	}
	what := map[string]string{sdk.KindSignIn: "sign in to " + f.tx.App, sdk.KindRecovery: "reset your password", sdk.KindEnroll: "add a device"}[f.st.Kind]
	text := fmt.Sprintf("Someone (we hope you) asked to %s with your %s account %s, from %s.\n\n"+
		"Open this link to continue:\n%s\n\nIt works once, until %s. If this was not you, ignore this mail; nothing happens without the link.",
		what, s.opts.Org, u.Login, f.tx.ClientIP, s.opts.URL+PathMagic+"?token="+url.QueryEscape(tok), es.ExpiresAt.UTC().Format(time.RFC1123))
	if err := s.opts.Mailer.Send(f.ctx, Mail{To: u.Email, Subject: "Your " + s.opts.Org + " link", Text: text}); err != nil {
		s.log.Error("magic link: send", "user", u.ID, "err", err)
		return nil, apiErr(http.StatusBadGateway, "email_failed", "the email could not be sent; try again, or choose another way")
	}
	f.audit("email.sent", map[string]string{"purpose": f.st.Kind})
	return es, nil
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

func (s *Server) handleMagic(w http.ResponseWriter, r *http.Request) {
	title, text, status := "Link accepted", "You can close this page and go back to the window where you started; it goes on by itself.", http.StatusOK
	if err := s.useMagicLink(r.Context(), r.URL.Query().Get("token")); err != nil {
		title, status = "This link does not work", http.StatusBadRequest
		text = err.Error()
	}
	s.web.renderMagic(w, status, title, text)
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
	var c magicClaims
	if err := crypto.VerifyJWS(tok, &s.signKey.PublicKey, TypMagic, &c); err != nil || c.Issuer != s.opts.URL || c.JTI == "" {
		return errMagicInvalid
	}
	now := s.now()
	exp := time.Unix(c.Exp, 0)
	if !now.Before(exp) {
		return errMagicExpired
	}
	if err := s.st.UseNonce(ctx, "magic:"+c.JTI, now, exp.Add(time.Minute)); errors.Is(err, store.ErrReplay) {
		return errMagicUsed
	} else if err != nil {
		return fmt.Errorf("the server failed; try again")
	}
	var userID string
	_, err := s.st.UpdateTransaction(ctx, c.Tx, func(t *store.Transaction) error {
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
