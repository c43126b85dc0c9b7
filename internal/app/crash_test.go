package app

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/audit"
	"github.com/ordersys/ordersys/internal/inventory"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

func devArgs(addr, dataDir string) []string {
	return []string{"dev", "--addr", addr, "--kafka-addr", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "warn"}
}

// TestCrashRestart kills `ordersys dev` with SIGKILL while clients are placing and cancelling
// orders, starts it again on the same data dir, and audits every service's database: each order
// ended, each effect applied once, stock and credit balances exact. Orders must have been in
// flight at the kill, by the orders' own history.
func TestCrashRestart(t *testing.T) {
	dataDir, addr := t.TempDir(), freeAddr(t)
	p := startProcess(t, "dev", devReady, devArgs(addr, dataDir)...)
	const n, killAfter = 300, 120
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	l := &crashLoad{base: p.addr, accepted: make(chan struct{}, n)}
	loaded := make(chan struct{})
	go func() { defer close(loaded); l.run(ctx, n, 8) }()

	for range killAfter {
		select {
		case <-l.accepted:
		case <-ctx.Done():
			t.Fatal("the load did not get going")
		}
	}
	killedAt := time.Now()
	p.crash(t)
	t.Logf("killed after %d orders accepted", killAfter)
	time.Sleep(300 * time.Millisecond) // the clients meet a closed port for a while, as real ones would
	p.restart(t, devReady)
	<-loaded
	ids, errs := l.result()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if len(ids) != n {
		t.Fatalf("%d orders accepted, want %d", len(ids), n)
	}

	// The audit passes once the restarted process has finished every order.
	r := auditUntilOK(t, ctx, "sqlite:"+dataDir, ids, 90*time.Second)
	p.stop(t)
	if !r.OK() || r.Accepted != n || r.Orders != n || r.Statuses["FAILED"] != 0 || r.Statuses["CANCELLED"] == 0 {
		t.Errorf("after the crash: %s\n%s", r.Summary(), r.Details(20))
	}
	t.Logf("after the crash: %s", r.Summary())

	inFlight, steps := inFlightAt(t, "sqlite:"+dataDir, killedAt)
	t.Logf("orders in flight at the kill: %d, by status %v", inFlight, steps)
	if inFlight == 0 {
		t.Error("no order was in flight at the kill: the test did not test a crash mid-saga")
	}
}

// crashLoad is clients placing orders against a process that may be down: each retries its
// request with the same Idempotency-Key until answered, as a real client would, and cancels
// every fourth order right after creating it.
type crashLoad struct {
	base     string
	accepted chan struct{} // a value per order accepted

	mu   sync.Mutex
	ids  []string
	errs []error
}

func (l *crashLoad) run(ctx context.Context, n, clients int) {
	var wg sync.WaitGroup
	var next int
	var mu sync.Mutex
	for range clients {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				id, err := l.send(ctx, http.MethodPost, "/api/v1/orders/create", orderBody(uuid.NewString(), "SKU-1", "SKU-3"), http.StatusCreated)
				if err == nil && i%4 == 0 {
					_, err = l.send(ctx, http.MethodPost, "/api/v1/orders/"+id+"/cancel", "", http.StatusAccepted, http.StatusConflict)
				}
				l.mu.Lock()
				if err != nil {
					l.errs = append(l.errs, err)
				} else {
					l.ids = append(l.ids, id)
				}
				l.mu.Unlock()
				if err == nil {
					l.accepted <- struct{}{}
				}
			}
		})
	}
	wg.Wait()
}

// send makes a request until it is answered with one of want, retrying under one key while the
// process cannot answer, and returns the orderId of the answer.
func (l *crashLoad) send(ctx context.Context, method, path, body string, want ...int) (string, error) {
	key := uuid.NewString()
	for {
		req, err := http.NewRequestWithContext(ctx, method, l.base+path, stringsReader(body))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		resp, err := client.Do(req)
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if err != nil {
			time.Sleep(50 * time.Millisecond) // the process is down
			continue
		}
		var answer struct {
			OrderID string `json:"orderId"`
		}
		decodeErr := decodeJSON(resp, &answer)
		for _, w := range want {
			if resp.StatusCode == w && decodeErr == nil {
				return answer.OrderID, nil
			}
		}
		if resp.StatusCode != http.StatusServiceUnavailable {
			return "", errors.New(method + " " + path + ": " + resp.Status)
		}
		time.Sleep(50 * time.Millisecond) // refused for now: not ready yet, or too busy
	}
}

func (l *crashLoad) result() ([]string, []error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ids, l.errs
}

// auditUntilOK audits the services' databases at url every half second until the audit passes
// or timeout passes, and returns the last report.
func auditUntilOK(t *testing.T, ctx context.Context, url string, ids []string, timeout time.Duration) *audit.Report {
	t.Helper()
	stores, err := audit.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer stores.Close()
	deadline := time.Now().Add(timeout)
	for {
		r, err := audit.Check(ctx, stores, audit.Input{Accepted: ids, Stock: inventory.DemoCatalog})
		if err != nil {
			t.Fatal(err)
		}
		if r.OK() || time.Now().After(deadline) {
			return r
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// inFlightAt counts, from the order service's history, the orders created before at that had
// not ended by then, by the status each was in.
func inFlightAt(t *testing.T, url string, at time.Time) (int, map[string]int) {
	t.Helper()
	stores, err := audit.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer stores.Close()
	type entry struct {
		id, status string
		at         time.Time
	}
	entries, err := sqlstore.Collect(t.Context(), stores.Order, func(r sqlstore.Scanner) (e entry, err error) {
		err = r.Scan(&e.id, &e.status, &e.at)
		return e, err
	}, `SELECT order_id, status, at FROM order_history ORDER BY order_id, seq`)
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]string{} // each order's status at the kill
	for _, e := range entries {
		if !e.at.After(at) {
			last[e.id] = e.status
		}
	}
	steps := map[string]int{}
	n := 0
	for _, status := range last {
		if status != "COMPLETED" && status != "FAILED" && status != "CANCELLED" {
			steps[status]++
			n++
		}
	}
	return n, steps
}
