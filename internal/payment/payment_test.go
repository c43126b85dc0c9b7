package payment_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/payment"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

func TestChargeWithinLimit(t *testing.T) {
	each(t, payment.Config{}, func(t *testing.T, h *harness) {
		order, customer := uuid.NewString(), uuid.NewString()
		wantCharged(t, h.do(order, chargeCmd(order, customer, "1022.17")), order, "1022.17")
		if n := h.count(order); n != 1 {
			t.Errorf("%d payments, want 1", n)
		}
		if got := h.used(customer, "USD"); got != "1022.17" {
			t.Errorf("used %s, want 1022.17", got)
		}
		// The default limit is 10000: exactly what is left fits, a cent more does not.
		other := uuid.NewString()
		wantCharged(t, h.do(other, chargeCmd(other, customer, "8977.83")), other, "8977.83")
		third := uuid.NewString()
		wantDeclined(t, h.do(third, chargeCmd(third, customer, "0.01")), third, payment.ReasonCreditLimitExceeded)
	})
}

func TestDeclineOverLimit(t *testing.T) {
	each(t, limit("1000"), func(t *testing.T, h *harness) {
		order, customer := uuid.NewString(), uuid.NewString()
		wantDeclined(t, h.do(order, chargeCmd(order, customer, "1000.01")), order, payment.ReasonCreditLimitExceeded)
		if n := h.count(order); n != 0 {
			t.Errorf("%d payments after a decline, want none", n)
		}
		if got := h.used(customer, "USD"); got != "0" && got != "none" {
			t.Errorf("used %s after a decline, want 0", got)
		}
		// An amount no account could ever hold is declined too, not dead-lettered.
		huge := uuid.NewString()
		wantDeclined(t, h.do(huge, chargeCmd(huge, customer, "1e30")), huge, payment.ReasonCreditLimitExceeded)
		// The limit is untouched: all of it is still there.
		next := uuid.NewString()
		wantCharged(t, h.do(next, chargeCmd(next, customer, "1000")), next, "1000")
	})
}

func TestChargesUseTheLimitUp(t *testing.T) {
	each(t, limit("1000"), func(t *testing.T, h *harness) {
		customer := uuid.NewString()
		a, b, c := uuid.NewString(), uuid.NewString(), uuid.NewString()
		wantCharged(t, h.do(a, chargeCmd(a, customer, "600")), a, "600")
		wantCharged(t, h.do(b, chargeCmd(b, customer, "399.9999")), b, "399.9999")
		wantDeclined(t, h.do(c, chargeCmd(c, customer, "0.0002")), c, payment.ReasonCreditLimitExceeded)
		if got := h.used(customer, "USD"); got != "999.9999" {
			t.Errorf("used %s, want 999.9999", got)
		}
		// Limits are per customer and per currency.
		d := uuid.NewString()
		wantCharged(t, h.do(d, chargeCmd(d, uuid.NewString(), "1000")), d, "1000")
		e := uuid.NewString()
		eur := chargeCmd(e, customer, "1000")
		eur.Currency = "EUR"
		if c, ok := h.do(e, eur).(*events.PaymentCharged); !ok || c.Currency != "EUR" {
			t.Errorf("EUR charge of a customer whose USD limit is used: %+v", c)
		}
	})
}

func TestRepeatedChargeAnswersTheSame(t *testing.T) {
	each(t, limit("1000"), func(t *testing.T, h *harness) {
		customer := uuid.NewString()
		a := uuid.NewString()
		first := wantCharged(t, h.do(a, chargeCmd(a, customer, "800")), a, "800")
		again := wantCharged(t, h.do(a, chargeCmd(a, customer, "800")), a, "800")
		if again.PaymentID != first.PaymentID {
			t.Errorf("repeat answered payment %s, first was %s", again.PaymentID, first.PaymentID)
		}
		if n := h.count(a); n != 1 {
			t.Errorf("%d payments, want 1", n)
		}
		if got := h.used(customer, "USD"); got != "800" {
			t.Errorf("used %s, want 800: charged more than once", got)
		}
		// A declined charge stays declined, even once the credit would fit.
		b := uuid.NewString()
		wantDeclined(t, h.do(b, chargeCmd(b, customer, "500")), b, payment.ReasonCreditLimitExceeded)
		wantRefunded(t, h.do(a, refundCmd(a, customer, "800")), a)
		wantDeclined(t, h.do(b, chargeCmd(b, customer, "500")), b, payment.ReasonCreditLimitExceeded)
		if got := h.used(customer, "USD"); got != "0" {
			t.Errorf("used %s, want 0", got)
		}
	})
}

func TestInvalidCommandsArePermanent(t *testing.T) {
	each(t, payment.Config{}, func(t *testing.T, h *harness) {
		for name, cmd := range map[string]*events.ChargePayment{
			"negative":       chargeCmd(uuid.NewString(), uuid.NewString(), "-1"),
			"sub-e4":         chargeCmd(uuid.NewString(), uuid.NewString(), "0.00001"),
			"no customer":    chargeCmd(uuid.NewString(), "", "1"),
			"no currency":    {OrderID: uuid.NewString(), CustomerID: "c", Amount: decimal.NewFromInt(1)},
			"blank customer": chargeCmd(uuid.NewString(), "  ", "1"),
		} {
			if err := h.send(cmd.OrderID, cmd); !messaging.IsPermanent(err) {
				t.Errorf("%s: %v, want a permanent error", name, err)
			}
		}
		if err := h.send("o", &events.OrderCreated{OrderID: "o"}); !messaging.IsPermanent(err) {
			t.Errorf("an order event: %v, want a permanent error", err)
		}
		if n := len(h.replies()); n != 0 {
			t.Errorf("%d replies to invalid commands", n)
		}
	})
}

func TestConfig(t *testing.T) {
	for _, bad := range []string{"-1", "0.00001"} {
		if err := limit(bad).Validate(); err == nil {
			t.Errorf("credit limit %s accepted", bad)
		}
	}
	for _, good := range []string{"0", "1000", "0.0001", "10000"} {
		if err := limit(good).Validate(); err != nil {
			t.Errorf("credit limit %s: %v", good, err)
		}
	}
	if !payment.DefaultCreditLimit.Equal(decimal.NewFromInt(10000)) {
		t.Errorf("default limit %s", payment.DefaultCreditLimit)
	}
}

// declineAll is a provider that refuses everything, to show the service defers to its provider.
type declineAll struct{ refunds int }

func (declineAll) Charge(_ context.Context, _ *sqlstore.Tx, _ payment.ChargeRequest) (payment.Result, error) {
	return payment.Result{DeclineReason: "CARD_EXPIRED"}, nil
}

func (d *declineAll) Refund(context.Context, *sqlstore.Tx, payment.RefundRequest) error {
	d.refunds++
	return nil
}

func TestCustomProvider(t *testing.T) {
	p := &declineAll{}
	each(t, payment.Config{Provider: p}, func(t *testing.T, h *harness) {
		order := uuid.NewString()
		wantDeclined(t, h.do(order, chargeCmd(order, "c", "1")), order, "CARD_EXPIRED")
		wantRefunded(t, h.do(order, refundCmd(order, "c", "1")), order)
		if p.refunds != 0 {
			t.Errorf("provider asked to refund a declined charge %d times", p.refunds)
		}
	})
}
