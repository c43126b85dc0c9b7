package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ordersys/ordersys/internal/console"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/metrics"
	"github.com/ordersys/ordersys/internal/order"
	"github.com/ordersys/ordersys/internal/service"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// ServeConfig configures `ordersys serve`: some of the services, in this process, on a shared
// database and a Kafka cluster.
type ServeConfig struct {
	Services          []string
	Addr              string
	DatabaseURL       string
	Brokers           []string
	Partitions        int
	ReplicationFactor int
	Migrate           bool
	SessionTimeout    time.Duration
	// InstanceID makes this process a static member of its consumer groups (empty: a dynamic one).
	InstanceID  string
	AccessLog   bool // a log line per HTTP request
	Auth        AuthConfig
	MetricsAddr string // when set, GET /metrics is served there rather than on Addr
	// HTTP bounds what clients can hold of the HTTP listeners (zero fields: the defaults).
	HTTP HTTPLimits
	// OTLPEndpoint, when set, is where traces are exported (see tracing.Setup).
	OTLPEndpoint string
	PprofAddr    string
	Retry        messaging.RetryConfig
	Retention    messaging.RetentionConfig
	Rules        Rules
	// Console serves the operations console at /ui when this process runs the order service;
	// ConsoleURLs are the other services' API base URLs, by service (missing: this process).
	Console     bool
	ConsoleURLs map[string]string
	Log         *slog.Logger
}

// Served is a running `ordersys serve`.
type Served struct {
	Addr    string
	node    *node
	http    *httpServer
	side    sideListeners
	console *console.Console
}

// StartServe starts the named services and their HTTP listener.
func StartServe(ctx context.Context, cfg ServeConfig) (_ *Served, err error) {
	mods, err := pick(cfg.Services, cfg.Rules)
	if err != nil {
		return nil, err
	}
	if cfg.DatabaseURL == "" {
		return nil, errors.New("serve needs --database-url (postgres://... or sqlite:DIR)")
	}
	// Before the brokers are asked anything: a URL that cannot work is refused at once.
	if err := sqlstore.CheckDSN(cfg.DatabaseURL); err != nil {
		return nil, err
	}
	if err := cfg.HTTP.Validate(); err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Served{}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	cfg.Auth.JWT.Log = cfg.Log
	verifier, err := cfg.Auth.verifier(ctx, "")
	if err != nil {
		return nil, err
	}
	m := metrics.New(Version())
	s.node, err = startNode(ctx, nodeConfig{
		services:       mods,
		dsn:            serviceDSN(cfg.DatabaseURL),
		migrate:        cfg.Migrate,
		brokers:        cfg.Brokers,
		partitions:     int32(cfg.Partitions),
		replicas:       int16(cfg.ReplicationFactor),
		retry:          cfg.Retry,
		retention:      cfg.Retention,
		sessionTimeout: cfg.SessionTimeout,
		instanceID:     cfg.InstanceID,
		metrics:        m,
		log:            cfg.Log,
	})
	if err != nil {
		return nil, err
	}
	opts := routeOptions{accessLog: cfg.AccessLog, metrics: m,
		metricsElsewhere: cfg.MetricsAddr != "", verifier: verifier, rateLimit: cfg.Auth.RateLimit}
	if cfg.Console && slices.ContainsFunc(mods, func(m service.Module) bool { return m.Name == order.Name }) {
		if s.console, err = newConsole(cfg.ConsoleURLs, m, cfg.Log); err != nil {
			return nil, err
		}
		opts.console = s.console
	}
	handler, err := routes(s.node.server(), cfg.Log, opts)
	if err != nil {
		return nil, err
	}
	if s.http, err = listenAndServe(cfg.Addr, handler, cfg.HTTP); err != nil {
		return nil, err
	}
	s.http.answerWaitsOnShutdown(s.node.apis)
	s.Addr = s.http.addr
	if err := s.side.serve("pprof", cfg.PprofAddr, pprofHandler(), cfg.HTTP); err != nil {
		return nil, err
	}
	if err := s.side.serve("metrics", cfg.MetricsAddr, metricsHandler(m), cfg.HTTP); err != nil {
		return nil, err
	}
	return s, nil
}

// Wait blocks until ctx ends, the HTTP server fails or a consumer stops for good.
func (s *Served) Wait(ctx context.Context) error { return s.http.wait(ctx, s.node.failed) }

// Close stops taking requests, then stops the services.
func (s *Served) Close() error {
	var errs []error
	if s.http != nil {
		errs = append(errs, s.http.close())
	}
	errs = append(errs, s.side.close())
	if s.console != nil {
		s.console.Close()
	}
	if s.node != nil {
		errs = append(errs, s.node.close())
	}
	return errors.Join(errs...)
}

// pick resolves service names to their modules, configured by rules; no names means all five.
func pick(names []string, rules Rules) ([]service.Module, error) {
	all := modules(rules)
	if len(names) == 0 {
		return all, nil
	}
	for _, name := range names {
		if !slices.ContainsFunc(all, func(m service.Module) bool { return m.Name == name }) {
			return nil, fmt.Errorf("unknown service %q: choose from %s", name, strings.Join(serviceNames(), ", "))
		}
	}
	return slices.DeleteFunc(all, func(m service.Module) bool { return !slices.Contains(names, m.Name) }), nil
}

func serviceNames() []string {
	var out []string
	for _, m := range modules(Rules{}) {
		out = append(out, m.Name)
	}
	return out
}

// serviceDSN maps the one database URL to each service's: PostgreSQL services share the database
// (each in its own schema); with sqlite:DIR each service gets DIR/<service>.db.
func serviceDSN(url string) func(string) string {
	return func(service string) string {
		if dir, ok := strings.CutPrefix(url, "sqlite:"); ok {
			return "sqlite:" + filepath.Join(dir, service+".db")
		}
		return url
	}
}

// migrateAll runs the named services' migrations and nothing else.
func migrateAll(ctx context.Context, url string, names []string) error {
	mods, err := pick(names, Rules{})
	if err != nil {
		return err
	}
	dsn := serviceDSN(url)
	for _, m := range mods {
		db, err := sqlstore.OpenService(ctx, dsn(m.Name), m.Name)
		if err != nil {
			return fmt.Errorf("%s: %w", m.Name, err)
		}
		err = sqlstore.Migrate(ctx, db, messaging.Migrations, m.Migrations)
		db.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", m.Name, err)
		}
	}
	return nil
}
