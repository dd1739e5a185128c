package link

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestBackoffWindow(t *testing.T) {
	tests := []struct {
		name      string
		base, cap time.Duration
		want      []time.Duration // windows of attempts 0, 1, 2, ...
	}{
		{"defaults", 0, 0, []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, 60 * time.Second, 60 * time.Second}},
		{"small", 100 * time.Millisecond, 500 * time.Millisecond, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond}},
		{"base above cap", 2 * time.Second, time.Second, []time.Duration{time.Second, time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Backoff{Base: tt.base, Cap: tt.cap, Rand: func(n int64) int64 { return n - 1 }} // always the top of the window
			for i, want := range tt.want {
				if w := b.Window(); w != want {
					t.Errorf("attempt %d: window %v, want %v", i, w, want)
				}
				if d := b.Next(); d != want {
					t.Errorf("attempt %d: delay %v, want %v (top of window)", i, d, want)
				}
			}
		})
	}
}

func TestBackoffJitterBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	b := Backoff{Base: time.Second, Cap: time.Minute, Rand: r.Int64N}
	var sum [12]time.Duration
	const rounds = 200
	for range rounds {
		b.Reset()
		for i := range sum {
			w := b.Window()
			d := b.Next()
			if d < 0 || d > w || d > time.Minute {
				t.Fatalf("attempt %d: delay %v outside [0, %v]", i, d, w)
			}
			sum[i] += d
		}
	}
	// The mean delay grows with the window until the cap: ~0.5 s, 1 s, 2 s, …, then ~30 s.
	for i := 1; i < 6; i++ {
		if sum[i] <= sum[i-1] {
			t.Errorf("mean delay does not grow: attempt %d %v, attempt %d %v", i-1, sum[i-1]/rounds, i, sum[i]/rounds)
		}
	}
	if mean := sum[11] / rounds; mean < 25*time.Second || mean > 35*time.Second {
		t.Errorf("capped mean delay %v, want about 30 s", mean)
	}
}

func TestBackoffReset(t *testing.T) {
	b := Backoff{Base: time.Second, Cap: time.Minute, Rand: func(n int64) int64 { return n - 1 }}
	for range 5 {
		b.Next()
	}
	if b.Attempt() != 5 || b.Window() != 32*time.Second {
		t.Fatalf("after 5 failures: attempt %d, window %v", b.Attempt(), b.Window())
	}
	b.Reset()
	if b.Attempt() != 0 || b.Next() != time.Second {
		t.Errorf("after Reset the first delay is not bounded by Base")
	}
	zero := Backoff{Base: time.Second, Cap: time.Minute, Rand: func(int64) int64 { return 0 }}
	if d := zero.Next(); d != 0 {
		t.Errorf("full jitter must allow 0, got %v", d)
	}
	huge := Backoff{Base: time.Second, Cap: time.Minute}
	for range 200 { // no overflow after many failures
		if d := huge.Next(); d < 0 || d > time.Minute {
			t.Fatalf("delay %v outside [0, cap]", d)
		}
	}
}
