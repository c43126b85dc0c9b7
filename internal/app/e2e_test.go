package app

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/fulfillment"
	"github.com/ordersys/ordersys/internal/inventory"
	"github.com/ordersys/ordersys/internal/notification"
	"github.com/ordersys/ordersys/internal/payment"
)

var sagaPath = []string{"PENDING", "PAYMENT", "INVENTORY", "FULFILLMENT", "COMPLETED"}

// TestRunDevQuickStart runs the command line itself, `ordersys dev` on free ports, and sends the
// seed README's quick-start request to the seed's path.
func TestRunDevQuickStart(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	stdout, stdoutW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"ordersys", "dev", "--addr", "127.0.0.1:0", "--kafka-addr", "127.0.0.1:0",
			"--data-dir", t.TempDir()}, func(string) string { return "" }, stdoutW, io.Discard)
		stdoutW.Close()
	}()
	base := ""
	apiLine := regexp.MustCompile(`API\s+(http://\S+)/api/v1/orders`)
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if m := apiLine.FindStringSubmatch(lines.Text()); m != nil {
			base = m[1]
			break
		}
	}
	if base == "" {
		t.Fatalf("dev printed no API address; Run returned %v", <-done)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()

	r := do(t, http.MethodPost, base+"/api/external/v1/orders/create", "application/json",
		"82c412a6-d932-414a-89f0-5f40b1fac1db", []byte(quickStart))
	if r.status != http.StatusCreated {
		t.Fatalf("quick start: %d %s", r.status, r.body)
	}
	// The total is exact decimal arithmetic, sent as a JSON number: 33 x 19.99 + 14.50 x 25.
	if !strings.Contains(string(r.body), `"totalAmount":1022.17`) {
		t.Errorf("totalAmount is not 1022.17 in %s", r.body)
	}
	created := r.json(t)
	if created["status"] != "PENDING" || created["currency"] != "USD" {
		t.Errorf("created = %v, want PENDING USD", created)
	}
	if _, err := time.Parse(time.RFC3339Nano, created["createdAt"].(string)); err != nil {
		t.Errorf("createdAt: %v", err)
	}
	o := waitStatus(t, base, created["orderId"].(string), "COMPLETED", 10*time.Second)
	if got := historyStatuses(t, o); !slices.Equal(got, sagaPath) {
		t.Errorf("history = %v, want %v", got, sagaPath)
	}

	ready := do(t, http.MethodGet, base+"/api/utility/readiness", "", "", nil)
	if ready.status != http.StatusOK {
		t.Errorf("readiness: %d %s", ready.status, ready.body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after Ctrl-C: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}

// TestConcurrentOrders places 200 orders at once: every one completes, and every side effect
// happened exactly once.
func TestConcurrentOrders(t *testing.T) {
	d := startDev(t)
	base := "http://" + d.Addr
	const n = 200
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { ids[i] = placeOrder(t, base, orderBody(uuid.NewString(), "SKU-1", "SKU-2")) })
	}
	wg.Wait()
	for _, id := range ids {
		waitStatus(t, base, id, "COMPLETED", 60*time.Second)
		waitNotified(t, base, id, 10*time.Second)
	}
	assertExactlyOnce(t, d, ids)

	list := do(t, http.MethodGet, base+"/api/v1/orders?status=COMPLETED&size=100&page=2", "", "", nil).json(t)
	if list["total"].(float64) != n || len(list["items"].([]any)) != 100 {
		t.Errorf("list page 2: total %v, %d items; want %d and 100", list["total"], len(list["items"].([]any)), n)
	}
}

// assertExactlyOnce checks that each order was charged, reserved, shipped and notified once.
func assertExactlyOnce(t *testing.T, d *Dev, ids []string) {
	t.Helper()
	ctx := t.Context()
	pay := d.node.services[payment.Name].(*payment.Service)
	inv := d.node.services[inventory.Name].(*inventory.Service)
	ful := d.node.services[fulfillment.Name].(*fulfillment.Service)
	note := d.node.services[notification.Name].(*notification.Service)
	for _, id := range ids {
		payments, err := pay.PaymentsFor(ctx, id, "")
		if err != nil || len(payments) != 1 || payments[0].Kind != "CHARGE" {
			t.Errorf("order %s payments = %v (%v), want one charge", id, payments, err)
		}
		if status, err := inv.ReservationFor(ctx, id); err != nil || (status != "RESERVED" && status != "CONSUMED") {
			t.Errorf("order %s reservation = %q (%v)", id, status, err)
		}
		if n, err := ful.ShipmentCount(ctx, id); err != nil || n != 1 {
			t.Errorf("order %s shipments = %d (%v), want 1", id, n, err)
		}
		if n, err := note.CountFor(ctx, id); err != nil || n != 1 {
			t.Errorf("order %s notifications = %d (%v), want 1", id, n, err)
		}
	}
}
