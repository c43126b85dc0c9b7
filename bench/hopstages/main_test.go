package main

import (
	"math"
	"testing"
)

// TestQuantile: quantiles interpolate within the buckets of the difference of two scrapes, as
// Prometheus's histogram_quantile does, and what the first scrape had counted is left out.
func TestQuantile(t *testing.T) {
	inf := math.Inf(1)
	before := bucketCounts{.001: 100, .002: 100, .004: 100, inf: 100} // 100 fast events before the run
	after := bucketCounts{.001: 100, .002: 150, .004: 200, inf: 200}  // the run: 50 in (1,2] ms, 50 in (2,4] ms
	for _, c := range []struct{ q, want float64 }{{.5, .002}, {.25, .0015}, {.75, .003}, {1, .004}} {
		got, n := quantile(c.q, after, before)
		if n != 100 || math.Abs(got-c.want) > 1e-12 {
			t.Errorf("quantile(%v) = %v of %v events, want %v of 100", c.q, got, n, c.want)
		}
	}
	if got, n := quantile(.5, before, before); !math.IsNaN(got) || n != 0 {
		t.Errorf("no events: quantile %v of %v, want NaN of 0", got, n)
	}
	// Past the last finite bucket: its bound, as Prometheus answers.
	if got, _ := quantile(.99, bucketCounts{.001: 0, inf: 10}, bucketCounts{}); got != .001 {
		t.Errorf("all beyond the last bucket: %v, want 0.001", got)
	}
}
