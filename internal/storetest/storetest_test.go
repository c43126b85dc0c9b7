// Package storetest is the store conformance suite: every store in ordersys (outbox, inbox,
// idempotency keys and each service's tables) must behave the same on SQLite and PostgreSQL,
// through the one SQL code path they share.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/fulfillment"
	"github.com/ordersys/ordersys/internal/inventory"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/notification"
	"github.com/ordersys/ordersys/internal/order"
	"github.com/ordersys/ordersys/internal/payment"
	"github.com/ordersys/ordersys/internal/pgtest"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// backend opens a fresh database for one service.
type backend func(t *testing.T, service string) *sqlstore.DB

func TestSQLite(t *testing.T) {
	dir := t.TempDir()
	run(t, func(t *testing.T, service string) *sqlstore.DB {
		return open(t, "sqlite:"+filepath.Join(dir, t.Name()[strings.LastIndex(t.Name(), "/")+1:]+"-"+service+".db"), service)
	})
}

func TestPostgres(t *testing.T) {
	run(t, func(t *testing.T, service string) *sqlstore.DB { return open(t, pgtest.DSN(t), service) })
}

func open(t *testing.T, dsn, service string) *sqlstore.DB {
	t.Helper()
	ctx := t.Context()
	db, err := sqlstore.OpenService(ctx, dsn, service)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	migrations := map[string]sqlstore.Migrations{
		order.Name: order.Migrations, payment.Name: payment.Migrations, inventory.Name: inventory.Migrations,
		fulfillment.Name: fulfillment.Migrations, notification.Name: notification.Migrations,
	}[service]
	if err := sqlstore.Migrate(ctx, db, messaging.Migrations, migrations); err != nil {
		t.Fatal(err)
	}
	// Migrating twice is a no-op: every process migrates at start.
	if err := sqlstore.Migrate(ctx, db, messaging.Migrations, migrations); err != nil {
		t.Fatalf("second migration: %v", err)
	}
	return db
}

func run(t *testing.T, b backend) {
	t.Run("inbox", func(t *testing.T) { testInbox(t, b(t, payment.Name)) })
	t.Run("outbox", func(t *testing.T) { testOutbox(t, b(t, payment.Name)) })
	t.Run("queued writes", func(t *testing.T) { testQueuedWrites(t, b(t, payment.Name)) })
	t.Run("order", func(t *testing.T) { testOrder(t, b(t, order.Name)) })
	t.Run("services", func(t *testing.T) {
		testCommand(t, b(t, payment.Name), func(db *sqlstore.DB, out *messaging.Outbox) sub {
			return payment.New(db, out, payment.Config{})
		}, events.ChargePayment{OrderID: uuid.NewString(), CustomerID: uuid.NewString(),
			Amount: decimal.RequireFromString("1022.17"), Currency: "USD"}, "payments", events.PaymentChargedType)
		testCommand(t, b(t, inventory.Name), func(db *sqlstore.DB, out *messaging.Outbox) sub {
			svc := inventory.New(db, out)
			if err := svc.Seed(t.Context(), map[string]decimal.Decimal{"SKU-1": decimal.NewFromInt(100)}); err != nil {
				t.Fatal(err)
			}
			return svc
		}, events.ReserveStock{OrderID: uuid.NewString(), Lines: []events.Line{
			{SKU: "SKU-1", Quantity: decimal.RequireFromString("14.5")}, {SKU: "SKU-1", Quantity: decimal.NewFromInt(1)},
		}}, "reservations", events.StockReservedType)
		testCommand(t, b(t, fulfillment.Name), func(db *sqlstore.DB, out *messaging.Outbox) sub {
			return fulfillment.New(db, out, fulfillment.Config{})
		}, events.CreateShipment{OrderID: uuid.NewString(), Address: events.Address{Country: "USA", City: "Austin",
			AddressLine1: "Lincoln, 65"}}, "shipments", events.ShipmentCreatedType)
		testCommand(t, b(t, notification.Name), func(db *sqlstore.DB, _ *messaging.Outbox) sub {
			return notification.New(db)
		}, events.OrderCompleted{OrderID: uuid.NewString(), CustomerID: uuid.NewString(),
			Total: decimal.RequireFromString("1022.17"), Currency: "USD"}, "notifications", "")
	})
}

func testInbox(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	id := uuid.NewString()
	claim := func(consumer string) bool {
		var fresh bool
		if err := db.InTx(ctx, func(tx *sqlstore.Tx) (err error) {
			fresh, err = messaging.Claim(ctx, tx, consumer, id)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return fresh
	}
	if !claim("a") || claim("a") || !claim("b") {
		t.Error("an event is claimed once per consumer")
	}
	// A claim rolled back with its transaction is no claim at all.
	other := uuid.NewString()
	errRollback := errors.New("rollback")
	_ = db.InTx(ctx, func(tx *sqlstore.Tx) error {
		_, _ = messaging.Claim(ctx, tx, "a", other)
		return errRollback
	})
	id = other
	if !claim("a") {
		t.Error("a rolled-back claim still counted")
	}
	// Concurrent claims of one event: exactly one wins.
	id = uuid.NewString()
	var wins int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if claim("c") {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d concurrent claims won, want 1", wins)
	}

	// A batch claims in one statement: an event already applied, or listed a second time, is not fresh.
	x, y, z := uuid.NewString(), uuid.NewString(), id
	var fresh []bool
	if err := db.InTx(ctx, func(tx *sqlstore.Tx) (err error) {
		fresh, err = messaging.ClaimAll(ctx, tx, "c", []string{x, y, x, z})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(fresh) != "[true true false false]" {
		t.Errorf("ClaimAll(x, y, x, already claimed) = %v, want [true true false false]", fresh)
	}
	id = y
	if claim("c") {
		t.Error("an event claimed in a batch was claimed again")
	}

	// A flushed row that cannot be inserted fails the statement after the Flush, and the
	// transaction reports the insert as the cause.
	var stmtErr error
	err := db.InTx(ctx, func(tx *sqlstore.Tx) error {
		tx.InsertLater("inbox", []string{"consumer", "event_id", "received_at"}, "d", nil, time.Now().UTC())
		tx.Flush()
		_, stmtErr = tx.ExecContext(ctx, `DELETE FROM inbox WHERE consumer = $1`, "nobody")
		return stmtErr
	})
	if stmtErr == nil || !strings.Contains(stmtErr.Error(), "write to inbox") ||
		err == nil || !strings.Contains(err.Error(), "write to inbox") {
		t.Errorf("statement after a failing queued insert: %v; transaction: %v; want both to name the insert", stmtErr, err)
	}
}

func testOutbox(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	out := messaging.NewOutbox()
	msg := func(i int) events.Message {
		m, err := events.New("test", "order-1", events.ChargePayment{OrderID: "order-1", CustomerID: "c",
			Amount: decimal.NewFromInt(int64(i)), Currency: "USD"})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if err := db.InTx(ctx, func(tx *sqlstore.Tx) error { return out.Put(ctx, tx, msg(1), msg(2)) }); err != nil {
		t.Fatal(err)
	}
	_ = db.InTx(ctx, func(tx *sqlstore.Tx) error {
		_ = out.Put(ctx, tx, msg(3))
		return errors.New("rollback")
	})
	if err := db.InTx(ctx, func(tx *sqlstore.Tx) error { return out.Put(ctx, tx, msg(4)) }); err != nil {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, `SELECT id, topic, msg_key, event_type, event_time, payload FROM outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var last int64
	var amounts []string
	for rows.Next() {
		var id int64
		var topic, key, typ, payload string
		var at time.Time
		if err := rows.Scan(&id, &topic, &key, &typ, &at, &payload); err != nil {
			t.Fatal(err)
		}
		if id <= last || topic != events.TopicPaymentCommands || key != "order-1" || typ != string(events.ChargePaymentType) {
			t.Errorf("row %d: %s %s %s after id %d", id, topic, key, typ, last)
		}
		if time.Since(at) > time.Minute || time.Since(at) < 0 {
			t.Errorf("event_time %v is not now: time zones disagree", at)
		}
		last = id
		var p events.ChargePayment
		if err := json.Unmarshal([]byte(payload), &p); err != nil {
			t.Fatal(err)
		}
		amounts = append(amounts, p.Amount.String())
	}
	if strings.Join(amounts, ",") != "1,2,4" {
		t.Errorf("outbox holds %v, want 1,2,4 (3 was rolled back)", amounts)
	}

	// A transaction reads its own queued rows once it has flushed them.
	if err := db.InTx(ctx, func(tx *sqlstore.Tx) error {
		if err := out.Put(ctx, tx, msg(5)); err != nil {
			return err
		}
		tx.Flush()
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox WHERE id > $1`, last).Scan(&n); err != nil {
			return err
		}
		if n != 1 {
			t.Errorf("the transaction sees %d of its own outbox rows, want 1", n)
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE id > $1`, last)
		return err
	}); err != nil {
		t.Fatal(err)
	}

	// One transaction's messages are inserted several rows per statement, and keep their order.
	var many []events.Message
	for i := range 75 {
		many = append(many, msg(100+i))
	}
	if err := db.InTx(ctx, func(tx *sqlstore.Tx) error { return out.Put(ctx, tx, many...) }); err != nil {
		t.Fatal(err)
	}
	rows, err = db.QueryContext(ctx, `SELECT payload FROM outbox WHERE id > $1 ORDER BY id`, last)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	want := 100
	for rows.Next() {
		var payload string
		var p events.ChargePayment
		if err := rows.Scan(&payload); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(payload), &p); err != nil {
			t.Fatal(err)
		}
		if p.Amount.String() != strconv.Itoa(want) {
			t.Fatalf("outbox row %d holds amount %s, want %d", want-100, p.Amount, want)
		}
		want++
	}
	if want != 175 {
		t.Errorf("outbox holds %d of the 75 messages", want-100)
	}
	rows.Close()

	// DeleteIDsThen's read (the relay's next batch) sees the deleted rows (the last batch) gone.
	scanID := func(r sqlstore.Scanner) (id int64, err error) { return id, r.Scan(&id) }
	ids, err := sqlstore.Collect(ctx, db, scanID, `SELECT id FROM outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var after []int64
	if err := db.DeleteIDsThen(ctx, "outbox", ids[:len(ids)-2], sqlstore.Read{
		Query: `SELECT id FROM outbox ORDER BY id`,
		Rows: func(rows sqlstore.Rows) error {
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					return err
				}
				after = append(after, id)
			}
			return nil
		},
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(after, ids[len(ids)-2:]) {
		t.Errorf("after deleting all but the last 2 of %d rows, the read saw %v", len(ids), after)
	}
	if left, err := sqlstore.Collect(ctx, db, scanID, `SELECT id FROM outbox ORDER BY id`); err != nil || len(left) != 2 {
		t.Errorf("outbox rows left: %v (%v), want the last 2", left, err)
	}
}

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

type sub interface {
	Subscriptions() []messaging.Subscription
}

// testCommand applies cmd twice under different event ids: one effect row, and a reply (if the
// service replies) each time, so that a saga that re-sent the command still hears back.
func testCommand(t *testing.T, db *sqlstore.DB, build func(*sqlstore.DB, *messaging.Outbox) sub, cmd events.Payload, table string, reply events.Type) {
	t.Run(table, func(t *testing.T) {
		svc := build(db, messaging.NewOutbox())
		sub := svc.Subscriptions()[0]
		apply(t, db, sub, cmd)
		apply(t, db, sub, cmd)
		var rows int
		if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM `+table).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows != 1 {
			t.Errorf("%s has %d rows after the command twice, want 1", table, rows)
		}
		var replies int
		if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM outbox WHERE event_type = $1`, string(reply)).Scan(&replies); err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{true: 0, false: 2}[reply == ""]; replies != want {
			t.Errorf("%d %s replies, want %d", replies, reply, want)
		}
	})
}

func apply(t *testing.T, db *sqlstore.DB, sub messaging.Subscription, p events.Payload) {
	t.Helper()
	orderID := map[string]any{}
	b, _ := json.Marshal(p)
	_ = json.Unmarshal(b, &orderID)
	ev, err := messaging.NewEvent("test", orderID["orderId"].(string), p)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c := messaging.NewConsumer(sub, db, nil, messaging.RetryConfig{}, slog.Default())
	if err := c.ApplyBatch(ctx, []messaging.Event{ev}); err != nil {
		t.Fatalf("apply %s: %v", p.EventType(), err)
	}
}
