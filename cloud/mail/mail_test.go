package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"mime"
	"strings"
	"testing"
	"time"

	"github.com/clawfleet/clawfleet/cloud/mail/mailtest"
)

// serverConfig is the sender's configuration for s.
func serverConfig(s *mailtest.Server) Config {
	c := Config{Host: "127.0.0.1", Port: s.Port(), Username: s.User, Password: s.Pass, From: "clawfleet <noreply@cloud.example.com>",
		TLSConfig: &tls.Config{RootCAs: s.Roots}, Timeout: 5 * time.Second}
	if s.Implicit {
		c.TLS = TLS
	}
	return c
}

func TestSend(t *testing.T) {
	longLine := "https://cloud.example.com/verify?token=" + strings.Repeat("x", 120)
	for _, tc := range []struct {
		name      string
		configure func(*mailtest.Server)
	}{
		{name: "STARTTLS on the submission port"},
		{name: "TLS from the start", configure: func(s *mailtest.Server) { s.Implicit = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := mailtest.NewServer(t, tc.configure)
			snd, err := NewSender(serverConfig(srv))
			if err != nil {
				t.Fatal(err)
			}
			msg := Message{To: "Alice <alice@example.com>", Subject: "请验证您的邮箱地址", Text: "你好！\n\n" + longLine + "\n\n.a line starting with a dot\n"}
			if err := snd.Send(context.Background(), msg); err != nil {
				t.Fatal(err)
			}
			r := srv.Wait(t)
			if !r.TLS || r.Authed != "mailer" || r.From != "noreply@cloud.example.com" || len(r.Rcpt) != 1 || r.Rcpt[0] != "alice@example.com" {
				t.Fatalf("envelope %+v", r)
			}
			if r.HelloNames[0] != "cloud.example.com" {
				t.Errorf("EHLO %q, want the sender's domain", r.HelloNames[0])
			}
			m, body := mailtest.Decode(t, r.Data)
			subj, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
			if err != nil || subj != msg.Subject {
				t.Errorf("subject %q (%v), want %q", subj, err, msg.Subject)
			}
			if body != strings.ReplaceAll(msg.Text, "\n", "\r\n") {
				t.Errorf("body %q, want %q", body, msg.Text)
			}
			for _, l := range strings.Split(r.Data, "\r\n") {
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
		configure func(*mailtest.Server)
		change    func(*Config)
		msg       Message
		want      string
	}{
		{name: "no STARTTLS offered", configure: func(s *mailtest.Server) { s.StartTLS = false }, want: "does not offer STARTTLS"},
		{name: "wrong password", change: func(c *Config) { c.Password = "wrong" }, want: "535"},
		{name: "certificate not trusted", change: func(c *Config) { c.TLSConfig = nil }, want: "certificate"},
		{name: "header injection in the subject", msg: Message{To: "a@example.com", Subject: "hi\r\nBcc: victim@example.com"}, want: "line break"},
		{name: "header injection in the recipient", msg: Message{To: "a@example.com\r\nBcc: victim@example.com", Subject: "hi"}, want: "recipient"},
		{name: "not an address", msg: Message{To: "not an address", Subject: "hi"}, want: "recipient"},
		{name: "server never answers", configure: func(s *mailtest.Server) { s.Silent = true }, change: func(c *Config) { c.Timeout = 300 * time.Millisecond }, want: "did not answer within 300ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := mailtest.NewServer(t, tc.configure)
			cfg := serverConfig(srv)
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
			case r := <-srv.Got:
				t.Fatalf("the server received a mail: %+v", r)
			default:
			}
		})
	}
}

func TestSendCancelled(t *testing.T) {
	srv := mailtest.NewServer(t, func(s *mailtest.Server) { s.Silent = true })
	snd, _ := NewSender(serverConfig(srv))
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
