package storetest

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

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
