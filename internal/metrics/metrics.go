// Package metrics is what ordersys tells Prometheus. The names and labels here are a contract with
// the dashboards and alerts in deploy/ (a test checks they agree), so every metric is declared in
// this one place; the services record through the methods of Metrics, which do nothing on a nil
// *Metrics, so that a service built without one (in a unit test) needs no stand-in.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Consumer outcomes, the values of ordersys_consumer_records_total's outcome label.
const (
	Applied      = "applied"       // its transaction committed
	Duplicate    = "duplicate"     // the inbox had it already
	Retried      = "retried"       // it failed and will be tried again
	DeadLettered = "dead_lettered" // it went to its topic's .dlq
)

// Metrics are one process's metrics, in a registry of their own.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests    *prometheus.CounterVec
	httpDuration    *prometheus.HistogramVec
	ordersCreated   prometheus.Counter
	ordersFinished  *prometheus.CounterVec
	orderDuration   *prometheus.HistogramVec
	stepDuration    *prometheus.HistogramVec
	stepTimeouts    *prometheus.CounterVec
	outboxPublished *prometheus.CounterVec
	outboxEventAge  *prometheus.HistogramVec
	consumerAge     *prometheus.HistogramVec
	consumerRecords *prometheus.CounterVec
	deadLetters     *prometheus.CounterVec
	sagaOrders      *cached
	outboxBacklog   *cached
	consumerLag     *cached
	dbPool          *cached
	// webhook deliveries
	webhookDeliveries *prometheus.CounterVec
	webhookDuration   *prometheus.HistogramVec
	buildInfo         *prometheus.GaugeVec
}

// Latency buckets, in seconds: a request or a saga step takes milliseconds when all is well and
// up to a step's timeout (30 s by default) when it is not.
var (
	fastBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	slowBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}
	// hopBuckets resolve a hop of the saga, milliseconds apart, into its stages.
	hopBuckets = []float64{.0005, .001, .002, .003, .005, .0075, .01, .015, .02, .03, .05, .075, .1, .25, .5, 1, 2.5, 5, 10}
)

// New makes the metrics of a process of the given version, with Go's runtime and the process's
// own (CPU, memory, file descriptors).
func New(version string) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ordersys_http_requests_total", Help: "HTTP requests answered, by the service whose route answered, route template, method and status code.",
		}, []string{"service", "route", "method", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ordersys_http_request_duration_seconds", Help: "Time to answer an HTTP request.", Buckets: fastBuckets,
		}, []string{"service", "route", "method"}),
		ordersCreated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ordersys_orders_created_total", Help: "Orders accepted (201), by the process that created them.",
		}),
		ordersFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ordersys_orders_finished_total", Help: "Orders that reached a terminal status, by status and reason.",
		}, []string{"status", "reason"}),
		orderDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ordersys_order_duration_seconds", Help: "Time from an order's create to its terminal status.", Buckets: slowBuckets,
		}, []string{"status"}),
		stepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ordersys_saga_step_duration_seconds", Help: "Time from a saga step's command being sent to its reply being applied.", Buckets: slowBuckets,
		}, []string{"step"}),
		stepTimeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ordersys_saga_step_timeouts_total", Help: "Saga steps whose reply did not come by their deadline.",
		}, []string{"step"}),
		outboxPublished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ordersys_outbox_published_total", Help: "Outbox rows the broker acknowledged, by service and topic.",
		}, []string{"service", "topic"}),
		outboxEventAge: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ordersys_outbox_event_age_seconds", Help: "Age of an outbox event (from its time, taken in the transaction that wrote it) when the relay read it (stage read) and when the broker acknowledged it (stage acknowledged), by topic.", Buckets: hopBuckets,
		}, []string{"topic", "stage"}),
		consumerAge: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ordersys_consumer_event_age_seconds", Help: "Age of an event a consumer applied when its poll returned it (stage fetched) and when the transaction that applied it committed (stage applied).", Buckets: hopBuckets,
		}, []string{"consumer", "topic", "stage"}),
		consumerRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ordersys_consumer_records_total", Help: "Records a consumer settled, by outcome: applied, duplicate, retried or dead_lettered.",
		}, []string{"consumer", "topic", "outcome"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ordersys_dead_letters_total", Help: "Records sent to a dead-letter topic, by consumer and the topic they came from.",
		}, []string{"consumer", "topic"}),
		sagaOrders: newCached(prometheus.NewDesc("ordersys_saga_orders",
			"Orders now in each non-terminal status (in the database, whichever process moves them).", []string{"status"}, nil)),
		outboxBacklog: newCached(prometheus.NewDesc("ordersys_outbox_backlog",
			"Outbox rows written and not yet acknowledged by the broker.", []string{"service"}, nil)),
		consumerLag: newCached(prometheus.NewDesc("ordersys_consumer_lag",
			"Records of a partition not yet committed by a consumer group: high watermark minus committed offset.",
			[]string{"consumer", "topic", "partition"}, nil)),
		dbPool: newCached(prometheus.NewDesc("ordersys_db_pool_connections",
			"A service's database connections, idle or in use.", []string{"service", "state"}, nil)),
		webhookDeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ordersys_webhook_deliveries_total", Help: "Webhook delivery attempts, by outcome: delivered, retry (failed, tried again later), gone (410: subscription disabled) or gave_up (failed for the whole retry budget: subscription disabled).",
		}, []string{"outcome"}),
		webhookDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ordersys_webhook_delivery_duration_seconds", Help: "Time from a webhook attempt's start to its answer (or failure), by outcome.", Buckets: slowBuckets,
		}, []string{"outcome"}),
		buildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ordersys_build_info", Help: "Always 1; its version label is the running binary's.",
		}, []string{"version"}),
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpRequests, m.httpDuration, m.ordersCreated, m.ordersFinished, m.orderDuration, m.stepDuration,
		m.stepTimeouts, m.outboxPublished, m.outboxEventAge, m.consumerAge, m.consumerRecords, m.deadLetters, m.sagaOrders, m.outboxBacklog,
		m.consumerLag, m.dbPool, m.webhookDeliveries, m.webhookDuration, m.buildInfo)
	m.buildInfo.WithLabelValues(version).Set(1)
	return m
}

// DeclareWebhookOutcomes exports each outcome's count from the start, at zero, so that an alert
// on one sees a series before its first increase.
func (m *Metrics) DeclareWebhookOutcomes(outcomes ...string) {
	if m == nil {
		return
	}
	for _, o := range outcomes {
		m.webhookDeliveries.WithLabelValues(o)
	}
}

// WebhookAttempt records one webhook delivery attempt and how long it took.
func (m *Metrics) WebhookAttempt(outcome string, took time.Duration) {
	if m == nil {
		return
	}
	m.webhookDeliveries.WithLabelValues(outcome).Inc()
	m.webhookDuration.WithLabelValues(outcome).Observe(took.Seconds())
}

// Registerer is where other collectors of the process register (franz-go's kprom).
func (m *Metrics) Registerer() prometheus.Registerer { return m.reg }

// Gatherer reads the metrics in-process, as the console does for its own process.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// Handler serves the metrics in Prometheus's text format, or OpenMetrics when the scraper asks.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{EnableOpenMetrics: true, Registry: m.reg})
}

// OrderCreated counts an accepted order.
func (m *Metrics) OrderCreated() {
	if m != nil {
		m.ordersCreated.Inc()
	}
}

// OrderFinished counts an order that reached status (for reason) took after its create.
func (m *Metrics) OrderFinished(status, reason string, took time.Duration) {
	if m != nil {
		m.ordersFinished.WithLabelValues(status, reason).Inc()
		m.orderDuration.WithLabelValues(status).Observe(took.Seconds())
	}
}

// StepAnswered records a saga step whose reply was applied took after its command was sent.
func (m *Metrics) StepAnswered(step string, took time.Duration) {
	if m != nil {
		m.stepDuration.WithLabelValues(step).Observe(took.Seconds())
	}
}

// StepTimedOut counts a step whose reply did not come by its deadline.
func (m *Metrics) StepTimedOut(step string) {
	if m != nil {
		m.stepTimeouts.WithLabelValues(step).Inc()
	}
}

// Published counts outbox rows of a service the broker acknowledged on topic.
func (m *Metrics) Published(service, topic string, n int) {
	if m != nil {
		m.outboxPublished.WithLabelValues(service, topic).Add(float64(n))
	}
}

// OutboxEventAge records how old an event of topic, made at born, was when the relay read it and
// when the broker acknowledged it: the first stages of a hop.
func (m *Metrics) OutboxEventAge(topic string, born, read, acked time.Time) {
	if m != nil {
		m.outboxEventAge.WithLabelValues(topic, "read").Observe(read.Sub(born).Seconds())
		m.outboxEventAge.WithLabelValues(topic, "acknowledged").Observe(acked.Sub(born).Seconds())
	}
}

// ConsumerEventAge records how old an event of topic, made at born, was when consumer's poll
// returned it and when its transaction committed: the last stages of a hop.
func (m *Metrics) ConsumerEventAge(consumer, topic string, born, fetched, applied time.Time) {
	if m != nil {
		m.consumerAge.WithLabelValues(consumer, topic, "fetched").Observe(fetched.Sub(born).Seconds())
		m.consumerAge.WithLabelValues(consumer, topic, "applied").Observe(applied.Sub(born).Seconds())
	}
}

// Settled counts a record of topic that consumer settled with outcome (Applied, ...).
func (m *Metrics) Settled(consumer, topic, outcome string, n int) {
	if m == nil {
		return
	}
	m.consumerRecords.WithLabelValues(consumer, topic, outcome).Add(float64(n))
	if outcome == DeadLettered {
		m.deadLetters.WithLabelValues(consumer, topic).Add(float64(n))
	}
}

// HTTPAnswered records an answered request: the service whose route answered it, the route's
// template (never the raw path: its ids would make a series per order), its method and status.
func (m *Metrics) HTTPAnswered(service, route, method string, code int, took time.Duration) {
	if m != nil {
		if !knownMethods[method] {
			method = "_OTHER" // a client's made-up methods must not make a series each
		}
		m.httpRequests.WithLabelValues(service, route, method, strconv.Itoa(code)).Inc()
		m.httpDuration.WithLabelValues(service, route, method).Observe(took.Seconds())
	}
}

// knownMethods are the HTTP methods that keep their name in a metric's labels.
var knownMethods = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true,
	"DELETE": true, "OPTIONS": true, "CONNECT": true, "TRACE": true}

// DeclareSteps starts the step timeout series of steps at zero, so that a rate over them starts
// at once and a dashboard shows the steps before one times out.
func (m *Metrics) DeclareSteps(steps ...string) {
	if m != nil {
		for _, s := range steps {
			m.stepTimeouts.WithLabelValues(s).Add(0)
		}
	}
}
