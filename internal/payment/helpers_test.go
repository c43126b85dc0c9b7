package payment_test

import (
	"database/sql"
	"errors"
	"os"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/payment"
	"github.com/ordersys/ordersys/internal/pgtest"
	"github.com/ordersys/ordersys/internal/sqlstore"
	"github.com/ordersys/ordersys/internal/storetest"
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
	storetest.Each(t, payment.Name, payment.Migrations, func(t *testing.T, db *sqlstore.DB) {
		fn(t, &harness{t: t, db: db, svc: payment.New(db, messaging.NewOutbox(), cfg)})
	})
}

// send delivers p, under a fresh event id, to the service's handler in a transaction of its own.
func (h *harness) send(orderID string, p events.Payload) error {
	return storetest.Deliver(h.t, h.db, h.svc.Subscriptions()[0], "test", orderID, p)
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
	return storetest.Replies(h.t, h.db)
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
	ps, err := h.svc.PaymentsFor(h.t.Context(), orderID, "")
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
		batch = append(batch, storetest.Event(h.t, "test", order, p))
	}
	before := len(h.replies())
	if err := storetest.Apply(h.t, h.db, h.svc.Subscriptions()[0], batch...); err != nil {
		h.t.Fatal(err)
	}
	return h.replies()[before:]
}
