package console

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The metrics the System page shows (their names are internal/metrics' contract).
const (
	mFinished    = "ordersys_orders_finished_total"
	mDuration    = "ordersys_order_duration_seconds"
	mBacklog     = "ordersys_outbox_backlog"
	mLag         = "ordersys_consumer_lag"
	mDeadLetters = "ordersys_dead_letters_total"
)

// sample is what the processes' metrics said at one moment, summed over the processes.
type sample struct {
	at       time.Time
	finished map[string]float64 // orders ended, by status
	// duration is the create-to-terminal histogram of every status: cumulative counts by upper
	// bound.
	duration    map[float64]float64
	backlog     map[string]float64 // outbox rows, by service
	lag         map[string]float64 // records behind, by consumer group
	deadLetters map[string]float64 // dead-lettered since the processes started, by "consumer topic"
	failed      map[string]string  // processes whose metrics could not be read: why
}

// target is a process whose metrics are sampled: this process's own are gathered in-process.
type target struct {
	url string
	own bool
}

// sampler reads the processes' metrics every few seconds into a bounded ring, while someone
// looks at the System page: it starts on a request and stops after idle without one, so that an
// idle process stays idle.
type sampler struct {
	gather            prometheus.Gatherer
	client            *http.Client
	log               *slog.Logger
	every, keep, idle time.Duration
	ctx               context.Context
	cancel            context.CancelFunc

	mu       sync.Mutex
	targets  []target
	seen     time.Time
	samples  []sample
	running  bool
	sampled  chan struct{} // closed when the running loop has taken its first sample
	finished chan struct{} // closed when the running loop ends
}

func newSampler(cfg Config, client *http.Client, log *slog.Logger) *sampler {
	s := &sampler{gather: cfg.Metrics, client: client, log: log,
		every: cfg.SampleEvery, keep: cfg.Keep, idle: cfg.IdleAfter}
	if s.every <= 0 {
		s.every = 5 * time.Second
	}
	if s.keep <= 0 {
		s.keep = 10 * time.Minute
	}
	if s.idle <= 0 {
		s.idle = time.Minute
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// touch says someone looks: sampling runs (started if it was not) for targets. It returns the
// samples, after waiting (up to ctx) for the first one of a loop it started.
func (s *sampler) touch(ctx context.Context, targets []target) []sample {
	s.mu.Lock()
	s.targets, s.seen = targets, time.Now()
	if !s.running && s.ctx.Err() == nil {
		s.running = true
		s.sampled, s.finished = make(chan struct{}), make(chan struct{})
		go s.loop(s.sampled, s.finished)
	}
	sampled := s.sampled
	s.mu.Unlock()
	if sampled != nil {
		select {
		case <-sampled:
		case <-ctx.Done():
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sample(nil), s.samples...)
}

func (s *sampler) loop(sampled, finished chan struct{}) {
	defer close(finished)
	tick := time.NewTicker(s.every)
	defer tick.Stop()
	first := true
	for {
		s.mu.Lock()
		targets := s.targets
		if time.Since(s.seen) > s.idle || s.ctx.Err() != nil {
			s.running = false
			s.mu.Unlock()
			if first {
				close(sampled)
			}
			return
		}
		s.mu.Unlock()

		smp := s.scrape(targets)
		s.mu.Lock()
		s.samples = append(s.samples, smp)
		cut := 0
		for cut < len(s.samples) && smp.at.Sub(s.samples[cut].at) > s.keep {
			cut++
		}
		s.samples = s.samples[cut:]
		s.mu.Unlock()
		if first {
			close(sampled)
			first = false
		}
		select {
		case <-s.ctx.Done():
		case <-tick.C:
		}
	}
}

// stop ends sampling for good and waits for the loop.
func (s *sampler) stop() {
	s.cancel()
	s.mu.Lock()
	finished := s.finished
	s.mu.Unlock()
	if finished != nil {
		<-finished
	}
}

// scrape reads every target's metrics, at the same time.
func (s *sampler) scrape(targets []target) sample {
	smp := sample{at: time.Now(), finished: map[string]float64{}, duration: map[float64]float64{},
		backlog: map[string]float64{}, lag: map[string]float64{}, deadLetters: map[string]float64{}, failed: map[string]string{}}
	families := make([][]*dto.MetricFamily, len(targets))
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() { families[i], errs[i] = s.read(t) })
	}
	wg.Wait()
	for i, t := range targets {
		if errs[i] != nil {
			smp.failed[t.url] = errs[i].Error()
			continue
		}
		smp.add(families[i])
	}
	return smp
}

// read gathers this process's metrics, or GETs another's /metrics as Prometheus text.
func (s *sampler) read(t target) ([]*dto.MetricFamily, error) {
	if t.own && s.gather != nil {
		return s.gather.Gather()
	}
	ctx, cancel := context.WithTimeout(s.ctx, 4*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: %s", t.url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	byName, err := parser.TextToMetricFamilies(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s/metrics: %w", t.url, err)
	}
	out := make([]*dto.MetricFamily, 0, len(byName))
	for _, mf := range byName {
		out = append(out, mf)
	}
	return out, nil
}

// add sums one process's metrics into smp.
func (smp *sample) add(families []*dto.MetricFamily) {
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			label := func(name string) string {
				for _, l := range m.GetLabel() {
					if l.GetName() == name {
						return l.GetValue()
					}
				}
				return ""
			}
			switch mf.GetName() {
			case mFinished:
				smp.finished[label("status")] += m.GetCounter().GetValue()
			case mDuration:
				h := m.GetHistogram()
				for _, b := range h.GetBucket() {
					if !math.IsInf(b.GetUpperBound(), 1) { // the text format lists +Inf, Gather does not
						smp.duration[b.GetUpperBound()] += float64(b.GetCumulativeCount())
					}
				}
				smp.duration[math.Inf(1)] += float64(h.GetSampleCount())
			case mBacklog:
				smp.backlog[label("service")] += m.GetGauge().GetValue()
			case mLag:
				smp.lag[label("consumer")] += m.GetGauge().GetValue()
			case mDeadLetters:
				smp.deadLetters[label("consumer")+" · "+label("topic")] += m.GetCounter().GetValue()
			}
		}
	}
}
