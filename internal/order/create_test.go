package order

import (
	"context"
	"errors"
	"fmt"
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
	svc, db := newTestService(t)
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
}

func TestCreateIdempotentReplay(t *testing.T) {
	svc, db := newTestService(t)
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
}

func TestCreateConcurrentSameKey(t *testing.T) {
	svc, db := newTestService(t)
	customer := uuid.New()
	const n = 16
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
}

func TestCreateKeyExpires(t *testing.T) {
	svc, db := newTestService(t)
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
}

func TestList(t *testing.T) {
	svc, db := newTestService(t)
	ctx := context.Background()
	alice := uuid.MustParse("11111111-1111-4111-8111-111111111111")
	bob := uuid.MustParse("22222222-2222-4222-8222-222222222222")

	// 25 orders, oldest first: even ones Alice's (13), odd ones Bob's (12). Every third moves on
	// to PAYMENT.
	type made struct {
		id       string
		customer uuid.UUID
		status   Status
	}
	var all []made
	for i := range 25 {
		c := alice
		if i%2 == 1 {
			c = bob
		}
		p := mustCreate(t, svc, fmt.Sprintf("list-%02d", i), quickStart(c))
		m := made{id: p.Body.OrderID.String(), customer: c, status: Pending}
		if i%3 == 0 {
			if err := feed(t, svc, db, Name, m.id, events.OrderCreated{OrderID: m.id}); err != nil {
				t.Fatalf("advance %s: %v", m.id, err)
			}
			m.status = Payment
		}
		all = append(all, m)
	}
	newestFirst := func(keep func(made) bool) []string {
		var ids []string
		for i := len(all) - 1; i >= 0; i-- {
			if keep(all[i]) {
				ids = append(ids, all[i].id)
			}
		}
		return ids
	}
	everything := func(made) bool { return true }

	list := func(f Filter) ([]string, int64) {
		t.Helper()
		orders, total, err := svc.List(ctx, f)
		if err != nil {
			t.Fatalf("list %+v: %v", f, err)
		}
		ids := make([]string, len(orders))
		for i, o := range orders {
			ids[i] = o.ID
			if (f.CustomerID != "" && o.CustomerID != f.CustomerID) || (f.Status != "" && o.Status != f.Status) {
				t.Errorf("list %+v returned %s of %s in %s", f, o.ID, o.CustomerID, o.Status)
			}
			if o.Total.String() != "1022.17" || o.Currency != "USD" {
				t.Errorf("list %+v: order %s total %s %s", f, o.ID, o.Total, o.Currency)
			}
			if i > 0 && o.CreatedAt.After(orders[i-1].CreatedAt) {
				t.Errorf("list %+v: not newest first at %d", f, i)
			}
		}
		return ids, total
	}

	tests := []struct {
		name  string
		f     Filter
		keep  func(made) bool
		total int64
	}{
		{"all", Filter{Page: 1, Size: 100}, everything, 25},
		{"alice", Filter{CustomerID: alice.String(), Page: 1, Size: 100}, func(m made) bool { return m.customer == alice }, 13},
		{"bob", Filter{CustomerID: bob.String(), Page: 1, Size: 100}, func(m made) bool { return m.customer == bob }, 12},
		{"payment", Filter{Status: Payment, Page: 1, Size: 100}, func(m made) bool { return m.status == Payment }, 9},
		{"pending", Filter{Status: Pending, Page: 1, Size: 100}, func(m made) bool { return m.status == Pending }, 16},
		{"alice in payment", Filter{CustomerID: alice.String(), Status: Payment, Page: 1, Size: 100},
			func(m made) bool { return m.customer == alice && m.status == Payment }, 5},
		{"completed", Filter{Status: Completed, Page: 1, Size: 100}, func(made) bool { return false }, 0},
		{"stranger", Filter{CustomerID: uuid.NewString(), Page: 1, Size: 100}, func(made) bool { return false }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids, total := list(tt.f)
			if total != tt.total {
				t.Errorf("total = %d, want %d", total, tt.total)
			}
			if want := newestFirst(tt.keep); !slices.Equal(ids, want) {
				t.Errorf("ids = %v\nwant %v", ids, want)
			}
		})
	}

	t.Run("pages", func(t *testing.T) {
		want := newestFirst(everything)
		for _, pg := range []struct {
			page, size int
			from, to   int
		}{
			{1, 10, 0, 10}, {2, 10, 10, 20}, {3, 10, 20, 25}, {4, 10, 25, 25},
			{1, 7, 0, 7}, {4, 7, 21, 25}, {1, 1, 0, 1}, {25, 1, 24, 25}, {26, 1, 25, 25},
		} {
			ids, total := list(Filter{Page: pg.page, Size: pg.size})
			if total != 25 {
				t.Errorf("page %d size %d: total = %d, want 25", pg.page, pg.size, total)
			}
			if !slices.Equal(ids, want[pg.from:pg.to]) {
				t.Errorf("page %d size %d = %v, want %v", pg.page, pg.size, ids, want[pg.from:pg.to])
			}
		}
		// Alice's 13 in pages of 5.
		aliceIDs := newestFirst(func(m made) bool { return m.customer == alice })
		var got []string
		for page := 1; page <= 3; page++ {
			ids, total := list(Filter{CustomerID: alice.String(), Page: page, Size: 5})
			if total != 13 {
				t.Errorf("alice page %d: total = %d, want 13", page, total)
			}
			got = append(got, ids...)
		}
		if !slices.Equal(got, aliceIDs) {
			t.Errorf("alice's pages = %v, want %v", got, aliceIDs)
		}
	})
}

// Orders created in the same microsecond still page stably: ties break on id, highest first.
func TestListTiesBreakByID(t *testing.T) {
	svc, db := newTestService(t)
	ctx := context.Background()
	customer := uuid.NewString()
	at := time.Date(2025, 3, 4, 5, 6, 7, 123456000, time.UTC)
	ids := []string{ // inserted in this order, all at the same instant
		"0195a1b2-0000-7000-8000-000000000002",
		"0195a1b2-0000-7000-8000-000000000003",
		"0195a1b2-0000-7000-8000-000000000001",
	}
	for _, id := range ids {
		o := &Order{ID: id, CustomerID: customer, Status: Pending, Currency: "USD", Total: dec("1"),
			Address: events.Address{Country: "US", City: "X", AddressLine1: "Y"},
			Items:   []Item{{SKU: "S", Quantity: dec("1"), UnitPrice: dec("1")}}, CreatedAt: at, UpdatedAt: at}
		if err := db.InTx(ctx, func(tx *sqlstore.Tx) error { insertOrder(tx, o, nil); return nil }); err != nil {
			t.Fatalf("insert %s: %v", id, err)
		}
	}
	want := []string{ids[1], ids[0], ids[2]}
	var got []string
	for page := 1; page <= 3; page++ {
		orders, total, err := svc.List(ctx, Filter{CustomerID: customer, Page: page, Size: 1})
		if err != nil {
			t.Fatal(err)
		}
		if total != 3 || len(orders) != 1 {
			t.Fatalf("page %d: %d orders of %d, want 1 of 3", page, len(orders), total)
		}
		if !orders[0].CreatedAt.Equal(at) {
			t.Errorf("created_at read back as %v, want %v", orders[0].CreatedAt, at)
		}
		got = append(got, orders[0].ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("pages = %v, want %v", got, want)
	}
}
