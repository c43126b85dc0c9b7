package loadgen

import (
	"bytes"
	"context"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// within reports whether d is within the resolution of a 3-significant-digit
// histogram around want.
func within(d, want time.Duration) bool {
	tol := want / 500
	return d >= want-tol && d <= want+tol
}

func TestRunOrdersAllComplete(t *testing.T) {
	const n = 60
	fake := &fakeAPI{skus: 5, completeAfter: 50 * time.Millisecond}
	srv := fake.start(t)

	sum, err := Run(t.Context(), Config{
		Target: srv.URL, Rate: 300, Orders: n, FollowTimeout: 5 * time.Second, SKUs: 5,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}

	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.creates) != n {
		t.Fatalf("server saw %d creates, want %d", len(fake.creates), n)
	}
	keys := map[string]bool{}
	for _, c := range fake.creates {
		keys[c.key] = true
	}
	if len(keys) != n {
		t.Errorf("%d distinct Idempotency-Keys for %d creates", len(keys), n)
	}
	for _, p := range fake.problems {
		t.Error(p)
	}

	if sum.Sent != n || sum.Accepted != n || sum.Completed != n || sum.Failed != 0 || len(sum.Failures) != 0 {
		t.Errorf("sent/accepted/completed/failed = %d/%d/%d/%d %v, want %d/%d/%d/0",
			sum.Sent, sum.Accepted, sum.Completed, sum.Failed, sum.Failures, n, n, n)
	}
	if sum.CreateLatency.Count != n || sum.CreateToCompleted.Count != n {
		t.Errorf("histogram counts create=%d toCompleted=%d, want %d each",
			sum.CreateLatency.Count, sum.CreateToCompleted.Count, n)
	}
	// The fake stamps COMPLETED exactly 50ms after createdAt, and answers the
	// long poll about then: only the server timestamps give exactly 50ms.
	c := sum.CreateToCompleted
	for name, d := range map[string]time.Duration{"p50": c.P50, "p90": c.P90, "p99": c.P99, "max": c.Max} {
		if !within(d, 50*time.Millisecond) {
			t.Errorf("create→COMPLETED %s = %v, want ≈50ms", name, d)
		}
	}
	if sum.CreateLatency.Max <= 0 || sum.CreateLatency.P50 > sum.CreateLatency.Max {
		t.Errorf("implausible create latency %+v", sum.CreateLatency)
	}

	// No polling: each order is read by one GET, a long poll the server
	// answers when the order ends.
	var firstCreated, lastCompleted time.Time
	for id, o := range fake.orders {
		if len(o.gets) != 1 || o.longPolls != 1 {
			t.Errorf("order %s read by %d GETs, %d of them long polls; want 1 long poll", id, len(o.gets), o.longPolls)
		}
		if firstCreated.IsZero() || o.createdAt.Before(firstCreated) {
			firstCreated = o.createdAt
		}
		if done := o.createdAt.Add(fake.completeAfter); done.After(lastCompleted) {
			lastCompleted = done
		}
	}
	if want := lastCompleted.Sub(firstCreated); sum.CompletedWindow != want {
		t.Errorf("completed window %v, want server span %v", sum.CompletedWindow, want)
	}
	if want := float64(n) / sum.CompletedWindow.Seconds(); sum.CompletedPerSec != want {
		t.Errorf("completed/s %v, want %v", sum.CompletedPerSec, want)
	}
	if sum.AcceptedPerSec <= 0 || sum.AcceptedWindow <= 0 {
		t.Errorf("accepted/s %v over %v", sum.AcceptedPerSec, sum.AcceptedWindow)
	}
	if sum.Interrupted {
		t.Error("run reported as interrupted")
	}
}

// TestRunPollsMostOrdersOnce checks that, against a server without the long poll and with
// completion times spread out, the first poll waits long enough that most orders are read once:
// every extra GET is load on the system under test.
func TestRunPollsMostOrdersOnce(t *testing.T) {
	const n = 300
	fake := &fakeAPI{skus: 5, completeAfter: 40 * time.Millisecond, completeStep: 10 * time.Millisecond, noWait: true}
	srv := fake.start(t)
	sum, err := Run(t.Context(), Config{
		Target: srv.URL, Rate: 300, Orders: n, FollowTimeout: 10 * time.Second, SKUs: 5,
		firstPoll: 50 * time.Millisecond,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Completed != n {
		t.Fatalf("%d of %d orders completed: %v", sum.Completed, n, sum.Failures)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	gets := 0
	for _, o := range fake.orders {
		gets += len(o.gets)
	}
	t.Logf("%d GETs for %d orders", gets, n)
	// Orders finish 40 to 130 ms after creation. Polled first at the median, half of them are
	// read twice (1.6 GETs an order here); at the 90th percentile, about one in five (1.22), most
	// of them among the first orders, polled before any had completed.
	if perOrder := float64(gets) / n; perOrder > 1.4 {
		t.Errorf("%.2f GETs per order, want at most 1.4", perOrder)
	}
}

// TestRunPacesPolls checks that polls (against a server without the long poll) keep to their budget (pollsPerOrder per order created per
// second) however many orders are in flight and however often each would poll, and that every
// order is still followed to its end.
func TestRunPacesPolls(t *testing.T) {
	const n, perSecond = 40, 100
	fake := &fakeAPI{skus: 5, completeAfter: 400 * time.Millisecond, noWait: true}
	srv := fake.start(t)
	sum, err := Run(t.Context(), Config{
		Target: srv.URL, Rate: perSecond, Orders: n, FollowTimeout: 10 * time.Second, SKUs: 5,
		firstPoll: 5 * time.Millisecond, maxPoll: 10 * time.Millisecond, pollsPerOrder: 1,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Completed != n {
		t.Errorf("%d of %d orders completed: %v", sum.Completed, n, sum.Failures)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	var gets []time.Time
	for _, o := range fake.orders {
		gets = append(gets, o.gets...)
	}
	slices.SortFunc(gets, func(a, b time.Time) int { return a.Compare(b) })
	// The budget allows a burst of one second's worth, then perSecond a second.
	span := gets[len(gets)-1].Sub(gets[0]).Seconds()
	if limit := perSecond + perSecond*span*1.1; float64(len(gets)) > limit {
		t.Errorf("%d GETs in %.2fs, want at most %.0f", len(gets), span, limit)
	}
}

func TestRunCountsFailureKinds(t *testing.T) {
	const n = 40
	// By arrival index mod 10: 2×503, 1×never terminal, 3×FAILED,
	// 1×CANCELLED, 3×COMPLETED.
	fake := &fakeAPI{skus: 20, completeAfter: 20 * time.Millisecond, behave: func(i int) behavior {
		switch i % 10 {
		case 0, 1:
			return reject503
		case 2:
			return staysPending
		case 3, 4, 5:
			return failsOutOfStock
		case 6:
			return cancelled
		default:
			return completes
		}
	}}
	srv := fake.start(t)

	sum, err := Run(t.Context(), Config{
		Target: srv.URL, Rate: 400, Orders: n, FollowTimeout: 400 * time.Millisecond, SKUs: 20,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []KindCount{
		{"order FAILED: OUT_OF_STOCK", 12},
		{"create: HTTP 503", 8},
		{"not terminal", 4},
		{"order CANCELLED: PAYMENT_DECLINED", 4},
	}
	if !slices.Equal(sum.Failures, want) {
		t.Errorf("failures\n got %v\nwant %v", sum.Failures, want)
	}
	if sum.Sent != n || sum.Accepted != 32 || sum.Completed != 12 || sum.Failed != 28 {
		t.Errorf("sent/accepted/completed/failed = %d/%d/%d/%d, want 40/32/12/28",
			sum.Sent, sum.Accepted, sum.Completed, sum.Failed)
	}
	// Rejected creates are answered too, so they are timed.
	if sum.CreateLatency.Count != n || sum.CreateToCompleted.Count != 12 {
		t.Errorf("histogram counts create=%d toCompleted=%d, want %d and 12",
			sum.CreateLatency.Count, sum.CreateToCompleted.Count, n)
	}
	if !within(sum.CreateToCompleted.P50, 20*time.Millisecond) {
		t.Errorf("create→COMPLETED p50 %v, want ≈20ms", sum.CreateToCompleted.P50)
	}

	fake.mu.Lock()
	defer fake.mu.Unlock()
	for id, o := range fake.orders {
		// One long poll for the rest of the window, which the fake holds to its end (a second
		// only if the first was answered a hair early).
		if o.behavior == staysPending && (o.longPolls < 1 || len(o.gets) > 2) {
			t.Errorf("pending order %s read by %d GETs (%d long polls) in a 400ms window, want 1-2 long polls",
				id, len(o.gets), o.longPolls)
		}
		if len(o.gets) > 0 && o.gets[len(o.gets)-1].Sub(o.createdAt) > time.Second {
			t.Errorf("order %s still polled %v after creation, beyond its follow window",
				id, o.gets[len(o.gets)-1].Sub(o.createdAt))
		}
	}
}

func TestRunTransportFailures(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		target := "http://" + ln.Addr().String()
		ln.Close()

		sum, err := Run(t.Context(), Config{Target: target, Rate: 100, Orders: 3, FollowTimeout: time.Second, SKUs: 1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := []KindCount{{"create: connection refused", 3}}
		if !slices.Equal(sum.Failures, want) || sum.Accepted != 0 || sum.CreateLatency.Count != 0 {
			t.Errorf("failures %v accepted %d latencies %d, want %v, 0, 0",
				sum.Failures, sum.Accepted, sum.CreateLatency.Count, want)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		fake := &fakeAPI{skus: 1, createDelay: 2 * time.Second}
		srv := fake.start(t)
		cfg := Config{Target: srv.URL, Rate: 100, Orders: 3, FollowTimeout: time.Second, SKUs: 1}
		cfg.requestTimeout = 100 * time.Millisecond
		sum, err := Run(t.Context(), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := []KindCount{{"create: timeout", 3}}
		if !slices.Equal(sum.Failures, want) {
			t.Errorf("failures %v, want %v", sum.Failures, want)
		}
	})
}

func TestRunDropsBeyondInFlightCap(t *testing.T) {
	fake := &fakeAPI{skus: 3, createDelay: 300 * time.Millisecond}
	srv := fake.start(t)
	cfg := Config{Target: srv.URL, Rate: 200, Orders: 20, FollowTimeout: time.Second, SKUs: 3}
	cfg.maxInFlight = 2
	sum, err := Run(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	// All 20 are offered within 100ms while the first two take 300ms.
	want := []KindCount{{kindDropped, 18}}
	if !slices.Equal(sum.Failures, want) || sum.Sent != 2 || sum.Completed != 2 || fake.createCount() != 2 {
		t.Errorf("failures %v sent %d completed %d server creates %d, want %v, 2, 2, 2",
			sum.Failures, sum.Sent, sum.Completed, fake.createCount(), want)
	}
}

func TestRunDurationPacesAtRate(t *testing.T) {
	fake := &fakeAPI{skus: 20, completeAfter: 10 * time.Millisecond}
	srv := fake.start(t)
	start := time.Now()
	sum, err := Run(t.Context(), Config{
		Target: srv.URL, Rate: 40, Duration: 500 * time.Millisecond, FollowTimeout: time.Second, SKUs: 20,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 40/s for 0.5s is 20 creates, one every 25ms starting at 0.
	if got := fake.createCount(); got < 19 || got > 21 || int64(got) != sum.Sent {
		t.Errorf("server saw %d creates, summary sent %d, want ≈20 and equal", got, sum.Sent)
	}
	if sum.Completed != sum.Sent {
		t.Errorf("completed %d of %d", sum.Completed, sum.Sent)
	}
	if el := time.Since(start); el > 1500*time.Millisecond {
		t.Errorf("run took %v for a 500ms duration", el)
	}
}

func TestRunStopsPromptlyOnCancel(t *testing.T) {
	fake := &fakeAPI{skus: 20, behave: func(int) behavior { return staysPending }}
	srv := fake.start(t)
	ctx, cancel := context.WithCancel(t.Context())
	var cancelledAt time.Time
	var mu sync.Mutex
	time.AfterFunc(300*time.Millisecond, func() {
		mu.Lock()
		cancelledAt = time.Now()
		mu.Unlock()
		cancel()
	})

	sum, err := Run(ctx, Config{
		Target: srv.URL, Rate: 50, Duration: time.Minute, FollowTimeout: 30 * time.Second, SKUs: 20,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	lag := time.Since(cancelledAt)
	mu.Unlock()
	if lag > 500*time.Millisecond {
		t.Errorf("Run returned %v after cancel", lag)
	}
	if !sum.Interrupted {
		t.Error("summary not marked interrupted")
	}
	if sum.Sent < 5 || sum.Sent > 25 {
		t.Errorf("sent %d in ~300ms at 50/s", sum.Sent)
	}
	if got := fake.createCount(); int64(got) > sum.Sent {
		t.Errorf("server saw %d creates, more than the %d sent", got, sum.Sent)
	}
	// Orders being followed when the operator stopped are accounted for,
	// not silently lost.
	var interrupted int64
	for _, k := range sum.Failures {
		if k.Kind == kindInterrupted {
			interrupted = k.Count
		}
	}
	if interrupted != sum.Accepted || sum.Accepted == 0 {
		t.Errorf("accepted %d, interrupted while following %d (failures %v)", sum.Accepted, interrupted, sum.Failures)
	}
}

func TestRunProgressLines(t *testing.T) {
	fake := &fakeAPI{skus: 20, completeAfter: 10 * time.Millisecond}
	srv := fake.start(t)
	cfg := Config{Target: srv.URL, Rate: 100, Orders: 20, FollowTimeout: time.Second, SKUs: 20}
	cfg.progressEvery = 50 * time.Millisecond
	var progress bytes.Buffer
	if _, err := Run(t.Context(), cfg, &progress); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(progress.String()), "\n")
	if len(lines) < 2 {
		t.Fatalf("want several progress lines, got %q", progress.String())
	}
	line := regexp.MustCompile(`^\[ *\d+s\] sent \d+  accepted \d+  completed \d+  in-flight \d+  failures \d+$`)
	for _, l := range lines {
		if !line.MatchString(l) {
			t.Errorf("progress line %q", l)
		}
	}
}
