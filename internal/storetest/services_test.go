package storetest

import (
	"encoding/json"
	"testing"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

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

// apply delivers p to sub as a fresh event about the order p names, failing the test if it does
// not apply.
func apply(t *testing.T, db *sqlstore.DB, sub messaging.Subscription, p events.Payload) {
	t.Helper()
	orderID := map[string]any{}
	b, _ := json.Marshal(p)
	_ = json.Unmarshal(b, &orderID)
	if err := Deliver(t, db, sub, "test", orderID["orderId"].(string), p); err != nil {
		t.Fatalf("apply %s: %v", p.EventType(), err)
	}
}
