package order

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/sqlstore"
	"github.com/ordersys/ordersys/internal/storetest"
)

// TestSagaStepLocksTheOrder checks that a step holds its order from its read until it commits,
// so a second event of the same order waits and is then applied to the state the first left,
// never to the state both read: PaymentDeclined arriving while PaymentCharged is being applied
// must not fail an order that has moved on to INVENTORY.
func TestSagaStepLocksTheOrder(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		ctx := context.Background()
		r := startSaga(t, svc, db)
		r.step(r.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)
		stepped, release := make(chan struct{}), make(chan struct{})
		first := make(chan error, 1)
		go func() {
			first <- db.InTx(ctx, func(tx *sqlstore.Tx) error {
				sg, err := readSagas(ctx, tx, []string{r.id}, []string{r.id})
				if err == nil {
					_, err = svc.step(ctx, tx, sg[r.id], events.PaymentChargedType, r.paymentCharged(), "e-charged")
				}
				close(stepped)
				<-release
				return err
			})
		}()
		<-stepped
		second := make(chan error, 1)
		go func() { second <- feed(t, svc, db, "payment", r.id, r.paymentDeclined()) }()
		select {
		case err := <-second:
			t.Fatalf("the second event was applied while the first held the order: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
		close(release)
		if err := <-first; err != nil {
			t.Fatalf("first step: %v", err)
		}
		if err := <-second; err != nil {
			t.Fatalf("second step: %v", err)
		}
		r.history = append(r.history, "INVENTORY")
		r.check(Inventory)
		r.checkHistory()
	})
}

func TestAdvanceUnknownOrderIsPermanent(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		mustCreate(t, svc, "other", quickStart(uuid.New())) // an order exists, just not this one

		unknown := uuid.NewString()
		for _, p := range []events.Payload{
			events.OrderCreated{OrderID: unknown, CustomerID: uuid.NewString(), Total: dec("1"), Currency: "USD"},
			events.PaymentCharged{OrderID: unknown, PaymentID: "p-1", Amount: dec("1"), Currency: "USD"},
			events.PaymentDeclined{OrderID: unknown, Reason: "x"},
			events.PaymentRefunded{OrderID: unknown},
			events.StockReserved{OrderID: unknown, ReservationID: "r-1"},
			events.StockRejected{OrderID: unknown, SKU: "SKU-1", Reason: "UNKNOWN_SKU"},
			events.StockReleased{OrderID: unknown},
			events.ShipmentCreated{OrderID: unknown, ShipmentID: "s-1"},
			events.ShipmentFailed{OrderID: unknown, Reason: "x"},
		} {
			err := feed(t, svc, db, sourceOf(p.EventType()), unknown, p)
			if err == nil {
				t.Fatalf("%s for unknown order: no error", p.EventType())
			}
			if !messaging.IsPermanent(err) {
				t.Errorf("%s for unknown order: error %v is not permanent", p.EventType(), err)
			}
		}
		if n := countRows(t, db, "outbox"); n != 1 {
			t.Errorf("outbox has %d rows, want only the other order's OrderCreated", n)
		}
		if n := countRows(t, db, "orders"); n != 1 {
			t.Errorf("orders has %d rows, want 1", n)
		}
	})
}

// TestSagaBatch applies several events in one transaction the way the consumer applies a batch:
// its loader reads every order of the batch first, and each step decides against that row as the
// steps before it left it. Two events of one order in a batch must not trip over the version the
// first one saved, and the items read in advance must be the order's.
func TestSagaBatch(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		a, b := startSaga(t, svc, db), startSaga(t, svc, db)
		var batch []messaging.Event
		for _, e := range []struct {
			r *sagaRun
			p events.Payload
		}{{a, a.orderCreated()}, {b, b.orderCreated()}, {a, a.paymentCharged()}} {
			batch = append(batch, storetest.Event(t, sourceOf(e.p.EventType()), e.r.id, e.p))
		}
		sub := svc.Subscriptions()[0]
		if err := storetest.Apply(t, db, sub, batch...); err != nil {
			t.Fatal(err)
		}
		a.history = append(a.history, "PAYMENT", "INVENTORY")
		a.check(Inventory)
		b.history = append(b.history, "PAYMENT")
		b.check(Payment)

		// b's next step reads its row, items included, with the batch.
		ev := storetest.Event(t, sourceOf(events.PaymentChargedType), b.id, b.paymentCharged())
		if err := storetest.Apply(t, db, sub, ev); err != nil {
			t.Fatal(err)
		}
		b.history = append(b.history, "INVENTORY")
		b.check(Inventory)
		var reserve *outboxRow
		for _, row := range b.outbox() {
			if row.EventType == string(events.ReserveStockType) {
				reserve = &row
			}
		}
		if reserve == nil {
			t.Fatal("no ReserveStock sent for b")
		}
		var cmd events.ReserveStock
		if err := json.Unmarshal([]byte(reserve.Payload), &cmd); err != nil {
			t.Fatal(err)
		}
		if len(cmd.Lines) != 2 || cmd.Lines[0].SKU != "SKU-APPLE" || cmd.Lines[1].SKU != "SKU-COFFEE" {
			t.Errorf("ReserveStock lines %+v, want the order's SKU-APPLE and SKU-COFFEE", cmd.Lines)
		}
	})
}
