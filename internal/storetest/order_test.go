package storetest

import (
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/order"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

func testOrder(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	svc := order.New(db, messaging.NewOutbox(), slog.New(slog.DiscardHandler))
	customer := uuid.New()
	req := order.Request{
		CustomerID: customer, Currency: "USD",
		Items: []order.Item{
			{SKU: "SKU-1", Quantity: decimal.RequireFromString("33"), UnitPrice: decimal.RequireFromString("19.99")},
			{SKU: "SKU-2", Quantity: decimal.RequireFromString("14.50"), UnitPrice: decimal.RequireFromString("25")},
		},
		Address: order.Address{Country: "USA", City: "Austin", AddressLine1: "Lincoln, 65"},
	}
	placed, err := svc.Create(ctx, "key-1", req)
	if err != nil || placed.Replayed {
		t.Fatalf("create: %+v %v", placed, err)
	}
	var status int // the stored answer keeps its HTTP status
	if err := db.QueryRowContext(ctx, `SELECT status_code FROM idempotency_keys WHERE idem_key = $1`, "key-1").
		Scan(&status); err != nil || status != 201 {
		t.Errorf("stored status %d, %v; want 201", status, err)
	}
	if placed.Body.TotalAmount.String() != "1022.17" {
		t.Errorf("total %s", placed.Body.TotalAmount)
	}
	again, err := svc.Create(ctx, "key-1", req)
	first, _ := json.Marshal(placed.Body)
	replayed, _ := json.Marshal(again.Body)
	if err != nil || !again.Replayed || string(first) != string(replayed) {
		t.Errorf("replay: %+v %v, want %+v", again, err, placed.Body)
	}
	other := req
	other.Currency = "EUR"
	if _, err := svc.Create(ctx, "key-1", other); !errors.Is(err, order.ErrKeyReused) {
		t.Errorf("reused key: %v", err)
	}

	id := placed.Body.OrderID.String()
	sub := svc.Subscriptions()[0]
	for _, p := range []events.Payload{
		events.OrderCreated{OrderID: id},
		events.PaymentCharged{OrderID: id, PaymentID: "p"},
		events.PaymentCharged{OrderID: id, PaymentID: "p"}, // a duplicate changes nothing
		events.StockReserved{OrderID: id},
		events.ShipmentCreated{OrderID: id},
	} {
		apply(t, db, sub, p)
	}
	o, err := svc.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var statuses []string
	for _, h := range o.History {
		statuses = append(statuses, string(h.Status))
	}
	if o.Status != order.Completed || strings.Join(statuses, ",") != "PENDING,PAYMENT,INVENTORY,FULFILLMENT,COMPLETED" {
		t.Errorf("order %s, history %v", o.Status, statuses)
	}
	if !o.CreatedAt.Equal(placed.Body.CreatedAt) || o.Total.String() != "1022.17" || len(o.Items) != 2 ||
		o.Items[1].Quantity.String() != "14.5" {
		t.Errorf("stored order differs: created %v vs %v, total %s, items %+v", o.CreatedAt, placed.Body.CreatedAt, o.Total, o.Items)
	}

	list, total, err := svc.List(ctx, order.Filter{CustomerID: customer.String(), Status: order.Completed, Page: 1, Size: 10})
	if err != nil || total != 1 || len(list) != 1 || list[0].ID != id {
		t.Errorf("list: %d %v %v", total, list, err)
	}
	if _, total, _ := svc.List(ctx, order.Filter{Status: order.Pending, Page: 1, Size: 10}); total != 0 {
		t.Errorf("%d pending orders, want 0", total)
	}
	// Concurrent requests with a new key: one places the order, the others wait for it (on
	// PostgreSQL at the key's unique index) and replay its answer.
	const racers = 8
	answers := make([]order.Placed, racers)
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() { answers[i], errs[i] = svc.Create(ctx, "key-race", req) })
	}
	wg.Wait()
	placedBy := map[string]int{}
	fresh := 0
	for i, a := range answers {
		if errs[i] != nil {
			t.Errorf("racer %d: %v", i, errs[i])
			continue
		}
		placedBy[a.Body.OrderID.String()]++
		if !a.Replayed {
			fresh++
		}
	}
	if len(placedBy) != 1 || fresh != 1 {
		t.Errorf("%d racers on one key got orders %v, %d of them fresh; want one order, placed once", racers, placedBy, fresh)
	}
}
