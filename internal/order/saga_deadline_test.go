package order

import (
	"context"
	"testing"
	"time"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// TestUndoRepliesKeepTheDeadline: compensation's deadline runs from when its undo commands were
// sent. An undo reply that sends nothing, the first of two or a duplicate, must not put it off,
// or a saga whose other undo never answers would wait longer at every duplicate.
func TestUndoRepliesKeepTheDeadline(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		r := startSaga(t, svc, db)
		r.step(r.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)
		r.step(r.paymentCharged(), Inventory, "INVENTORY", events.ReserveStockType)
		r.step(r.stockReserved(), Fulfillment, "FULFILLMENT", events.CreateShipmentType)
		r.step(r.shipmentFailed(), Compensating, "COMPENSATING SHIPMENT_FAILED",
			events.ReleaseStockType, events.RefundPaymentType)
		deadline := func() time.Time {
			t.Helper()
			var at time.Time
			if err := db.DB.QueryRowContext(context.Background(), `SELECT step_deadline FROM orders WHERE id = $1`,
				r.id).Scan(&at); err != nil {
				t.Fatal(err)
			}
			return at.UTC()
		}
		set := deadline()
		time.Sleep(10 * time.Millisecond) // a deadline set anew would be later
		r.step(r.paymentRefunded(), Compensating, "COMPENSATING PAYMENT_REFUNDED")
		r.step(r.paymentRefunded(), Compensating, "")
		if got := deadline(); !got.Equal(set) {
			t.Errorf("deadline %v after the undo replies, want %v as when the undo commands were sent", got, set)
		}
	})
}
