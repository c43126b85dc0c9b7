package order

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/errs"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

func overloaded(err error) bool {
	var e *errs.Error
	return errors.As(err, &e) && e.Code == errs.EUNAVAILABLE
}

// TestAdmissionBoundsOrdersInFlight: past MaxInFlight orders not yet ended, creates are refused
// as unavailable (503) until orders end; the count comes from the database.
func TestAdmissionBoundsOrdersInFlight(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		svc.SetAdmission(0, 2)
		mustCreate(t, svc, "k-1", quickStart(uuid.New()))
		mustCreate(t, svc, "k-2", quickStart(uuid.New()))
		_, err := svc.Create(context.Background(), "k-3", requestFromAPI(quickStart(uuid.New())))
		if !overloaded(err) {
			t.Fatalf("third create with two in flight: %v, want refused as unavailable", err)
		}
		// The count follows the database: once the orders have ended, creates are taken again.
		if _, err := db.DB.ExecContext(context.Background(), `UPDATE orders SET status = 'COMPLETED', step_deadline = NULL`); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { svc.RunAdmission(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, err := svc.Create(context.Background(), "k-4", requestFromAPI(quickStart(uuid.New())))
			if err == nil {
				break
			}
			if !overloaded(err) || time.Now().After(deadline) {
				t.Fatalf("create once the orders ended: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// TestAdmissionBoundsConcurrentCreates: a create that finds every slot taken waits for one, and
// is refused when none comes free in time.
func TestAdmissionBoundsConcurrentCreates(t *testing.T) {
	ctx := context.Background()
	a := newAdmission(2, 100)
	r1, err1 := a.admit(ctx)
	r2, err2 := a.admit(ctx)
	if err1 != nil || err2 != nil {
		t.Fatalf("two creates with two slots: %v, %v", err1, err2)
	}
	start := time.Now()
	if _, err := a.admit(ctx); !overloaded(err) || time.Since(start) < slotWait {
		t.Fatalf("a third create with two slots taken: %v after %v, want refused after %v", err, time.Since(start), slotWait)
	}
	go func() { time.Sleep(50 * time.Millisecond); r1() }()
	r3, err := a.admit(ctx)
	if err != nil {
		t.Fatalf("a create waiting while a slot is given back: %v", err)
	}
	r2()
	r3()
}
