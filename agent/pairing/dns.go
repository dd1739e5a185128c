package pairing

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsTTL is short so that phones forget the portal's answers soon after
// they leave the hotspot.
const dnsTTL = 10

// dnsAnswer builds the captive DNS reply to one query: every name's A
// record is the portal's address; other types get an empty NOERROR answer
// (the name "exists", it just has no such record), so a phone never waits
// for an AAAA or HTTPS record nobody serves. It returns nil for what
// deserves no reply (a response, or garbage with no readable header).
//
// golang.org/x/net/dns/dnsmessage (the Go team's parser, already in the
// module graph) rather than miekg/dns: pairing needs one question in, one
// record out, and no resolver, zone or server framework.
func dnsAnswer(query []byte, portal netip.Addr) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil || h.Response {
		return nil
	}
	resp := dnsmessage.Header{ID: h.ID, Response: true, OpCode: h.OpCode, RecursionDesired: h.RecursionDesired,
		RecursionAvailable: true, Authoritative: true}
	qs, qerr := p.AllQuestions()
	switch {
	case h.OpCode != 0:
		resp.RCode = dnsmessage.RCodeNotImplemented
		qs = nil
	case qerr != nil || len(qs) != 1:
		resp.RCode = dnsmessage.RCodeFormatError
		qs = nil
	}
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), resp)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil
	}
	for _, q := range qs {
		if err := b.Question(q); err != nil {
			return nil
		}
	}
	if err := b.StartAnswers(); err != nil {
		return nil
	}
	if len(qs) == 1 && qs[0].Class == dnsmessage.ClassINET && qs[0].Type == dnsmessage.TypeA && portal.Is4() {
		rh := dnsmessage.ResourceHeader{Name: qs[0].Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: dnsTTL}
		if err := b.AResource(rh, dnsmessage.AResource{A: portal.As4()}); err != nil {
			return nil
		}
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

// dnsServer answers every query on one address with the portal's address,
// over UDP and TCP (TCP for resolvers that retry there).
type dnsServer struct {
	portal netip.Addr
	log    *slog.Logger
	udp    net.PacketConn
	tcp    net.Listener
	wg     sync.WaitGroup
}

// listenDNS starts a captive DNS server on addr (host:port).
func listenDNS(ctx context.Context, addr string, portal netip.Addr, log *slog.Logger) (*dnsServer, error) {
	lc := listenConfig()
	_, port, _ := net.SplitHostPort(addr)
	var udp net.PacketConn
	var tcp net.Listener
	// The same port over TCP. With port 0 (tests) take UDP's, and pick
	// again when some TCP socket holds that port already.
	for attempt := 0; ; attempt++ {
		var err error
		if udp, err = lc.ListenPacket(ctx, "udp", addr); err != nil {
			return nil, err
		}
		if tcp, err = lc.Listen(ctx, "tcp", udp.LocalAddr().String()); err == nil {
			break
		}
		udp.Close()
		if port != "0" || !errors.Is(err, syscall.EADDRINUSE) || attempt == 20 {
			return nil, err
		}
	}
	s := &dnsServer{portal: portal, log: log, udp: udp, tcp: tcp}
	s.wg.Add(2)
	go s.serveUDP()
	go s.serveTCP()
	return s, nil
}

// Addr is the UDP address the server answers on.
func (s *dnsServer) Addr() net.Addr { return s.udp.LocalAddr() }

// Close stops the server and waits for it.
func (s *dnsServer) Close() error {
	err := errors.Join(s.udp.Close(), s.tcp.Close())
	s.wg.Wait()
	return err
}

func (s *dnsServer) serveUDP() {
	defer s.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, from, err := s.udp.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("dns read", "err", err)
			continue
		}
		if out := dnsAnswer(buf[:n], s.portal); out != nil {
			_, _ = s.udp.WriteTo(out, from)
		}
	}
}

func (s *dnsServer) serveTCP() {
	defer s.wg.Done()
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		conns.Add(1)
		go func() {
			defer conns.Done()
			defer c.Close()
			s.serveConn(c)
		}()
	}
}

// serveConn answers length-prefixed queries (RFC 1035 4.2.2) until the
// client closes or idles for 10 s.
func (s *dnsServer) serveConn(c net.Conn) {
	var lenBuf [2]byte
	for {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c, lenBuf[:]); err != nil {
			return
		}
		q := make([]byte, binary.BigEndian.Uint16(lenBuf[:]))
		if _, err := io.ReadFull(c, q); err != nil {
			return
		}
		out := dnsAnswer(q, s.portal)
		if out == nil {
			return
		}
		if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(out))), out...)); err != nil {
			return
		}
	}
}
