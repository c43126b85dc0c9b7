package order

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

func TestSagaTimeouts(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		svc.StepTimeout, svc.StepAttempts = 5*time.Millisecond, 2
		r := startSaga(t, svc, db)
		// No process took the first step by the PENDING order's deadline (its own died): the
		// deadline takes it.
		r.expire(Payment, "PAYMENT", events.ChargePaymentType)
		if c := readSagaCols(t, db, r.id); c.Attempts != 1 || !c.HasDeadline {
			t.Fatalf("after the first deadline: %+v, want attempt 1 with a deadline", c)
		}
		// Not yet due: nothing happens.
		if err := svc.expireSteps(context.Background(), time.Now().UTC().Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		r.checkSent(nil)
		r.check(Payment)

		// First deadline: the same command again, under a new id, so that payment answers it even
		// if it applied the first (the reply may be what was lost).
		r.expire(Payment, "PAYMENT STEP_RETRIED", events.ChargePaymentType)
		rows := r.outbox()
		if charges := slices.DeleteFunc(slices.Clone(rows), func(row outboxRow) bool {
			return row.EventType != string(events.ChargePaymentType)
		}); len(charges) != 2 || charges[0].EventID == charges[1].EventID || charges[0].Payload != charges[1].Payload {
			t.Errorf("ChargePayment rows = %+v, want the same command twice under two ids", charges)
		}
		if c := readSagaCols(t, db, r.id); c.Attempts != 2 || !c.HasDeadline {
			t.Errorf("after the retry: %+v, want attempt 2 with a deadline", c)
		}

		// Second deadline: out of tries; compensate what may have been done.
		r.expire(Compensating, "COMPENSATING TIMEOUT", events.RefundPaymentType)
		if c := readSagaCols(t, db, r.id); c.Attempts != 1 || !c.RefundPending || c.ReleasePending ||
			c.Outcome != string(Failed) || c.OutcomeReason != ReasonTimeout || c.FailureReason != "" {
			t.Errorf("compensating saga = %+v, want a refund pending towards FAILED TIMEOUT", c)
		}
		// The charge did happen after all.
		r.step(r.paymentCharged(), Compensating, "")
		r.stepLastUndo(r.paymentRefunded(), Failed, "COMPENSATING PAYMENT_REFUNDED", "FAILED TIMEOUT",
			events.OrderFailedType)
		if c := readSagaCols(t, db, r.id); c.FailureReason != ReasonTimeout || !c.Charged {
			t.Errorf("failed order's saga = %+v", c)
		}
		r.expire("", "") // nothing awaits a reply any more
	})
}

// TestSagaFulfillmentTimeout: out of tries at FULFILLMENT the order may still ship (its
// CreateShipment waits in Kafka for a fulfillment service that is down), so nothing is undone
// before fulfillment has answered a CancelShipment, asked again at each deadline.
func TestSagaFulfillmentTimeout(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		toLastTry := func(t *testing.T) *sagaRun {
			svc.StepTimeout, svc.StepAttempts = 5*time.Millisecond, 2
			r := startSaga(t, svc, db)
			r.step(r.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)
			r.step(r.paymentCharged(), Inventory, "INVENTORY", events.ReserveStockType)
			r.step(r.stockReserved(), Fulfillment, "FULFILLMENT", events.CreateShipmentType)
			r.expire(Fulfillment, "FULFILLMENT STEP_RETRIED", events.CreateShipmentType)
			r.expire(Fulfillment, "FULFILLMENT CANCELLING_SHIPMENT", events.CancelShipmentType)
			if c := readSagaCols(t, db, r.id); !c.CancelPending || c.RefundPending || c.ReleasePending ||
				c.Outcome != string(Failed) || c.OutcomeReason != ReasonTimeout {
				t.Fatalf("out of tries: %+v, want a cancel pending towards FAILED TIMEOUT", c)
			}
			// No answer yet: asked again, past the step's tries, for as long as it takes.
			r.expire(Fulfillment, "FULFILLMENT STEP_RETRIED", events.CancelShipmentType)
			r.expire(Fulfillment, "FULFILLMENT STEP_RETRIED", events.CancelShipmentType)
			return r
		}
		t.Run("not shipped", func(t *testing.T) {
			r := toLastTry(t)
			r.step(r.shipmentCancelled(), Compensating, "COMPENSATING TIMEOUT", events.ReleaseStockType,
				events.RefundPaymentType)
			r.step(r.stockReleased(), Compensating, "COMPENSATING STOCK_RELEASED")
			r.stepLastUndo(r.paymentRefunded(), Failed, "COMPENSATING PAYMENT_REFUNDED", "FAILED TIMEOUT",
				events.OrderFailedType)
		})
		t.Run("shipped late", func(t *testing.T) {
			r := toLastTry(t)
			r.step(r.shipmentCreated(), Completed, "COMPLETED CANCEL_TOO_LATE", events.OrderCompletedType)
			if c := readSagaCols(t, db, r.id); c.RefundPending || c.ReleasePending || c.CancelPending {
				t.Errorf("completed: %+v", c)
			}
		})
	})
}

func TestSagaTimeoutWhileCompensating(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		svc.StepTimeout, svc.StepAttempts = 5*time.Millisecond, 2
		r := startSaga(t, svc, db)
		r.step(r.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)
		r.step(r.paymentCharged(), Inventory, "INVENTORY", events.ReserveStockType)
		r.expire(Inventory, "INVENTORY STEP_RETRIED", events.ReserveStockType)
		r.expire(Compensating, "COMPENSATING TIMEOUT", events.ReleaseStockType, events.RefundPaymentType)
		r.step(r.paymentRefunded(), Compensating, "COMPENSATING PAYMENT_REFUNDED")
		// The release is not confirmed in time: sent again, then the order ends without it (so
		// there is no undo line before the end).
		r.expire(Compensating, "COMPENSATING STEP_RETRIED", events.ReleaseStockType)
		r.expire(Failed, "FAILED TIMEOUT", events.OrderFailedType)
		if c := readSagaCols(t, db, r.id); c.FailureReason != ReasonTimeout || c.ReleasePending || c.RefundPending {
			t.Errorf("failed order's saga = %+v", c)
		}
		r.ignore(r.stockReleased()) // the release lands after the end
		r.expire("", "")
		if got, want := r.sent(), []events.Type{events.OrderCreatedType, events.ChargePaymentType,
			events.ReserveStockType, events.ReserveStockType, events.ReleaseStockType, events.RefundPaymentType,
			events.ReleaseStockType, events.OrderFailedType}; !slices.Equal(got, want) {
			t.Errorf("outbox = %v, want %v", got, want)
		}
	})
}

// TestRunDeadlines: the deadline loop finds an overdue step on its own and stops with its context.
func TestRunDeadlines(t *testing.T) {
	svc, db := newTestService(t)
	svc.StepTimeout, svc.StepAttempts = 20*time.Millisecond, 1
	r := startSaga(t, svc, db)
	r.step(r.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		svc.RunDeadlines(ctx)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for Status(readSagaCols(t, db, r.id).Status) != Compensating {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("order still %s after 10s of RunDeadlines", readSagaCols(t, db, r.id).Status)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunDeadlines did not return after its context ended")
	}
	r.history = append(r.history, "COMPENSATING TIMEOUT")
	r.checkHistory()
	r.checkSent([]events.Type{events.RefundPaymentType})
}

// TestExpireStepsAnyZone: the deadline check takes an instant, whatever zone it is written in.
func TestExpireStepsAnyZone(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		svc.StepTimeout, svc.StepAttempts = time.Minute, 3
		r := startSaga(t, svc, db)
		r.step(r.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)
		// An hour ago, written in a zone east of UTC: the deadline (a minute ahead) has not passed.
		if err := svc.expireSteps(context.Background(), time.Now().Add(-time.Hour).In(time.FixedZone("UTC+7", 7*3600))); err != nil {
			t.Fatal(err)
		}
		r.check(Payment)
		r.checkHistory()
		r.checkSent(nil)
		// An hour ahead, written in a zone west of UTC: it has.
		if err := svc.expireSteps(context.Background(), time.Now().Add(time.Hour).In(time.FixedZone("UTC-7", -7*3600))); err != nil {
			t.Fatal(err)
		}
		r.history = append(r.history, "PAYMENT STEP_RETRIED")
		r.check(Payment)
		r.checkHistory()
		r.checkSent([]events.Type{events.ChargePaymentType})
	})
}

// TestExpireStepRechecksDeadline: the deadline check reads the overdue orders before it locks each
// one, and meanwhile another replica's check or a reply may move the step on. A step found overdue
// is retried once, whatever the number of replicas that found it, and a step that has just begun
// is not retried at all.
func TestExpireStepRechecksDeadline(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		ctx := context.Background()
		svc.StepTimeout, svc.StepAttempts = time.Millisecond, 3
		r := startSaga(t, svc, db)
		r.step(r.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)
		time.Sleep(5 * time.Millisecond)
		at := now() // two replicas find the order overdue

		before := readSagaCols(t, db, r.id)
		if _, err := svc.expireStep(ctx, r.id, at); err != nil {
			t.Fatal(err)
		}
		r.after(before, Payment, []string{"PAYMENT STEP_RETRIED"}, []events.Type{events.ChargePaymentType})
		before = readSagaCols(t, db, r.id)
		if changed, err := svc.expireStep(ctx, r.id, at); err != nil || changed {
			t.Fatalf("the second replica's expiry: changed %v, %v; want nothing to do", changed, err)
		}
		if after := readSagaCols(t, db, r.id); after != before {
			t.Errorf("the second replica's expiry changed the order:\nbefore %+v\nafter  %+v", before, after)
		}
		r.checkSent(nil)

		time.Sleep(5 * time.Millisecond)
		at = now() // found overdue again; then the reply comes before the order is locked
		svc.StepTimeout = time.Minute
		r.step(r.paymentCharged(), Inventory, "INVENTORY", events.ReserveStockType)
		before = readSagaCols(t, db, r.id)
		if changed, err := svc.expireStep(ctx, r.id, at); err != nil || changed {
			t.Fatalf("expiry after the reply: changed %v, %v; want nothing to do", changed, err)
		}
		if after := readSagaCols(t, db, r.id); after != before || after.Attempts != 1 {
			t.Errorf("expiry after the reply changed the order:\nbefore %+v\nafter  %+v", before, after)
		}
		r.checkHistory()
		r.checkSent(nil)
	})
}

// logRecorder is a slog.Handler that keeps every record it is handed.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}

func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }

func (h *logRecorder) WithGroup(string) slog.Handler { return h }

// logged returns the order ids of the records with message msg, at level.
func (h *logRecorder) logged(level slog.Level, msg string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ids []string
	for _, r := range h.records {
		if r.Level != level || r.Message != msg {
			continue
		}
		id := ""
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "order_id" {
				id = a.Value.String()
			}
			return true
		})
		ids = append(ids, id)
	}
	return ids
}

// TestExpireStepsLogsOnlyChanges: the deadline check logs a timeout it applied, and nothing for an
// order it found overdue that had moved on by the time it stepped it (here a COMPLETED order whose
// deadline is still set, as when the reply lands between the check's query and its step).
func TestExpireStepsLogsOnlyChanges(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		logs := &logRecorder{}
		svc.log = slog.New(logs)
		svc.StepTimeout, svc.StepAttempts = time.Minute, 3
		ctx := context.Background()

		done := startSaga(t, svc, db)
		done.step(done.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)
		done.step(done.paymentCharged(), Inventory, "INVENTORY", events.ReserveStockType)
		done.step(done.stockReserved(), Fulfillment, "FULFILLMENT", events.CreateShipmentType)
		done.step(done.shipmentCreated(), Completed, "COMPLETED", events.OrderCompletedType)
		if _, err := db.DB.ExecContext(ctx, `UPDATE orders SET step_deadline = $1 WHERE id = $2`,
			time.Now().UTC().Add(-time.Minute), done.id); err != nil {
			t.Fatal(err)
		}
		overdue := startSaga(t, svc, db)
		overdue.step(overdue.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)

		stale := readSagaCols(t, db, done.id)
		if err := svc.expireSteps(ctx, time.Now().UTC().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if c := readSagaCols(t, db, done.id); c != stale {
			t.Errorf("expireSteps changed the completed order:\nbefore %+v\nafter  %+v", stale, c)
		}
		done.checkHistory()
		done.checkSent(nil)
		overdue.history = append(overdue.history, "PAYMENT STEP_RETRIED")
		overdue.check(Payment)
		overdue.checkHistory()
		overdue.checkSent([]events.Type{events.ChargePaymentType})
		if got := logs.logged(slog.LevelInfo, "saga step timed out"); !slices.Equal(got, []string{overdue.id}) {
			t.Errorf("logged timeouts for %v, want only %s (the completed order is %s)", got, overdue.id, done.id)
		}
	})
}
