package app

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// order is what a test needs to say about an order it places.
type testOrder struct {
	customer, country string
	lines             map[string]string // sku -> quantity
	price             string            // unit price of every line
}

func (o testOrder) body() string {
	if o.customer == "" {
		o.customer = uuid.NewString()
	}
	if o.country == "" {
		o.country = "USA"
	}
	if o.price == "" {
		o.price = "2.50"
	}
	var items []string
	for sku, qty := range o.lines {
		items = append(items, fmt.Sprintf(`{"sku":%q,"quantity":%s,"unitPrice":%s}`, sku, qty, o.price))
	}
	slices.Sort(items)
	return fmt.Sprintf(`{"customerId":%q,"items":[%s],"currency":"USD",
		"shippingAddress":{"country":%q,"city":"Austin","addressLine1":"Lincoln, 65"}}`,
		o.customer, strings.Join(items, ","), o.country)
}

func setStock(t *testing.T, base, sku, available string) {
	t.Helper()
	r := do(t, http.MethodPut, base+"/api/v1/inventory/"+sku, "application/json", "", []byte(`{"available":`+available+`}`))
	if r.status != http.StatusOK {
		t.Fatalf("set stock %s: %d %s", sku, r.status, r.body)
	}
}

func stock(t *testing.T, base, sku string) (available, reserved decimal.Decimal) {
	t.Helper()
	r := do(t, http.MethodGet, base+"/api/v1/inventory/"+sku, "", "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("stock %s: %d %s", sku, r.status, r.body)
	}
	s := r.json(t)
	return decimal.NewFromFloat(s["available"].(float64)), decimal.NewFromFloat(s["reserved"].(float64))
}

// listFor reads one of the per-order lists (payments, shipments, notifications).
func listFor(t *testing.T, base, what, orderID string) []map[string]any {
	t.Helper()
	r := do(t, http.MethodGet, base+"/api/v1/"+what+"?orderId="+orderID, "", "", nil)
	if r.status == http.StatusNotFound && r.json(t)["title"] == "Not served here" {
		return nil // the service is not running in this process
	}
	if r.status != http.StatusOK {
		t.Fatalf("%s of %s: %d %s", what, orderID, r.status, r.body)
	}
	var out []map[string]any
	for _, item := range r.json(t)["items"].([]any) {
		out = append(out, item.(map[string]any))
	}
	return out
}

// waitTerminal polls an order until it ends, and returns it.
func waitTerminal(t *testing.T, base, id string, timeout time.Duration) map[string]any {
	t.Helper()
	var o map[string]any
	poll(t, timeout, 20*time.Millisecond, func() (bool, string) {
		o = do(t, http.MethodGet, base+"/api/v1/orders/"+id, "", "", nil).json(t)
		switch o["status"] {
		case "COMPLETED", "FAILED", "CANCELLED":
			return true, ""
		}
		return false, fmt.Sprintf("order %s still %v", id, o["status"])
	})
	return o
}

// checkInvariants holds for every order once it has ended: it was charged its total if it
// COMPLETED and nothing otherwise (charges minus refunds), it was shipped only if it COMPLETED,
// and its customer got exactly one message, about its outcome.
func checkInvariants(t *testing.T, base string, ids []string) map[string]int {
	t.Helper()
	outcomes := map[string]int{}
	for _, id := range ids {
		o := waitTerminal(t, base, id, 60*time.Second)
		status := o["status"].(string)
		outcomes[status+" "+fmt.Sprint(o["failureReason"])]++
		net := decimal.Zero
		for _, p := range listFor(t, base, "payments", id) {
			amount := decimal.NewFromFloat(p["amount"].(float64))
			if p["kind"] == "REFUND" {
				amount = amount.Neg()
			}
			net = net.Add(amount)
		}
		want := decimal.Zero
		if status == "COMPLETED" {
			want = decimal.NewFromFloat(o["totalAmount"].(float64))
		}
		if !net.Equal(want) {
			t.Errorf("order %s %s: charges minus refunds %s, want %s", id, status, net, want)
		}
		if shipments := listFor(t, base, "shipments", id); (status == "COMPLETED") != (len(shipments) == 1) || len(shipments) > 1 {
			t.Errorf("order %s %s has %d shipments", id, status, len(shipments))
		}
		kind := map[string]string{"COMPLETED": "ORDER_COMPLETED", "FAILED": "ORDER_FAILED", "CANCELLED": "ORDER_CANCELLED"}[status]
		deadline := time.Now().Add(10 * time.Second)
		for {
			notes := listFor(t, base, "notifications", id)
			if len(notes) == 1 && notes[0]["kind"] == kind {
				break
			}
			if len(notes) > 1 || time.Now().After(deadline) {
				t.Errorf("order %s %s: notifications %v, want one %s", id, status, notes, kind)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return outcomes
}

// TestBusinessRules runs every saga path in one dev instance and then checks the invariants over
// all of the orders: money, stock and messages.
func TestBusinessRules(t *testing.T) {
	d := startDev(t)
	base := "http://" + d.Addr
	setStock(t, base, "LIMITED", "5")
	setStock(t, base, "RARE", "10")
	setStock(t, base, "PLENTY", "1000")

	var ids []string
	place := func(o testOrder) string {
		id := placeOrder(t, base, o.body())
		ids = append(ids, id)
		return id
	}

	ok := place(testOrder{lines: map[string]string{"PLENTY": "2", "LIMITED": "1.5"}})
	if o := waitTerminal(t, base, ok, 30*time.Second); o["status"] != "COMPLETED" {
		t.Errorf("a plain order ended %v", o)
	}

	declined := place(testOrder{lines: map[string]string{"PLENTY": "1"}, price: "20000"})
	if o := waitTerminal(t, base, declined, 30*time.Second); o["status"] != "FAILED" || o["failureReason"] != "PAYMENT_DECLINED" {
		t.Errorf("an order over the credit limit ended %v %v", o["status"], o["failureReason"])
	}

	outOfStock := place(testOrder{lines: map[string]string{"PLENTY": "1", "LIMITED": "100"}})
	o := waitTerminal(t, base, outOfStock, 30*time.Second)
	if o["status"] != "FAILED" || o["failureReason"] != "OUT_OF_STOCK" {
		t.Errorf("an order beyond the stock ended %v %v", o["status"], o["failureReason"])
	}
	if got := historyStatuses(t, o); !slices.Equal(got[:3], []string{"PENDING", "PAYMENT", "INVENTORY"}) || got[len(got)-1] != "FAILED" || !slices.Contains(got, "COMPENSATING") {
		t.Errorf("out-of-stock history %v", got)
	}
	if kinds := paymentKinds(t, base, outOfStock); !slices.Equal(kinds, []string{"CHARGE", "REFUND"}) {
		t.Errorf("out-of-stock payments %v, want a charge and its refund", kinds)
	}

	unshippable := place(testOrder{lines: map[string]string{"PLENTY": "3"}, country: "Atlantis"})
	if o := waitTerminal(t, base, unshippable, 30*time.Second); o["status"] != "FAILED" || o["failureReason"] != "SHIPMENT_FAILED" {
		t.Errorf("an order to an unsupported country ended %v %v", o["status"], o["failureReason"])
	}
	if kinds := paymentKinds(t, base, unshippable); !slices.Equal(kinds, []string{"CHARGE", "REFUND"}) {
		t.Errorf("unshippable payments %v", kinds)
	}

	// 20 orders race for the last 10 of a SKU: exactly 10 win.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var rare []string
	for range 20 {
		wg.Go(func() {
			id := placeOrder(t, base, testOrder{lines: map[string]string{"RARE": "1"}}.body())
			mu.Lock()
			rare = append(rare, id)
			mu.Unlock()
		})
	}
	wg.Wait()
	ids = append(ids, rare...)
	won := 0
	for _, id := range rare {
		if waitTerminal(t, base, id, 60*time.Second)["status"] == "COMPLETED" {
			won++
		}
	}
	if won != 10 {
		t.Errorf("%d orders got one of 10 RARE, want exactly 10", won)
	}

	outcomes := checkInvariants(t, base, ids)
	t.Logf("outcomes: %v", outcomes)
	// Stock is conserved: what is left plus what completed orders took is what there was.
	for sku, want := range map[string]string{"LIMITED": "3.5", "RARE": "0", "PLENTY": "998"} {
		available, reserved := stock(t, base, sku)
		if !available.Equal(decimal.RequireFromString(want)) || !reserved.IsZero() {
			t.Errorf("%s: available %s reserved %s, want %s and 0", sku, available, reserved, want)
		}
	}
}

func paymentKinds(t *testing.T, base, id string) []string {
	t.Helper()
	var kinds []string
	for _, p := range listFor(t, base, "payments", id) {
		kinds = append(kinds, p["kind"].(string))
	}
	return kinds
}

// TestCancelAndTimeouts stops one service at a time so that an order waits at its step, then
// cancels it there (the late reply is compensated too) or lets the step time out.
func TestCancelAndTimeouts(t *testing.T) {
	everyone := []string{"order", "payment", "inventory", "fulfillment", "notification"}
	without := func(name string) []string {
		return slices.DeleteFunc(slices.Clone(everyone), func(s string) bool { return s == name })
	}
	cancel := func(t *testing.T, base, id string) response {
		return do(t, http.MethodPost, base+"/api/v1/orders/"+id+"/cancel", "", uuid.NewString(), nil)
	}

	for _, c := range []struct {
		stage, missing string
	}{
		{"PAYMENT", "payment"},
		{"INVENTORY", "inventory"},
	} {
		t.Run("cancel at "+c.stage, func(t *testing.T) {
			dir := t.TempDir()
			d := startDevWith(t, DevConfig{DataDir: dir, Services: without(c.missing)})
			base := "http://" + d.Addr
			id := placeOrder(t, base, testOrder{lines: map[string]string{"SKU-1": "2"}}.body())
			waitStatus(t, base, id, c.stage, 30*time.Second)
			if r := cancel(t, base, id); r.status != http.StatusAccepted {
				t.Fatalf("cancel: %d %s", r.status, r.body)
			}
			waitStatus(t, base, id, "COMPENSATING", 10*time.Second)
			// The missing service comes up and answers the step it missed, then the undo.
			late, err := StartServe(t.Context(), ServeConfig{Services: []string{c.missing}, Addr: "127.0.0.1:0",
				DatabaseURL: "sqlite:" + dir, Brokers: []string{d.KafkaAddr}, Partitions: 1, ReplicationFactor: 1,
				Migrate: true, Rules: Rules{DemoCatalog: true}, Log: testLogger()})
			if err != nil {
				t.Fatal(err)
			}
			defer late.Close()
			waitStatus(t, base, id, "CANCELLED", 30*time.Second)
			checkInvariants(t, base, []string{id})
			lateBase := "http://" + late.Addr
			switch c.missing {
			case "payment": // the charge landed after the cancel, and was refunded
				if kinds := paymentKinds(t, lateBase, id); !slices.Equal(kinds, []string{"CHARGE", "REFUND"}) {
					t.Errorf("payments %v, want the late charge and its refund", kinds)
				}
			case "inventory": // the reservation landed after the cancel, and was released
				if available, reserved := stock(t, lateBase, "SKU-1"); !available.Equal(decimal.NewFromInt(1_000_000)) || !reserved.IsZero() {
					t.Errorf("SKU-1 available %s reserved %s after the cancel", available, reserved)
				}
			}
			if r := cancel(t, base, id); r.status != http.StatusConflict {
				t.Errorf("cancel of a cancelled order: %d %s", r.status, r.body)
			}
		})
	}

	// From FULFILLMENT on, a cancel, or a step out of tries, asks fulfillment not to ship and waits
	// for its answer: the CreateShipment before it on the partition was decided first, so here the
	// shipment stands and the orders complete, charged and their stock taken. Before the saga
	// waited, both ended without their money and stock, with a shipment.
	t.Run("cancel at FULFILLMENT, and a step that times out", func(t *testing.T) {
		dir := t.TempDir()
		d := startDevWith(t, DevConfig{DataDir: dir, Services: without("fulfillment"),
			Rules: Rules{StepTimeout: time.Second, StepAttempts: 2}})
		base := "http://" + d.Addr
		before, _ := stock(t, base, "SKU-3")

		cancelled := placeOrder(t, base, testOrder{lines: map[string]string{"SKU-3": "4"}}.body())
		waitStatus(t, base, cancelled, "FULFILLMENT", 30*time.Second)
		key := uuid.NewString()
		first := do(t, http.MethodPost, base+"/api/v1/orders/"+cancelled+"/cancel", "", key, nil)
		again := do(t, http.MethodPost, base+"/api/v1/orders/"+cancelled+"/cancel", "", key, nil)
		if first.status != http.StatusAccepted || again.status != http.StatusAccepted ||
			again.header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("cancel and its replay: %d %s / %d %v", first.status, first.body, again.status, again.header)
		}

		timedOut := placeOrder(t, base, testOrder{lines: map[string]string{"SKU-3": "1"}}.body())
		pollGET(t, base+"/api/v1/orders/"+timedOut, 30*time.Second, func(o map[string]any) (bool, string) {
			return slices.Contains(historyLines(o), "FULFILLMENT CANCELLING_SHIPMENT"), fmt.Sprint(historyLines(o))
		})
		// Past every deadline, nothing is undone while fulfillment has not answered.
		time.Sleep(2 * time.Second)
		for _, id := range []string{cancelled, timedOut} {
			if o := do(t, http.MethodGet, base+"/api/v1/orders/"+id, "", "", nil).json(t); o["status"] != "FULFILLMENT" {
				t.Errorf("order %s is %v before fulfillment answered, want FULFILLMENT", id, o["status"])
			}
		}

		late, err := StartServe(t.Context(), ServeConfig{Services: []string{"fulfillment"}, Addr: "127.0.0.1:0",
			DatabaseURL: "sqlite:" + dir, Brokers: []string{d.KafkaAddr}, Partitions: 1, ReplicationFactor: 1,
			Migrate: true, Rules: Rules{DemoCatalog: true}, Log: testLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer late.Close()
		for _, id := range []string{cancelled, timedOut} {
			o := waitTerminal(t, base, id, 30*time.Second)
			if o["status"] != "COMPLETED" || !slices.Contains(historyLines(o), "COMPLETED CANCEL_TOO_LATE") {
				t.Errorf("order %s ended %v, history %v; want COMPLETED CANCEL_TOO_LATE", id, o["status"], historyLines(o))
			}
			if n := len(listFor(t, "http://"+late.Addr, "shipments", id)); n != 1 {
				t.Errorf("order %s has %d shipments", id, n)
			}
		}
		if after, _ := stock(t, base, "SKU-3"); !after.Equal(before.Sub(decimal.NewFromInt(5))) {
			t.Errorf("SKU-3 available %s, want %s less the 5 shipped", after, before)
		}
	})
}

// TestCancelRightAfterCreate cancels orders at every moment of their saga, as customers do, and
// checks money, shipments and messages over all of them: a cancel that lands in FULFILLMENT must
// stop the shipment or lose to it, never both refund and ship.
func TestCancelRightAfterCreate(t *testing.T) {
	d := startDev(t)
	base := "http://" + d.Addr
	const n = 60
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ids[i] = placeOrder(t, base, testOrder{lines: map[string]string{"SKU-2": "1"}}.body())
			time.Sleep(time.Duration(i%20) * 6 * time.Millisecond) // 0 to 114 ms: every step is hit
			r := do(t, http.MethodPost, base+"/api/v1/orders/"+ids[i]+"/cancel", "", uuid.NewString(), nil)
			if r.status != http.StatusAccepted && r.status != http.StatusConflict {
				t.Errorf("cancel: %d %s", r.status, r.body)
			}
		})
	}
	wg.Wait()
	outcomes := checkInvariants(t, base, ids)
	landed := map[string]int{}
	for _, id := range ids {
		for _, line := range historyLines(do(t, http.MethodGet, base+"/api/v1/orders/"+id, "", "", nil).json(t)) {
			if strings.HasSuffix(line, " CANCELLED") || strings.Contains(line, "CANCEL") {
				landed[line]++
			}
		}
	}
	t.Logf("outcomes %v; cancel history lines %v", outcomes, landed)
}
