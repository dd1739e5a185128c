package mail

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"
)

// smtpServer is a small SMTP server on loopback: EHLO, STARTTLS, AUTH
// PLAIN (only inside TLS), MAIL, RCPT, DATA, QUIT. It keeps what it was
// sent.
type smtpServer struct {
	t        *testing.T
	ln       net.Listener
	cert     tls.Certificate
	roots    *x509.CertPool
	implicit bool // TLS from the first byte
	starttls bool // offers STARTTLS
	user     string
	pass     string
	silent   bool // accepts and never answers
	got      chan received
}

type received struct {
	tls        bool
	authed     string
	from       string
	rcpt       []string
	data       string
	helloNames []string
}

func newSMTPServer(t *testing.T, configure func(*smtpServer)) *smtpServer {
	t.Helper()
	s := &smtpServer{t: t, starttls: true, user: "mailer", pass: "s3cret-pass", got: make(chan received, 4)}
	s.cert, s.roots = selfSigned(t)
	if configure != nil {
		configure(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln = ln
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *smtpServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *smtpServer) config() Config {
	c := Config{Host: "127.0.0.1", Port: s.port(), Username: s.user, Password: s.pass, From: "clawfleet <noreply@cloud.example.com>",
		TLSConfig: &tls.Config{RootCAs: s.roots}, Timeout: 5 * time.Second}
	if s.implicit {
		c.TLS = TLS
	}
	return c
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if s.silent {
		_, _ = io.Copy(io.Discard, c)
		return
	}
	var r received
	if s.implicit {
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{s.cert}})
		if tc.Handshake() != nil {
			return
		}
		c, r.tls = tc, true
	}
	br := bufio.NewReader(c)
	say := func(lines ...string) {
		for _, l := range lines {
			_, _ = io.WriteString(c, l+"\r\n")
		}
	}
	say("220 test.local ESMTP ready")
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			r.helloNames = append(r.helloNames, arg)
			ext := []string{"250-test.local", "250-8BITMIME"}
			if s.starttls && !r.tls {
				ext = append(ext, "250-STARTTLS")
			}
			if r.tls {
				ext = append(ext, "250-AUTH PLAIN")
			}
			ext = append(ext, "250 SIZE 1048576")
			say(ext...)
		case "STARTTLS":
			say("220 2.0.0 ready to start TLS")
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{s.cert}})
			if tc.Handshake() != nil {
				return
			}
			c, br, r.tls = tc, bufio.NewReader(tc), true
		case "AUTH":
			mech, b64, _ := strings.Cut(arg, " ")
			raw, _ := base64.StdEncoding.DecodeString(b64)
			parts := strings.Split(string(raw), "\x00")
			switch {
			case !r.tls:
				say("538 5.7.11 encryption required")
			case mech != "PLAIN" || len(parts) != 3 || parts[1] != s.user || parts[2] != s.pass:
				say("535 5.7.8 authentication credentials invalid")
			default:
				r.authed = parts[1]
				say("235 2.7.0 authenticated")
			}
		case "MAIL":
			if s.user != "" && r.authed == "" {
				say("530 5.7.0 authentication required")
				continue
			}
			r.from = strings.TrimSuffix(strings.TrimPrefix(arg, "FROM:<"), ">")
			if i := strings.Index(r.from, "> "); i >= 0 {
				r.from = r.from[:i]
			}
			say("250 2.1.0 ok")
		case "RCPT":
			r.rcpt = append(r.rcpt, strings.TrimSuffix(strings.TrimPrefix(arg, "TO:<"), ">"))
			say("250 2.1.5 ok")
		case "DATA":
			say("354 end with <CRLF>.<CRLF>")
			var b strings.Builder
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			r.data = b.String()
			say("250 2.0.0 queued")
		case "QUIT":
			say("221 2.0.0 bye")
			if r.data != "" {
				s.got <- r
			}
			return
		case "RSET", "NOOP":
			say("250 ok")
		default:
			say("502 5.5.2 not implemented")
		}
	}
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test smtp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func (s *smtpServer) wait(t *testing.T) received {
	t.Helper()
	select {
	case r := <-s.got:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("the server received no mail")
	}
	return received{}
}

// decode reads a received message back: headers and the decoded body.
func decode(t *testing.T, data string) (*mail.Message, string) {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatalf("not a mail message: %v\n%s", err, data)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	return m, string(body)
}

func TestSend(t *testing.T) {
	longLine := "https://cloud.example.com/verify?token=" + strings.Repeat("x", 120)
	for _, tc := range []struct {
		name      string
		configure func(*smtpServer)
	}{
		{name: "STARTTLS on the submission port"},
		{name: "TLS from the start", configure: func(s *smtpServer) { s.implicit = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newSMTPServer(t, tc.configure)
			snd, err := NewSender(srv.config())
			if err != nil {
				t.Fatal(err)
			}
			msg := Message{To: "Alice <alice@example.com>", Subject: "请验证您的邮箱地址", Text: "你好！\n\n" + longLine + "\n\n.a line starting with a dot\n"}
			if err := snd.Send(context.Background(), msg); err != nil {
				t.Fatal(err)
			}
			r := srv.wait(t)
			if !r.tls || r.authed != "mailer" || r.from != "noreply@cloud.example.com" || len(r.rcpt) != 1 || r.rcpt[0] != "alice@example.com" {
				t.Fatalf("envelope %+v", r)
			}
			if r.helloNames[0] != "cloud.example.com" {
				t.Errorf("EHLO %q, want the sender's domain", r.helloNames[0])
			}
			m, body := decode(t, r.data)
			subj, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
			if err != nil || subj != msg.Subject {
				t.Errorf("subject %q (%v), want %q", subj, err, msg.Subject)
			}
			if body != strings.ReplaceAll(msg.Text, "\n", "\r\n") {
				t.Errorf("body %q, want %q", body, msg.Text)
			}
			for _, l := range strings.Split(r.data, "\r\n") {
				if len(l) > 78 {
					t.Errorf("line of %d bytes on the wire", len(l))
				}
			}
			for k, want := range map[string]string{"Content-Type": "text/plain; charset=utf-8", "Content-Transfer-Encoding": "quoted-printable", "MIME-Version": "1.0", "Auto-Submitted": "auto-generated"} {
				if got := m.Header.Get(k); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
			if to, err := m.Header.AddressList("To"); err != nil || to[0].Address != "alice@example.com" {
				t.Errorf("To: %v %v", to, err)
			}
			if _, err := m.Header.Date(); err != nil || !strings.HasSuffix(m.Header.Get("Message-ID"), "@cloud.example.com>") {
				t.Errorf("Date %q, Message-ID %q", m.Header.Get("Date"), m.Header.Get("Message-ID"))
			}
		})
	}
}

func TestSendRefuses(t *testing.T) {
	for _, tc := range []struct {
		name      string
		configure func(*smtpServer)
		change    func(*Config)
		msg       Message
		want      string
	}{
		{name: "no STARTTLS offered", configure: func(s *smtpServer) { s.starttls = false }, want: "does not offer STARTTLS"},
		{name: "wrong password", change: func(c *Config) { c.Password = "wrong" }, want: "535"},
		{name: "certificate not trusted", change: func(c *Config) { c.TLSConfig = nil }, want: "certificate"},
		{name: "header injection in the subject", msg: Message{To: "a@example.com", Subject: "hi\r\nBcc: victim@example.com"}, want: "line break"},
		{name: "header injection in the recipient", msg: Message{To: "a@example.com\r\nBcc: victim@example.com", Subject: "hi"}, want: "recipient"},
		{name: "not an address", msg: Message{To: "not an address", Subject: "hi"}, want: "recipient"},
		{name: "server never answers", configure: func(s *smtpServer) { s.silent = true }, change: func(c *Config) { c.Timeout = 300 * time.Millisecond }, want: "did not answer within 300ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newSMTPServer(t, tc.configure)
			cfg := srv.config()
			if tc.change != nil {
				tc.change(&cfg)
			}
			snd, err := NewSender(cfg)
			if err != nil {
				t.Fatal(err)
			}
			msg := tc.msg
			if msg.To == "" {
				msg = Message{To: "a@example.com", Subject: "hi", Text: "x"}
			}
			start := time.Now()
			err = snd.Send(context.Background(), msg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Send = %v, want an error saying %q", err, tc.want)
			}
			if time.Since(start) > 3*time.Second {
				t.Fatalf("Send took %v", time.Since(start))
			}
			select {
			case r := <-srv.got:
				t.Fatalf("the server received a mail: %+v", r)
			default:
			}
		})
	}
}

func TestSendCancelled(t *testing.T) {
	srv := newSMTPServer(t, func(s *smtpServer) { s.silent = true })
	snd, _ := NewSender(srv.config())
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if err := snd.Send(ctx, Message{To: "a@example.com", Subject: "x"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Send = %v, want context.Canceled", err)
	}
}

func TestConfig(t *testing.T) {
	env := map[string]string{"CLAWFLEET_SMTP_HOST": "smtp.example.com", "CLAWFLEET_SMTP_PORT": "2587", "CLAWFLEET_SMTP_USERNAME": "u",
		"CLAWFLEET_SMTP_PASSWORD": "p", "CLAWFLEET_SMTP_FROM": "clawfleet <noreply@example.com>"}
	c, err := ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil || c.Validate() != nil || c.port() != 2587 || c.mode() != StartTLS {
		t.Fatalf("%+v, %v, %v", c, err, c.Validate())
	}
	if _, err := ConfigFromEnv(func(k string) string { return map[string]string{"CLAWFLEET_SMTP_PORT": "x"}[k] }); err == nil {
		t.Error("a port that is not a number was accepted")
	}
	if (Config{}).Enabled() || (Config{}).Validate() != nil {
		t.Error("no host should mean mail is off, and valid")
	}
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{Host: "smtp.example.com", From: "x"}, "CLAWFLEET_SMTP_FROM"},
		{Config{Host: "smtp.example.com", From: "a@example.com", TLS: "ssl"}, "CLAWFLEET_SMTP_TLS"},
		{Config{Host: "smtp.example.com", From: "a@example.com", TLS: NoTLS}, "in the clear"},
		{Config{Host: "smtp.example.com", From: "a@example.com", Username: "u"}, "both"},
		{Config{Host: "smtp.example.com", From: "a@example.com", Port: 70000}, "not a port"},
	} {
		if err := tc.c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.c, err, tc.want)
		}
	}
	if err := (Config{Host: "127.0.0.1", From: "a@example.com", TLS: NoTLS}).Validate(); err != nil {
		t.Errorf("a loopback relay without TLS: %v", err)
	}
	if (Config{TLS: TLS}).port() != 465 || (Config{}).port() != 587 {
		t.Error("default ports")
	}
}
