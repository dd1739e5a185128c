package mqtt

// clawfleet fork: tests of AttachConnection and of the writer that runs
// only while packets are queued (README.md).

import (
	"bufio"
	"context"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mochi-mqtt/server/v2/packets"
)

// readN reads exactly n bytes from r within 5 s.
func readN(t *testing.T, r io.Reader, n int) []byte {
	t.Helper()
	got := make(chan []byte, 1)
	go func() {
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			got <- nil
			return
		}
		got <- buf
	}()
	select {
	case b := <-got:
		require.NotNil(t, b, "read %d bytes", n)
		return b
	case <-time.After(5 * time.Second):
		t.Fatalf("no %d bytes within 5 s", n)
		return nil
	}
}

func TestAttachConnection(t *testing.T) {
	s := newServer()
	defer s.Close()

	r, w := net.Pipe()
	defer w.Close()
	done := make(chan error, 1)
	returned := make(chan struct{})
	go func() {
		s.AttachConnection("tcp", r, func(err error) { done <- err })
		close(returned)
	}()
	connect := packets.TPacketData[packets.Connect].Get(packets.TConnectClean)
	go func() { _, _ = w.Write(connect.RawBytes) }()
	connack := packets.TPacketData[packets.Connack].Get(packets.TConnackAcceptedNoSession).RawBytes
	require.Equal(t, connack, readN(t, w, len(connack)))

	// The caller's goroutine is free once the session is established,
	// while the client stays connected and served.
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("AttachConnection did not return after the CONNACK")
	}
	require.Equal(t, int64(1), atomic.LoadInt64(&s.Info.ClientsConnected))
	_, ok := s.Clients.Get(connect.Packet.Connect.ClientIdentifier)
	require.True(t, ok)
	select {
	case err := <-done:
		t.Fatalf("done called while connected: %v", err)
	default:
	}
	ping := packets.TPacketData[packets.Pingreq].Get(packets.TPingreq).RawBytes
	go func() { _, _ = w.Write(ping) }()
	pong := packets.TPacketData[packets.Pingresp].Get(packets.TPingresp).RawBytes
	require.Equal(t, pong, readN(t, w, len(pong)))

	// A DISCONNECT ends it as EstablishConnection would: no error, the
	// clean session gone, the count back.
	go func() {
		_, _ = w.Write(packets.TPacketData[packets.Disconnect].Get(packets.TDisconnect).RawBytes)
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("done not called after DISCONNECT")
	}
	require.Equal(t, int64(0), atomic.LoadInt64(&s.Info.ClientsConnected))
	_, ok = s.Clients.Get(connect.Packet.Connect.ClientIdentifier)
	require.False(t, ok)
}

func TestAttachConnectionRefused(t *testing.T) {
	s := newServer()
	defer s.Close()

	r, w := net.Pipe()
	defer w.Close()
	go func() { _, _ = w.Write([]byte{0x10, 0x00}) }() // a CONNECT with no body
	go func() { _, _ = io.Copy(io.Discard, w) }()
	var got error
	called := false
	s.AttachConnection("tcp", r, func(err error) { called, got = true, err })
	// Refused before a session: done is called before AttachConnection
	// returns, with EstablishConnection's error.
	require.True(t, called)
	require.Error(t, got)
	require.Equal(t, int64(0), atomic.LoadInt64(&s.Info.ClientsConnected))
}

// TestWriterOnlyWhileQueued: packets queued for a client are written in
// order by a goroutine that exists only until the queue is empty.
func TestWriterOnlyWhileQueued(t *testing.T) {
	s := newServer()
	defer s.Close()
	r, w := net.Pipe()
	defer r.Close()
	cl := s.NewClient(w, "tcp", "zen", false)
	defer cl.Stop(nil)
	s.Clients.Add(cl)
	require.False(t, cl.State.writing.Load())
	before := runtime.NumGoroutine()

	const n = 50
	go func() {
		for i := 0; i < n; i++ {
			pk := packets.Packet{
				FixedHeader: packets.FixedHeader{Type: packets.Publish},
				TopicName:   "a/b",
				Payload:     []byte{byte(i)},
			}
			_, err := s.publishToClient(cl, packets.Subscription{Filter: "a/b"}, pk)
			if err != nil {
				panic(err)
			}
		}
	}()
	require.NoError(t, r.SetReadDeadline(time.Now().Add(5*time.Second)))
	br := bufio.NewReader(r)
	for i := 0; i < n; i++ {
		fh := new(packets.FixedHeader)
		b, err := br.ReadByte()
		require.NoError(t, err)
		require.NoError(t, fh.Decode(b))
		require.Equal(t, packets.Publish, fh.Type)
		rem, _, err := packets.DecodeLength(br)
		require.NoError(t, err)
		body := make([]byte, rem)
		_, err = io.ReadFull(br, body)
		require.NoError(t, err)
		require.Equal(t, byte(i), body[len(body)-1], "packet %d out of order", i)
	}
	// The writer ends once the queue is empty: no goroutine is left.
	deadline := time.Now().Add(5 * time.Second)
	for (cl.State.writing.Load() || runtime.NumGoroutine() > before) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	require.False(t, cl.State.writing.Load(), "the writer is still marked running")
	require.Empty(t, cl.State.outbound)
	require.LessOrEqual(t, runtime.NumGoroutine(), before, "the writer goroutine did not end")
}

func TestClientsRange(t *testing.T) {
	cls := NewClients()
	for _, id := range []string{"a", "b", "c"} {
		cls.Add(&Client{ID: id})
	}
	seen := map[string]bool{}
	cls.Range(func(id string, c *Client) bool {
		require.Equal(t, id, c.ID)
		seen[id] = true
		return true
	})
	require.Equal(t, map[string]bool{"a": true, "b": true, "c": true}, seen)
	n := 0
	cls.Range(func(string, *Client) bool { n++; return false })
	require.Equal(t, 1, n, "Range goes on after f returned false")
}

// TestExpirySweepsPickOnlyExpired: the sweeps that no longer copy the maps
// still remove what expired and only that.
func TestExpirySweepsPickOnlyExpired(t *testing.T) {
	s := newServer()
	defer s.Close()
	now := time.Now().Unix()
	s.Topics.Retained.Add("old", packets.Packet{ProtocolVersion: 5, Expiry: now - 10})
	s.Topics.Retained.Add("fresh", packets.Packet{ProtocolVersion: 5, Expiry: now + 100})
	s.Topics.Retained.Add("v4", packets.Packet{ProtocolVersion: 4, Expiry: now - 10})
	s.clearExpiredRetainedMessages(now)
	require.Equal(t, 2, s.Topics.Retained.Len())
	_, ok := s.Topics.Retained.Get("old")
	require.False(t, ok)

	gone, _, _ := newTestClient()
	gone.ID = "gone"
	gone.Stop(nil)
	gone.State.disconnected = now - 100
	gone.Properties.ProtocolVersion = 5
	gone.Properties.Props.SessionExpiryIntervalFlag = true
	gone.Properties.Props.SessionExpiryInterval = 10
	here, _, _ := newTestClient()
	here.ID = "here"
	s.Clients.Add(gone)
	s.Clients.Add(here)
	s.clearExpiredClients(now)
	_, ok = s.Clients.Get("gone")
	require.False(t, ok)
	_, ok = s.Clients.Get("here")
	require.True(t, ok)

	here.State.Inflight.Set(packets.Packet{PacketID: 1, ProtocolVersion: 5, Expiry: now - 1})
	here.State.Inflight.Set(packets.Packet{PacketID: 2, ProtocolVersion: 5, Expiry: now + 100})
	s.clearExpiredInflights(now)
	require.Equal(t, 1, here.State.Inflight.Len())
	_, ok = here.State.Inflight.Get(2)
	require.True(t, ok)
}

// Server.Close lists a listener's clients with GetByListener while clients
// that are ending delete themselves. GetByListener took the map's read lock
// twice (its capacity came from Len), and a Delete waiting between the two
// locks deadlocked shutdown: the broker's tests hung for their whole timeout.
func TestGetByListenerWhileClientsEnd(t *testing.T) {
	cls := NewClients()
	for i := 0; i < 64; i++ {
		c := &Client{ID: "c" + strconv.Itoa(i), Net: ClientConnection{Listener: "t1"}}
		c.State.open = context.Background()
		cls.Add(c)
	}
	stop := make(chan struct{})
	writers := make(chan struct{})
	go func() {
		defer close(writers)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := "w" + strconv.Itoa(i%8)
			cls.Add(&Client{ID: id, Net: ClientConnection{Listener: "t2"}})
			cls.Delete(id)
		}
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20000; i++ {
			if got := len(cls.GetByListener("t1")); got != 64 {
				t.Errorf("GetByListener(t1) = %d clients, want 64", got)
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("GetByListener deadlocked with a Delete waiting for the map's lock")
	}
	close(stop)
	<-writers
}

// NextImmediate took the inflight map's read lock around GetAll, which takes
// it again: the same deadlock as GetByListener's with a Set or Delete waiting.
func TestNextImmediateWhileInflightsChange(t *testing.T) {
	in := NewInflights()
	in.Set(packets.Packet{PacketID: 1, Expiry: -1})
	stop := make(chan struct{})
	writers := make(chan struct{})
	go func() {
		defer close(writers)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			in.Set(packets.Packet{PacketID: uint16(2 + i%8)})
			in.Delete(uint16(2 + i%8))
		}
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20000; i++ {
			if _, ok := in.NextImmediate(); !ok {
				t.Error("NextImmediate found no packet; packet 1 is in flight")
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("NextImmediate deadlocked with a Set waiting for the map's lock")
	}
	close(stop)
	<-writers
}
