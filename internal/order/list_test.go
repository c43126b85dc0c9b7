package order

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

func TestList(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
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
	})
}

// Orders created in the same microsecond still page stably: ties break on id, highest first.
func TestListTiesBreakByID(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
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
	})
}
