package order

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// TestFirstSteps: the process that creates an order takes its first saga step, and a process
// starting up takes it for the orders one that died left PENDING; each order is charged once.
func TestFirstSteps(t *testing.T) {
	eachStore(t, func(t *testing.T, died *Service, db *sqlstore.DB) {
		// Created by a process that died before its first-step worker ran.
		left := startSaga(t, died, db)

		// The next process: it starts the left order's saga, then those of the orders it creates.
		svc := New(db, messaging.NewOutbox(), slog.New(slog.DiscardHandler))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); svc.RunFirstSteps(ctx) }()
		t.Cleanup(func() { cancel(); <-done })

		runs := []*sagaRun{left}
		for range 5 {
			// The worker may take the step before the create returns, so only the answer is PENDING.
			placed := mustCreate(t, svc, "create-"+uuid.NewString(), quickStart(uuid.New()))
			if placed.Body.Status != Pending {
				t.Errorf("create answered %s, want PENDING", placed.Body.Status)
			}
			runs = append(runs, &sagaRun{t: t, svc: svc, db: db, id: placed.Body.OrderID.String(),
				history: []string{"PENDING"}})
		}
		for _, r := range runs {
			deadline := time.Now().Add(10 * time.Second)
			for readSagaCols(t, db, r.id).Status == string(Pending) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			c := r.check(Payment)
			if c.Attempts != 1 || c.Version != 1 {
				t.Errorf("order %s after its first step: %+v, want attempt 1 at version 1", r.id, c)
			}
			r.history = append(r.history, "PAYMENT")
			r.checkHistory()
			var charges int
			for _, row := range r.outbox() {
				if row.EventType == string(events.ChargePaymentType) {
					charges++
				}
			}
			if charges != 1 {
				t.Errorf("order %s has %d ChargePayment rows, want 1", r.id, charges)
			}
		}
	})
}
