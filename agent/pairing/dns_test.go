package pairing

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

func query(t *testing.T, id uint16, opcode dnsmessage.OpCode, response bool, qs ...dnsmessage.Question) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, OpCode: opcode, Response: response, RecursionDesired: true})
	if err := b.StartQuestions(); err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if err := b.Question(q); err != nil {
			t.Fatal(err)
		}
	}
	out, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func q(name string, typ dnsmessage.Type) dnsmessage.Question {
	return dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET}
}

// TestCaptiveDNS sends real queries over UDP (and one over TCP) on
// loopback to the captive DNS server.
func TestCaptiveDNS(t *testing.T) {
	portal := netip.MustParseAddr("10.42.0.1")
	s, err := listenDNS(context.Background(), "127.0.0.1:0", portal, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr := s.Addr().String()

	tests := []struct {
		name    string
		msg     []byte
		rcode   dnsmessage.RCode
		answers int // A records, all of them the portal
		noReply bool
	}{
		{"iOS probe host", query(t, 1, 0, false, q("captive.apple.com.", dnsmessage.TypeA)), dnsmessage.RCodeSuccess, 1, false},
		{"Android probe host", query(t, 2, 0, false, q("connectivitycheck.gstatic.com.", dnsmessage.TypeA)), dnsmessage.RCodeSuccess, 1, false},
		{"Windows DNS probe", query(t, 3, 0, false, q("dns.msftncsi.com.", dnsmessage.TypeA)), dnsmessage.RCodeSuccess, 1, false},
		{"mixed case kept", query(t, 4, 0, false, q("WwW.MsftConnectTest.com.", dnsmessage.TypeA)), dnsmessage.RCodeSuccess, 1, false},
		{"AAAA: no data", query(t, 5, 0, false, q("captive.apple.com.", dnsmessage.TypeAAAA)), dnsmessage.RCodeSuccess, 0, false},
		{"HTTPS record: no data", query(t, 6, 0, false, q("www.google.com.", dnsmessage.Type(65))), dnsmessage.RCodeSuccess, 0, false},
		{"status opcode", query(t, 7, 2, false, q("example.com.", dnsmessage.TypeA)), dnsmessage.RCodeNotImplemented, 0, false},
		{"two questions", query(t, 8, 0, false, q("a.example.", dnsmessage.TypeA), q("b.example.", dnsmessage.TypeA)), dnsmessage.RCodeFormatError, 0, false},
		{"no question", query(t, 9, 0, false), dnsmessage.RCodeFormatError, 0, false},
		{"a response is not answered", query(t, 10, 0, true, q("example.com.", dnsmessage.TypeA)), 0, 0, true},
		{"garbage is not answered", []byte{1, 2, 3}, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("udp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(tc.msg); err != nil {
				t.Fatal(err)
			}
			wait := 2 * time.Second
			if tc.noReply {
				wait = 300 * time.Millisecond
			}
			c.SetReadDeadline(time.Now().Add(wait))
			buf := make([]byte, 1500)
			n, err := c.Read(buf)
			if tc.noReply {
				if err == nil {
					t.Fatalf("got a reply of %d bytes, want none", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkReply(t, tc.msg, buf[:n], tc.rcode, tc.answers, portal)
		})
	}

	t.Run("TCP", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		for i, name := range []string{"captive.apple.com.", "www.msftconnecttest.com."} { // two on one connection
			msg := query(t, uint16(100+i), 0, false, q(name, dnsmessage.TypeA))
			if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(msg))), msg...)); err != nil {
				t.Fatal(err)
			}
			var l [2]byte
			if _, err := io.ReadFull(c, l[:]); err != nil {
				t.Fatal(err)
			}
			reply := make([]byte, binary.BigEndian.Uint16(l[:]))
			if _, err := io.ReadFull(c, reply); err != nil {
				t.Fatal(err)
			}
			checkReply(t, msg, reply, dnsmessage.RCodeSuccess, 1, portal)
		}
	})
}

func checkReply(t *testing.T, query, reply []byte, rcode dnsmessage.RCode, answers int, portal netip.Addr) {
	t.Helper()
	var qm, m dnsmessage.Message
	if err := qm.Unpack(query); err != nil {
		t.Fatal(err)
	}
	if err := m.Unpack(reply); err != nil {
		t.Fatalf("unpack reply: %v", err)
	}
	if m.ID != qm.ID || !m.Response || m.RCode != rcode {
		t.Fatalf("reply header %+v, want id %d, a response, rcode %v", m.Header, qm.ID, rcode)
	}
	if rcode == dnsmessage.RCodeSuccess && (len(m.Questions) != 1 || m.Questions[0] != qm.Questions[0]) {
		t.Fatalf("question not echoed: %v, asked %v", m.Questions, qm.Questions)
	}
	if len(m.Answers) != answers {
		t.Fatalf("%d answers, want %d: %v", len(m.Answers), answers, m.Answers)
	}
	for _, a := range m.Answers {
		ar, ok := a.Body.(*dnsmessage.AResource)
		if !ok || netip.AddrFrom4(ar.A) != portal || a.Header.TTL != dnsTTL || a.Header.Name != qm.Questions[0].Name {
			t.Fatalf("answer %v, want %s for %s with TTL %d", a, portal, qm.Questions[0].Name, dnsTTL)
		}
	}
}
