package payment_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/payment"
)

func TestRefundGivesTheLimitBack(t *testing.T) {
	each(t, limit("1000"), func(t *testing.T, h *harness) {
		customer := uuid.NewString()
		a, b := uuid.NewString(), uuid.NewString()
		charged := wantCharged(t, h.do(a, chargeCmd(a, customer, "800")), a, "800")
		wantDeclined(t, h.do(b, chargeCmd(b, customer, "1000")), b, payment.ReasonCreditLimitExceeded)
		r := wantRefunded(t, h.do(a, refundCmd(a, customer, "800")), a)
		if r.RefundID == "" || r.RefundID == charged.PaymentID {
			t.Errorf("refund id %q (charge %s)", r.RefundID, charged.PaymentID)
		}
		if got := h.used(customer, "USD"); got != "0" {
			t.Errorf("used %s after the refund, want 0", got)
		}
		c := uuid.NewString()
		wantCharged(t, h.do(c, chargeCmd(c, customer, "1000")), c, "1000")
	})
}

func TestRefundTwiceIsOnce(t *testing.T) {
	each(t, limit("1000"), func(t *testing.T, h *harness) {
		customer := uuid.NewString()
		a, b := uuid.NewString(), uuid.NewString()
		wantCharged(t, h.do(a, chargeCmd(a, customer, "500")), a, "500")
		wantCharged(t, h.do(b, chargeCmd(b, customer, "300")), b, "300")
		first := wantRefunded(t, h.do(a, refundCmd(a, customer, "500")), a)
		// The command's amount is not trusted: what is given back is what was charged, once.
		second := wantRefunded(t, h.do(a, refundCmd(a, customer, "9999")), a)
		if first.RefundID == "" || second.RefundID != first.RefundID {
			t.Errorf("refund ids %q then %q, want the same one twice", first.RefundID, second.RefundID)
		}
		if got := h.used(customer, "USD"); got != "300" {
			t.Errorf("used %s, want 300 (b's charge): a was refunded more than once", got)
		}
		if n := h.count(a); n != 2 {
			t.Errorf("order a has %d payments, want a charge and a refund", n)
		}
		// A charge re-sent after the refund answers with the charge; it takes nothing again.
		wantCharged(t, h.do(a, chargeCmd(a, customer, "500")), a, "500")
		if got := h.used(customer, "USD"); got != "300" {
			t.Errorf("used %s after a re-sent charge, want 300", got)
		}
	})
}

func TestRefundWithoutCharge(t *testing.T) {
	each(t, limit("1000"), func(t *testing.T, h *harness) {
		customer := uuid.NewString()
		// Never charged: nothing to give back, but an answer all the same.
		never := uuid.NewString()
		if r := wantRefunded(t, h.do(never, refundCmd(never, customer, "10")), never); r.RefundID != "" {
			t.Errorf("refund of nothing has id %q", r.RefundID)
		}
		if r := wantRefunded(t, h.do(never, refundCmd(never, customer, "10")), never); r.RefundID != "" {
			t.Errorf("second refund of nothing has id %q", r.RefundID)
		}
		// A charge arriving after its order was compensated takes nothing.
		wantDeclined(t, h.do(never, chargeCmd(never, customer, "10")), never, payment.ReasonAlreadyRefunded)
		// Declined: nothing to give back either, and the limit is not "refunded" into credit.
		declined := uuid.NewString()
		wantDeclined(t, h.do(declined, chargeCmd(declined, customer, "2000")), declined, payment.ReasonCreditLimitExceeded)
		if r := wantRefunded(t, h.do(declined, refundCmd(declined, customer, "2000")), declined); r.RefundID != "" {
			t.Errorf("refund of a declined charge has id %q", r.RefundID)
		}
		if n := h.count(never) + h.count(declined); n != 0 {
			t.Errorf("%d payments, want none", n)
		}
		if got := h.used(customer, "USD"); got != "0" && got != "none" {
			t.Errorf("used %s, want 0", got)
		}
	})
}
