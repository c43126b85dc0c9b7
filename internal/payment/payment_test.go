package payment_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/payment"
	"github.com/ordersys/ordersys/internal/pgtest"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// harness is one payment service on a fresh database.
type harness struct {
	t   *testing.T
	db  *sqlstore.DB
	svc *payment.Service
}

// each runs fn on SQLite and on PostgreSQL (skipped when no PostgreSQL can be had).
func each(t *testing.T, cfg payment.Config, fn func(t *testing.T, h *harness)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, newHarness(t, "sqlite:"+filepath.Join(t.TempDir(), "x.db"), cfg))
	})
	t.Run("postgres", func(t *testing.T) { fn(t, newHarness(t, pgtest.DSN(t), cfg)) })
}

func newHarness(t *testing.T, dsn string, cfg payment.Config) *harness {
	t.Helper()
	db, err := sqlstore.OpenService(t.Context(), dsn, payment.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := sqlstore.Migrate(t.Context(), db, messaging.Migrations, payment.Migrations); err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, db: db, svc: payment.New(db, messaging.NewOutbox(), cfg)}
}

// send delivers p, under a fresh event id, to the service's handler in a transaction of its own.
func (h *harness) send(orderID string, p events.Payload) error {
	msg, err := events.New("test", orderID, p)
	if err != nil {
		return err
	}
	decoded, err := msg.Envelope.Decode()
	if err != nil {
		return err
	}
	c := messaging.NewConsumer(h.svc.Subscriptions()[0], h.db, nil, messaging.RetryConfig{}, slog.Default())
	return c.Apply(h.t.Context(), msg.Envelope, decoded)
}

// sendRetried is send retried as a consumer retries: on PostgreSQL, of several transactions that
// open one account or record one order's charge at once, all but one fail on its unique key.
func (h *harness) sendRetried(orderID string, p events.Payload) (err error) {
	for range 5 {
		if err = h.send(orderID, p); !sqlstore.IsUniqueViolation(err) {
			return err
		}
	}
	return err
}

// do delivers p and returns the service's reply to it.
func (h *harness) do(orderID string, p events.Payload) events.Payload {
	h.t.Helper()
	before := len(h.replies())
	if err := h.send(orderID, p); err != nil {
		h.t.Fatalf("%s: %v", p.EventType(), err)
	}
	all := h.replies()
	if len(all) != before+1 {
		h.t.Fatalf("%s: %d replies, want 1", p.EventType(), len(all)-before)
	}
	return all[len(all)-1]
}

// replies decodes every message in the outbox, oldest first.
func (h *harness) replies() []events.Payload {
	h.t.Helper()
	rows, err := h.db.QueryContext(h.t.Context(), `SELECT event_type, payload FROM outbox ORDER BY id`)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var out []events.Payload
	for rows.Next() {
		var typ, payload string
		if err := rows.Scan(&typ, &payload); err != nil {
			h.t.Fatal(err)
		}
		p, err := events.Envelope{Type: events.Type(typ), Data: json.RawMessage(payload)}.Decode()
		if err != nil {
			h.t.Fatal(err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		h.t.Fatal(err)
	}
	return out
}

// used is how much of the customer's credit is in use, or "none" without an account.
func (h *harness) used(customer, currency string) string {
	h.t.Helper()
	var e4 int64
	err := h.db.QueryRowContext(h.t.Context(), `SELECT used_e4 FROM accounts WHERE customer_id = $1 AND currency = $2`,
		customer, currency).Scan(&e4)
	if errors.Is(err, sql.ErrNoRows) {
		return "none"
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return decimal.New(e4, -4).String()
}

// count counts the payments rows that are real charges or refunds.
func (h *harness) count(orderID string) int {
	h.t.Helper()
	ps, err := h.svc.PaymentsFor(h.t.Context(), orderID)
	if err != nil {
		h.t.Fatal(err)
	}
	return len(ps)
}

func chargeCmd(orderID, customer, amount string) *events.ChargePayment {
	return &events.ChargePayment{OrderID: orderID, CustomerID: customer,
		Amount: decimal.RequireFromString(amount), Currency: "USD"}
}

func refundCmd(orderID, customer, amount string) *events.RefundPayment {
	return &events.RefundPayment{OrderID: orderID, CustomerID: customer,
		Amount: decimal.RequireFromString(amount), Currency: "USD"}
}

func limit(amount string) payment.Config {
	return payment.Config{CreditLimit: decimal.RequireFromString(amount)}
}

func wantCharged(t *testing.T, reply events.Payload, orderID, amount string) *events.PaymentCharged {
	t.Helper()
	c, ok := reply.(*events.PaymentCharged)
	if !ok {
		t.Fatalf("reply %T %+v, want PaymentCharged", reply, reply)
	}
	if c.OrderID != orderID || c.PaymentID == "" || c.Amount.String() != amount || c.Currency != "USD" {
		t.Errorf("charged %+v, want order %s amount %s USD", c, orderID, amount)
	}
	return c
}

func wantDeclined(t *testing.T, reply events.Payload, orderID, reason string) {
	t.Helper()
	d, ok := reply.(*events.PaymentDeclined)
	if !ok {
		t.Fatalf("reply %T %+v, want PaymentDeclined", reply, reply)
	}
	if d.OrderID != orderID || d.Reason != reason {
		t.Errorf("declined %+v, want order %s reason %s", d, orderID, reason)
	}
}

func wantRefunded(t *testing.T, reply events.Payload, orderID string) *events.PaymentRefunded {
	t.Helper()
	r, ok := reply.(*events.PaymentRefunded)
	if !ok {
		t.Fatalf("reply %T %+v, want PaymentRefunded", reply, reply)
	}
	if r.OrderID != orderID {
		t.Errorf("refunded %+v, want order %s", r, orderID)
	}
	return r
}

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

// batch applies commands the way a consumer applies a batch, in one transaction whose first
// round trip runs the subscription's Prepare reads, and returns the replies.
func (h *harness) batch(cmds ...events.Payload) []events.Payload {
	h.t.Helper()
	var batch []messaging.Event
	for _, p := range cmds {
		var order string
		switch c := p.(type) {
		case *events.ChargePayment:
			order = c.OrderID
		case *events.RefundPayment:
			order = c.OrderID
		}
		ev, err := messaging.NewEvent("test", order, p)
		if err != nil {
			h.t.Fatal(err)
		}
		batch = append(batch, ev)
	}
	before := len(h.replies())
	sub := h.svc.Subscriptions()[0]
	ctx := h.t.Context()
	if err := messaging.NewConsumer(sub, h.db, nil, messaging.RetryConfig{}, slog.Default()).ApplyBatch(ctx, batch); err != nil {
		h.t.Fatal(err)
	}
	return h.replies()[before:]
}

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

func TestListPayments(t *testing.T) {
	each(t, limit("1000"), func(t *testing.T, h *harness) {
		customer := uuid.New()
		order := uuid.New()
		a := listPayments(t, h, order)
		if len(a) != 0 {
			t.Errorf("before any command: %+v", a)
		}
		charged := wantCharged(t, h.do(order.String(), chargeCmd(order.String(), customer.String(), "123.45")),
			order.String(), "123.45")
		refunded := wantRefunded(t, h.do(order.String(), refundCmd(order.String(), customer.String(), "123.45")),
			order.String())
		items := listPayments(t, h, order)
		if len(items) != 2 {
			t.Fatalf("items %+v, want a charge and a refund", items)
		}
		for i, want := range []struct {
			id   string
			kind api.PaymentKind
		}{{charged.PaymentID, api.CHARGE}, {refunded.RefundID, api.REFUND}} {
			got := items[i]
			if got.PaymentId != want.id || got.Kind != want.kind || got.OrderId != order ||
				got.Amount.String() != "123.45" || got.Currency != "USD" || got.CreatedAt.IsZero() {
				t.Errorf("item %d = %+v, want %s %s", i, got, want.kind, want.id)
			}
		}
		if items[1].CreatedAt.Before(items[0].CreatedAt) {
			t.Errorf("refund listed before its charge: %v then %v", items[0].CreatedAt, items[1].CreatedAt)
		}

		// A declined attempt is not a payment; the list is empty, and empty is [] in JSON.
		declined := uuid.New()
		wantDeclined(t, h.do(declined.String(), chargeCmd(declined.String(), customer.String(), "5000")),
			declined.String(), payment.ReasonCreditLimitExceeded)
		resp, err := payment.NewAPI(h.svc).ListPayments(t.Context(),
			api.ListPaymentsRequestObject{Params: api.ListPaymentsParams{OrderId: declined}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(resp)
		if string(body) != `{"items":[]}` {
			t.Errorf("declined order lists %s, want no items", body)
		}
	})
}

// listPayments lists the order's payments through the API.
func listPayments(t *testing.T, h *harness, order uuid.UUID) []api.Payment {
	t.Helper()
	resp, err := payment.NewAPI(h.svc).ListPayments(t.Context(),
		api.ListPaymentsRequestObject{Params: api.ListPaymentsParams{OrderId: order}})
	if err != nil {
		t.Fatal(err)
	}
	list, ok := resp.(api.ListPayments200JSONResponse)
	if !ok {
		t.Fatalf("response %T", resp)
	}
	return list.Items
}
