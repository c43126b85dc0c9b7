package inventory_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/inventory"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// 20 orders race for 10 units, each in its own transaction: exactly 10 win, nothing is oversold.
func testConcurrentReservations(t *testing.T, e *env) {
	e.seed(t, "SKU-1", "10")
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			order := uuid.NewString()
			if err := e.handle(t, order, events.ReserveStock{OrderID: order,
				Lines: []events.Line{line("SKU-1", "1")}}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("reserve: %v", err)
	}
	count := map[events.Type]int{}
	for _, r := range e.replies(t) {
		count[r.Type]++
		if rej, ok := decode(t, r).(events.StockRejected); ok && rej.Reason != inventory.ReasonInsufficientStock {
			t.Errorf("rejected for %s", rej.Reason)
		}
	}
	if count[events.StockReservedType] != 10 || count[events.StockRejectedType] != 10 {
		t.Errorf("replies %v, want 10 reserved and 10 rejected", count)
	}
	e.level(t, "SKU-1", "0", "10")
}

// Orders listing the same SKUs in opposite orders, concurrently: lines are locked in SKU order,
// so no transaction waits for another in a cycle (PostgreSQL would abort one as deadlocked).
func testConcurrentMultiSKU(t *testing.T, e *env) {
	e.seed(t, "SKU-A", "1000", "SKU-B", "1000", "SKU-C", "1000")
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	orders := make([]string, 40)
	for i := range orders {
		orders[i] = uuid.NewString()
		lines := []events.Line{line("SKU-A", "1"), line("SKU-B", "2"), line("SKU-C", "3")}
		if i%2 == 1 {
			slices.Reverse(lines)
		}
		wg.Go(func() {
			if err := e.handle(t, orders[i], events.ReserveStock{OrderID: orders[i], Lines: lines}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	e.level(t, "SKU-A", "960", "40")
	e.level(t, "SKU-C", "880", "120")
	for i, order := range orders {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				err = e.handle(t, order, events.ReleaseStock{OrderID: order})
			} else {
				err = e.handle(t, order, events.OrderCompleted{OrderID: order})
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent command: %v", err)
	}
	e.level(t, "SKU-A", "980", "0")
	e.level(t, "SKU-B", "960", "0")
	e.level(t, "SKU-C", "940", "0")
}

// The same ReserveStock handled by several transactions at once, as two replicas may during a
// rebalance: one reservation's insert commits, the others fail on the unique order_id, and their
// retries (the consumer's) answer from that reservation. Stock is taken once.
func testConcurrentRepeatsReserveOnce(t *testing.T, e *env) {
	e.seed(t, "SKU-1", "100")
	order := uuid.NewString()
	cmd := events.ReserveStock{OrderID: order, Lines: []events.Line{line("SKU-1", "7")}}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			err := e.handle(t, order, cmd)
			if sqlstore.IsUniqueViolation(err) {
				err = e.handle(t, order, cmd)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("reserve: %v", err)
	}
	e.level(t, "SKU-1", "93", "7")
	ids := map[string]int{}
	for _, r := range e.replies(t) {
		got, ok := decode(t, r).(events.StockReserved)
		if !ok {
			t.Fatalf("reply %#v, want StockReserved", decode(t, r))
		}
		ids[got.ReservationID]++
	}
	if len(ids) != 1 {
		t.Errorf("replies name reservations %v, want one", ids)
	}
}
