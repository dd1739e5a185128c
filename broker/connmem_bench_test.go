package broker

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clawfleet/clawfleet/pkg/proto"
)

// BenchmarkConnectionMemory measures what one connected device costs the
// broker in goroutine stacks and heap: N raw MQTT 3.1.1 connections (no
// client library, so the client side is a bare net.Conn) connect the way the
// agent does (clean session, QoS 1 Last Will, subscription to its down/#),
// and, once they all are connected and their stacks have settled, each
// publishes one QoS 1 status and one QoS 0 heartbeat of 300 bytes to the
// cloud's inline subscription, as a connected agent does all the time. It
// prints per-connection KiB right after the publishes (readers grown by the
// packet path) and after three collections (the runtime halves a stack at
// most once per collection, so three take a 32 KiB reader to its resting
// size). Run it once:
//
//	go test -run '^$' -bench BenchmarkConnectionMemory -benchtime 1x ./broker/
//
// CLAWFLEET_BENCH_CONNS sets N (default 2000; two file descriptors each).
func BenchmarkConnectionMemory(b *testing.B) {
	n := 2000
	if v := os.Getenv("CLAWFLEET_BENCH_CONNS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("CLAWFLEET_BENCH_CONNS=%q: want a positive integer", v)
		}
	}
	for range b.N {
		r := measureConnections(b, n)
		b.ReportMetric(r.stackRest, "stack-KiB/conn")
		b.ReportMetric(r.stackPeak, "stack-peak-KiB/conn")
		b.ReportMetric(r.heapRest, "heap-KiB/conn")
		b.ReportMetric(r.goroutines, "goroutines/conn")
		fmt.Fprintf(os.Stderr, "connections %d: after the publishes stacks %.1f KiB, heap in use %.1f KiB per connection; "+
			"at rest stacks %.1f KiB, heap in use %.1f KiB; %.2f goroutines per connection\n",
			n, r.stackPeak, r.heapPeak, r.stackRest, r.heapRest, r.goroutines)
	}
}

type connMem struct {
	stackPeak, heapPeak, stackRest, heapRest, goroutines float64
}

func measureConnections(b *testing.B, n int) connMem {
	b.Helper()
	auth := &fakeAuth{secrets: make(map[string]string, n)}
	for i := 1; i <= n; i++ {
		auth.add(devID(i), secretOf(devID(i)))
	}
	br, err := New(Options{
		TCPAddr:            "127.0.0.1:0",
		Logger:             slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registerer:         prometheus.NewRegistry(),
		IPConnectRate:      1e9, // every connection comes from 127.0.0.1
		IPConnectBurst:     1 << 30,
		ClientConnectBurst: 5,
	}, auth)
	if err != nil {
		b.Fatalf("New: %v", err)
	}
	if err := br.Start(); err != nil {
		b.Fatalf("Start: %v", err)
	}
	defer br.Close()
	var got atomic.Int64
	if err := br.Subscribe(proto.CloudFilter, func(string, []byte) { got.Add(1) }); err != nil {
		b.Fatalf("Subscribe: %v", err)
	}
	addr := br.Addr().String()

	before := settledMemStats()
	goroutinesBefore := runtime.NumGoroutine()

	conns := make([]net.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
	}()
	eachDevice(b, n, func(i int) (err error) {
		conns[i], err = rawConnect(addr, devID(i+1))
		return err
	})
	settledMemStats()
	payload := bytes.Repeat([]byte("x"), 300)
	eachDevice(b, n, func(i int) error { return rawPublish(conns[i], devID(i+1), payload) })
	deadline := time.Now().Add(30 * time.Second)
	for got.Load() < int64(2*n) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g := got.Load(); g < int64(2*n) {
		b.Fatalf("inline subscriber got %d messages, want %d", g, 2*n)
	}

	var peak runtime.MemStats
	runtime.ReadMemStats(&peak)
	rest := settledMemStats()
	per := func(after, before uint64) float64 { return (float64(after) - float64(before)) / float64(n) / 1024 }
	return connMem{
		stackPeak:  per(peak.StackInuse, before.StackInuse),
		heapPeak:   per(peak.HeapInuse, before.HeapInuse),
		stackRest:  per(rest.StackInuse, before.StackInuse),
		heapRest:   per(rest.HeapInuse, before.HeapInuse),
		goroutines: float64(runtime.NumGoroutine()-goroutinesBefore) / float64(n),
	}
}

// eachDevice runs f for devices 0..n-1 on 16 goroutines.
func eachDevice(b *testing.B, n int, f func(i int) error) {
	b.Helper()
	const workers = 16
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				if err := f(i); err != nil {
					errs <- fmt.Errorf("device %d: %w", i+1, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

// settledMemStats collects three times, so that grown stacks are back at
// the size their goroutines need at rest, and reads the memory statistics.
func settledMemStats() runtime.MemStats {
	for i := 0; i < 3; i++ {
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms
}

// rawConnect connects as device id the way the agent does, waiting for
// CONNACK and SUBACK.
func rawConnect(addr, id string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	fail := func(what string, err error) (net.Conn, error) {
		_ = c.Close()
		return nil, fmt.Errorf("%s: %w", what, err)
	}

	will := []byte(`{"state":"offline"}`)
	var v bytes.Buffer
	v.Write(mqttString("MQTT"))
	v.WriteByte(4)                                // MQTT 3.1.1
	v.WriteByte(0x80 | 0x40 | 0x08 | 0x04 | 0x02) // username, password, will QoS 1, will, clean session
	v.Write([]byte{0, 30})                        // keepalive
	v.Write(mqttString(id))
	v.Write(mqttString(proto.UpTopic(id, proto.KindStatus)))
	v.Write(mqttString(string(will)))
	v.Write(mqttString(id))
	v.Write(mqttString(secretOf(id)))
	if _, err := c.Write(mqttPacket(0x10, v.Bytes())); err != nil {
		return fail("connect", err)
	}
	if ack, err := expectPacket(c, 0x20, 2); err != nil || ack[3] != 0 {
		return fail("connack", fmt.Errorf("% x: %v", ack, err))
	}

	v.Reset()
	v.Write([]byte{0, 1})
	v.Write(mqttString(proto.DeviceFilter(id)))
	v.WriteByte(1)
	if _, err := c.Write(mqttPacket(0x82, v.Bytes())); err != nil {
		return fail("subscribe", err)
	}
	if ack, err := expectPacket(c, 0x90, 3); err != nil || ack[4] > 2 {
		return fail("suback", fmt.Errorf("% x: %v", ack, err))
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// rawPublish publishes a QoS 1 status and a QoS 0 heartbeat as device id,
// waiting for the PUBACK.
func rawPublish(c net.Conn, id string, payload []byte) error {
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	var v bytes.Buffer
	v.Write(mqttString(proto.UpTopic(id, proto.KindStatus)))
	v.Write([]byte{0, 2})
	v.Write(payload)
	if _, err := c.Write(mqttPacket(0x32, v.Bytes())); err != nil {
		return fmt.Errorf("publish status: %w", err)
	}
	if _, err := expectPacket(c, 0x40, 2); err != nil {
		return fmt.Errorf("puback: %w", err)
	}

	v.Reset()
	v.Write(mqttString(proto.UpTopic(id, proto.KindHeartbeat)))
	v.Write(payload)
	if _, err := c.Write(mqttPacket(0x30, v.Bytes())); err != nil {
		return fmt.Errorf("publish heartbeat: %w", err)
	}
	return c.SetDeadline(time.Time{})
}

func mqttString(s string) []byte {
	out := binary.BigEndian.AppendUint16(nil, uint16(len(s)))
	return append(out, s...)
}

func mqttPacket(header byte, body []byte) []byte {
	out := []byte{header}
	for l := len(body); ; {
		b := byte(l % 128)
		l /= 128
		if l > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if l == 0 {
			break
		}
	}
	return append(out, body...)
}

// expectPacket reads one short packet (remaining length < 128) of the given
// type byte and length.
func expectPacket(c net.Conn, header byte, length int) ([]byte, error) {
	buf := make([]byte, 2+length)
	if _, err := io.ReadFull(c, buf); err != nil {
		return buf, err
	}
	if buf[0] != header || int(buf[1]) != length {
		return buf, fmt.Errorf("got packet % x, want type %#x length %d", buf, header, length)
	}
	return buf, nil
}
