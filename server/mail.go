package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"sync"
	"time"
)

// Mail is one message Assent sends.
type Mail struct {
	To      string
	Subject string
	Text    string
	Sent    time.Time
}

// Mailer sends mail.
type Mailer interface {
	Send(ctx context.Context, m Mail) error
}

// SMTPMailer sends through an SMTP server, with STARTTLS when the server
// offers it (and required when a password is to be sent).
type SMTPMailer struct {
	Addr     string // host:port
	User     string
	Password string
	From     string
	// TLS, when set, is used for STARTTLS (a private CA, say); by default
	// the system's roots check the server's name.
	TLS *tls.Config
}

// Send delivers one plain-text message.
func (m *SMTPMailer) Send(ctx context.Context, msg Mail) error {
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return fmt.Errorf("smtp-from %q: %w", m.From, err)
	}
	to, err := mail.ParseAddress(msg.To)
	if err != nil {
		return fmt.Errorf("recipient %q: %w", msg.To, err)
	}
	host, _, err := net.SplitHostPort(m.Addr)
	if err != nil {
		return err
	}
	d := net.Dialer{Timeout: 15 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", m.Addr)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Now().Add(time.Minute))
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp: %w", err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		if m.TLS != nil {
			tc = m.TLS.Clone()
			tc.ServerName = host
		}
		if err := c.StartTLS(tc); err != nil {
			return fmt.Errorf("smtp: STARTTLS: %w", err)
		}
	}
	if m.User != "" {
		// net/smtp refuses PLAIN auth without TLS except to localhost.
		if err := c.Auth(smtp.PlainAuth("", m.User, m.Password, host)); err != nil {
			return fmt.Errorf("smtp: authenticate: %w", err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("smtp: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to.Address); err != nil {
		return fmt.Errorf("smtp: RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp: DATA: %w", err)
	}
	if _, err := w.Write(formatMail(from, to, msg)); err != nil {
		return fmt.Errorf("smtp: write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	return c.Quit()
}

// formatMail renders a plain-text RFC 5322 message with CRLF line ends.
func formatMail(from, to *mail.Address, m Mail) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n", from, to, mimeHeader(m.Subject), time.Now().UTC().Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	// net/smtp's data writer does the dot-stuffing.
	for _, line := range strings.Split(strings.ReplaceAll(m.Text, "\r\n", "\n"), "\n") {
		b.WriteString(line + "\r\n")
	}
	return []byte(b.String())
}

func mimeHeader(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}

// MailSink keeps mail in memory instead of sending it: the development
// mode's mailer, listed on the /dev/mail page.
type MailSink struct {
	mu   sync.Mutex
	mail []Mail
}

// Send records a message.
func (s *MailSink) Send(_ context.Context, m Mail) error {
	if _, err := mail.ParseAddress(m.To); err != nil {
		return fmt.Errorf("recipient %q: %w", m.To, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.Sent.IsZero() {
		m.Sent = time.Now()
	}
	s.mail = append(s.mail, m)
	if len(s.mail) > 200 {
		s.mail = s.mail[len(s.mail)-200:]
	}
	return nil
}

// Messages lists what was sent, newest first.
func (s *MailSink) Messages() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Mail, len(s.mail))
	for i, m := range s.mail {
		out[len(out)-1-i] = m
	}
	return out
}

// errNoMailer means mail cannot be sent here.
var errNoMailer = errors.New("no mail server is configured (give --smtp and --smtp-from, or run with --dev)")
