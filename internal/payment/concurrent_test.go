package payment_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/events"
)

func TestConcurrentChargesRespectTheLimit(t *testing.T) {
	each(t, limit("1000"), func(t *testing.T, h *harness) {
		customer := uuid.NewString()
		const n = 20
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				order := uuid.NewString()
				errs[i] = h.sendRetried(order, chargeCmd(order, customer, "100"))
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		var charged, declined int
		for _, r := range h.replies() {
			switch r.(type) {
			case *events.PaymentCharged:
				charged++
			case *events.PaymentDeclined:
				declined++
			}
		}
		if charged != 10 || declined != 10 {
			t.Errorf("%d charged and %d declined, want 10 and 10", charged, declined)
		}
		if got := h.used(customer, "USD"); got != "1000" {
			t.Errorf("used %s, want 1000", got)
		}
	})
}

func TestConcurrentRepeatsChargeOnce(t *testing.T) {
	each(t, limit("1000"), func(t *testing.T, h *harness) {
		customer, order := uuid.NewString(), uuid.NewString()
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() { errs[i] = h.sendRetried(order, chargeCmd(order, customer, "100")) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, r := range h.replies() {
			ids[wantCharged(t, r, order, "100").PaymentID] = true
		}
		if len(ids) != 1 || h.count(order) != 1 || h.used(customer, "USD") != "100" {
			t.Errorf("payment ids %v, %d payments, used %s: want one charge of 100", ids, h.count(order), h.used(customer, "USD"))
		}
	})
}
