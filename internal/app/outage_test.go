package app

import (
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/pgtest"
)

// waitReady polls readiness until it answers want, failing after timeout.
func waitReady(t *testing.T, base string, want int, timeout time.Duration) map[string]any {
	t.Helper()
	var r response
	poll(t, timeout, 100*time.Millisecond, func() (bool, string) {
		r = do(t, http.MethodGet, base+"/api/utility/readiness", "", "", nil)
		return r.status == want, fmt.Sprintf("readiness still %d %s (want %d)", r.status, r.body, want)
	})
	return r.json(t)
}

// TestOutages takes the broker and then PostgreSQL away from a running `serve` of all five
// services: readiness says so, accepted orders are kept, and everything resumes by itself.
func TestOutages(t *testing.T) {
	brokerAddr, brokerDir := freeAddr(t), filepath.Join(t.TempDir(), "kafka")
	broker, err := startBroker(BrokerConfig{Addr: brokerAddr, Dir: brokerDir, SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { broker.Close() }()
	s, err := StartServe(t.Context(), ServeConfig{
		Addr: "127.0.0.1:0", DatabaseURL: pgtest.DSN(t), Brokers: []string{brokerAddr},
		Partitions: 2, ReplicationFactor: 1, Migrate: true, Rules: Rules{DemoCatalog: true}, Log: testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := "http://" + s.Addr
	waitReady(t, base, http.StatusOK, 10*time.Second)

	t.Run("broker down", func(t *testing.T) {
		broker.Close()
		checks := waitReady(t, base, http.StatusServiceUnavailable, 10*time.Second)["checks"].(map[string]any)
		if checks["broker"] == "ok" || checks["database:order"] != "ok" {
			t.Errorf("readiness checks %v: want the broker failing and the databases fine", checks)
		}
		// The API still takes orders: they wait in the outbox.
		id := placeOrder(t, base, orderBody(uuid.NewString(), "SKU-1"))
		time.Sleep(time.Second)
		if broker, err = startBroker(BrokerConfig{Addr: brokerAddr, Dir: brokerDir, SyncWrites: true}); err != nil {
			t.Fatal(err)
		}
		waitReady(t, base, http.StatusOK, 30*time.Second)
		waitStatus(t, base, id, "COMPLETED", 60*time.Second)
	})

	t.Run("database down", func(t *testing.T) {
		inFlight := placeOrder(t, base, orderBody(uuid.NewString(), "SKU-2"))
		pgtest.Stop(t)
		checks := waitReady(t, base, http.StatusServiceUnavailable, 10*time.Second)["checks"].(map[string]any)
		if checks["database:order"] == "ok" || checks["broker"] != "ok" {
			t.Errorf("readiness checks %v: want the databases failing and the broker fine", checks)
		}
		r := createOrder(t, base, uuid.NewString(), orderBody(uuid.NewString(), "SKU-3"))
		if r.status != http.StatusServiceUnavailable || r.header.Get("Content-Type") != "application/problem+json" ||
			r.header.Get("Retry-After") == "" {
			t.Errorf("create with the database down: %d %v %s, want a 503 problem with Retry-After", r.status, r.header, r.body)
		}
		if r := do(t, http.MethodGet, base+"/api/v1/orders/"+inFlight, "", "", nil); r.status != http.StatusServiceUnavailable ||
			r.header.Get("Retry-After") == "" {
			t.Errorf("get with the database down: %d %v %s, want a 503 problem with Retry-After", r.status, r.header, r.body)
		}
		// An event for the consumers to apply while the database is down (OrderCompleted: the
		// notification and inventory services take it, and it needs no order of theirs), held
		// longer than a message's whole retry budget (about 6.4 s at the defaults): consumers
		// that spent the budget instead of pausing would dead-letter it.
		msg, err := events.New("order", uuid.NewString(), events.OrderCompleted{OrderID: uuid.NewString(),
			CustomerID: uuid.NewString(), Total: decimal.NewFromInt(1), Currency: "USD"})
		if err != nil {
			t.Fatal(err)
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokerAddr))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if err := cl.ProduceSync(t.Context(), messaging.ToRecord(msg)).FirstErr(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(8 * time.Second)
		pgtest.Start(t)
		waitReady(t, base, http.StatusOK, 30*time.Second)
		waitStatus(t, base, inFlight, "COMPLETED", 60*time.Second)
		waitStatus(t, base, placeOrder(t, base, orderBody(uuid.NewString(), "SKU-4")), "COMPLETED", 60*time.Second)
		if r := do(t, http.MethodGet, base+"/api/v1/admin/dlq", "", "", nil); r.status != http.StatusOK ||
			len(r.json(t)["items"].([]any)) != 0 {
			t.Errorf("dead letters after the outage: %d %s, want none", r.status, r.body)
		}
	})
}
