package benchutil

import (
	"math"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 5}, {95, 10}, {10, 1}, {100, 10}} {
		if got := Percentile(ds, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if Percentile(nil, 50) != 0 {
		t.Error("empty")
	}
}

func TestHistogramQuantile(t *testing.T) {
	before := map[string]float64{`h_bucket{le="1"}`: 0, `h_bucket{le="2"}`: 0, `h_bucket{le="+Inf"}`: 0}
	after := map[string]float64{`h_bucket{le="1"}`: 50, `h_bucket{le="2"}`: 100, `h_bucket{le="+Inf"}`: 100}
	if got := HistogramQuantile(0.5, before, after, "h"); got != 1 {
		t.Errorf("p50 = %v, want 1", got)
	}
	if got := HistogramQuantile(0.75, before, after, "h"); got != 1.5 {
		t.Errorf("p75 = %v, want 1.5", got)
	}
	if got := HistogramQuantile(0.5, after, after, "h"); !math.IsNaN(got) {
		t.Errorf("no samples = %v, want NaN", got)
	}
}
