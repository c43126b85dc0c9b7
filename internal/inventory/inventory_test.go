package inventory_test

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/inventory"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// The rules run on both databases through the one SQL code path.
func TestSQLite(t *testing.T)   { suite(t, sqliteEnv) }
func TestPostgres(t *testing.T) { suite(t, postgresEnv) }

func suite(t *testing.T, b backend) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *env)
	}{
		{"reserve", testReserve},
		{"unknown SKU", testUnknownSKU},
		{"insufficient second line", testInsufficientSecondLine},
		{"repeated command", testRepeatedCommand},
		{"quantity beyond int64", testHugeQuantity},
		{"invalid command", testInvalidCommand},
		{"release", testRelease},
		{"release without reservation", testReleaseWithoutReservation},
		{"release after rejection", testReleaseAfterRejection},
		{"completion consumes", testCompletion},
		{"reservation from before stock", testLegacyReservation},
		{"seed", testSeed},
		{"concurrent reservations", testConcurrentReservations},
		{"concurrent multi-SKU reservations", testConcurrentMultiSKU},
		{"concurrent repeats reserve once", testConcurrentRepeatsReserveOnce},
		{"api", testAPI},
		{"batch locks stock first", testBatchLocksStock},
		{"reserve and release in one batch", testReserveAndReleaseInOneBatch},
		{"reservations around a release in one batch", testReservationsAroundARelease},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, b(t)) })
	}
}

func testReserve(t *testing.T, e *env) {
	e.seed(t, "SKU-1", "100", "SKU-2", "50")
	order := uuid.NewString()
	// The quick start's lines, with SKU-1 repeated.
	e.reserve(t, order, line("SKU-1", "33"), line("SKU-2", "14.5"), line("SKU-1", "1"))
	got, ok := e.last(t).(events.StockReserved)
	if !ok || got.OrderID != order || got.ReservationID == "" {
		t.Fatalf("reply %#v, want StockReserved", e.last(t))
	}
	e.level(t, "SKU-1", "66", "34")
	e.level(t, "SKU-2", "35.5", "14.5")
	e.status(t, order, inventory.StatusReserved)

	// A new order for what is left, to the last thousandth.
	e.reserve(t, uuid.NewString(), line("SKU-2", "35.499"))
	if _, ok := e.last(t).(events.StockReserved); !ok {
		t.Fatalf("reply %#v, want StockReserved", e.last(t))
	}
	e.level(t, "SKU-2", "0.001", "49.999")
}

func testUnknownSKU(t *testing.T, e *env) {
	e.seed(t, "SKU-1", "10")
	order := uuid.NewString()
	e.reserve(t, order, line("SKU-1", "1"), line("SKU-9", "1"))
	want := events.StockRejected{OrderID: order, SKU: "SKU-9", Reason: inventory.ReasonUnknownSKU}
	if got := e.last(t); got != want {
		t.Fatalf("reply %#v, want %#v", got, want)
	}
	e.level(t, "SKU-1", "10", "0")
	e.status(t, order, inventory.StatusRejected)
}

func testInsufficientSecondLine(t *testing.T, e *env) {
	e.seed(t, "SKU-A", "10", "SKU-B", "3")
	order := uuid.NewString()
	// A is taken, then B is short by a thousandth: A must be given back.
	e.reserve(t, order, line("SKU-A", "5"), line("SKU-B", "3.001"))
	want := events.StockRejected{OrderID: order, SKU: "SKU-B", Reason: inventory.ReasonInsufficientStock}
	if got := e.last(t); got != want {
		t.Fatalf("reply %#v, want %#v", got, want)
	}
	e.level(t, "SKU-A", "10", "0")
	e.level(t, "SKU-B", "3", "0")
	var lines int
	if err := e.db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM reservation_lines`).Scan(&lines); err != nil {
		t.Fatal(err)
	}
	if lines != 0 {
		t.Errorf("a rejected reservation left %d lines", lines)
	}
}

func testRepeatedCommand(t *testing.T, e *env) {
	e.seed(t, "SKU-1", "10", "SKU-2", "1")
	ok, short := uuid.NewString(), uuid.NewString()
	e.reserve(t, ok, line("SKU-1", "4"))
	first := e.last(t)
	e.reserve(t, short, line("SKU-2", "2"))
	rejected := e.last(t)

	// The same commands again, as new events: the same answers, no stock moved.
	e.reserve(t, ok, line("SKU-1", "4"))
	if got := e.last(t); got != first {
		t.Errorf("repeated reserve answered %#v, first answer %#v", got, first)
	}
	// Stock arrived meanwhile; the recorded rejection still stands.
	if _, err := e.svc.SetAvailable(t.Context(), "SKU-2", d("5")); err != nil {
		t.Fatal(err)
	}
	e.reserve(t, short, line("SKU-2", "2"))
	if got := e.last(t); got != rejected {
		t.Errorf("repeated rejected reserve answered %#v, first answer %#v", got, rejected)
	}
	e.level(t, "SKU-1", "6", "4")
	e.level(t, "SKU-2", "5", "0")
	if n := len(e.replies(t)); n != 4 {
		t.Errorf("%d replies, want one per command (4)", n)
	}
	var rows int
	if err := e.db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM reservations`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 2 {
		t.Errorf("%d reservations, want 2", rows)
	}
}

func testHugeQuantity(t *testing.T, e *env) {
	e.seed(t, "SKU-1", "10")
	order := uuid.NewString()
	e.reserve(t, order, line("SKU-1", "1e20"))
	want := events.StockRejected{OrderID: order, SKU: "SKU-1", Reason: inventory.ReasonInsufficientStock}
	if got := e.last(t); got != want {
		t.Errorf("reply %#v, want %#v", got, want)
	}
	order = uuid.NewString()
	e.reserve(t, order, line("SKU-1", "1"), line("SKU-X", "1e20"))
	want = events.StockRejected{OrderID: order, SKU: "SKU-X", Reason: inventory.ReasonUnknownSKU}
	if got := e.last(t); got != want {
		t.Errorf("reply %#v, want %#v", got, want)
	}
	e.level(t, "SKU-1", "10", "0")
}

func testInvalidCommand(t *testing.T, e *env) {
	e.seed(t, "SKU-1", "10")
	for _, lines := range [][]events.Line{
		{line("SKU-1", "0")},
		{line("SKU-1", "-1")},
		{line("SKU-1", "1.0001")},
		{line("", "1")},
	} {
		order := uuid.NewString()
		err := e.handle(t, order, events.ReserveStock{OrderID: order, Lines: lines})
		if !messaging.IsPermanent(err) {
			t.Errorf("lines %v: error %v, want a permanent one", lines, err)
		}
	}
	err := e.handle(t, "o", events.ChargePayment{OrderID: "o"})
	if !messaging.IsPermanent(err) {
		t.Errorf("a payment command: error %v, want a permanent one", err)
	}
	e.level(t, "SKU-1", "10", "0")
	if n := len(e.replies(t)); n != 0 {
		t.Errorf("%d replies to invalid commands", n)
	}
}

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

func testSeed(t *testing.T, e *env) {
	ctx := t.Context()
	if err := e.svc.Seed(ctx, inventory.DemoCatalog); err != nil {
		t.Fatal(err)
	}
	order := uuid.NewString()
	e.reserve(t, order, line("SKU-1", "33"), line("SKU-2", "14.5"))
	if _, err := e.svc.SetAvailable(ctx, "SKU-3", d("7")); err != nil {
		t.Fatal(err)
	}
	// Seeding again (every start of `ordersys dev`) overwrites nothing.
	if err := e.svc.Seed(ctx, inventory.DemoCatalog); err != nil {
		t.Fatal(err)
	}
	e.level(t, "SKU-1", "999967", "33")
	e.level(t, "SKU-2", "999985.5", "14.5")
	e.level(t, "SKU-3", "7", "0")
	levels, err := e.svc.Levels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(levels) != 20 || len(inventory.DemoCatalog) != 20 {
		t.Fatalf("%d SKUs after seeding the demo catalog of %d", len(levels), len(inventory.DemoCatalog))
	}
	for i := 1; i <= 20; i++ {
		if q := inventory.DemoCatalog[fmt.Sprintf("SKU-%d", i)]; !q.Equal(decimal.NewFromInt(1_000_000)) {
			t.Errorf("DemoCatalog SKU-%d = %s", i, q)
		}
	}
	for _, bad := range []map[string]decimal.Decimal{{"SKU-X": d("-1")}, {"SKU-X": d("0.0001")}, {"": d("1")}} {
		if err := e.svc.Seed(ctx, bad); err == nil {
			t.Errorf("Seed(%v) succeeded", bad)
		}
	}
}

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
