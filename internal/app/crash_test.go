package app

import (
	"context"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/sqlstore"
)

func devArgs(dataDir string) []string {
	return []string{"dev", "--addr", "127.0.0.1:0", "--kafka-addr", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "warn"}
}

// TestCrashRestart kills `ordersys dev` with SIGKILL while orders are in flight, starts it again on
// the same data dir, and checks that every order completes with every effect applied once.
func TestCrashRestart(t *testing.T) {
	dataDir := t.TempDir()
	p := startProcess(t, "dev", devReady, devArgs(dataDir)...)
	const n = 150
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { ids[i] = placeOrder(t, p.addr, orderBody(uuid.NewString(), "SKU-1", "SKU-3")) })
	}
	wg.Wait()
	done := do(t, http.MethodGet, p.addr+"/api/v1/orders?status=COMPLETED&size=1", "", "", nil).json(t)["total"]
	t.Logf("killing with %v of %d orders completed", done, n)
	p.crash(t)

	p.restart(t, devReady)
	for _, id := range ids {
		waitStatus(t, p.addr, id, "COMPLETED", 90*time.Second)
		waitNotified(t, p.addr, id, 10*time.Second)
	}
	p.stop(t)

	// Count every side effect straight from each service's database.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, c := range []struct{ db, query string }{
		{"payment", "SELECT COUNT(*), COUNT(DISTINCT order_id) FROM payments WHERE kind = 'CHARGE'"},
		{"inventory", "SELECT COUNT(*), COUNT(DISTINCT order_id) FROM reservations"},
		{"fulfillment", "SELECT COUNT(*), COUNT(DISTINCT order_id) FROM shipments"},
		{"notification", "SELECT COUNT(*), COUNT(DISTINCT order_id) FROM notifications"},
		{"order", "SELECT COUNT(*), COUNT(DISTINCT id) FROM orders WHERE status = 'COMPLETED'"},
	} {
		db, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(dataDir, c.db+".db"))
		if err != nil {
			t.Fatal(err)
		}
		var rows, orders int
		if err := db.QueryRowContext(ctx, c.query).Scan(&rows, &orders); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if rows != n || orders != n {
			t.Errorf("%s: %d rows for %d orders, want %d each", c.db, rows, orders, n)
		}
	}
}
