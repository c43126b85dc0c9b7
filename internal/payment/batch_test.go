package payment_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/payment"
)

// TestBatchDecidesInOrder: in a batch, each command sees what the commands before it did to
// the payments and the accounts (charges, a repeat, a refund, accounts opened), as if each had
// its own transaction.
func TestBatchDecidesInOrder(t *testing.T) {
	each(t, limit("100"), func(t *testing.T, h *harness) {
		alice, bob, carol := uuid.NewString(), uuid.NewString(), uuid.NewString()
		o := make([]string, 7)
		for i := range o {
			o[i] = uuid.NewString()
		}
		wantCharged(t, h.do(o[0], chargeCmd(o[0], alice, "30")), o[0], "30")
		got := h.batch(
			chargeCmd(o[1], alice, "50"), // 80 of 100 used
			chargeCmd(o[2], alice, "40"), // would be 120
			chargeCmd(o[1], alice, "50"), // a repeat
			refundCmd(o[0], alice, "30"), // 50 used
			chargeCmd(o[3], alice, "40"), // 90
			chargeCmd(o[4], bob, "20"),   // opens bob's account
			chargeCmd(o[5], bob, "90"),   // would be 110
			refundCmd(o[6], carol, "10"), // never charged
		)
		if len(got) != 8 {
			t.Fatalf("%d replies to 8 commands", len(got))
		}
		first := wantCharged(t, got[0], o[1], "50")
		wantDeclined(t, got[1], o[2], payment.ReasonCreditLimitExceeded)
		if again := wantCharged(t, got[2], o[1], "50"); again.PaymentID != first.PaymentID {
			t.Errorf("repeat charged %s, first %s", again.PaymentID, first.PaymentID)
		}
		if r := wantRefunded(t, got[3], o[0]); r.RefundID == "" {
			t.Error("refund of a charge names no refund")
		}
		wantCharged(t, got[4], o[3], "40")
		wantCharged(t, got[5], o[4], "20")
		wantDeclined(t, got[6], o[5], payment.ReasonCreditLimitExceeded)
		if r := wantRefunded(t, got[7], o[6]); r.RefundID != "" {
			t.Errorf("refund without a charge names refund %s", r.RefundID)
		}
		for who, want := range map[string]string{alice: "90", bob: "20", carol: "none"} {
			if u := h.used(who, "USD"); u != want {
				t.Errorf("%s has %s used, want %s", who, u, want)
			}
		}
		// A charge for the order refunded without one stays declined, in a batch or alone.
		wantDeclined(t, h.batch(chargeCmd(o[6], carol, "10"))[0], o[6], payment.ReasonAlreadyRefunded)
		if n := h.count(o[0]) + h.count(o[1]) + h.count(o[3]) + h.count(o[4]); n != 5 {
			t.Errorf("%d charges and refunds, want 5", n)
		}
	})
}
