// Package fleettest has test doubles for code built on cloud/fleet.
package fleettest

import "sync"

// Bus is an in-memory fleet.Bus: it keeps the last payload published to
// each topic and the devices it was told to disconnect, and delivers device
// messages (Send) to the handler subscribed to it.
type Bus struct {
	mu        sync.Mutex
	handler   func(string, []byte)
	published map[string][]byte
	kicked    []string
}

// NewBus returns an empty Bus.
func NewBus() *Bus { return &Bus{published: map[string][]byte{}} }

// Publish records payload as topic's latest.
func (b *Bus) Publish(topic string, payload []byte, _ bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.published[topic] = payload
	return nil
}

// Subscribe makes h the handler Send delivers to (whatever the filter).
func (b *Bus) Subscribe(_ string, h func(string, []byte)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.handler = h
	return nil
}

// Disconnect records id.
func (b *Bus) Disconnect(id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.kicked = append(b.kicked, id)
	return nil
}

// Get is topic's latest payload (nil when none).
func (b *Bus) Get(topic string) []byte {
	p, _ := b.Published(topic)
	return p
}

// Published is topic's latest payload, and whether anything was published
// to it (an empty payload clears a retained message).
func (b *Bus) Published(topic string) ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.published[topic]
	return p, ok
}

// Forget drops what was published to topic, so the next Get sees only what
// comes after.
func (b *Bus) Forget(topic string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.published, topic)
}

// Disconnected lists the devices Disconnect was called for, in order.
func (b *Bus) Disconnected() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.kicked...)
}

// Subscribed reports whether a handler is subscribed.
func (b *Bus) Subscribed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.handler != nil
}

// Send delivers a device message to the subscribed handler, in the
// caller's goroutine as a broker would in the publisher's. It panics when
// nothing is subscribed yet.
func (b *Bus) Send(topic string, payload []byte) {
	b.mu.Lock()
	h := b.handler
	b.mu.Unlock()
	h(topic, payload)
}
