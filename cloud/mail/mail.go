// Package mail sends the cloud's mail (email verification, password reset)
// through an SMTP server: STARTTLS required on the submission port (587)
// or TLS from the start (465), AUTH PLAIN only inside TLS, plain UTF-8 text
// bodies in quoted-printable.
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/netip"
	"net/smtp"
	"strconv"
	"strings"
	"time"
)

// TLS modes.
const (
	StartTLS = "starttls" // plain connection upgraded with STARTTLS, which must be offered
	TLS      = "tls"      // TLS from the first byte (port 465)
	NoTLS    = "none"     // plain text, only to a loopback server (a local relay)
)

// Config is the SMTP server to send through.
type Config struct {
	// Host is the server's name (also checked in its certificate); empty
	// means mail is off.
	Host string
	// Port is 587 for StartTLS and 465 for TLS when zero.
	Port     int
	Username string
	Password string
	// From is the sender, e.g. "clawfleet <noreply@example.com>".
	From string
	// TLS is StartTLS (the default), TLS or NoTLS.
	TLS string
	// Timeout bounds one Send (30 s when zero).
	Timeout time.Duration
	// TLSConfig, when set, is used for the TLS handshake (tests pass their
	// own roots); ServerName defaults to Host.
	TLSConfig *tls.Config
}

// ConfigFromEnv reads CLAWFLEET_SMTP_HOST, _PORT, _USERNAME, _PASSWORD,
// _FROM and _TLS.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Host:     getenv("CLAWFLEET_SMTP_HOST"),
		Username: getenv("CLAWFLEET_SMTP_USERNAME"),
		Password: getenv("CLAWFLEET_SMTP_PASSWORD"),
		From:     getenv("CLAWFLEET_SMTP_FROM"),
		TLS:      getenv("CLAWFLEET_SMTP_TLS"),
	}
	if p := getenv("CLAWFLEET_SMTP_PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return Config{}, fmt.Errorf("mail: CLAWFLEET_SMTP_PORT %q is not a port number", p)
		}
		c.Port = n
	}
	return c, nil
}

// Enabled reports whether a server is configured.
func (c Config) Enabled() bool { return c.Host != "" }

func (c Config) mode() string {
	if c.TLS == "" {
		return StartTLS
	}
	return c.TLS
}

func (c Config) port() int {
	switch {
	case c.Port != 0:
		return c.Port
	case c.mode() == TLS:
		return 465
	}
	return 587
}

// Validate says what to change.
func (c Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	var errs []error
	switch c.mode() {
	case StartTLS, TLS:
	case NoTLS:
		if !loopback(c.Host) {
			errs = append(errs, fmt.Errorf("mail: CLAWFLEET_SMTP_TLS=none sends mail and the password in the clear; it is allowed only to a loopback server, not %q (use starttls or tls)", c.Host))
		}
	default:
		errs = append(errs, fmt.Errorf("mail: CLAWFLEET_SMTP_TLS is %q; use starttls (port 587), tls (port 465) or none (a loopback relay)", c.TLS))
	}
	if c.port() < 1 || c.port() > 65535 {
		errs = append(errs, fmt.Errorf("mail: CLAWFLEET_SMTP_PORT %d is not a port", c.Port))
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		errs = append(errs, fmt.Errorf("mail: set CLAWFLEET_SMTP_FROM to the sender address, e.g. \"clawfleet <noreply@example.com>\" (%q: %v)", c.From, err))
	}
	if (c.Username == "") != (c.Password == "") {
		errs = append(errs, errors.New("mail: set both CLAWFLEET_SMTP_USERNAME and CLAWFLEET_SMTP_PASSWORD, or neither"))
	}
	return errors.Join(errs...)
}

func loopback(host string) bool {
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().IsLoopback()
	}
	return host == "localhost"
}

// Message is one plain-text mail to one recipient.
type Message struct {
	To      string
	Subject string
	Text    string
}

// Sender sends mail through the configured server. It opens a connection
// per message: the cloud sends a few mails an hour, not a stream.
type Sender struct {
	c    Config
	from *mail.Address
}

// NewSender validates c.
func NewSender(c Config) (*Sender, error) {
	if !c.Enabled() {
		return nil, errors.New("mail: no SMTP server is configured (CLAWFLEET_SMTP_HOST)")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	from, _ := mail.ParseAddress(c.From)
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	return &Sender{c: c, from: from}, nil
}

// Send delivers m to the server, or says why it could not.
func (s *Sender) Send(ctx context.Context, m Message) error {
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return fmt.Errorf("mail: recipient %q: %w", m.To, err)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return errors.New("mail: the subject holds a line break")
	}
	body, err := s.compose(to, m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.c.Timeout)
	defer cancel()
	addr := net.JoinHostPort(s.c.Host, strconv.Itoa(s.c.port()))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("mail: connect to %s: %w", addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// A cancelled context ends a conversation stuck in a read.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := s.converse(conn, to.Address, body); err != nil {
		var ne net.Error
		switch {
		case errors.Is(ctx.Err(), context.Canceled):
			return fmt.Errorf("mail: %s: %w (%v)", addr, ctx.Err(), err)
		case ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()):
			return fmt.Errorf("mail: %s did not answer within %s: %w", addr, s.c.Timeout, err)
		}
		return fmt.Errorf("mail: %s: %w", addr, err)
	}
	return nil
}

func (s *Sender) tlsConfig() *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.c.TLSConfig != nil {
		c = s.c.TLSConfig.Clone()
	}
	if c.ServerName == "" {
		c.ServerName = s.c.Host
	}
	return c
}

func (s *Sender) converse(conn net.Conn, to string, body []byte) error {
	if s.c.mode() == TLS {
		tc := tls.Client(conn, s.tlsConfig())
		if err := tc.Handshake(); err != nil {
			return fmt.Errorf("TLS handshake: %w", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.c.Host)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello(helloName(s.from.Address)); err != nil {
		return err
	}
	if s.c.mode() == StartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("the server does not offer STARTTLS; refusing to send in the clear (CLAWFLEET_SMTP_TLS=tls for port 465)")
		}
		if err := c.StartTLS(s.tlsConfig()); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	}
	if s.c.Username != "" {
		// PlainAuth itself refuses to send the password without TLS unless
		// the server is on localhost.
		if err := c.Auth(smtp.PlainAuth("", s.c.Username, s.c.Password, s.c.Host)); err != nil {
			return fmt.Errorf("authentication as %s: %w", s.c.Username, err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(body); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// helloName is what the client calls itself: the sender's domain.
func helloName(from string) string {
	if _, d, ok := strings.Cut(from, "@"); ok && d != "" {
		return d
	}
	return "localhost"
}

// compose renders the message: headers (the subject RFC 2047-encoded when
// it is not ASCII) and a quoted-printable UTF-8 body.
func (s *Sender) compose(to *mail.Address, m Message) ([]byte, error) {
	var b bytes.Buffer
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", s.from.String())
	h("To", to.String())
	if subj := mime.QEncoding.Encode("utf-8", m.Subject); subj == m.Subject {
		h("Subject", subj)
	} else {
		// Encoded words are up to 75 bytes; a line that holds one must
		// stay within 76 (RFC 2047), so each gets a line of its own.
		fmt.Fprintf(&b, "Subject:\r\n %s\r\n", strings.ReplaceAll(subj, "?= =?", "?=\r\n =?"))
	}
	h("Date", time.Now().Format(time.RFC1123Z))
	h("Message-ID", "<"+hex.EncodeToString(id)+"@"+helloName(s.from.Address)+">")
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "quoted-printable")
	h("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(strings.ReplaceAll(m.Text, "\r\n", "\n"))); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
