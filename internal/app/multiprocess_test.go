package app

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/pgtest"
)

// cluster is the production topology on one machine: `ordersys broker` and one `ordersys serve`
// process per service on PostgreSQL, with two replicas of payment.
type cluster struct {
	broker   *process
	services map[string][]*process
	api      string // the order service's base URL
	dsn      string
}

// startCluster starts the topology, its consumers' sessions lasting session (the brokers'
// minimum keeps a test that kills a replica for good short). Every process gets its own instance
// id, as replicas on different hosts have.
func startCluster(t *testing.T, session time.Duration, replicas map[string]int) *cluster {
	t.Helper()
	c := &cluster{dsn: pgtest.DSN(t), services: map[string][]*process{}}
	c.broker = startProcess(t, "broker", brokerUp, "broker", "--addr", freeAddr(t), "--data-dir", t.TempDir(),
		"--metrics-addr", "127.0.0.1:0")
	apiAddr := freeAddr(t)
	for _, name := range []string{"order", "payment", "inventory", "fulfillment", "notification"} {
		addr := "127.0.0.1:0"
		if name == "order" {
			addr = apiAddr
		}
		for i := range max(1, replicas[name]) {
			p := startProcess(t, name, serveReady, "serve", name, "--addr", addr, "--database-url", c.dsn,
				"--kafka-brokers", c.broker.addr, "--partitions", "4", "--session-timeout", session.String(),
				"--instance-id", fmt.Sprintf("%s-%d", name, i+1), "--log-level", "warn", "--demo-catalog", "--auth", "none",
				"--webhook-allow-insecure", "--webhook-allow-private", "--webhook-timeout", "2s")
			c.services[name] = append(c.services[name], p)
		}
	}
	c.api = "http://" + apiAddr
	return c
}

// placeOrders posts n orders from 16 clients that retry each order with its Idempotency-Key until
// it is accepted, as a real client would while the order service restarts.
func placeOrders(t *testing.T, ctx context.Context, base string, n int) []string {
	ids := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				key, body := uuid.NewString(), orderBody(uuid.NewString(), "SKU-1", "SKU-2")
				for ids[i] == "" {
					if ctx.Err() != nil {
						return
					}
					req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/orders/create", stringsReader(body))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Idempotency-Key", key)
					resp, err := client.Do(req)
					if err != nil {
						time.Sleep(100 * time.Millisecond) // the order service is down: try again
						continue
					}
					var created struct {
						OrderID string `json:"orderId"`
					}
					if resp.StatusCode == http.StatusCreated {
						if err := decodeJSON(resp, &created); err == nil {
							ids[i] = created.OrderID
						}
					} else {
						resp.Body.Close()
						time.Sleep(100 * time.Millisecond)
					}
				}
			}
		})
	}
	wg.Wait()
	return ids
}

// TestMultiProcess runs the production topology: 500 orders complete; then 500 more complete
// while one process of every service is killed with SIGKILL and restarted mid-load, and no order
// is charged, reserved, shipped or notified twice. A webhook receiver gets every order's outcome,
// verified, under one webhook-id each, the order and notification processes' kills included.
func TestMultiProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts seven processes")
	}
	c := startCluster(t, 6*time.Second, map[string]int{"payment": 2})
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	hooks := newHookReceiver(t, 20*time.Millisecond) // slow enough that deliveries are in flight at the kill
	_, secret := subscribeHook(t, c.services["notification"][0].addr, hooks.URL)
	hooks.mu.Lock()
	hooks.secret = secret
	hooks.mu.Unlock()

	start := time.Now()
	first := placeOrders(t, ctx, c.api, 500)
	t.Logf("500 orders placed in %s", time.Since(start))
	for _, id := range first {
		waitStatus(t, c.api, id, "COMPLETED", 2*time.Minute)
	}
	t.Logf("500 orders completed in %s", time.Since(start))
	start = time.Now()

	var second []string
	placed := make(chan struct{})
	go func() {
		defer close(placed)
		second = placeOrders(t, ctx, c.api, 500)
	}()
	time.Sleep(500 * time.Millisecond) // let the load get going
	for _, name := range []string{"order", "payment", "inventory", "fulfillment", "notification"} {
		p := c.services[name][0]
		p.crash(t)
		time.Sleep(200 * time.Millisecond)
		p.restart(t, serveReady)
		t.Logf("%s crashed and restarted at %s", name, time.Since(start))
	}
	<-placed
	t.Logf("500 more orders placed in %s", time.Since(start))
	if ctx.Err() != nil {
		t.Fatal("placing the second 500 orders timed out")
	}
	for _, id := range second {
		waitStatus(t, c.api, id, "COMPLETED", 2*time.Minute)
	}

	t.Logf("500 more orders completed in %s", time.Since(start))
	// Every effect once, money balanced, stock conserved, one notification per outcome, from the
	// services' own tables (notifications follow COMPLETED, so the audit waits for them).
	ids := append(first, second...)
	if r := auditUntilOK(t, ctx, c.dsn, ids, 2*time.Minute); !r.OK() {
		t.Errorf("audit of %d orders: %s\n%s", len(ids), r.Summary(), r.Details(20))
	}
	waitHooks(t, hooks, ids, time.Minute)
}

// waitHooks waits until the receiver has every order's outcome, and checks each came under one
// webhook-id and verified.
func waitHooks(t *testing.T, r *hookReceiver, ids []string, timeout time.Duration) {
	t.Helper()
	poll(t, timeout, 100*time.Millisecond, func() (bool, string) {
		orders, _, _ := r.received()
		for _, id := range ids {
			if orders[id] == 0 {
				return false, "order " + id + " not delivered"
			}
		}
		return true, ""
	})
	orders, requests, bad := r.received()
	for id, hooks := range orders {
		if hooks != 1 {
			t.Errorf("order %s delivered under %d webhook-ids, want one", id, hooks)
		}
	}
	if len(bad) > 0 || len(orders) != len(ids) {
		t.Errorf("%d orders delivered (%d requests), want %d; refused: %v", len(orders), requests, len(ids), bad)
	}
	t.Logf("%d orders' outcomes delivered in %d requests", len(orders), requests)
}
