package app

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordersys/ordersys/internal/messaging"
)

// scrape reads url's metrics with Prometheus's own text parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return families
}

// seriesOf are the series of family name whose labels include want (nil: all of them).
func seriesOf(families map[string]*dto.MetricFamily, name string, want map[string]string) []*dto.Metric {
	var out []*dto.Metric
	for _, m := range families[name].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		if includes(labels, want) {
			out = append(out, m)
		}
	}
	return out
}

func includes(labels, want map[string]string) bool {
	for k, v := range want {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// value is the value of the series of family name whose labels include want (nil: the family's
// only series); ok is false when there is no such series.
func value(families map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	series := seriesOf(families, name, want)
	var sum float64
	for _, m := range series {
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum, len(series) > 0
}

// histogramSum is the sum of the observations of the histograms of family name whose labels
// include want.
func histogramSum(families map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	var sum float64
	for _, m := range seriesOf(families, name, want) {
		sum += m.GetHistogram().GetSampleSum()
	}
	return sum
}

// TestMetricsTellTheTruth runs orders through every outcome on `dev`, then scrapes /metrics and
// checks the counters and gauges against what the databases and the broker hold.
func TestMetricsTellTheTruth(t *testing.T) {
	d := startDev(t)
	base := "http://" + d.Addr
	setStock(t, base, "SCARCE", "1")
	var ids []string
	for range 5 {
		ids = append(ids, placeOrder(t, base, testOrder{lines: map[string]string{"SKU-1": "1"}}.body()))
	}
	ids = append(ids, placeOrder(t, base, testOrder{lines: map[string]string{"SKU-1": "1"}, country: "BRA"}.body()))
	ids = append(ids, placeOrder(t, base, testOrder{lines: map[string]string{"SCARCE": "2"}}.body()))
	cancelled := placeOrder(t, base, testOrder{lines: map[string]string{"SKU-2": "1"}}.body())
	do(t, http.MethodPost, base+"/api/v1/orders/"+cancelled+"/cancel", "", uuid.NewString(), nil)
	ids = append(ids, cancelled)
	outcomes := checkInvariants(t, base, ids)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	db := d.node.dbs["order"]
	byStatus := map[string]float64{}
	rows, err := db.QueryContext(ctx, `SELECT status, COUNT(*) FROM orders GROUP BY status`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		var n float64
		if err := rows.Scan(&s, &n); err != nil {
			t.Fatal(err)
		}
		byStatus[s] = n
	}
	rows.Close()
	t.Logf("outcomes %v; orders by status %v", outcomes, byStatus)

	// The consumers have caught up once every outbox is empty and no group lags.
	adm := kadm.NewClient(newTestClient(t, d.KafkaAddr))
	poll(t, 20*time.Second, 50*time.Millisecond, func() (bool, string) {
		lags, err := adm.Lag(ctx, "order-saga", "payment", "inventory", "fulfillment", "notification")
		if err != nil {
			return false, err.Error()
		}
		for _, g := range lags.Sorted() {
			if g.Lag.Total() > 0 {
				return false, g.Group + " lags"
			}
		}
		for name, db := range d.node.dbs {
			if n, err := messaging.Backlog(ctx, db); err != nil || n > 0 {
				return false, name + " has an outbox backlog"
			}
		}
		return true, ""
	})

	m := scrape(t, base+"/metrics")
	check := func(name string, labels map[string]string, want float64) {
		t.Helper()
		if got, ok := value(m, name, labels); !ok || got != want {
			t.Errorf("%s%v = %v (present %v), want %v", name, labels, got, ok, want)
		}
	}
	check("ordersys_orders_created_total", nil, float64(len(ids)))
	for _, s := range []string{"COMPLETED", "FAILED", "CANCELLED"} {
		check("ordersys_orders_finished_total", map[string]string{"status": s}, byStatus[s])
		check("ordersys_order_duration_seconds", map[string]string{"status": s}, byStatus[s])
	}
	check("ordersys_orders_finished_total", map[string]string{"status": "FAILED", "reason": "OUT_OF_STOCK"}, 1)
	for _, s := range []string{"PENDING", "PAYMENT", "INVENTORY", "FULFILLMENT", "COMPENSATING"} {
		check("ordersys_saga_orders", map[string]string{"status": s}, byStatus[s])
	}
	check("ordersys_http_requests_total", map[string]string{"service": "order", "route": "/api/v1/orders/create",
		"method": "POST", "code": "201"}, float64(len(ids)))
	if _, ok := value(m, "ordersys_http_requests_total", map[string]string{"route": "/api/v1/orders/{orderId}"}); !ok {
		t.Error("no requests counted under the route template /api/v1/orders/{orderId}")
	}
	for name, f := range m {
		for _, s := range f.Metric {
			for _, l := range s.Label {
				if strings.Contains(l.GetValue(), cancelled) {
					t.Errorf("%s has a label holding an order id: %v", name, s.Label)
				}
			}
		}
	}
	// Every order but the cancelled one (cancelled before or while its charge was on its way) left
	// PAYMENT by its reply; the completed ones left FULFILLMENT by theirs.
	if got, _ := value(m, "ordersys_saga_step_duration_seconds", map[string]string{"step": "payment"}); got < float64(len(ids)-1) || got > float64(len(ids)) {
		t.Errorf("payment steps answered: %v, want %d or %d", got, len(ids)-1, len(ids))
	}
	check("ordersys_saga_step_duration_seconds", map[string]string{"step": "fulfillment"}, byStatus["COMPLETED"]+1)
	for name := range d.node.dbs {
		check("ordersys_outbox_backlog", map[string]string{"service": name}, 0)
		if _, ok := value(m, "ordersys_db_pool_connections", map[string]string{"service": name, "state": "idle"}); !ok {
			t.Errorf("no pool connections reported for %s", name)
		}
	}
	for _, group := range []string{"order-saga", "payment", "inventory", "fulfillment", "notification"} {
		if got, ok := value(m, "ordersys_consumer_lag", map[string]string{"consumer": group}); !ok || got != 0 {
			t.Errorf("consumer lag of %s = %v (present %v), want 0 as kadm says", group, got, ok)
		}
	}
	// Every order (but one cancelled before its charge was sent, maybe) had its ChargePayment applied
	// once, and notification recorded each end once; nothing went to a dead-letter topic.
	if got, _ := value(m, "ordersys_consumer_records_total", map[string]string{"consumer": "payment",
		"topic": "payments.commands", "outcome": "applied"}); got < float64(len(ids)-1) {
		t.Errorf("payment commands applied: %v, want at least %d", got, len(ids)-1)
	}
	check("ordersys_consumer_records_total", map[string]string{"consumer": "notification", "outcome": "applied"}, float64(len(ids)))
	check("ordersys_consumer_records_total", map[string]string{"outcome": "dead_lettered"}, 0)
	check("ordersys_dead_letters_total", nil, 0)
	// Each order's OrderCreated, and the notification's nothing: it publishes no event.
	if got, _ := value(m, "ordersys_outbox_published_total", map[string]string{"service": "order",
		"topic": "orders.events"}); got < float64(len(ids)) {
		t.Errorf("order events published: %v, want at least %d", got, len(ids))
	}
	// Each ChargePayment's stages: read by the order relay, then acknowledged by the broker and
	// (in parallel: the broker answers fetches once the batch is written) fetched by payment, then
	// applied there. Each stage's mean age exceeds its predecessor's.
	mean := map[string]float64{}
	for _, st := range []struct{ family, stage string }{{"ordersys_outbox_event_age_seconds", "read"},
		{"ordersys_outbox_event_age_seconds", "acknowledged"}, {"ordersys_consumer_event_age_seconds", "fetched"},
		{"ordersys_consumer_event_age_seconds", "applied"}} {
		want := map[string]string{"topic": "payments.commands", "stage": st.stage}
		n, _ := value(m, st.family, want)
		if n < float64(len(ids)-1) {
			t.Errorf("%s %v: %v events, want at least %d", st.family, want, n, len(ids)-1)
		}
		mean[st.stage] = histogramSum(m, st.family, want) / n
	}
	for _, before := range [][2]string{{"read", "acknowledged"}, {"read", "fetched"}, {"fetched", "applied"}} {
		if !(mean[before[0]] > 0 && mean[before[0]] < mean[before[1]]) {
			t.Errorf("payments.commands: mean age %s %vs, %s %vs: want 0 < the first < the second",
				before[0], mean[before[0]], before[1], mean[before[1]])
		}
	}
	check("ordersys_saga_step_timeouts_total", nil, 0)
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "ordersys_build_info"} {
		if m[name] == nil {
			t.Errorf("no %s", name)
		}
	}
}

func newTestClient(t *testing.T, broker string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}
