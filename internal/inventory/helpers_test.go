package inventory_test

import (
	"encoding/json"
	"log/slog"
	"os"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/inventory"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/pgtest"
	"github.com/ordersys/ordersys/internal/sqlstore"
	"github.com/ordersys/ordersys/internal/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// env is one inventory service on a fresh, migrated database.
type env struct {
	db  *sqlstore.DB
	svc *inventory.Service
}

type backend func(t *testing.T) *env

func sqliteEnv(t *testing.T) *env {
	t.Helper()
	return newEnv(t, storetest.SQLiteDSN(t))
}

func postgresEnv(t *testing.T) *env {
	t.Helper()
	return newEnv(t, pgtest.DSN(t))
}

func newEnv(t *testing.T, dsn string) *env {
	t.Helper()
	db := storetest.Open(t, dsn, inventory.Name, messaging.Migrations, inventory.Migrations)
	svc := inventory.New(db, messaging.NewOutbox()).WithLogger(slog.New(slog.DiscardHandler))
	return &env{db: db, svc: svc}
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func line(sku, q string) events.Line { return events.Line{SKU: sku, Quantity: d(q)} }

// seed sets the available stock of each SKU (sku, quantity, sku, quantity, ...).
func (e *env) seed(t *testing.T, pairs ...string) {
	t.Helper()
	m := map[string]decimal.Decimal{}
	for i := 0; i < len(pairs); i += 2 {
		m[pairs[i]] = d(pairs[i+1])
	}
	if err := e.svc.Seed(t.Context(), m); err != nil {
		t.Fatal(err)
	}
}

// handle applies p, as a fresh event, through the service's subscription, in a transaction of
// its own.
func (e *env) handle(t *testing.T, orderID string, p events.Payload) error {
	t.Helper()
	return storetest.Deliver(t, e.db, e.svc.Subscriptions()[0], "test", orderID, p)
}

func (e *env) command(t *testing.T, orderID string, p events.Payload) {
	t.Helper()
	if err := e.handle(t, orderID, p); err != nil {
		t.Fatalf("%s: %v", p.EventType(), err)
	}
}

func (e *env) reserve(t *testing.T, orderID string, lines ...events.Line) {
	t.Helper()
	e.command(t, orderID, events.ReserveStock{OrderID: orderID, Lines: lines})
}

func (e *env) release(t *testing.T, orderID string) {
	t.Helper()
	e.command(t, orderID, events.ReleaseStock{OrderID: orderID})
}

func (e *env) complete(t *testing.T, orderID string) {
	t.Helper()
	if err := e.handle(t, orderID, events.OrderCompleted{OrderID: orderID, CustomerID: "c",
		Total: d("1"), Currency: "USD"}); err != nil {
		t.Fatalf("complete: %v", err)
	}
}

// reply is one row of the outbox.
type reply struct {
	Type    events.Type
	Payload string
}

func (e *env) replies(t *testing.T) []reply {
	t.Helper()
	rows, err := e.db.QueryContext(t.Context(), `SELECT event_type, payload FROM outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []reply
	for rows.Next() {
		var r reply
		var typ string
		if err := rows.Scan(&typ, &r.Payload); err != nil {
			t.Fatal(err)
		}
		r.Type = events.Type(typ)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// last returns the newest reply, decoded into a value of its type.
func (e *env) last(t *testing.T) any {
	t.Helper()
	rs := e.replies(t)
	if len(rs) == 0 {
		t.Fatal("no reply in the outbox")
	}
	return decode(t, rs[len(rs)-1])
}

func decode(t *testing.T, r reply) any {
	t.Helper()
	var v any
	switch r.Type {
	case events.StockReservedType:
		v = &events.StockReserved{}
	case events.StockRejectedType:
		v = &events.StockRejected{}
	case events.StockReleasedType:
		v = &events.StockReleased{}
	default:
		t.Fatalf("unexpected reply type %s", r.Type)
	}
	if err := json.Unmarshal([]byte(r.Payload), v); err != nil {
		t.Fatal(err)
	}
	switch v := v.(type) {
	case *events.StockReserved:
		return *v
	case *events.StockRejected:
		return *v
	case *events.StockReleased:
		return *v
	}
	return nil
}

// level asserts sku's available and reserved stock.
func (e *env) level(t *testing.T, sku, available, reserved string) {
	t.Helper()
	l, err := e.svc.Stock(t.Context(), sku)
	if err != nil {
		t.Fatalf("stock %s: %v", sku, err)
	}
	if !l.Available.Equal(d(available)) || !l.Reserved.Equal(d(reserved)) {
		t.Errorf("%s: available %s, reserved %s; want %s, %s", sku, l.Available, l.Reserved, available, reserved)
	}
}

func (e *env) status(t *testing.T, orderID, want string) {
	t.Helper()
	got, err := e.svc.ReservationFor(t.Context(), orderID)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("order %s reservation %q, want %q", orderID, got, want)
	}
}
