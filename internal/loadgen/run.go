// Package loadgen is the load tool behind `ordersys loadgen`: it posts orders
// to the order API at a constant rate, follows each accepted order to a
// terminal state, and summarizes throughput, latencies and failures.
package loadgen

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

type runner struct {
	cfg        Config
	client     *http.Client
	waitClient *http.Client // for the long polls, which each bound by their own timeout
	// noLongPoll is set once the server answered a long poll without waiting (one older than it).
	noLongPoll   atomic.Bool
	createURL    string
	orderBaseURL string
	stats        *stats
	// slots bounds concurrent creates; a full channel means the server is
	// slower than the offered rate and more goroutines would only queue.
	slots chan struct{}
	// polls paces GETs (see defaultPollsPerOrder).
	polls *rate.Limiter
}

// Run sends orders as cfg describes, follows the accepted ones, and returns
// once every order has an outcome. progress, if non-nil, gets one line per
// second. Cancelling ctx stops sending and following at once; the Summary
// then covers what was done and has Interrupted set, and the error is nil.
// The only errors are invalid configurations.
func Run(ctx context.Context, cfg Config, progress io.Writer) (Summary, error) {
	if err := cfg.validate(); err != nil {
		return Summary{}, fmt.Errorf("loadgen: %w", err)
	}
	cfg = cfg.withDefaults()
	base, _ := parseTarget(cfg.Target) // validated above
	r := &runner{
		cfg:          cfg,
		client:       newClient(cfg.requestTimeout),
		waitClient:   newClient(0),
		createURL:    base + "/api/v1/orders/create",
		orderBaseURL: base + "/api/v1/orders/",
		stats:        newStats(),
		slots:        make(chan struct{}, cfg.maxInFlight),
		polls:        rate.NewLimiter(rate.Limit(cfg.pollsPerOrder*float64(cfg.Rate)), max(1, cfg.Rate)),
	}
	defer r.client.CloseIdleConnections()
	defer r.waitClient.CloseIdleConnections()

	start := time.Now()
	stopProgress := r.reportProgress(progress, start)
	var wg sync.WaitGroup
	r.send(ctx, &wg)
	wg.Wait()
	stopProgress()
	return r.summarize(time.Since(start), ctx.Err() != nil), nil
}

// send paces creates with vegeta's ConstantPacer and returns when the order
// count or duration is reached or ctx ends. It never waits for responses, so
// a slow server cannot lower the offered rate (coordinated omission).
func (r *runner) send(ctx context.Context, wg *sync.WaitGroup) {
	pacer := vegeta.ConstantPacer{Freq: r.cfg.Rate, Per: time.Second}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()

	// A run for a duration sends every order due in it: one at 0, then one every 1/rate. Counting
	// them up front, rather than stopping when the clock says so, keeps a sender that fell behind
	// (a busy machine) from ending the run short of what it was asked to offer.
	total := uint64(r.cfg.Orders)
	if total == 0 {
		// rate x whole seconds, plus ceil(rate x the fraction), without overflowing at high rates.
		whole, frac := int64(r.cfg.Duration/time.Second), int64(r.cfg.Duration%time.Second)
		total = uint64(int64(r.cfg.Rate)*whole + (int64(r.cfg.Rate)*frac+int64(time.Second)-1)/int64(time.Second))
	}
	began := time.Now()
	var hits uint64
	for ctx.Err() == nil && hits < total {
		wait, stop := pacer.Pace(time.Since(began), hits)
		if stop {
			return
		}
		if wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
			continue // re-pace: the pacer decides, not the sleep
		}
		hits++ // drops count as hits so the pacer keeps the offered rate honest
		r.launch(ctx, wg)
	}
}

func (r *runner) launch(ctx context.Context, wg *sync.WaitGroup) {
	select {
	case r.slots <- struct{}{}:
	default:
		r.stats.fail(kindDropped)
		return
	}
	r.stats.inFlight.Add(1)
	wg.Go(func() {
		defer r.stats.inFlight.Add(-1)
		o, ok := r.create(ctx)
		// The slot covers only the create: following is mostly sleeping
		// and must not make the tool drop new orders.
		<-r.slots
		if ok {
			r.follow(ctx, o)
		}
	})
}

// reportProgress writes a status line every progressEvery until the returned
// stop is called; stop waits for the writer goroutine so nothing is written
// to w after Run returns.
func (r *runner) reportProgress(w io.Writer, start time.Time) (stop func()) {
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		ticker := time.NewTicker(r.cfg.progressEvery)
		defer ticker.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-ticker.C:
				s := r.stats
				fmt.Fprintf(w, "[%2ds] sent %d  accepted %d  completed %d  in-flight %d  failures %d\n",
					int(now.Sub(start).Round(time.Second)/time.Second),
					s.sent.Load(), s.accepted.Load(), s.completed.Load(), s.inFlight.Load(), s.failed.Load())
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
