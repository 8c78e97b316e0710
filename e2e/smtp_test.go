package e2e

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server"
)

// mailbox is a real SMTP server (emersion/go-smtp) on loopback that wants
// STARTTLS and a login, and keeps what it receives.
type mailbox struct {
	mu   sync.Mutex
	msgs []received
}

type received struct {
	from, to string
	data     string
}

type smtpSession struct {
	box    *mailbox
	authed bool
	from   string
	to     []string
}

func (b *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &smtpSession{box: b}, nil }

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "assent" || pass != "mail password" {
			return errors.New("wrong login")
		}
		s.authed = true
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.box.mu.Lock()
	defer s.box.mu.Unlock()
	for _, to := range s.to {
		s.box.msgs = append(s.box.msgs, received{from: s.from, to: to, data: string(b)})
	}
	return nil
}

func (s *smtpSession) Reset()        { s.from, s.to = "", nil }
func (s *smtpSession) Logout() error { return nil }

func (b *mailbox) all() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.msgs...)
}

// startSMTP runs the mailbox with a certificate the returned TLS config
// trusts.
func startSMTP(t *testing.T) (*mailbox, string, *tls.Config) {
	t.Helper()
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	box := &mailbox{}
	s := smtp.NewServer(box)
	s.Domain = "127.0.0.1"
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are what some tests are about
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return box, ln.Addr().String(), &tls.Config{RootCAs: pool}
}

func TestMagicLinkTravelsOverSMTP(t *testing.T) {
	box, addr, tlsConf := startSMTP(t)
	mailer := &server.SMTPMailer{Addr: addr, User: "assent", Password: "mail password", From: "Assent <assent@example.com>", TLS: tlsConf}
	e := newEnv(t, func(o *server.Options) { o.Mailer = mailer }, withPolicy(t, `
signOn:
  - name: Default
    action: {factors: 2, authenticators: [push, totp, email]}
`))
	e.enrolled("pia")
	tx := e.signIn("pia", "correct horse battery")
	if _, err := tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthEmail}); err != nil {
		t.Fatal(err)
	}
	msgs := box.all()
	if len(msgs) != 1 || msgs[0].to != "pia@example.com" || msgs[0].from != "assent@example.com" {
		t.Fatalf("mail received = %+v", msgs)
	}
	data := msgs[0].data
	if !strings.Contains(data, "Subject: Your Example Org link\r\n") || !strings.Contains(data, "Content-Type: text/plain; charset=utf-8") {
		t.Fatalf("mail headers:\n%s", data)
	}
	// Quoted-printable would break the link; the body is plain 8-bit text.
	link := linkRE.FindString(strings.ReplaceAll(data, "\r\n", "\n"))
	if link == "" {
		t.Fatalf("no link in the mail:\n%s", data)
	}
	if code, body := confirmLink(t, link); code != http.StatusOK {
		t.Fatalf("click = %d %s", code, body)
	}
	if r, err := e.poll(tx); err != nil || r.Status != sdk.StatusSuccess {
		t.Fatalf("poll after the click = %+v, %v", r, err)
	}
}

func TestSMTPMailerSaysWhatWentWrong(t *testing.T) {
	_, addr, tlsConf := startSMTP(t)
	ctx := t.Context()
	msg := server.Mail{To: "x@example.com", Subject: "hi\r\nBcc: evil@example.com", Text: "body\n.\nmore"}
	bad := &server.SMTPMailer{Addr: addr, User: "assent", Password: "wrong", From: "a@example.com", TLS: tlsConf}
	if err := bad.Send(ctx, msg); err == nil || !strings.Contains(err.Error(), "authenticate") {
		t.Fatalf("wrong password: %v", err)
	}
	untrusted := &server.SMTPMailer{Addr: addr, User: "assent", Password: "mail password", From: "a@example.com"}
	if err := untrusted.Send(ctx, msg); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("a certificate nobody vouches for: %v", err)
	}
	down := &server.SMTPMailer{Addr: "127.0.0.1:1", From: "a@example.com"}
	if err := down.Send(ctx, msg); err == nil || !strings.Contains(err.Error(), "smtp") {
		t.Fatalf("no server: %v", err)
	}
	// A header cannot be smuggled in, and a line of one dot survives.
	box, addr2, tlsConf2 := startSMTP(t)
	good := &server.SMTPMailer{Addr: addr2, User: "assent", Password: "mail password", From: "a@example.com", TLS: tlsConf2}
	if err := good.Send(ctx, msg); err != nil {
		t.Fatal(err)
	}
	data := box.all()[0].data
	if strings.Contains(data, "\r\nBcc:") || !strings.Contains(data, "\r\nbody\r\n.\r\nmore") {
		t.Fatalf("delivered:\n%q", data)
	}
}
