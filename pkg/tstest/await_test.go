package tstest

import (
	"errors"
	"testing"
	"time"
)

// fakeTB records a Fatalf instead of stopping the test, so failure paths can
// be asserted.
type fakeTB struct {
	testing.TB
	failed bool
}

func (f *fakeTB) Helper()               {}
func (f *fakeTB) Fatalf(string, ...any) { f.failed = true; panic(f) }
func run(f *fakeTB, fn func()) (failed bool) {
	defer func() {
		if v := recover(); v != nil && v != any(f) {
			panic(v)
		}
		failed = f.failed
	}()
	fn()
	return f.failed
}

func TestAwait(t *testing.T) {
	n := 0
	if run(&fakeTB{TB: t}, func() { Await(&fakeTB{TB: t}, "third call", time.Second, func() bool { n++; return n >= 3 }) }) || n != 3 {
		t.Fatalf("Await stopped after %d calls", n)
	}
	f := &fakeTB{TB: t}
	if !run(f, func() { Await(f, "never", 30*time.Millisecond, func() bool { return false }) }) {
		t.Fatal("Await did not fail on a condition that never holds")
	}
}

func TestAwaitErr(t *testing.T) {
	n := 0
	f := &fakeTB{TB: t}
	if run(f, func() {
		AwaitErr(f, "second call", time.Second, func() error {
			if n++; n < 2 {
				return errors.New("not yet")
			}
			return nil
		})
	}) || n != 2 {
		t.Fatalf("AwaitErr stopped after %d calls", n)
	}
	f = &fakeTB{TB: t}
	if !run(f, func() { AwaitErr(f, "never", 30*time.Millisecond, func() error { return errors.New("no") }) }) {
		t.Fatal("AwaitErr did not fail on a condition that never holds")
	}
}
