package order

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// sameBody compares the answers of two create calls field by field.
func sameBody(t *testing.T, got, want Created) {
	t.Helper()
	if got.OrderID != want.OrderID || !got.CreatedAt.Equal(want.CreatedAt) ||
		got.TotalAmount.String() != want.TotalAmount.String() || got.Currency != want.Currency ||
		got.Status != want.Status {
		t.Errorf("body = %+v (total %s), want %+v (total %s)", got, got.TotalAmount, want, want.TotalAmount)
	}
}

func TestCreate(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		ctx := context.Background()
		customer := uuid.New()
		before := time.Now().UTC()
		placed := mustCreate(t, svc, "k-create", quickStart(customer))
		after := time.Now().UTC()

		var status int
		if err := db.DB.QueryRowContext(ctx, `SELECT status_code FROM idempotency_keys WHERE idem_key = $1`,
			"k-create").Scan(&status); err != nil {
			t.Fatal(err)
		}
		if status != http.StatusCreated || placed.Replayed {
			t.Errorf("first create: status %d replayed %v, want 201 not replayed", status, placed.Replayed)
		}
		b := placed.Body
		if b.Status != Pending || b.TotalAmount.String() != "1022.17" || b.Currency != "USD" {
			t.Errorf("body = %+v (total %s), want PENDING 1022.17 USD", b, b.TotalAmount)
		}
		if b.OrderID.Version() != 7 {
			t.Errorf("order id %s is version %d, want 7", b.OrderID, b.OrderID.Version())
		}
		if b.CreatedAt.Before(before.Truncate(time.Microsecond)) || b.CreatedAt.After(after) ||
			b.CreatedAt.Location() != time.UTC || b.CreatedAt.Nanosecond()%1000 != 0 {
			t.Errorf("createdAt %v: want UTC, whole microseconds, within [%v, %v]", b.CreatedAt, before, after)
		}

		o, err := svc.Get(ctx, b.OrderID.String())
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		if o.CustomerID != customer.String() || o.Status != Pending || o.Currency != "USD" ||
			o.Total.String() != "1022.17" || !o.CreatedAt.Equal(b.CreatedAt) || !o.UpdatedAt.Equal(b.CreatedAt) {
			t.Errorf("stored order = %+v", o)
		}
		wantAddr := events.Address{Country: "US", City: "Springfield", AddressLine1: "742 Evergreen Terrace",
			AddressLine2: "Apt 4", PostalCode: "62704"}
		if o.Address != wantAddr {
			t.Errorf("address = %+v, want %+v", o.Address, wantAddr)
		}
		wantItems := []Item{
			{SKU: "SKU-APPLE", Quantity: dec("33"), UnitPrice: dec("19.99")},
			{SKU: "SKU-COFFEE", Quantity: dec("14.5"), UnitPrice: dec("25")},
		}
		if !slices.EqualFunc(o.Items, wantItems, func(a, b Item) bool {
			return a.SKU == b.SKU && a.Quantity.Equal(b.Quantity) && a.UnitPrice.Equal(b.UnitPrice)
		}) {
			t.Errorf("items = %+v, want %+v", o.Items, wantItems)
		}
		var lineTotals []string
		rows, err := db.DB.QueryContext(ctx, `SELECT line_total FROM order_items WHERE order_id = $1 ORDER BY line`, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			lineTotals = append(lineTotals, s)
		}
		rows.Close()
		if !slices.Equal(lineTotals, []string{"659.67", "362.5"}) {
			t.Errorf("stored line totals = %q, want [659.67 362.5]", lineTotals)
		}
		// The API view of it.
		a := toAPI(o)
		if a.Items[0].LineTotal.String() != "659.67" || a.Items[1].LineTotal.String() != "362.5" ||
			a.ShippingAddress.AddressLine2 == nil || *a.ShippingAddress.AddressLine2 != "Apt 4" ||
			a.FailureReason != nil || len(a.History) != 1 || a.History[0].Status != api.PENDING {
			t.Errorf("toAPI = %+v", a)
		}
	})
}

func TestCreateIdempotentReplay(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		ctx := context.Background()
		customer := uuid.New()
		first := mustCreate(t, svc, "k-1", quickStart(customer))

		second := mustCreate(t, svc, "k-1", quickStart(customer))
		if !second.Replayed {
			t.Errorf("same key, same body: replayed %v, want replayed", second.Replayed)
		}
		sameBody(t, second.Body, first.Body)

		// 14.5 means the same as 14.50, and 33.0 as 33: still a replay.
		reformatted := quickStart(customer)
		reformatted.Items[0].Quantity = dec("33.0")
		reformatted.Items[0].UnitPrice = dec("19.990")
		reformatted.Items[1].Quantity = dec("14.5")
		reformatted.Items[1].UnitPrice = dec("25.00")
		third := mustCreate(t, svc, "k-1", reformatted)
		if !third.Replayed {
			t.Errorf("same key, same meaning (14.5 for 14.50): not replayed, new order %s", third.Body.OrderID)
		}
		sameBody(t, third.Body, first.Body)

		for name, mutate := range map[string]func(*api.CreateOrderRequest){
			"quantity":    func(r *api.CreateOrderRequest) { r.Items[1].Quantity = dec("14.51") },
			"price":       func(r *api.CreateOrderRequest) { r.Items[0].UnitPrice = dec("19.98") },
			"sku":         func(r *api.CreateOrderRequest) { r.Items[0].Sku = "SKU-PEAR" },
			"customer":    func(r *api.CreateOrderRequest) { r.CustomerId = uuid.New() },
			"currency":    func(r *api.CreateOrderRequest) { r.Currency = "EUR" },
			"city":        func(r *api.CreateOrderRequest) { r.ShippingAddress.City = "Shelbyville" },
			"no line 2":   func(r *api.CreateOrderRequest) { r.ShippingAddress.AddressLine2 = nil },
			"fewer items": func(r *api.CreateOrderRequest) { r.Items = r.Items[:1] },
		} {
			r := quickStart(customer)
			mutate(r)
			p, err := svc.Create(ctx, "k-1", requestFromAPI(r))
			if !errors.Is(err, ErrKeyReused) {
				t.Errorf("same key, different %s: got %+v, %v; want ErrKeyReused", name, p, err)
			}
		}

		if n := countRows(t, db, "orders"); n != 1 {
			t.Errorf("orders has %d rows, want 1", n)
		}
		if n := countRows(t, db, "outbox"); n != 1 {
			t.Errorf("outbox has %d rows, want 1 OrderCreated", n)
		}
		if n := countRows(t, db, "idempotency_keys"); n != 1 {
			t.Errorf("idempotency_keys has %d rows, want 1", n)
		}

		// A different key is a different order, even with the same body.
		other := mustCreate(t, svc, "k-2", quickStart(customer))
		if other.Replayed || other.Body.OrderID == first.Body.OrderID {
			t.Errorf("new key: replayed %v, order %s (first was %s)", other.Replayed, other.Body.OrderID, first.Body.OrderID)
		}
	})
}

func TestCreateConcurrentSameKey(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		customer := uuid.New()
		const n = 16
		// Warm the write pool, so that the calls below race on the key rather than queue for
		// connections being opened one at a time.
		var conns []*sql.Conn
		for range min(n, db.DB.Stats().MaxOpenConnections) {
			c, err := db.DB.Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
		for _, c := range conns {
			c.Close()
		}
		results := make([]Placed, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i], errs[i] = svc.Create(context.Background(), "k-race", requestFromAPI(quickStart(customer)))
			}()
		}
		close(start)
		wg.Wait()

		fresh := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("call %d: %v", i, errs[i])
			}
			if !results[i].Replayed {
				fresh++
			}
			sameBody(t, results[i].Body, results[0].Body)
		}
		if fresh != 1 {
			t.Errorf("%d calls were not replays, want exactly 1", fresh)
		}
		if got := countRows(t, db, "orders"); got != 1 {
			t.Errorf("orders has %d rows, want 1", got)
		}
		if got := countRows(t, db, "outbox"); got != 1 {
			t.Errorf("outbox has %d rows, want 1", got)
		}
	})
}

func TestCreateKeyExpires(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		customer := uuid.New()
		first := mustCreate(t, svc, "k-exp", quickStart(customer))

		svc.IdempotencyTTL = time.Millisecond
		time.Sleep(5 * time.Millisecond)
		second := mustCreate(t, svc, "k-exp", quickStart(customer))
		if second.Replayed || second.Body.OrderID == first.Body.OrderID {
			t.Fatalf("expired key: replayed %v, order %s (first %s); want a new order",
				second.Replayed, second.Body.OrderID, first.Body.OrderID)
		}
		if n := countRows(t, db, "orders"); n != 2 {
			t.Errorf("orders has %d rows, want 2", n)
		}

		// The key now answers with the new order.
		svc.IdempotencyTTL = time.Hour
		third := mustCreate(t, svc, "k-exp", quickStart(customer))
		if !third.Replayed {
			t.Errorf("key renewed by the second order: not replayed")
		}
		sameBody(t, third.Body, second.Body)

		// An expired key may come back with a different body: that is a new request, not a reuse.
		svc.IdempotencyTTL = time.Millisecond
		time.Sleep(5 * time.Millisecond)
		changed := quickStart(customer)
		changed.Items = changed.Items[:1]
		fourth, err := svc.Create(context.Background(), "k-exp", requestFromAPI(changed))
		if err != nil {
			t.Fatalf("expired key, different body: %v", err)
		}
		if fourth.Replayed || fourth.Body.TotalAmount.String() != "659.67" {
			t.Errorf("expired key, different body: replayed %v total %s, want a new 659.67 order",
				fourth.Replayed, fourth.Body.TotalAmount)
		}
		if n := countRows(t, db, "idempotency_keys"); n != 1 {
			t.Errorf("idempotency_keys has %d rows, want 1", n)
		}
	})
}
