package tstest

import "testing"

func TestBuffer(t *testing.T) {
	var b Buffer
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 100 {
				b.Write([]byte("ab"))
				_ = b.String()
			}
		}()
	}
	for range 4 {
		<-done
	}
	if got := len(b.String()); got != 800 {
		t.Fatalf("Buffer holds %d bytes after 400 writes of 2, want 800", got)
	}
}
