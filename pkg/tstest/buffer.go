package tstest

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer that any number of goroutines may write to and
// read at once, such as a logger's output that a test inspects while (and
// after) the code under test writes to it. The zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
