package metrics

import (
	"context"
	"database/sql"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// maxAge is how long a gauge read from a database or the brokers is served again rather than
// read anew: scrapers every few seconds, or several of them, cost one read per service at most.
const maxAge = 5 * time.Second

// readTimeout bounds one read of such a gauge: a scrape answers, without it, rather than wait
// for a database that is down.
const readTimeout = 2 * time.Second

// sample is one value of a gauge, with its label values in the gauge's order.
type sample struct {
	labels []string
	value  float64
}

// cached is a gauge whose values are read when scraped (a COUNT, a broker's offsets), from any
// number of sources, each read at most once per maxAge. A source that fails is left out of that
// scrape rather than reported as zero.
type cached struct {
	desc    *prometheus.Desc
	mu      sync.Mutex
	sources []*source
}

type source struct {
	read func(context.Context) ([]sample, error)
	at   time.Time
	last []sample
}

func newCached(desc *prometheus.Desc) *cached { return &cached{desc: desc} }

func (c *cached) add(read func(context.Context) ([]sample, error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sources = append(c.sources, &source{read: read})
}

func (c *cached) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *cached) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.sources {
		if time.Since(s.at) >= maxAge {
			ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
			samples, err := s.read(ctx)
			cancel()
			if err != nil {
				samples = nil
			}
			s.last, s.at = samples, time.Now()
		}
		for _, v := range s.last {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v.value, v.labels...)
		}
	}
}

// WatchSagaOrders reports ordersys_saga_orders from count: the orders in each non-terminal status.
func (m *Metrics) WatchSagaOrders(count func(context.Context) (map[string]int, error)) {
	if m == nil {
		return
	}
	m.sagaOrders.add(func(ctx context.Context) ([]sample, error) {
		byStatus, err := count(ctx)
		var out []sample
		for status, n := range byStatus {
			out = append(out, sample{[]string{status}, float64(n)})
		}
		return out, err
	})
}

// WatchOutboxBacklog reports ordersys_outbox_backlog of a service from count.
func (m *Metrics) WatchOutboxBacklog(service string, count func(context.Context) (int, error)) {
	if m == nil {
		return
	}
	m.outboxBacklog.add(func(ctx context.Context) ([]sample, error) {
		n, err := count(ctx)
		return []sample{{[]string{service}, float64(n)}}, err
	})
}

// Lag is how far a consumer group is behind on one partition.
type Lag struct {
	Consumer, Topic string
	Partition       int32
	Lag             int64
}

// WatchConsumerLag reports ordersys_consumer_lag from read.
func (m *Metrics) WatchConsumerLag(read func(context.Context) ([]Lag, error)) {
	if m == nil {
		return
	}
	m.consumerLag.add(func(ctx context.Context) ([]sample, error) {
		lags, err := read(ctx)
		out := make([]sample, 0, len(lags))
		for _, l := range lags {
			out = append(out, sample{[]string{l.Consumer, l.Topic, strconv.Itoa(int(l.Partition))}, float64(l.Lag)})
		}
		return out, err
	})
}

// WatchPool reports ordersys_db_pool_connections of a service's connection pools.
func (m *Metrics) WatchPool(service string, pools ...*sql.DB) {
	if m == nil {
		return
	}
	m.dbPool.add(func(context.Context) ([]sample, error) {
		var idle, inUse int
		for _, p := range pools {
			st := p.Stats()
			idle, inUse = idle+st.Idle, inUse+st.InUse
		}
		return []sample{{[]string{service, "idle"}, float64(idle)}, {[]string{service, "in_use"}, float64(inUse)}}, nil
	})
}
