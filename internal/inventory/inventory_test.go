package inventory_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/inventory"
	"github.com/ordersys/ordersys/internal/messaging"
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
		{"an order's reservation, read", testReservationsOf},
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
	levels, total, err := e.svc.Levels(ctx, 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(levels) != 20 || total != 20 || len(inventory.DemoCatalog) != 20 {
		t.Fatalf("%d SKUs (total %d) after seeding the demo catalog of %d", len(levels), total, len(inventory.DemoCatalog))
	}
	// Pages of 7 split the same list, in byte order whatever the database's collation
	// ("SKU-10" before "SKU-2"; "sku-a" after every "SKU-"), the last page short.
	if _, err := e.svc.SetAvailable(ctx, "sku-a", d("1")); err != nil {
		t.Fatal(err)
	}
	var paged []string
	for page := 1; page <= 4; page++ {
		levels, total, err := e.svc.Levels(ctx, page, 7)
		if err != nil || total != 21 {
			t.Fatalf("page %d: total %d, %v", page, total, err)
		}
		if want := min(7, 21-7*(page-1)); len(levels) != want {
			t.Errorf("page %d has %d levels, want %d", page, len(levels), want)
		}
		for _, l := range levels {
			paged = append(paged, l.SKU)
		}
	}
	if !slices.IsSorted(paged) || len(paged) != 21 || paged[1] != "SKU-10" || paged[20] != "sku-a" {
		t.Errorf("SKUs paged 7 at a time: %v, want all 21 in byte order", paged)
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

// testReservationsOf: an operator reads what an order's reservation holds, or which SKU refused it.
func testReservationsOf(t *testing.T, e *env) {
	e.seed(t, "SKU-1", "100", "SKU-2", "50")
	held, refused, none := uuid.NewString(), uuid.NewString(), uuid.NewString()
	e.reserve(t, held, line("SKU-2", "14.5"), line("SKU-1", "33"), line("SKU-1", "1"))
	e.reserve(t, refused, line("SKU-1", "1"), line("SKU-9", "1"))
	got, err := e.svc.ReservationsOf(t.Context(), held)
	if err != nil || len(got) != 1 {
		t.Fatalf("reservations of %s: %+v, %v", held, got, err)
	}
	r := got[0]
	if r.OrderID != held || r.Status != inventory.StatusReserved || r.ID == "" || r.CreatedAt.IsZero() || len(r.Lines) != 2 ||
		r.Lines[0].SKU != "SKU-1" || !r.Lines[0].Quantity.Equal(d("34")) || r.Lines[1].SKU != "SKU-2" || !r.Lines[1].Quantity.Equal(d("14.5")) {
		t.Errorf("reservation %+v, want SKU-1 x 34 and SKU-2 x 14.5 RESERVED", r)
	}
	got, err = e.svc.ReservationsOf(t.Context(), refused)
	if err != nil || len(got) != 1 || got[0].Status != inventory.StatusRejected || got[0].RejectedSKU != "SKU-9" ||
		got[0].RejectReason != inventory.ReasonUnknownSKU {
		t.Errorf("refused reservation: %+v, %v", got, err)
	}
	if got, err := e.svc.ReservationsOf(t.Context(), none); err != nil || len(got) != 0 {
		t.Errorf("an order without a reservation: %+v, %v", got, err)
	}
}
