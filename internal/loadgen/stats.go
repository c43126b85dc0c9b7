package loadgen

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

const (
	histMin     = 1          // µs
	histMax     = 60_000_000 // µs; 60 s
	histSigFigs = 3

	// maxKinds bounds the failure map: the server picks failureReason, and a
	// reason with an order id in it must not grow memory per order.
	maxKinds      = 200
	kindOverflow  = "other (too many distinct kinds)"
	kindAboveHist = "latency above 60s recorded as 60s"
)

// stats is shared by every order goroutine. Counters are atomics so the
// progress line can read them without the lock; everything else is behind mu
// because hdrhistogram is not safe for concurrent use.
type stats struct {
	sent      atomic.Int64
	accepted  atomic.Int64
	completed atomic.Int64
	failed    atomic.Int64
	inFlight  atomic.Int64

	mu                sync.Mutex
	createLatency     *hdrhistogram.Histogram
	createToCompleted *hdrhistogram.Histogram
	failures          map[string]int64
	anomalies         map[string]int64
	firstSent         time.Time // client clock
	lastAccepted      time.Time // client clock
	firstCreatedAt    time.Time // server clock
	lastCompletedAt   time.Time // server clock
}

func newStats() *stats {
	return &stats{
		createLatency:     hdrhistogram.New(histMin, histMax, histSigFigs),
		createToCompleted: hdrhistogram.New(histMin, histMax, histSigFigs),
		failures:          make(map[string]int64),
		anomalies:         make(map[string]int64),
	}
}

func (s *stats) markSent(at time.Time) {
	s.sent.Add(1)
	s.mu.Lock()
	if s.firstSent.IsZero() || at.Before(s.firstSent) {
		s.firstSent = at
	}
	s.mu.Unlock()
}

func (s *stats) recordCreateLatency(d time.Duration) {
	s.mu.Lock()
	s.record(s.createLatency, d)
	s.mu.Unlock()
}

func (s *stats) markAccepted(answeredAt, createdAt time.Time) {
	s.accepted.Add(1)
	s.mu.Lock()
	if answeredAt.After(s.lastAccepted) {
		s.lastAccepted = answeredAt
	}
	if s.firstCreatedAt.IsZero() || createdAt.Before(s.firstCreatedAt) {
		s.firstCreatedAt = createdAt
	}
	s.mu.Unlock()
}

// markCompleted counts the order; latency is recorded only when the server's
// timestamps allowed computing it (ok), so a contract problem shows up as an
// anomaly instead of a made-up number.
func (s *stats) markCompleted(latency time.Duration, completedAt time.Time, ok bool) {
	s.completed.Add(1)
	s.mu.Lock()
	if ok {
		s.record(s.createToCompleted, latency)
	}
	if completedAt.After(s.lastCompletedAt) {
		s.lastCompletedAt = completedAt
	}
	s.mu.Unlock()
}

// completionQuantile is the q-th percentile of create-to-COMPLETED latency so far (0 before the first).
func (s *stats) completionQuantile(q float64) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.createToCompleted.TotalCount() == 0 {
		return 0
	}
	return time.Duration(s.createToCompleted.ValueAtQuantile(q)) * time.Microsecond
}

func (s *stats) fail(kind string) {
	s.failed.Add(1)
	s.mu.Lock()
	addKind(s.failures, kind)
	s.mu.Unlock()
}

func (s *stats) anomaly(kind string) {
	s.mu.Lock()
	addKind(s.anomalies, kind)
	s.mu.Unlock()
}

func addKind(m map[string]int64, kind string) {
	if _, seen := m[kind]; !seen && len(m) >= maxKinds {
		kind = kindOverflow
	}
	m[kind]++
}

// record must be called with mu held.
func (s *stats) record(h *hdrhistogram.Histogram, d time.Duration) {
	us := max(d.Microseconds(), 0)
	if us > histMax {
		us = histMax
		addKind(s.anomalies, kindAboveHist)
	}
	_ = h.RecordValue(us) // cannot fail: us is clamped into the histogram's range
}

func latencyStats(h *hdrhistogram.Histogram) LatencyStats {
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	if h.TotalCount() == 0 {
		return LatencyStats{}
	}
	return LatencyStats{
		Count: h.TotalCount(),
		P50:   us(h.ValueAtQuantile(50)),
		P90:   us(h.ValueAtQuantile(90)),
		P99:   us(h.ValueAtQuantile(99)),
		Max:   us(h.Max()),
	}
}

func sortedKinds(m map[string]int64) []KindCount {
	out := make([]KindCount, 0, len(m))
	for k, n := range m {
		out = append(out, KindCount{Kind: k, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}
