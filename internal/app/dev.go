package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/ordersys/ordersys/internal/console"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/metrics"
)

// DevConfig configures `ordersys dev`.
type DevConfig struct {
	// Addr is the HTTP listener (default 127.0.0.1:3001); port 0 picks a free one.
	Addr string
	// DataDir holds one SQLite file per service and the broker's log (default ./data).
	DataDir string
	// KafkaAddr is the embedded broker's listener (default 127.0.0.1:9092); port 0 picks one.
	KafkaAddr string
	// Partitions per topic (default 1: the embedded broker fsyncs every partition batch, and one
	// process with one SQLite writer per service gains nothing from more).
	Partitions int
	// TopicRetention is how much of its log the embedded broker keeps (zero fields: the defaults).
	TopicRetention TopicRetention
	// PprofAddr, when set, serves net/http/pprof there, apart from the API.
	PprofAddr string
	// MetricsAddr, when set, serves GET /metrics there rather than on Addr.
	MetricsAddr string
	// OTLPEndpoint, when set, is where traces are exported (see tracing.Setup).
	OTLPEndpoint string
	// AccessLog logs a line per HTTP request.
	AccessLog bool
	// HTTP bounds what clients can hold of the HTTP listeners (zero fields: the defaults).
	HTTP HTTPLimits
	// Auth is who may call the API (default: anyone). With JWT and no keys, dev makes a
	// development key under DataDir (see auth.LoadDevKey).
	Auth AuthConfig
	// Services to run (default: all five). Tests leave one out to see its step time out.
	Services []string
	// Console serves the operations console at /ui (the --console flag's default is true).
	Console bool
	// Retry bounds handler retries before a message is dead-lettered.
	Retry     messaging.RetryConfig
	Retention messaging.RetentionConfig
	Rules     Rules
	Log       *slog.Logger
}

// Dev is a running `ordersys dev`: the broker, the five services and the HTTP API in one process.
type Dev struct {
	// Addr and KafkaAddr are where the API and the broker listen.
	Addr, KafkaAddr string

	broker  *broker
	node    *node
	http    *httpServer
	side    sideListeners
	console *console.Console
}

// StartDev starts everything and returns once the API accepts requests.
func StartDev(ctx context.Context, cfg DevConfig) (_ *Dev, err error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:3001"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = "data"
	}
	if cfg.KafkaAddr == "" {
		cfg.KafkaAddr = "127.0.0.1:9092"
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 1
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.HTTP.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	d := &Dev{}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()

	d.broker, err = startBroker(BrokerConfig{Addr: cfg.KafkaAddr, Dir: filepath.Join(cfg.DataDir, "kafka"), SyncWrites: true, Retention: cfg.TopicRetention})
	if err != nil {
		return nil, err
	}
	d.KafkaAddr = d.broker.ListenAddrs()[0]

	cfg.Rules.DemoCatalog = true
	mods, err := pick(cfg.Services, cfg.Rules)
	if err != nil {
		return nil, err
	}
	cfg.Auth.JWT.Log = cfg.Log
	verifier, err := cfg.Auth.verifier(ctx, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	m := metrics.New(Version())
	d.node, err = startNode(ctx, nodeConfig{
		services:   mods,
		dsn:        func(svc string) string { return "sqlite:" + filepath.Join(cfg.DataDir, svc+".db") },
		migrate:    true,
		brokers:    []string{d.KafkaAddr},
		partitions: int32(cfg.Partitions),
		replicas:   1,
		retry:      cfg.Retry,
		retention:  cfg.Retention,
		// The embedded broker is this process's own, so no other member can hold this id; a
		// restart after a crash takes its partitions back without waiting out its old session.
		instanceID: "ordersys-dev",
		metrics:    m,
		log:        cfg.Log,
	})
	if err != nil {
		return nil, err
	}
	opts := routeOptions{accessLog: cfg.AccessLog, metrics: m,
		metricsElsewhere: cfg.MetricsAddr != "", verifier: verifier, rateLimit: cfg.Auth.RateLimit}
	if cfg.Console {
		// Every service is this process's: the console calls the address each request came in on.
		if d.console, err = newConsole(nil, m, cfg.Log); err != nil {
			return nil, err
		}
		opts.console = d.console
	}
	handler, err := routes(d.node.server(), cfg.Log, opts)
	if err != nil {
		return nil, err
	}
	if d.http, err = listenAndServe(cfg.Addr, handler, cfg.HTTP); err != nil {
		return nil, err
	}
	d.http.answerWaitsOnShutdown(d.node.apis)
	d.Addr = d.http.addr
	if err := d.side.serve("pprof", cfg.PprofAddr, pprofHandler(), cfg.HTTP); err != nil {
		return nil, err
	}
	if err := d.side.serve("metrics", cfg.MetricsAddr, metricsHandler(m), cfg.HTTP); err != nil {
		return nil, err
	}
	return d, nil
}

// Wait blocks until ctx ends, the HTTP server fails or a consumer stops for good.
func (d *Dev) Wait(ctx context.Context) error { return d.http.wait(ctx, d.node.failed) }

// Close shuts down in dependency order: stop taking requests, let in-flight ones finish, stop
// the services (consumers commit what they applied), then the broker.
func (d *Dev) Close() error {
	var errs []error
	if d.http != nil {
		errs = append(errs, d.http.close())
	}
	errs = append(errs, d.side.close())
	if d.console != nil {
		d.console.Close()
	}
	if d.node != nil {
		errs = append(errs, d.node.close())
	}
	if d.broker != nil {
		d.broker.Close()
	}
	return errors.Join(errs...)
}
