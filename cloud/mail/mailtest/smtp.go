// Package mailtest runs an SMTP server on loopback for tests: it speaks
// enough of RFC 5321 (EHLO, STARTTLS, AUTH PLAIN inside TLS, MAIL, RCPT,
// DATA, QUIT) for cloud/mail's sender and keeps what it was sent.
package mailtest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"math/big"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"
)

// Server is a small SMTP server on loopback: EHLO, STARTTLS, AUTH
// PLAIN (only inside TLS), MAIL, RCPT, DATA, QUIT. It keeps what it was
// sent.
type Server struct {
	t    testing.TB
	ln   net.Listener
	cert tls.Certificate
	// Roots trusts the server's self-signed certificate.
	Roots *x509.CertPool
	// Implicit: TLS from the first byte; StartTLS: offers STARTTLS.
	Implicit, StartTLS bool
	// User and Pass are the AUTH PLAIN credentials it takes (only inside
	// TLS); with User empty, MAIL needs no authentication.
	User, Pass string
	// Silent accepts connections and never answers.
	Silent bool
	// Got receives every message sent through it.
	Got chan Received
}

// Received is one message as the server got it.
type Received struct {
	TLS        bool
	Authed     string
	From       string
	Rcpt       []string
	Data       string
	HelloNames []string
}

// NewServer starts a server on 127.0.0.1 (STARTTLS offered, AUTH PLAIN
// as mailer / s3cret-pass), changed by configure before it listens, and
// stopped when t ends.
func NewServer(t testing.TB, configure func(*Server)) *Server {
	t.Helper()
	s := &Server{t: t, StartTLS: true, User: "mailer", Pass: "s3cret-pass", Got: make(chan Received, 4)}
	s.cert, s.Roots = selfSigned(t)
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

// Port is the port it listens on.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *Server) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if s.Silent {
		_, _ = io.Copy(io.Discard, c)
		return
	}
	var r Received
	if s.Implicit {
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{s.cert}})
		if tc.Handshake() != nil {
			return
		}
		c, r.TLS = tc, true
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
			r.HelloNames = append(r.HelloNames, arg)
			ext := []string{"250-test.local", "250-8BITMIME"}
			if s.StartTLS && !r.TLS {
				ext = append(ext, "250-STARTTLS")
			}
			if r.TLS {
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
			c, br, r.TLS = tc, bufio.NewReader(tc), true
		case "AUTH":
			mech, b64, _ := strings.Cut(arg, " ")
			raw, _ := base64.StdEncoding.DecodeString(b64)
			parts := strings.Split(string(raw), "\x00")
			switch {
			case !r.TLS:
				say("538 5.7.11 encryption required")
			case mech != "PLAIN" || len(parts) != 3 || parts[1] != s.User || parts[2] != s.Pass:
				say("535 5.7.8 authentication credentials invalid")
			default:
				r.Authed = parts[1]
				say("235 2.7.0 authenticated")
			}
		case "MAIL":
			if s.User != "" && r.Authed == "" {
				say("530 5.7.0 authentication required")
				continue
			}
			r.From = strings.TrimSuffix(strings.TrimPrefix(arg, "FROM:<"), ">")
			if i := strings.Index(r.From, "> "); i >= 0 {
				r.From = r.From[:i]
			}
			say("250 2.1.0 ok")
		case "RCPT":
			r.Rcpt = append(r.Rcpt, strings.TrimSuffix(strings.TrimPrefix(arg, "TO:<"), ">"))
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
			r.Data = b.String()
			say("250 2.0.0 queued")
		case "QUIT":
			say("221 2.0.0 bye")
			if r.Data != "" {
				s.Got <- r
			}
			return
		case "RSET", "NOOP":
			say("250 ok")
		default:
			say("502 5.5.2 not implemented")
		}
	}
}

func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
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

// Wait returns the next message, failing t after 5 s without one.
func (s *Server) Wait(t testing.TB) Received {
	t.Helper()
	select {
	case r := <-s.Got:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("the server Received no mail")
	}
	return Received{}
}

// decode reads a Received message back: headers and the decoded body.
func Decode(t testing.TB, data string) (*mail.Message, string) {
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
