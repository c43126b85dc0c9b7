package console

import (
	"math"
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	inf := math.Inf(1)
	for _, c := range []struct {
		q       float64
		buckets map[float64]float64
		want    float64
	}{
		{0.5, map[float64]float64{0.1: 50, 0.5: 90, 1: 100, inf: 100}, 0.1},
		{0.99, map[float64]float64{0.1: 50, 0.5: 90, 1: 100, inf: 100}, 0.95},
		{0.99, map[float64]float64{1: 10, inf: 20}, 1}, // past the largest bound: that bound
		{0.5, map[float64]float64{0.01: 0, 0.025: 4, inf: 4}, 0.0175},
	} {
		got := quantile(c.q, c.buckets)
		if got == nil || math.Abs(*got-c.want) > 1e-9 {
			t.Errorf("quantile(%v, %v) = %v, want %v", c.q, c.buckets, got, c.want)
		}
	}
	if got := quantile(0.5, map[float64]float64{1: 0, inf: 0}); got != nil {
		t.Errorf("quantile of nothing = %v, want nil", *got)
	}
}

func TestChart(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	inf := math.Inf(1)
	at := func(d time.Duration, completed, fast, all float64) sample {
		return sample{at: t0.Add(d), finished: map[string]float64{"COMPLETED": completed},
			duration: map[float64]float64{0.1: fast, 1: all, inf: all}, backlog: map[string]float64{"order": 2, "payment": 1}}
	}
	d := chart([]sample{
		at(0, 10, 10, 10),
		at(5*time.Second, 20, 20, 20),  // 10 in 5 s, all fast
		at(10*time.Second, 20, 20, 20), // none
		at(70*time.Second, 5, 5, 5),    // after a gap, and a restart
		at(75*time.Second, 15, 5, 15),  // 10 more, all slow
		at(76*time.Second, 14, 5, 14),  // a counter went down: a restart
		at(80*time.Second, 20, 10, 20), // 6, 5 of them fast
		at(85*time.Second, 20, 10, 20),
	}, 5*time.Second)
	completed := d.Rates[0]
	want := []*float64{nil, ptr(2), ptr(0), nil, ptr(2), nil, ptr(1.5), ptr(0)}
	for i := range want {
		if (completed[i] == nil) != (want[i] == nil) || (want[i] != nil && math.Abs(*completed[i]-*want[i]) > 1e-9) {
			t.Errorf("rate %d = %v, want %v", i, deref(completed[i]), deref(want[i]))
		}
	}
	if d.P50[1] == nil || *d.P50[1] > 100 {
		t.Errorf("p50 after fast orders = %v ms, want at most 100", deref(d.P50[1]))
	}
	if d.P50[4] == nil || *d.P50[4] < 100 {
		t.Errorf("p50 after slow orders = %v ms, want over 100", deref(d.P50[4]))
	}
	if d.P50[3] != nil {
		t.Errorf("p50 right after a gap = %v, want none", *d.P50[3])
	}
	if *d.Backlog[0] != 3 {
		t.Errorf("backlog = %v, want 3 (summed over services)", *d.Backlog[0])
	}
}

func deref(v *float64) any {
	if v == nil {
		return nil
	}
	return *v
}
