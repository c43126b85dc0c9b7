package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/httpx"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/metrics"
	"github.com/ordersys/ordersys/internal/service"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// nodeConfig says which services one process runs, where their databases and broker are, and how
// their consumers retry and their bookkeeping is pruned.
type nodeConfig struct {
	services   []service.Module
	dsn        func(service string) string
	migrate    bool
	brokers    []string
	partitions int32
	replicas   int16
	retry      messaging.RetryConfig
	// sessionTimeout is how long the group waits for a silent consumer before handing its
	// partitions to another replica (0: franz-go's default, 45 s).
	sessionTimeout time.Duration
	// metrics is where the node's services record what they do, and their pools, outboxes and
	// consumer groups are watched.
	metrics *metrics.Metrics
	// instanceID, when set, makes every consumer a static group member (KIP-345) under this id: a
	// process restarted with the same id takes its partitions back at once, rather than after
	// its old session expires.
	instanceID string
	// retention says how long inbox rows are kept and how often, in what batches, every pruner
	// of the node runs (zero fields: the defaults).
	retention messaging.RetentionConfig
	log       *slog.Logger
}

// node is a running set of services: their databases, and the relays, pruners, loops and
// consumers that run until close.
type node struct {
	dbs      map[string]*sqlstore.DB
	services map[string]any // each started service, by name, for callers in this process (tests)
	apis     []any          // the API operations of the services, in start order
	producer *kgo.Client
	outboxes []messaging.Relayed // each service's outbox, for the operator's dead-letter API
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	failed   chan error // the first consumer to stop for good while the node runs
	log      *slog.Logger
}

// startNode makes sure the topics exist, then opens and migrates each service's database and
// starts its relay, pruners, loops and consumers. It returns once all of that is running.
func startNode(ctx context.Context, cfg nodeConfig) (_ *node, err error) {
	n := &node{dbs: map[string]*sqlstore.DB{}, services: map[string]any{}, failed: make(chan error, 1), log: cfg.log}
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	n.producer, err = kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(cfg.brokers...),
		kgo.ClientID("ordersys-relay"),
		// The relay hands the client whole batches already; lingering would only add latency.
		kgo.ProducerLinger(0),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
	}, cfg.metrics.Kafka()...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	topics := append([]string(nil), events.AllTopics...)
	for _, t := range events.AllTopics {
		topics = append(topics, events.DLQ(t))
	}
	if err := messaging.EnsureTopics(ctx, kadm.NewClient(n.producer), cfg.partitions, cfg.replicas, topics...); err != nil {
		return nil, err
	}
	if err := messaging.EnsureDeadLetterStateTopic(ctx, kadm.NewClient(n.producer), cfg.replicas); err != nil {
		return nil, err
	}

	runCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	var groups []string
	for _, m := range cfg.services {
		subs, err := n.start(ctx, runCtx, cfg, m)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name, err)
		}
		for _, s := range subs {
			groups = append(groups, s.Name)
		}
	}
	cfg.metrics.WatchConsumerLag(func(ctx context.Context) ([]metrics.Lag, error) {
		return consumerLag(ctx, kadm.NewClient(n.producer), groups)
	})
	return n, nil
}

// consumerLag is how far each of groups is behind on each partition it consumes, as the brokers
// report it: the high watermark less the group's committed offset.
func consumerLag(ctx context.Context, adm *kadm.Client, groups []string) ([]metrics.Lag, error) {
	lags, err := adm.Lag(ctx, groups...)
	if err != nil {
		return nil, err
	}
	var out []metrics.Lag
	for _, g := range lags.Sorted() {
		if g.Error() != nil {
			return nil, fmt.Errorf("lag of %s: %w", g.Group, g.Error())
		}
		for _, l := range g.Lag.Sorted() {
			if l.Err == nil {
				out = append(out, metrics.Lag{Consumer: g.Group, Topic: l.Topic, Partition: l.Partition, Lag: l.Lag})
			}
		}
	}
	return out, nil
}

// start opens (and migrates) one service's database, starts the service, and runs its relay,
// pruners, loops and consumers until runCtx ends.
func (n *node) start(ctx, runCtx context.Context, cfg nodeConfig, m service.Module) ([]messaging.Subscription, error) {
	log := cfg.log.With("service", m.Name)
	db, err := sqlstore.OpenService(ctx, cfg.dsn(m.Name), m.Name)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	n.dbs[m.Name] = db
	if cfg.migrate {
		if err := sqlstore.Migrate(ctx, db, messaging.Migrations, m.Migrations); err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
	}
	out := messaging.NewOutbox()
	n.outboxes = append(n.outboxes, messaging.Relayed{Outbox: out, DB: db})
	cfg.metrics.WatchPool(m.Name, db.Pools()...)
	cfg.metrics.WatchOutboxBacklog(m.Name, func(ctx context.Context) (int, error) { return messaging.Backlog(ctx, db) })
	parts, err := m.Start(ctx, service.Deps{DB: db, Outbox: out, Log: log, Retention: cfg.retention, Metrics: cfg.metrics})
	if err != nil {
		return nil, err
	}
	n.services[m.Name] = parts.Service
	if parts.API != nil {
		n.apis = append(n.apis, parts.API)
	}
	n.wg.Go(func() {
		_ = out.RunRelay(runCtx, db, n.producer, messaging.RelayConfig{
			Published: func(topic string, born, read, acked time.Time) {
				cfg.metrics.Published(m.Name, topic, 1)
				cfg.metrics.OutboxEventAge(topic, born, read, acked)
			},
		}, log.With("component", "relay"))
	})
	pruners := append([]messaging.Pruner{messaging.InboxPruner(db, cfg.retention)}, parts.Pruners...)
	n.wg.Go(func() {
		messaging.RunRetention(runCtx, cfg.retention, log.With("component", "retention"), pruners...)
	})
	for _, loop := range parts.Loops {
		n.wg.Go(func() { loop(runCtx) })
	}
	var opts []kgo.Opt
	if cfg.sessionTimeout > 0 {
		opts = append(opts, kgo.SessionTimeout(cfg.sessionTimeout))
	}
	if cfg.instanceID != "" {
		// Static membership of the classic group protocol (KIP-345), on purpose not KIP-848's
		// (kgo.ServerSideBalancer): under KIP-848 a member that died without leaving holds its
		// instance id until its session expires (UNRELEASED_INSTANCE_ID), so a restart after a
		// crash would wait as long as with no instance id. docs/reliability.md has the details.
		opts = append(opts, kgo.InstanceID(cfg.instanceID))
	}
	for _, sub := range parts.Subscriptions {
		c := messaging.NewConsumer(sub, db, n.producer, cfg.retry, log)
		c.SetMetrics(cfg.metrics)
		n.wg.Go(func() {
			if err := c.Run(runCtx, cfg.brokers, append(slices.Clip(opts), cfg.metrics.Kafka()...)...); err != nil && runCtx.Err() == nil {
				log.Error("consumer stopped", "consumer", sub.Name, "err", err)
				select {
				case n.failed <- err:
				default: // another one already said so
				}
			}
		})
	}
	return parts.Subscriptions, nil
}

// health answers readiness from every database of this node and the broker.
func (n *node) health() *httpx.Health {
	h := &httpx.Health{Log: n.log}
	for name, db := range n.dbs {
		h.Checks = append(h.Checks, httpx.Check{Name: "database:" + name, Ping: db.PingContext})
	}
	h.Checks = append(h.Checks, httpx.Check{Name: "broker", Ping: n.producer.Ping})
	return h
}

// server is the REST API of this node: the operations of the services it runs, 404 for the rest.
func (n *node) server() server {
	return newServer(n.apis, admin{kafka: n.producer, outboxes: n.outboxes}, n.health())
}

// close stops relays and consumers (consumers commit what they applied), then closes the
// producer and the databases.
func (n *node) close() error {
	if n.cancel != nil {
		n.cancel()
	}
	n.wg.Wait()
	if n.producer != nil {
		n.producer.Close()
	}
	var errs []error
	for _, db := range n.dbs {
		errs = append(errs, db.Close())
	}
	return errors.Join(errs...)
}
