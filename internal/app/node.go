package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/fulfillment"
	"github.com/ordersys/ordersys/internal/httpx"
	"github.com/ordersys/ordersys/internal/inventory"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/notification"
	"github.com/ordersys/ordersys/internal/order"
	"github.com/ordersys/ordersys/internal/payment"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// nodeConfig says which services one process runs and where their databases and broker are.
type nodeConfig struct {
	services   []serviceSpec
	dsn        func(service string) string
	migrate    bool
	brokers    []string
	partitions int32
	replicas   int16
	retry      messaging.RetryConfig
	// sessionTimeout is how long the group waits for a silent consumer before handing its
	// partitions to another replica (0: franz-go's default, 45 s).
	sessionTimeout time.Duration
	// retention says how long inbox rows and idempotency keys are kept (zero: the defaults).
	retention messaging.RetentionConfig
	// services configures the services' rules.
	rules Rules
	log   *slog.Logger
}

// node is a running set of services: their databases, outbox relays and consumers.
type node struct {
	dbs      map[string]*sqlstore.DB
	services map[string]service
	producer *kgo.Client
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	failed   chan error // the first consumer to stop for good while the node runs
}

// startNode opens and migrates each service's database, makes sure the topics exist and starts
// every relay and consumer. It returns once all of that is running.
func startNode(ctx context.Context, cfg nodeConfig) (_ *node, err error) {
	n := &node{dbs: map[string]*sqlstore.DB{}, services: map[string]service{}, failed: make(chan error, 1)}
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	n.producer, err = kgo.NewClient(
		kgo.SeedBrokers(cfg.brokers...),
		kgo.ClientID("ordersys-relay"),
		// The relay hands the client whole batches already; lingering would only add latency.
		kgo.ProducerLinger(0),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
	)
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

	runCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	for _, spec := range cfg.services {
		log := cfg.log.With("service", spec.name)
		db, err := sqlstore.OpenService(ctx, cfg.dsn(spec.name), spec.name)
		if err != nil {
			return nil, fmt.Errorf("%s database: %w", spec.name, err)
		}
		n.dbs[spec.name] = db
		if cfg.migrate {
			if err := sqlstore.Migrate(ctx, db, messaging.Migrations, spec.migrations); err != nil {
				return nil, fmt.Errorf("%s database: %w", spec.name, err)
			}
		}
		out := messaging.NewOutbox()
		svc := spec.build(db, out, cfg.rules, log)
		n.services[spec.name] = svc
		if o, ok := svc.(*order.Service); ok {
			n.wg.Go(func() { o.RunDeadlines(runCtx) })
			n.wg.Go(func() { o.RunFirstSteps(runCtx) })
		}
		if inv, ok := svc.(*inventory.Service); ok && cfg.rules.DemoCatalog {
			if err := inv.Seed(ctx, inventory.DemoCatalog); err != nil {
				return nil, fmt.Errorf("demo catalog: %w", err)
			}
		}
		n.wg.Go(func() {
			_ = out.RunRelay(runCtx, db, n.producer, messaging.RelayConfig{}, log.With("component", "relay"))
		})
		pruners := []messaging.Pruner{messaging.InboxPruner(db, cfg.retention)}
		if o, ok := svc.(*order.Service); ok {
			batch := cfg.retention.BatchSize
			pruners = append(pruners, func(ctx context.Context, now time.Time) (int64, error) {
				return o.PruneIdempotencyKeys(ctx, now, batch)
			})
		}
		n.wg.Go(func() {
			messaging.RunRetention(runCtx, cfg.retention, log.With("component", "retention"), pruners...)
		})
		for _, sub := range svc.Subscriptions() {
			c := messaging.NewConsumer(sub, db, n.producer, cfg.retry, log)
			var opts []kgo.Opt
			if cfg.sessionTimeout > 0 {
				opts = append(opts, kgo.SessionTimeout(cfg.sessionTimeout))
			}
			n.wg.Go(func() {
				if err := c.Run(runCtx, cfg.brokers, opts...); err != nil && runCtx.Err() == nil {
					log.Error("consumer stopped", "consumer", sub.Name, "err", err)
					select {
					case n.failed <- err:
					default: // another one already said so
					}
				}
			})
		}
	}
	return n, nil
}

// health answers readiness from every database of this node and the broker.
func (n *node) health() *httpx.Health {
	h := &httpx.Health{}
	for name, db := range n.dbs {
		h.Checks = append(h.Checks, httpx.Check{Name: "database:" + name, Ping: db.PingContext})
	}
	h.Checks = append(h.Checks, httpx.Check{Name: "broker", Ping: n.producer.Ping})
	return h
}

// orderAPI is the order service's API when this node runs it, else nil.
func (n *node) orderAPI() *order.API {
	if svc, ok := n.services[order.Name].(*order.Service); ok {
		return order.NewAPI(svc)
	}
	return nil
}

// server is the REST API of this node: the operations of the services it runs, 404 for the rest.
func (n *node) server() server {
	none := notServedHere{}
	srv := server{none, none, none, none, none, admin{n.producer}, n.health()}
	if api := n.orderAPI(); api != nil {
		srv.orderOperations = api
	}
	if svc, ok := n.services[inventory.Name].(*inventory.Service); ok {
		srv.inventoryOperations = inventory.NewAPI(svc)
	}
	if svc, ok := n.services[payment.Name].(*payment.Service); ok {
		srv.paymentOperations = payment.NewAPI(svc)
	}
	if svc, ok := n.services[fulfillment.Name].(*fulfillment.Service); ok {
		srv.fulfillmentOperations = fulfillment.NewAPI(svc)
	}
	if svc, ok := n.services[notification.Name].(*notification.Service); ok {
		srv.notificationOperations = notification.NewAPI(svc)
	}
	return srv
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
