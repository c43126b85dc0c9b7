package inventory_test

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/inventory"
)

func testRelease(t *testing.T, e *env) {
	e.seed(t, "SKU-1", "100", "SKU-2", "50")
	order := uuid.NewString()
	e.reserve(t, order, line("SKU-1", "33"), line("SKU-2", "14.5"))
	e.release(t, order)
	if got, want := e.last(t), (events.StockReleased{OrderID: order}); got != want {
		t.Fatalf("reply %#v, want %#v", got, want)
	}
	e.level(t, "SKU-1", "100", "0")
	e.level(t, "SKU-2", "50", "0")
	e.status(t, order, inventory.StatusReleased)

	// Twice is once: answered again, nothing more given back.
	e.release(t, order)
	if got, want := e.last(t), (events.StockReleased{OrderID: order}); got != want {
		t.Fatalf("second reply %#v, want %#v", got, want)
	}
	e.level(t, "SKU-1", "100", "0")
	e.level(t, "SKU-2", "50", "0")

	// A late ReserveStock of a released order holds nothing.
	e.reserve(t, order, line("SKU-1", "33"), line("SKU-2", "14.5"))
	if got, want := e.last(t), (events.StockReleased{OrderID: order}); got != want {
		t.Errorf("late reserve answered %#v, want %#v", got, want)
	}
	e.level(t, "SKU-1", "100", "0")
}

func testReleaseWithoutReservation(t *testing.T, e *env) {
	e.seed(t, "SKU-1", "10")
	order := uuid.NewString()
	e.release(t, order)
	if got, want := e.last(t), (events.StockReleased{OrderID: order}); got != want {
		t.Fatalf("reply %#v, want %#v", got, want)
	}
	e.release(t, order)
	if n := len(e.replies(t)); n != 2 {
		t.Errorf("%d replies, want 2", n)
	}
	// The command it compensated arrives after all (replayed from a dead-letter topic, say):
	// the order is over, so nothing is held.
	e.reserve(t, order, line("SKU-1", "1"))
	if got, want := e.last(t), (events.StockReleased{OrderID: order}); got != want {
		t.Errorf("late reserve answered %#v, want %#v", got, want)
	}
	e.level(t, "SKU-1", "10", "0")
}

func testReleaseAfterRejection(t *testing.T, e *env) {
	e.seed(t, "SKU-1", "10")
	order := uuid.NewString()
	e.reserve(t, order, line("SKU-1", "11"))
	e.release(t, order)
	if got, want := e.last(t), (events.StockReleased{OrderID: order}); got != want {
		t.Fatalf("reply %#v, want %#v", got, want)
	}
	e.level(t, "SKU-1", "10", "0")
	e.status(t, order, inventory.StatusRejected)
}

func testCompletion(t *testing.T, e *env) {
	e.seed(t, "SKU-1", "100", "SKU-2", "50")
	order := uuid.NewString()
	e.reserve(t, order, line("SKU-1", "33"), line("SKU-2", "14.5"))
	e.complete(t, order)
	e.status(t, order, inventory.StatusConsumed)
	e.level(t, "SKU-1", "67", "0")
	e.level(t, "SKU-2", "35.5", "0")
	replies := len(e.replies(t))

	e.complete(t, order) // a repeated completion changes nothing
	e.level(t, "SKU-1", "67", "0")
	if n := len(e.replies(t)); n != replies {
		t.Errorf("completion replied: %d replies, want %d", n, replies)
	}

	// Shipped stock cannot be released; the saga still hears back.
	e.release(t, order)
	if got, want := e.last(t), (events.StockReleased{OrderID: order}); got != want {
		t.Fatalf("reply %#v, want %#v", got, want)
	}
	e.status(t, order, inventory.StatusConsumed)
	e.level(t, "SKU-1", "67", "0")

	// A repeated ReserveStock of a completed order answers as the first did.
	e.reserve(t, order, line("SKU-1", "33"))
	if got, ok := e.last(t).(events.StockReserved); !ok || got.OrderID != order {
		t.Errorf("repeated reserve answered %#v, want StockReserved", e.last(t))
	}
	e.level(t, "SKU-1", "67", "0")

	// Completion of an order whose stock was released or never reserved consumes nothing.
	released := uuid.NewString()
	e.reserve(t, released, line("SKU-1", "1"))
	e.release(t, released)
	e.complete(t, released)
	e.complete(t, uuid.NewString())
	e.status(t, released, inventory.StatusReleased)
	e.level(t, "SKU-1", "67", "0")

	// One consumer takes the commands and, of the order events, the completions only: as two, each
	// waited for the stock rows the other held.
	subs := e.svc.Subscriptions()
	if len(subs) != 1 || !slices.Equal(subs[0].Topics, []string{events.TopicInventoryCommands, events.TopicOrderEvents}) ||
		!slices.Contains(subs[0].Types, events.OrderCompletedType) || slices.Contains(subs[0].Types, events.OrderCreatedType) {
		t.Errorf("subscriptions %+v", subs)
	}
}

// Reservations recorded before stock was tracked held none; settling them gives none back.
func testLegacyReservation(t *testing.T, e *env) {
	ctx := t.Context()
	e.seed(t, "SKU-1", "10")
	for _, order := range []string{"legacy-release", "legacy-complete"} {
		id := uuid.NewString()
		if _, err := e.db.ExecContext(ctx, `INSERT INTO reservations (id, order_id, status, created_at)
			VALUES ($1, $2, 'RESERVED', $3)`, id, order, time.Now().UTC()); err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.ExecContext(ctx, `INSERT INTO reservation_lines (reservation_id, order_id, sku, quantity)
			VALUES ($1, $2, 'SKU-1', '3')`, id, order); err != nil {
			t.Fatal(err)
		}
	}
	e.reserve(t, "legacy-release", line("SKU-1", "3"))
	if _, ok := e.last(t).(events.StockReserved); !ok {
		t.Errorf("repeated reserve of a legacy reservation answered %#v", e.last(t))
	}
	e.release(t, "legacy-release")
	e.complete(t, "legacy-complete")
	e.status(t, "legacy-release", inventory.StatusReleased)
	e.status(t, "legacy-complete", inventory.StatusConsumed)
	e.level(t, "SKU-1", "10", "0")
}
