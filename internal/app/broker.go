package app

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/twmb/franz-go/pkg/kfake"
)

// BrokerConfig is the embedded Kafka-protocol broker of `ordersys dev` and `ordersys broker`.
type BrokerConfig struct {
	// Addr is the listener, host:port; port 0 picks one.
	Addr string
	// Dir holds the log.
	Dir string
	// SyncWrites fsyncs every produced batch before acknowledging it, so a crash loses nothing
	// acknowledged; without, writes reach the disk when the OS flushes them, as Kafka's default
	// (which relies on replication instead).
	SyncWrites bool
	Retention  TopicRetention
}

// TopicRetention is how much of its log the embedded broker keeps, as Kafka does: a record goes
// once it is older than Time, or once its partition holds more than Bytes, whichever comes
// first, checked every Check. Without it the broker would keep every record ever produced, and
// it holds an index entry of every batch in memory. A consumer that falls further behind than
// the retention loses what was removed (it resumes at the oldest record kept), as with Kafka.
type TopicRetention struct {
	// Time is how long a record is kept (default 24 hours). At most messaging.TopicRetention:
	// every inbox keeps an event's id at least that long, so a record redelivered while the
	// broker still has it is recognised.
	Time time.Duration
	// Bytes bounds each partition's log (default 64 MiB: at 250 orders/s, about ten minutes of
	// the busiest topic). The log is cut in segments of an eighth of it, and a segment's file is
	// deleted once all of it is past the retention, so right after a check a partition's files
	// hold at most 9/8 of this; between checks the log grows by what is produced meanwhile.
	Bytes int64
	// Check is how often the retention is applied (default 5 minutes, as Kafka's
	// log.retention.check.interval.ms).
	Check time.Duration
}

// Topic retention defaults.
const (
	DefaultTopicRetention      = 24 * time.Hour
	DefaultTopicRetentionBytes = 64 << 20
	DefaultTopicRetentionCheck = 5 * time.Minute
	minTopicRetentionBytes     = 1 << 20 // a produce batch may be up to 1 MiB (message.max.bytes)
)

func (r *TopicRetention) defaults() {
	if r.Time == 0 {
		r.Time = DefaultTopicRetention
	}
	if r.Bytes == 0 {
		r.Bytes = DefaultTopicRetentionBytes
	}
	if r.Check == 0 {
		r.Check = DefaultTopicRetentionCheck
	}
}

// Validate refuses settings that contradict themselves or the inboxes; zero fields take the
// defaults.
func (r TopicRetention) Validate() error {
	r.defaults()
	var errs []error
	if r.Time < 0 || r.Time > messaging.TopicRetention {
		errs = append(errs, fmt.Errorf("topic retention %v: must be positive and at most %v, as long as every inbox is sure to remember an event", r.Time, messaging.TopicRetention))
	}
	if r.Bytes < minTopicRetentionBytes {
		errs = append(errs, fmt.Errorf("topic retention bytes %d: must be at least 1 MiB, the largest batch a producer may send", r.Bytes))
	}
	if r.Check < 0 {
		errs = append(errs, fmt.Errorf("topic retention check %v: must not be negative", r.Check))
	}
	return errors.Join(errs...)
}

// segmentBytes is the size at which the log is cut into a new segment (see Bytes).
func (r TopicRetention) segmentBytes() int64 {
	return min(max(r.Bytes/8, minTopicRetentionBytes), 100<<20)
}

// broker is a running embedded broker and the loop that applies its retention.
type broker struct {
	*kfake.Cluster
	stop chan struct{}
	done chan struct{}
}

// startBroker starts the embedded broker, applies its retention to what an earlier run left, and
// keeps applying it until Close.
func startBroker(cfg BrokerConfig) (*broker, error) {
	if err := cfg.Retention.Validate(); err != nil {
		return nil, err
	}
	r := cfg.Retention
	r.defaults()
	host, portStr, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("kafka address %q: %w", cfg.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("kafka address %q: bad port", cfg.Addr)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, net.JoinHostPort(host, portStr))
		}),
		kfake.ClusterID("ordersys"),
		kfake.DataDir(cfg.Dir),
		// Topics are created without configs of their own (messaging.EnsureTopics), so these
		// broker-wide settings are every topic's.
		kfake.BrokerConfigs(map[string]string{
			"log.retention.ms":    strconv.FormatInt(r.Time.Milliseconds(), 10),
			"log.retention.bytes": strconv.FormatInt(r.Bytes, 10),
			"log.segment.bytes":   strconv.FormatInt(r.segmentBytes(), 10),
		}),
	}
	if cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("embedded broker on %s: %w", cfg.Addr, err)
	}
	b := &broker{Cluster: c, stop: make(chan struct{}), done: make(chan struct{})}
	c.ApplyRetention()
	go b.applyRetention(r.Check)
	return b, nil
}

// applyRetention is Kafka's log cleaner for retention: kfake applies it only when asked.
func (b *broker) applyRetention(every time.Duration) {
	defer close(b.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.ApplyRetention()
		}
	}
}

// Close stops the retention loop, then the broker.
func (b *broker) Close() {
	close(b.stop)
	<-b.done
	b.Cluster.Close()
}
