package order

import (
	"slices"
	"testing"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

func TestSagaCompletes(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		r := startSaga(t, svc, db)
		r.step(r.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)
		r.ignore(r.orderCreated())    // duplicate
		r.ignore(r.stockReserved())   // too early: never asked
		r.ignore(r.chargePayment())   // our own command, echoed
		r.ignore(r.stockReleased())   // never asked
		r.ignore(r.paymentRefunded()) // never asked
		r.step(r.paymentCharged(), Inventory, "INVENTORY", events.ReserveStockType)
		r.ignore(r.paymentCharged()) // duplicate reply
		r.ignore(r.paymentDeclined())
		r.step(r.stockReserved(), Fulfillment, "FULFILLMENT", events.CreateShipmentType)
		r.ignore(r.paymentCharged()) // late
		r.ignore(r.stockReserved())  // duplicate reply
		r.ignore(r.stockRejected())
		r.step(r.shipmentCreated(), Completed, "COMPLETED", events.OrderCompletedType)
		r.ignore(r.shipmentCreated()) // duplicate
		r.ignore(r.shipmentFailed())
		r.ignore(r.orderCompleted()) // our own event, echoed
		r.expire("", "")             // nothing awaits a reply
		r.cancelRefused("cancel-late")

		c := readSagaCols(t, db, r.id)
		if !c.Charged || !c.Reserved || c.Outcome != string(Completed) || c.OutcomeReason != "" || c.Attempts != 0 {
			t.Errorf("completed order's saga = %+v", c)
		}
		if got, want := r.sent(), []events.Type{events.OrderCreatedType, events.ChargePaymentType,
			events.ReserveStockType, events.CreateShipmentType, events.OrderCompletedType}; !slices.Equal(got, want) {
			t.Errorf("outbox = %v, want %v", got, want)
		}
	})
}

func TestSagaPaymentDeclined(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		r := startSaga(t, svc, db)
		r.step(r.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)
		r.step(r.paymentDeclined(), Failed, "FAILED PAYMENT_DECLINED", events.OrderFailedType)
		r.ignore(r.paymentDeclined()) // duplicate
		r.ignore(r.paymentCharged())
		r.ignore(r.paymentRefunded())
		r.expire("", "")
		r.cancelRefused("cancel-late")

		c := readSagaCols(t, db, r.id)
		if c.FailureReason != ReasonPaymentDeclined || c.Outcome != string(Failed) || c.Charged {
			t.Errorf("declined order's saga = %+v", c)
		}
		if got, want := r.sent(), []events.Type{events.OrderCreatedType, events.ChargePaymentType,
			events.OrderFailedType}; !slices.Equal(got, want) {
			t.Errorf("outbox = %v, want %v", got, want)
		}
	})
}

func TestSagaOutOfStock(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		r := startSaga(t, svc, db)
		r.step(r.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)
		r.step(r.paymentCharged(), Inventory, "INVENTORY", events.ReserveStockType)
		r.step(r.stockRejected(), Compensating, "COMPENSATING OUT_OF_STOCK", events.RefundPaymentType)
		c := readSagaCols(t, db, r.id)
		if !c.RefundPending || c.ReleasePending || c.Outcome != string(Failed) || c.OutcomeReason != ReasonOutOfStock ||
			c.FailureReason != "" || c.Attempts != 1 {
			t.Errorf("compensating saga = %+v, want a refund pending towards FAILED OUT_OF_STOCK", c)
		}
		r.ignore(r.stockRejected()) // duplicate
		r.ignore(r.paymentDeclined())
		// The refund's reply is the last undo: the order ends, and the history shows both the undo
		// and the end.
		r.stepLastUndo(r.paymentRefunded(), Failed, "COMPENSATING PAYMENT_REFUNDED", "FAILED OUT_OF_STOCK",
			events.OrderFailedType)
		r.ignore(r.paymentRefunded()) // duplicate
		r.cancelRefused("cancel-late")

		c = readSagaCols(t, db, r.id)
		if c.FailureReason != ReasonOutOfStock || c.RefundPending || !c.Charged || c.Reserved {
			t.Errorf("failed order's saga = %+v", c)
		}
		if got, want := r.sent(), []events.Type{events.OrderCreatedType, events.ChargePaymentType,
			events.ReserveStockType, events.RefundPaymentType, events.OrderFailedType}; !slices.Equal(got, want) {
			t.Errorf("outbox = %v, want %v", got, want)
		}
	})
}

func TestSagaShipmentFailed(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		// Two orders in one database, their undo replies in opposite orders.
		for _, refundFirst := range []bool{false, true} {
			r := startSaga(t, svc, db)
			r.step(r.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)
			r.step(r.paymentCharged(), Inventory, "INVENTORY", events.ReserveStockType)
			r.step(r.stockReserved(), Fulfillment, "FULFILLMENT", events.CreateShipmentType)
			r.step(r.shipmentFailed(), Compensating, "COMPENSATING SHIPMENT_FAILED",
				events.ReleaseStockType, events.RefundPaymentType)
			c := readSagaCols(t, db, r.id)
			if !c.RefundPending || !c.ReleasePending || c.Outcome != string(Failed) ||
				c.OutcomeReason != ReasonShipmentFailed || c.FailureReason != "" {
				t.Errorf("compensating saga = %+v, want refund and release pending towards FAILED SHIPMENT_FAILED", c)
			}
			r.ignore(r.shipmentFailed()) // duplicate
			if refundFirst {
				r.step(r.paymentRefunded(), Compensating, "COMPENSATING PAYMENT_REFUNDED")
				if c := readSagaCols(t, db, r.id); c.RefundPending || !c.ReleasePending {
					t.Errorf("after the refund: %+v", c)
				}
				// A duplicate refund reply: applied (stored), but no history line and nothing sent.
				r.step(r.paymentRefunded(), Compensating, "")
				if c := readSagaCols(t, db, r.id); c.RefundPending || !c.ReleasePending {
					t.Errorf("after the duplicate refund: %+v", c)
				}
				r.stepLastUndo(r.stockReleased(), Failed, "COMPENSATING STOCK_RELEASED", "FAILED SHIPMENT_FAILED",
					events.OrderFailedType)
			} else {
				r.step(r.stockReleased(), Compensating, "COMPENSATING STOCK_RELEASED")
				if c := readSagaCols(t, db, r.id); !c.RefundPending || c.ReleasePending {
					t.Errorf("after the release: %+v", c)
				}
				// A duplicate release reply: applied (stored), but no history line and nothing sent.
				r.step(r.stockReleased(), Compensating, "")
				if c := readSagaCols(t, db, r.id); !c.RefundPending || c.ReleasePending {
					t.Errorf("after the duplicate release: %+v", c)
				}
				r.stepLastUndo(r.paymentRefunded(), Failed, "COMPENSATING PAYMENT_REFUNDED", "FAILED SHIPMENT_FAILED",
					events.OrderFailedType)
			}
			r.ignore(r.stockReleased())
			r.ignore(r.paymentRefunded())
			if c := readSagaCols(t, db, r.id); c.FailureReason != ReasonShipmentFailed {
				t.Errorf("failure reason %q, want %s", c.FailureReason, ReasonShipmentFailed)
			}
			if got, want := r.sent(), []events.Type{events.OrderCreatedType, events.ChargePaymentType,
				events.ReserveStockType, events.CreateShipmentType, events.ReleaseStockType, events.RefundPaymentType,
				events.OrderFailedType}; !slices.Equal(got, want) {
				t.Errorf("outbox = %v, want %v", got, want)
			}
		}
	})
}
