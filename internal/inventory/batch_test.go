package inventory_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/inventory"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// testBatchLocksStock checks the subscription's loader: before a batch applies any record, it holds the
// stock rows the batch's reservations ask for and those its completed orders hold, and (on
// PostgreSQL, where writers do not exclude each other) no others.
func testBatchLocksStock(t *testing.T, e *env) {
	e.seed(t, "SKU-1", "10", "SKU-2", "10", "SKU-3", "10")
	held := uuid.NewString()
	e.reserve(t, held, line("SKU-1", "1"))

	ctx := t.Context()
	locked, release := make(chan struct{}), make(chan struct{})
	batchDone := make(chan error, 1)
	go func() {
		batchDone <- e.db.InTx(ctx, func(tx *sqlstore.Tx) error {
			_, reads := e.svc.Subscriptions()[0].Load(tx, []messaging.Event{
				{Payload: &events.ReserveStock{OrderID: uuid.NewString(), Lines: []events.Line{line("SKU-3", "1")}}},
				{Payload: &events.OrderCompleted{OrderID: held}},
			})
			err := tx.QueryAll(ctx, reads...)
			close(locked)
			<-release
			return err
		})
	}()
	<-locked
	touch := func(sku string) chan error {
		done := make(chan error, 1)
		go func() {
			done <- e.db.InTx(ctx, func(tx *sqlstore.Tx) error {
				_, err := tx.ExecContext(ctx, `UPDATE stock SET updated_at = updated_at WHERE sku = $1`, sku)
				return err
			})
		}()
		return done
	}
	sku1, sku3 := touch("SKU-1"), touch("SKU-3")
	if e.db.Dialect == sqlstore.Postgres {
		if err := <-touch("SKU-2"); err != nil {
			t.Fatalf("SKU-2, which the batch does not use: %v", err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if len(sku1) > 0 {
		t.Error("SKU-1, held by a completed order of the batch, was updated while the batch held its locks")
	}
	if len(sku3) > 0 {
		t.Error("SKU-3, asked for by a reservation of the batch, was updated while the batch held its locks")
	}
	close(release)
	for _, done := range []chan error{batchDone, sku1, sku3} {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// testReserveAndReleaseInOneBatch: a batch can hold a reservation and its release (a timed-out
// step's compensation queued behind it); the release must see the lines the reservation wrote.
func testReserveAndReleaseInOneBatch(t *testing.T, e *env) {
	e.seed(t, "SKU-1", "10", "SKU-2", "10")
	order := uuid.NewString()
	var batch []messaging.Event
	for _, p := range []events.Payload{
		events.ReserveStock{OrderID: order, Lines: []events.Line{line("SKU-1", "3"), line("SKU-2", "4")}},
		events.ReleaseStock{OrderID: order},
	} {
		ev, err := messaging.NewEvent("test", order, p)
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, ev)
	}
	c := messaging.NewConsumer(e.svc.Subscriptions()[0], e.db, nil, messaging.RetryConfig{}, slog.Default())
	if err := c.ApplyBatch(t.Context(), batch); err != nil {
		t.Fatal(err)
	}
	e.level(t, "SKU-1", "10", "0")
	e.level(t, "SKU-2", "10", "0")
	e.status(t, order, inventory.StatusReleased)
}

// A batch reserves for one order, releases another's reservation, and reserves for a third: the
// third reservation's lines are queued after the release's update of reservations, and must
// still be written after their reservation (reservation_lines refers to it).
func testReservationsAroundARelease(t *testing.T, e *env) {
	e.seed(t, "SKU-1", "10", "SKU-2", "10")
	ctx := t.Context()
	released, a, b := uuid.NewString(), uuid.NewString(), uuid.NewString()
	e.reserve(t, released, line("SKU-1", "1"))
	sub := e.svc.Subscriptions()[0]
	var batch []messaging.Event
	for _, p := range []events.Payload{
		events.ReserveStock{OrderID: a, Lines: []events.Line{line("SKU-1", "2")}},
		events.ReleaseStock{OrderID: released},
		events.ReserveStock{OrderID: b, Lines: []events.Line{line("SKU-2", "3")}},
	} {
		ev, err := messaging.NewEvent("test", "", p)
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, ev)
	}
	// As a consumer applies a batch: its Prepare reads first, then each handler.
	if err := messaging.NewConsumer(sub, e.db, nil, messaging.RetryConfig{}, slog.Default()).ApplyBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	e.level(t, "SKU-1", "8", "2")
	e.level(t, "SKU-2", "7", "3")
	e.status(t, released, inventory.StatusReleased)
	e.status(t, b, inventory.StatusReserved)
}
