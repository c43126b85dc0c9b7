package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/internal/auth"
	"github.com/ordersys/ordersys/internal/fulfillment"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/metrics"
	"github.com/ordersys/ordersys/internal/notification"
	"github.com/ordersys/ordersys/internal/order"
	"github.com/ordersys/ordersys/internal/payment"
	"github.com/ordersys/ordersys/internal/tracing"
)

func runDev(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, log, err := parsed(parseDev, args, getenv, stderr)
	if err != nil {
		return err
	}
	cfg.Log = log
	stopTracing, err := tracing.Setup(ctx, cfg.OTLPEndpoint, "ordersys-dev", getenv)
	if err != nil {
		return err
	}
	defer flushTraces(stopTracing, log)
	d, err := StartDev(ctx, cfg)
	if err != nil {
		return err
	}
	consoleLine := ""
	if cfg.Console {
		consoleLine = fmt.Sprintf("  Console     http://%s/ui/\n", d.Addr)
	}
	fmt.Fprintf(stdout, `ordersys dev is running
  API         http://%[1]s/api/v1/orders
  Swagger UI  http://%[1]s/docs
%[5]s  Kafka       %[2]s  (embedded broker: any Kafka client can watch the topics)
  Data        %[3]s
  Auth        %[4]s
Press Ctrl-C to stop.
`, d.Addr, d.KafkaAddr, cfg.DataDir, devAuthBanner(cfg), consoleLine)
	log.Info("started", "version", Version(), "addr", d.Addr, "kafka", d.KafkaAddr, "data_dir", cfg.DataDir)
	waitErr := d.Wait(ctx)
	log.Info("shutting down")
	return errors.Join(waitErr, d.Close())
}

// devAuthBanner says in dev's banner who may call its API, and how to get a token.
func devAuthBanner(cfg DevConfig) string {
	switch {
	case cfg.Auth.Mode != authJWT:
		return "none: anyone who reaches the API may do anything (--auth jwt turns tokens on)"
	case cfg.Auth.JWT.JWKSURL == "" && cfg.Auth.JWT.JWKSFile == "":
		return fmt.Sprintf("JWT, signed by the development key in %s; mint a token with\n"+
			"              ordersys token --data-dir %s --sub <customer UUID> --scope \"orders:read orders:write\"",
			auth.DevKeyDir(cfg.DataDir), cfg.DataDir)
	default:
		return "JWT (bearer tokens from the identity provider of --jwt-jwks-url or --jwt-jwks-file)"
	}
}

// flushTraces sends the spans still buffered, giving up after a few seconds.
func flushTraces(stop func(context.Context) error, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := stop(ctx); err != nil {
		log.Warn("flushing traces failed", "err", err)
	}
}

// parsed runs a command's parser and makes the logger it asked for.
func parsed[C any](parse func([]string, func(string) string, io.Writer) (C, logSettings, error),
	args []string, getenv func(string) string, stderr io.Writer) (C, *slog.Logger, error) {
	cfg, logs, err := parse(args, getenv, stderr)
	if err != nil {
		return cfg, nil, err
	}
	log, err := logs.logger(stderr)
	return cfg, log, err
}

// parseDev reads dev's flags and environment into its configuration, apart from the logger, and
// refuses contradictory settings.
func parseDev(args []string, getenv func(string) string, stderr io.Writer) (cfg DevConfig, logs logSettings, err error) {
	fs := newFlagSet("dev", getenv, stderr)
	fs.String(&cfg.Addr, "addr", "127.0.0.1:3001", "HTTP listen address")
	fs.String(&cfg.DataDir, "data-dir", "./data", "directory for the SQLite databases and the broker's log")
	fs.String(&cfg.KafkaAddr, "kafka-addr", "127.0.0.1:9092", "embedded Kafka broker listen address")
	fs.Int(&cfg.Partitions, "partitions", 1, "partitions per topic (the embedded broker syncs each partition's batch to disk, so more partitions cost throughput in one process)")
	topicRetentionFlags(fs, &cfg.TopicRetention)
	logFlags(fs, &logs, "text")
	fs.Bool(&cfg.AccessLog, "access-log", false, "log a line per HTTP request")
	fs.String(&cfg.MetricsAddr, "metrics-addr", "", "serve GET /metrics on this address rather than on --addr")
	fs.String(&cfg.OTLPEndpoint, "otlp-endpoint", "", "export traces with OTLP over HTTP to this URL, e.g. http://collector:4318 (or set OTEL_EXPORTER_OTLP_ENDPOINT; OTEL_TRACES_SAMPLER and OTEL_SERVICE_NAME are honoured)")
	fs.String(&cfg.PprofAddr, "pprof-addr", "", "serve Go's net/http/pprof profiles on this address (off when empty)")
	authFlags(fs, &cfg.Auth, authNone)
	reliabilityFlags(fs, &cfg.Retry, &cfg.Retention)
	rulesFlags(fs, &cfg.Rules)
	httpFlags(fs, &cfg.HTTP)
	consoleFlags(fs, &cfg.Console, nil)
	if err := fs.parse(args, false); err != nil {
		return cfg, logs, err
	}
	if err := checkSettings(cfg.Retry, cfg.Retention, cfg.Rules); err != nil {
		return cfg, logs, err
	}
	if err := checkHTTPFlags(cfg.HTTP); err != nil {
		return cfg, logs, err
	}
	if err := cfg.TopicRetention.Validate(); err != nil {
		return cfg, logs, usageError{err}
	}
	if err := cfg.Auth.check(true); err != nil {
		return cfg, logs, err
	}
	return cfg, logs, logs.check()
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, log, err := parsed(parseServe, args, getenv, stderr)
	if err != nil {
		return err
	}
	cfg.Log = log
	name := "ordersys"
	if len(cfg.Services) > 0 {
		name = "ordersys-" + strings.Join(cfg.Services, "-")
	}
	stopTracing, err := tracing.Setup(ctx, cfg.OTLPEndpoint, name, getenv)
	if err != nil {
		return err
	}
	defer flushTraces(stopTracing, log)
	s, err := StartServe(ctx, cfg)
	if err != nil {
		return err
	}
	names := cfg.Services
	if len(names) == 0 {
		names = serviceNames()
	}
	fmt.Fprintf(stdout, "ordersys serve is running %s\n  HTTP        http://%s\n  Kafka       %s\nPress Ctrl-C to stop.\n",
		strings.Join(names, ", "), s.Addr, strings.Join(cfg.Brokers, ","))
	log.Info("started", "version", Version(), "services", names, "addr", s.Addr, "instance_id", cfg.InstanceID)
	waitErr := s.Wait(ctx)
	log.Info("shutting down")
	return errors.Join(waitErr, s.Close())
}

// parseServe reads serve's flags and environment into its configuration, apart from the logger,
// and refuses contradictory settings.
func parseServe(args []string, getenv func(string) string, stderr io.Writer) (cfg ServeConfig, logs logSettings, err error) {
	var brokers string
	fs := newFlagSet("serve", getenv, stderr)
	fs.synopsis = "[flags] [SERVICE...]\n\nSERVICE is order, payment, inventory, fulfillment or notification; none means all five."
	fs.String(&cfg.Addr, "addr", "127.0.0.1:3001", "HTTP listen address (API if this process runs the order service; health and docs always)")
	fs.databaseURL(&cfg.DatabaseURL, "postgres://user:pass@host:5432/db (each service uses its own schema), or sqlite:DIR")
	fs.String(&brokers, "kafka-brokers", "127.0.0.1:9092", "comma-separated Kafka bootstrap brokers")
	fs.Int(&cfg.Partitions, "partitions", 8, "partitions per topic, for topics created at start")
	fs.Int(&cfg.ReplicationFactor, "replication-factor", 1, "replication factor, for topics created at start")
	fs.Bool(&cfg.Migrate, "migrate", true, "apply database migrations at start")
	fs.Bool(&cfg.Rules.DemoCatalog, "demo-catalog", false, "stock SKU-1 to SKU-20 amply where missing, to try the system out (inventory)")
	fs.String(&cfg.PprofAddr, "pprof-addr", "", "serve Go's net/http/pprof profiles on this address (off when empty)")
	fs.Duration(&cfg.SessionTimeout, "session-timeout", defaultSessionTimeout, "how long a replica that stopped answering (and was not restarted) keeps its partitions before the group reassigns them")
	host, hostErr := os.Hostname()
	fs.String(&cfg.InstanceID, "instance-id", host, "this replica's name in its consumer groups (Kafka's group.instance.id), kept across restarts so that a restarted replica takes its partitions back at once; a second replica of a service on the same host must set its own (one started with another's id takes its place, and the other exits saying so); empty: dynamic membership, where a restarted replica waits out its old session")
	reliabilityFlags(fs, &cfg.Retry, &cfg.Retention)
	rulesFlags(fs, &cfg.Rules)
	logFlags(fs, &logs, "json")
	fs.Bool(&cfg.AccessLog, "access-log", false, "log a line per HTTP request")
	fs.String(&cfg.MetricsAddr, "metrics-addr", "", "serve GET /metrics on this address rather than on --addr")
	fs.String(&cfg.OTLPEndpoint, "otlp-endpoint", "", "export traces with OTLP over HTTP to this URL, e.g. http://collector:4318 (or set OTEL_EXPORTER_OTLP_ENDPOINT; OTEL_TRACES_SAMPLER and OTEL_SERVICE_NAME are honoured)")
	authFlags(fs, &cfg.Auth, authJWT)
	httpFlags(fs, &cfg.HTTP)
	consoleURLs := map[string]*string{}
	for _, svc := range consoleServices {
		consoleURLs[svc] = new(string)
	}
	consoleFlags(fs, &cfg.Console, consoleURLs)
	if err := fs.parse(args, true); err != nil {
		return cfg, logs, err
	}
	// Kafka and the embedded broker refuse a consumer whose session is shorter than their
	// group.min.session.timeout.ms, 6s by default, and franz-go one shorter than its 3s heartbeat:
	// the consumers would stop while the process went on taking orders.
	if cfg.SessionTimeout < minSessionTimeout {
		return cfg, logs, fmt.Errorf("--session-timeout %v: want at least %v, the brokers' minimum", cfg.SessionTimeout, minSessionTimeout)
	}
	if cfg.InstanceID == "" && hostErr != nil && !fs.isSet("instance-id") {
		return cfg, logs, fmt.Errorf("--instance-id: no default, the host name is unknown (%v): name this replica, or set --instance-id '' for dynamic membership", hostErr)
	}
	if err := checkInstanceID(cfg.InstanceID); err != nil {
		return cfg, logs, err
	}
	if err := checkSettings(cfg.Retry, cfg.Retention, cfg.Rules); err != nil {
		return cfg, logs, err
	}
	if err := checkHTTPFlags(cfg.HTTP); err != nil {
		return cfg, logs, err
	}
	if err := cfg.Auth.check(false); err != nil {
		return cfg, logs, err
	}
	cfg.ConsoleURLs = map[string]string{}
	for svc, u := range consoleURLs {
		cfg.ConsoleURLs[svc] = *u
	}
	if err := checkConsoleURLs(cfg.ConsoleURLs); err != nil {
		return cfg, logs, err
	}
	cfg.Services = fs.Args()
	cfg.Brokers = splitList(brokers)
	return cfg, logs, logs.check()
}

const minSessionTimeout = 6 * time.Second

// defaultSessionTimeout bounds how long the partitions of a replica that died and did not come
// back wait: a restarted one takes them back at once (static membership), so the session only has
// to outlast pauses that should not rebalance (a GC, a short network blip), and stays below the
// default --step-timeout (30 s), so that the orders a dead replica held move on before their
// steps time out. Measurements: docs/reliability.md.
const defaultSessionTimeout = 20 * time.Second

// checkInstanceID refuses an --instance-id that Kafka's own clients refuse
// (JoinGroupRequest.validateGroupInstanceId: the rule for topic names); franz-go and the brokers
// take any string, so such an id would work here and confuse every other tool. Empty turns static
// membership off. The default, the host name, is stable across restarts of a process on its host
// and of a container, which keeps its host name.
func checkInstanceID(id string) error {
	switch {
	case id == "":
		return nil
	case id == "." || id == "..":
		return fmt.Errorf("--instance-id %q: not a valid Kafka group.instance.id", id)
	case len(id) > maxInstanceIDLen:
		return fmt.Errorf("--instance-id %q: want at most %d characters", id, maxInstanceIDLen)
	}
	for _, r := range id {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("--instance-id %q: want only ASCII letters, digits, '.', '_' and '-', as Kafka's group.instance.id", id)
		}
	}
	return nil
}

const maxInstanceIDLen = 249

func runBroker(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg BrokerConfig
	var metricsAddr string
	fs := newFlagSet("broker", getenv, stderr)
	fs.String(&cfg.Addr, "addr", "127.0.0.1:9092", "listen address")
	fs.String(&cfg.Dir, "data-dir", "./data/kafka", "where the broker keeps its log")
	fs.Bool(&cfg.SyncWrites, "sync-writes", true, "fsync every produced batch before acknowledging it (off: let the OS flush, as Kafka does by default)")
	topicRetentionFlags(fs, &cfg.Retention)
	fs.String(&metricsAddr, "metrics-addr", "127.0.0.1:9308", "serve GET /metrics (the process's own) on this address (off when empty)")
	if err := fs.parse(args, false); err != nil {
		return err
	}
	if err := cfg.Retention.Validate(); err != nil {
		return usageError{err}
	}
	c, err := startBroker(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	var side sideListeners
	defer side.close()
	if err := side.serve("metrics", metricsAddr, metricsHandler(metrics.New(Version())), HTTPLimits{}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ordersys broker is running\n  Kafka       %s\n  Data        %s\n", c.ListenAddrs()[0], cfg.Dir)
	if len(side) > 0 {
		fmt.Fprintf(stdout, "  Metrics     http://%s/metrics\n", side[0].Addr)
	}
	fmt.Fprintln(stdout, "Press Ctrl-C to stop.")
	<-ctx.Done()
	return nil
}

func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var url string
	fs := newFlagSet("migrate", getenv, stderr)
	fs.synopsis = "[flags] [SERVICE...]\n\nSERVICE is order, payment, inventory, fulfillment or notification; none means all five."
	fs.databaseURL(&url, "postgres://... or sqlite:DIR")
	if err := fs.parse(args, true); err != nil {
		return err
	}
	if url == "" {
		return errors.New("migrate needs --database-url")
	}
	if err := migrateAll(ctx, url, fs.Args()); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "migrations applied")
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// topicRetentionFlags are how much of its log an embedded broker keeps (dev and broker).
func topicRetentionFlags(fs *flagSet, r *TopicRetention) {
	fs.Duration(&r.Time, "topic-retention", DefaultTopicRetention, fmt.Sprintf("how long the embedded broker keeps a record; at most %v, which every inbox outlasts", messaging.TopicRetention))
	fs.Size(&r.Bytes, "topic-retention-bytes", DefaultTopicRetentionBytes, "the most log the embedded broker keeps per partition, oldest records removed first (a consumer further behind loses them)")
	fs.Duration(&r.Check, "topic-retention-check", DefaultTopicRetentionCheck, "how often the embedded broker removes what is past its retention")
}

// reliabilityFlags are the retry and retention settings every process that runs services takes.
func reliabilityFlags(fs *flagSet, retry *messaging.RetryConfig, retention *messaging.RetentionConfig) {
	fs.Duration(&retry.Base, "retry-base", messaging.DefaultRetryBase, "first wait before retrying a failed handler; doubles each attempt, with jitter")
	fs.Duration(&retry.Cap, "retry-cap", messaging.DefaultRetryCap, "longest wait between handler retries; at least --retry-base")
	fs.Int(&retry.MaxAttempts, "retry-attempts", messaging.DefaultRetryAttempts, "attempts before a failing message goes to its topic's .dlq")
	fs.Duration(&retention.Inbox, "inbox-retention", messaging.DefaultInboxRetention, fmt.Sprintf("how long applied event ids are remembered; at least the topics' retention, %v, or a late redelivery would apply its event twice", messaging.TopicRetention))
}

// checkSettings refuses reliability and rules flags that contradict themselves or each other. Every
// one of these flags states its default, so a zero or negative value is refused rather than
// silently replaced by that default, as the services do with a zero field.
func checkSettings(retry messaging.RetryConfig, retention messaging.RetentionConfig, r Rules) error {
	var errs []error
	positive := func(flag string, v time.Duration) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("--%s %v: want a positive duration", flag, v))
		}
	}
	atLeastOne := func(flag string, n int) {
		if n < 1 {
			errs = append(errs, fmt.Errorf("--%s %d: want at least 1", flag, n))
		}
	}
	positive("retry-base", retry.Base)
	positive("retry-cap", retry.Cap)
	atLeastOne("retry-attempts", retry.MaxAttempts)
	positive("inbox-retention", retention.Inbox)
	positive("step-timeout", r.StepTimeout)
	atLeastOne("step-attempts", r.StepAttempts)
	atLeastOne("max-creates", r.MaxCreates)
	atLeastOne("max-orders-in-flight", r.MaxInFlight)
	positive("webhook-timeout", r.Webhooks.Timeout)
	positive("webhook-retry-for", r.Webhooks.RetryFor)
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := retry.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--retry-cap, --retry-base: %w", err))
	}
	if err := retention.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--inbox-retention: %w", err))
	}
	if err := r.Webhooks.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--webhook-timeout, --webhook-retry-for: %w", err))
	}
	return errors.Join(errs...)
}

// rulesFlags are the settings of the services' business rules.
func rulesFlags(fs *flagSet, r *Rules) {
	fs.Func("credit-limit", fmt.Sprintf("every customer's credit limit per currency with the simulated payment provider (default %s; env %s)",
		payment.DefaultCreditLimit, envName("credit-limit")), func(v string) error {
		d, err := decimal.NewFromString(v)
		if err != nil || !d.IsPositive() {
			return fmt.Errorf("want a positive amount, got %q", v)
		}
		if err := (payment.Config{CreditLimit: d}).Validate(); err != nil {
			return err
		}
		r.CreditLimit = d
		return nil
	})
	if v := fs.getenv(envName("credit-limit")); v != "" {
		if err := fs.Set("credit-limit", v); err != nil {
			fs.errs = append(fs.errs, fmt.Errorf("%s=%q: %w", envName("credit-limit"), v, err))
		}
	}
	var countries string
	fs.Func("ship-countries", fmt.Sprintf("comma-separated countries fulfillment ships to (default %s; env %s)",
		strings.Join(fulfillment.DefaultCountries(), ","), envName("ship-countries")), func(v string) error {
		r.ShipCountries = splitList(v)
		return nil
	})
	if countries = fs.getenv(envName("ship-countries")); countries != "" {
		r.ShipCountries = splitList(countries)
	}
	fs.Duration(&r.StepTimeout, "step-timeout", 30*time.Second, "how long a saga step waits for its reply before its command is sent again")
	fs.Int(&r.StepAttempts, "step-attempts", 3, "sends of a step's command before the saga gives up, compensates and fails the order (reason TIMEOUT)")
	fs.Int(&r.MaxCreates, "max-creates", order.DefaultMaxCreates, "creates one process runs at once; more are refused with 503 and Retry-After (order)")
	fs.Int(&r.MaxInFlight, "max-orders-in-flight", order.DefaultMaxInFlight, "orders not yet ended, across replicas, past which creates are refused with 503 and Retry-After (order)")
	fs.Bool(&r.Webhooks.AllowInsecure, "webhook-allow-insecure", false, "accept http:// webhook URLs, not only https:// (notification)")
	fs.Bool(&r.Webhooks.AllowPrivate, "webhook-allow-private", false, "deliver webhooks to private, loopback and link-local addresses, refused by default after DNS resolution (notification)")
	fs.Duration(&r.Webhooks.Timeout, "webhook-timeout", notification.DefaultWebhookTimeout, "how long one webhook attempt may take; anything but a 2xx in it is retried (notification)")
	fs.Duration(&r.Webhooks.RetryFor, "webhook-retry-for", notification.DefaultWebhookRetryFor, "how long a webhook delivery is retried before its subscription is disabled (notification)")
}
