package order

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

func TestSagaCancel(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		t.Run("PENDING", func(t *testing.T) {
			r := startSaga(t, svc, db)
			r.cancel("cancel-1", Cancelled, "CANCELLED CANCELLED", events.OrderCancelledType)
			// The order's own OrderCreated is still on its way to the saga: it must not revive it.
			r.ignore(r.orderCreated())
			r.cancelRefused("cancel-2")
			if c := readSagaCols(t, db, r.id); c.Outcome != string(Cancelled) || c.OutcomeReason != ReasonCancelled {
				t.Errorf("cancelled order's saga = %+v", c)
			}
		})
		t.Run("PAYMENT", func(t *testing.T) {
			r := startSaga(t, svc, db)
			r.step(r.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)
			r.cancel("cancel-1", Compensating, "COMPENSATING CANCELLED", events.RefundPaymentType)
			if c := readSagaCols(t, db, r.id); c.Charged || !c.RefundPending || c.ReleasePending {
				t.Errorf("after the cancel: %+v", c)
			}
			// The charge that was in flight lands: recorded, nothing sent, the refund undoes it.
			r.step(r.paymentCharged(), Compensating, "")
			if c := readSagaCols(t, db, r.id); !c.Charged || !c.RefundPending {
				t.Errorf("after the late charge: %+v", c)
			}
			r.ignore(r.paymentDeclined()) // a reply that changes nothing: the refund answers all the same
			// A release confirmation never asked for: applied (there is a rule), no history line,
			// nothing sent.
			r.step(r.stockReleased(), Compensating, "")
			r.stepLastUndo(r.paymentRefunded(), Cancelled, "COMPENSATING PAYMENT_REFUNDED", "CANCELLED CANCELLED",
				events.OrderCancelledType)
			r.cancelRefused("cancel-2")
		})
		t.Run("INVENTORY", func(t *testing.T) {
			r := startSaga(t, svc, db)
			r.step(r.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)
			r.step(r.paymentCharged(), Inventory, "INVENTORY", events.ReserveStockType)
			r.cancel("cancel-1", Compensating, "COMPENSATING CANCELLED", events.ReleaseStockType, events.RefundPaymentType)
			// The reservation that was in flight lands after the cancel.
			r.step(r.stockReserved(), Compensating, "")
			if c := readSagaCols(t, db, r.id); !c.Reserved || !c.ReleasePending || !c.RefundPending {
				t.Errorf("after the late reservation: %+v", c)
			}
			r.step(r.stockReleased(), Compensating, "COMPENSATING STOCK_RELEASED")
			r.stepLastUndo(r.paymentRefunded(), Cancelled, "COMPENSATING PAYMENT_REFUNDED", "CANCELLED CANCELLED",
				events.OrderCancelledType)
			r.cancelRefused("cancel-2")
		})
		// From FULFILLMENT a cancel asks fulfillment not to ship, and its answer decides.
		toFulfillment := func(t *testing.T) *sagaRun {
			r := startSaga(t, svc, db)
			r.step(r.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)
			r.step(r.paymentCharged(), Inventory, "INVENTORY", events.ReserveStockType)
			r.step(r.stockReserved(), Fulfillment, "FULFILLMENT", events.CreateShipmentType)
			r.cancel("cancel-1", Fulfillment, "FULFILLMENT CANCELLING_SHIPMENT", events.CancelShipmentType)
			if c := readSagaCols(t, db, r.id); !c.CancelPending || c.RefundPending || c.ReleasePending ||
				c.Outcome != string(Cancelled) {
				t.Errorf("after the cancel: %+v", c)
			}
			// A second cancel waits for the same answer.
			r.cancel("cancel-2", Fulfillment, "")
			return r
		}
		t.Run("FULFILLMENT/cancel wins", func(t *testing.T) {
			r := toFulfillment(t)
			r.step(r.shipmentCancelled(), Compensating, "COMPENSATING CANCELLED", events.ReleaseStockType,
				events.RefundPaymentType)
			r.step(r.paymentRefunded(), Compensating, "COMPENSATING PAYMENT_REFUNDED")
			r.stepLastUndo(r.stockReleased(), Cancelled, "COMPENSATING STOCK_RELEASED", "CANCELLED CANCELLED",
				events.OrderCancelledType)
			r.cancelRefused("cancel-3")
			if got, want := r.sent(), []events.Type{events.OrderCreatedType, events.ChargePaymentType,
				events.ReserveStockType, events.CreateShipmentType, events.CancelShipmentType,
				events.ReleaseStockType, events.RefundPaymentType, events.OrderCancelledType}; !slices.Equal(got, want) {
				t.Errorf("outbox = %v, want %v", got, want)
			}
		})
		t.Run("FULFILLMENT/shipped first", func(t *testing.T) {
			// The shipment was made before the cancel reached fulfillment: it stands, the order
			// completes, its charge and stock stay taken.
			r := toFulfillment(t)
			r.step(r.shipmentCreated(), Completed, "COMPLETED CANCEL_TOO_LATE", events.OrderCompletedType)
			r.ignore(r.shipmentCreated()) // the answer to the CancelShipment: the same shipment
			r.cancelRefused("cancel-3")
			if c := readSagaCols(t, db, r.id); c.CancelPending || c.RefundPending || c.ReleasePending || !c.Charged || !c.Reserved {
				t.Errorf("completed after a late cancel: %+v", c)
			}
		})
		t.Run("FULFILLMENT/could not ship", func(t *testing.T) {
			r := toFulfillment(t)
			r.step(r.shipmentFailed(), Compensating, "COMPENSATING CANCELLED", events.ReleaseStockType,
				events.RefundPaymentType)
			r.ignore(r.shipmentFailed()) // the answer to the CancelShipment
			r.step(r.stockReleased(), Compensating, "COMPENSATING STOCK_RELEASED")
			r.stepLastUndo(r.paymentRefunded(), Cancelled, "COMPENSATING PAYMENT_REFUNDED", "CANCELLED CANCELLED",
				events.OrderCancelledType)
		})
		t.Run("COMPENSATING", func(t *testing.T) {
			// A cancel while a failure is being compensated: nothing more to undo, the order ends
			// CANCELLED rather than FAILED.
			r := startSaga(t, svc, db)
			r.step(r.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)
			r.step(r.paymentCharged(), Inventory, "INVENTORY", events.ReserveStockType)
			r.step(r.stockRejected(), Compensating, "COMPENSATING OUT_OF_STOCK", events.RefundPaymentType)
			r.cancel("cancel-1", Compensating, "COMPENSATING CANCELLED")
			if c := readSagaCols(t, db, r.id); c.Outcome != string(Cancelled) || c.OutcomeReason != ReasonCancelled {
				t.Errorf("after the cancel: %+v", c)
			}
			// Another cancel (a new key, not a replay) while already ending CANCELLED: accepted, no
			// history line, nothing sent.
			r.cancel("cancel-2", Compensating, "")
			if c := readSagaCols(t, db, r.id); c.Outcome != string(Cancelled) || c.OutcomeReason != ReasonCancelled ||
				!c.RefundPending {
				t.Errorf("after the second cancel: %+v", c)
			}
			r.stepLastUndo(r.paymentRefunded(), Cancelled, "COMPENSATING PAYMENT_REFUNDED", "CANCELLED CANCELLED",
				events.OrderCancelledType)
		})
		t.Run("unknown order", func(t *testing.T) {
			if ans, err := svc.Cancel(context.Background(), uuid.NewString(), "cancel-1"); !errors.Is(err, ErrNotFound) {
				t.Errorf("cancel of an unknown order = %+v, %v; want ErrNotFound", ans, err)
			}
		})
	})
}

func TestSagaCancelIdempotent(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		ctx := context.Background()
		r := startSaga(t, svc, db)
		r.step(r.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)
		first := r.cancel("k-cancel", Compensating, "COMPENSATING CANCELLED", events.RefundPaymentType)

		replay := func() {
			t.Helper()
			before := readSagaCols(t, db, r.id)
			again, err := svc.Cancel(ctx, r.id, "k-cancel")
			if err != nil {
				t.Fatalf("same key again: %v", err)
			}
			if !again.Replayed || again.Body != first.Body {
				t.Errorf("same key again = %+v, want a replay of %+v", again, first)
			}
			if after := readSagaCols(t, db, r.id); after != before {
				t.Errorf("a replay changed the order:\nbefore %+v\nafter  %+v", before, after)
			}
			r.checkHistory()
			r.checkSent(nil)
		}
		replay()
		replay()

		// The same key stays a replay of the first answer after the order has ended.
		r.stepLastUndo(r.paymentRefunded(), Cancelled, "COMPENSATING PAYMENT_REFUNDED", "CANCELLED CANCELLED",
			events.OrderCancelledType)
		replay()
		r.cancelRefused("k-other")

		// Keys are per order: the same key cancels another order.
		other := startSaga(t, svc, db)
		other.cancel("k-cancel", Cancelled, "CANCELLED CANCELLED", events.OrderCancelledType)

		if n := countRows(t, db, "idempotency_keys"); n != 4 { // two creates, two cancels
			t.Errorf("idempotency_keys has %d rows, want 4", n)
		}
	})
}

// TestSagaCancelConcurrent: a client retrying its cancel while the first is in flight gets the
// first's answer, as with create; and a cancel racing a reply succeeds whichever goes first.
func TestSagaCancelConcurrent(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		ctx := context.Background()
		// Several orders, so that the later rounds run on a warm connection pool and really overlap.
		for range 5 {
			r := startSaga(t, svc, db)
			r.step(r.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)
			const n = 8
			answers := make([]CancelAnswer, n)
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					answers[i], errs[i] = svc.Cancel(ctx, r.id, "k-race")
				})
			}
			close(start)
			wg.Wait()
			fresh := 0
			for i := range n {
				if errs[i] != nil {
					t.Errorf("call %d: %v", i, errs[i])
					continue
				}
				if !answers[i].Replayed {
					fresh++
				}
				if answers[i].Body.Status != "COMPENSATING" {
					t.Errorf("call %d: %+v", i, answers[i])
				}
			}
			if fresh != 1 {
				t.Errorf("%d calls were not replays, want exactly 1", fresh)
			}
			r.history = append(r.history, "COMPENSATING CANCELLED")
			r.checkHistory()
			r.checkSent([]events.Type{events.RefundPaymentType})
		}

		for range 5 {
			r := startSaga(t, svc, db)
			r.step(r.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)
			start := make(chan struct{})
			var cancelErr, feedErr error
			var wg sync.WaitGroup
			wg.Go(func() {
				<-start
				_, cancelErr = svc.Cancel(ctx, r.id, "k-cancel")
			})
			wg.Go(func() {
				<-start
				// Each locks the order, so the second waits for the first and applies to what it left.
				feedErr = feed(t, svc, db, "payment", r.id, r.paymentCharged())
			})
			close(start)
			wg.Wait()
			if cancelErr != nil || feedErr != nil {
				t.Errorf("cancel racing PaymentCharged: cancel %v, reply %v", cancelErr, feedErr)
			}
			c := r.check(Compensating)
			if !c.Charged || !c.RefundPending || c.Outcome != string(Cancelled) {
				t.Errorf("after cancel and charge: %+v", c)
			}
		}
	})
}
