package order

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// The saga against a real database: every path an order can take, fed the way the consumer feeds
// it (envelopes built by events.New, decoded, applied by advance in a transaction), checking after
// every event the order's status, saga columns, history and the outbox rows it wrote. Each test
// runs on SQLite and, when one can be had, on PostgreSQL (see eachStore).

// sentTopics is where each message the saga sends goes, written out rather than asked of events.
var sentTopics = map[events.Type]string{
	events.ChargePaymentType:   "payments.commands",
	events.RefundPaymentType:   "payments.commands",
	events.ReserveStockType:    "inventory.commands",
	events.ReleaseStockType:    "inventory.commands",
	events.CreateShipmentType:  "fulfillment.commands",
	events.OrderCompletedType:  "orders.events",
	events.OrderFailedType:     "orders.events",
	events.OrderCancelledType:  "orders.events",
	events.OrderCreatedType:    "orders.events",
	events.PaymentChargedType:  "payments.events",
	events.PaymentDeclinedType: "payments.events",
	events.PaymentRefundedType: "payments.events",
	events.StockReservedType:   "inventory.events",
	events.StockRejectedType:   "inventory.events",
	events.StockReleasedType:   "inventory.events",
	events.ShipmentCreatedType: "fulfillment.events",
	events.ShipmentFailedType:  "fulfillment.events",
}

// sagaCols is an order's row as the saga keeps it.
type sagaCols struct {
	Status, FailureReason, Outcome, OutcomeReason    string
	Charged, Reserved, RefundPending, ReleasePending bool
	Attempts                                         int
	Version                                          int64
	HasDeadline                                      bool
	UpdatedAt                                        time.Time
}

func readSagaCols(t *testing.T, db *sqlstore.DB, id string) sagaCols {
	t.Helper()
	var c sagaCols
	if err := db.DB.QueryRowContext(context.Background(), `SELECT status, failure_reason, outcome, outcome_reason,
		charged, reserved, refund_pending, release_pending, step_attempts, version, step_deadline IS NOT NULL, updated_at
		FROM orders WHERE id = $1`, id).Scan(&c.Status, &c.FailureReason, &c.Outcome, &c.OutcomeReason,
		&c.Charged, &c.Reserved, &c.RefundPending, &c.ReleasePending, &c.Attempts, &c.Version, &c.HasDeadline,
		&c.UpdatedAt); err != nil {
		t.Fatalf("read order %s: %v", id, err)
	}
	c.UpdatedAt = c.UpdatedAt.UTC()
	return c
}

// sagaRun is one order going through the saga, with what the test expects of it so far.
type sagaRun struct {
	t        *testing.T
	svc      *Service
	db       *sqlstore.DB
	id       string
	customer string
	seen     []outboxRow // this order's outbox rows checked so far
	history  []string    // its history so far, each "STATUS" or "STATUS REASON"
}

// startSaga places the quick-start order and checks it is PENDING with its OrderCreated written.
func startSaga(t *testing.T, svc *Service, db *sqlstore.DB) *sagaRun {
	t.Helper()
	customer := uuid.New()
	placed := mustCreate(t, svc, "create-"+uuid.NewString(), quickStart(customer))
	r := &sagaRun{t: t, svc: svc, db: db, id: placed.Body.OrderID.String(), customer: customer.String(),
		history: []string{"PENDING"}}
	rows := r.outbox()
	if len(rows) != 1 {
		t.Fatalf("outbox after create has %d rows for the order, want 1: %+v", len(rows), rows)
	}
	if got := rows[0]; got.Topic != "orders.events" || got.EventType != string(events.OrderCreatedType) ||
		got.Source != Name {
		t.Errorf("outbox after create = %+v, want OrderCreated on orders.events from %s", got, Name)
	}
	if _, err := uuid.Parse(rows[0].EventID); err != nil {
		t.Errorf("OrderCreated event id %q is not a UUID", rows[0].EventID)
	}
	r.seen = rows
	r.check(Pending)
	return r
}

// Replies from the other services, and the order's own events, about this order.
func (r *sagaRun) orderCreated() events.Payload {
	return events.OrderCreated{OrderID: r.id, CustomerID: r.customer, Total: dec("1022.17"), Currency: "USD"}
}
func (r *sagaRun) orderCompleted() events.Payload {
	return events.OrderCompleted{OrderID: r.id, CustomerID: r.customer, Total: dec("1022.17"), Currency: "USD"}
}
func (r *sagaRun) chargePayment() events.Payload {
	return events.ChargePayment{OrderID: r.id, CustomerID: r.customer, Amount: dec("1022.17"), Currency: "USD"}
}
func (r *sagaRun) paymentCharged() events.Payload {
	return events.PaymentCharged{OrderID: r.id, PaymentID: "pay-1", Amount: dec("1022.17"), Currency: "USD"}
}
func (r *sagaRun) paymentDeclined() events.Payload {
	return events.PaymentDeclined{OrderID: r.id, Reason: "INSUFFICIENT_FUNDS"}
}
func (r *sagaRun) paymentRefunded() events.Payload {
	return events.PaymentRefunded{OrderID: r.id, RefundID: "ref-1"}
}
func (r *sagaRun) stockReserved() events.Payload {
	return events.StockReserved{OrderID: r.id, ReservationID: "res-1"}
}
func (r *sagaRun) stockRejected() events.Payload {
	return events.StockRejected{OrderID: r.id, SKU: "SKU-COFFEE", Reason: "INSUFFICIENT_STOCK"}
}
func (r *sagaRun) stockReleased() events.Payload { return events.StockReleased{OrderID: r.id} }
func (r *sagaRun) shipmentCreated() events.Payload {
	return events.ShipmentCreated{OrderID: r.id, ShipmentID: "ship-1", Carrier: "UPS", TrackingNumber: "1Z999"}
}
func (r *sagaRun) shipmentFailed() events.Payload {
	return events.ShipmentFailed{OrderID: r.id, Reason: "UNSUPPORTED_COUNTRY"}
}

// sourceOf is the service that emits messages of type t.
func sourceOf(t events.Type) string {
	for _, svc := range []string{"payment", "inventory", "fulfillment"} {
		if strings.HasPrefix(string(t), "ordersys."+svc+".") {
			return svc
		}
	}
	return Name
}

// step feeds p and checks the order moved to want, added history line hist ("" for none) and sent
// exactly the messages of types sent, in that order.
func (r *sagaRun) step(p events.Payload, want Status, hist string, sent ...events.Type) {
	r.t.Helper()
	before := readSagaCols(r.t, r.db, r.id)
	if err := feed(r.t, r.svc, r.db, sourceOf(p.EventType()), r.id, p); err != nil {
		r.t.Fatalf("%s: advance: %v", p.EventType(), err)
	}
	r.after(before, want, []string{hist}, sent)
}

// stepLastUndo feeds p, the reply to the last pending undo, and checks the order ended in want
// with two history lines from that one step: the undo, in COMPENSATING (undone, e.g.
// "COMPENSATING PAYMENT_REFUNDED"), then the end (end, e.g. "FAILED OUT_OF_STOCK").
func (r *sagaRun) stepLastUndo(p events.Payload, want Status, undone, end string, sent ...events.Type) {
	r.t.Helper()
	before := readSagaCols(r.t, r.db, r.id)
	if err := feed(r.t, r.svc, r.db, sourceOf(p.EventType()), r.id, p); err != nil {
		r.t.Fatalf("%s: advance: %v", p.EventType(), err)
	}
	r.after(before, want, []string{undone, end}, sent)
	o, err := r.svc.Get(context.Background(), r.id)
	if err != nil {
		r.t.Fatalf("get %s: %v", r.id, err)
	}
	if h := o.History; !h[len(h)-2].At.Equal(h[len(h)-1].At) {
		r.t.Errorf("the undo line at %v and the end at %v, want one step's instant", h[len(h)-2].At, h[len(h)-1].At)
	}
}

// ignore feeds p and checks it changed nothing at all: not the row, not its version, no history,
// no message.
func (r *sagaRun) ignore(p events.Payload) {
	r.t.Helper()
	before := readSagaCols(r.t, r.db, r.id)
	if err := feed(r.t, r.svc, r.db, sourceOf(p.EventType()), r.id, p); err != nil {
		r.t.Fatalf("%s: advance: %v", p.EventType(), err)
	}
	if after := readSagaCols(r.t, r.db, r.id); after != before {
		r.t.Errorf("%s in %s changed the order:\nbefore %+v\nafter  %+v", p.EventType(), before.Status, before, after)
	}
	r.checkHistory()
	r.checkSent(nil)
}

// cancel asks to cancel under key and checks the answer and what the saga did.
func (r *sagaRun) cancel(key string, want Status, hist string, sent ...events.Type) CancelAnswer {
	r.t.Helper()
	before := readSagaCols(r.t, r.db, r.id)
	ans, err := r.svc.Cancel(context.Background(), r.id, key)
	if err != nil {
		r.t.Fatalf("cancel in %s: %v", before.Status, err)
	}
	if ans.Replayed || ans.Body.OrderID.String() != r.id || string(ans.Body.Status) != string(want) {
		r.t.Errorf("cancel in %s = %+v, want order %s status %s, not replayed", before.Status, ans, r.id, want)
	}
	r.after(before, want, []string{hist}, sent)
	return ans
}

// cancelRefused checks a cancel under key is refused with ErrTerminal and writes nothing.
func (r *sagaRun) cancelRefused(key string) {
	r.t.Helper()
	before := readSagaCols(r.t, r.db, r.id)
	keys := countRows(r.t, r.db, "idempotency_keys")
	ans, err := r.svc.Cancel(context.Background(), r.id, key)
	if !errors.Is(err, ErrTerminal) {
		r.t.Errorf("cancel in %s = %+v, %v; want ErrTerminal", before.Status, ans, err)
	}
	if after := readSagaCols(r.t, r.db, r.id); after != before {
		r.t.Errorf("refused cancel changed the order:\nbefore %+v\nafter  %+v", before, after)
	}
	if n := countRows(r.t, r.db, "idempotency_keys"); n != keys {
		r.t.Errorf("refused cancel stored its key: %d keys, had %d", n, keys)
	}
	r.checkHistory()
	r.checkSent(nil)
}

// expire runs the deadline check an hour from now (every step's deadline has passed) and checks
// what it did to the order. Only for databases holding this one order.
func (r *sagaRun) expire(want Status, hist string, sent ...events.Type) {
	r.t.Helper()
	before := readSagaCols(r.t, r.db, r.id)
	if err := r.svc.expireSteps(context.Background(), time.Now().UTC().Add(time.Hour)); err != nil {
		r.t.Fatalf("expireSteps in %s: %v", before.Status, err)
	}
	if want == "" { // nothing to expire
		if after := readSagaCols(r.t, r.db, r.id); after != before {
			r.t.Errorf("expireSteps changed the order:\nbefore %+v\nafter  %+v", before, after)
		}
		r.checkHistory()
		r.checkSent(nil)
		return
	}
	r.after(before, want, []string{hist}, sent)
}

// after checks a step that happened: one update of the row, to want, adding the history lines of
// hist that are not "" and sending sent.
func (r *sagaRun) after(before sagaCols, want Status, hist []string, sent []events.Type) {
	r.t.Helper()
	c := r.check(want)
	if c.Version != before.Version+1 {
		r.t.Errorf("version %d -> %d, want one update", before.Version, c.Version)
	}
	if c.UpdatedAt.Before(before.UpdatedAt) {
		r.t.Errorf("updated_at went back from %v to %v", before.UpdatedAt, c.UpdatedAt)
	}
	for _, h := range hist {
		if h != "" {
			r.history = append(r.history, h)
		}
	}
	r.checkHistory()
	r.checkSent(sent)
}

// check reads the order and checks its status and what must hold in every state: a deadline
// exactly while a reply is awaited, a failure reason exactly when FAILED, no undo pending outside
// COMPENSATING, no attempts counted outside a step.
func (r *sagaRun) check(want Status) sagaCols {
	r.t.Helper()
	c := readSagaCols(r.t, r.db, r.id)
	s := Status(c.Status)
	if s != want {
		r.t.Fatalf("status = %s, want %s (%+v)", s, want, c)
	}
	if awaits := !s.Terminal(); c.HasDeadline != awaits {
		r.t.Errorf("%s: has a step deadline %v, want %v", s, c.HasDeadline, awaits)
	}
	if (s == Failed) != (c.FailureReason != "") {
		r.t.Errorf("%s with failure reason %q", s, c.FailureReason)
	}
	if s != Compensating && (c.RefundPending || c.ReleasePending) {
		r.t.Errorf("%s with refund pending %v, release pending %v", s, c.RefundPending, c.ReleasePending)
	}
	if awaits := !s.Terminal() && s != Pending; (c.Attempts > 0) != awaits {
		r.t.Errorf("%s with %d attempts", s, c.Attempts)
	}
	return c
}

// checkHistory checks the order's history is the one expected, in order, in time order.
func (r *sagaRun) checkHistory() {
	r.t.Helper()
	o, err := r.svc.Get(context.Background(), r.id)
	if err != nil {
		r.t.Fatalf("get %s: %v", r.id, err)
	}
	got := make([]string, len(o.History))
	for i, h := range o.History {
		got[i] = strings.TrimSpace(string(h.Status) + " " + h.Reason)
		if i > 0 && h.At.Before(o.History[i-1].At) {
			r.t.Errorf("history[%d] at %v is before history[%d] at %v", i, h.At, i-1, o.History[i-1].At)
		}
	}
	if !slices.Equal(got, r.history) {
		r.t.Fatalf("history =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(r.history, "\n  "))
	}
	if !o.History[0].At.Equal(o.CreatedAt) || o.History[len(o.History)-1].At.After(o.UpdatedAt) {
		r.t.Errorf("history from %v to %v; order created %v, updated %v", o.History[0].At,
			o.History[len(o.History)-1].At, o.CreatedAt, o.UpdatedAt)
	}
}

// outbox returns the outbox rows of this order, in order.
func (r *sagaRun) outbox() []outboxRow {
	r.t.Helper()
	var out []outboxRow
	for _, row := range readOutbox(r.t, r.db) {
		if row.Key == r.id {
			out = append(out, row)
		}
	}
	return out
}

// checkSent checks the order's outbox rows since the last check are exactly sent: each on its topic,
// keyed by the order, from the order service, with the deterministic command id, and carrying the
// order's data.
func (r *sagaRun) checkSent(sent []events.Type) {
	r.t.Helper()
	rows := r.outbox()
	if len(rows) < len(r.seen) || !slices.Equal(rows[:len(r.seen)], r.seen) {
		r.t.Fatalf("outbox rows already written changed or vanished:\nwere %+v\nnow  %+v", r.seen, rows)
	}
	added := rows[len(r.seen):]
	r.seen = rows
	var got []events.Type
	for _, row := range added {
		got = append(got, events.Type(row.EventType))
	}
	if !slices.Equal(got, sent) {
		r.t.Fatalf("sent %v, want %v", got, sent)
	}
	attempt := readSagaCols(r.t, r.db, r.id).Attempts // the attempt the step sent its messages as
	for _, row := range added {
		ty := events.Type(row.EventType)
		if id := commandID(r.id, ty, attempt); row.Topic != sentTopics[ty] || row.Key != r.id || row.Source != Name || row.EventID != id {
			r.t.Errorf("outbox row %+v: want topic %s, key %s, source %s, event id %s",
				row, sentTopics[ty], r.id, Name, id)
		}
		r.checkPayload(decodeRow(r.t, row))
	}
}

// checkPayload checks a message the saga sent carries the order's data.
func (r *sagaRun) checkPayload(p events.Payload) {
	r.t.Helper()
	wantLines := []events.Line{{SKU: "SKU-APPLE", Quantity: dec("33")}, {SKU: "SKU-COFFEE", Quantity: dec("14.5")}}
	linesOK := func(got []events.Line) bool {
		return slices.EqualFunc(got, wantLines, func(a, b events.Line) bool {
			return a.SKU == b.SKU && a.Quantity.Equal(b.Quantity)
		})
	}
	ok := true
	switch p := p.(type) {
	case *events.ChargePayment:
		ok = p.OrderID == r.id && p.CustomerID == r.customer && p.Amount.String() == "1022.17" && p.Currency == "USD"
	case *events.RefundPayment:
		ok = p.OrderID == r.id && p.CustomerID == r.customer && p.Amount.String() == "1022.17" && p.Currency == "USD"
	case *events.ReserveStock:
		ok = p.OrderID == r.id && linesOK(p.Lines)
	case *events.ReleaseStock:
		ok = p.OrderID == r.id
	case *events.CreateShipment:
		ok = p.OrderID == r.id && linesOK(p.Lines) && p.Address == events.Address{Country: "US", City: "Springfield",
			AddressLine1: "742 Evergreen Terrace", AddressLine2: "Apt 4", PostalCode: "62704"}
	case *events.OrderCompleted:
		ok = p.OrderID == r.id && p.CustomerID == r.customer && p.Total.String() == "1022.17" && p.Currency == "USD"
	case *events.OrderFailed:
		c := readSagaCols(r.t, r.db, r.id)
		ok = p.OrderID == r.id && p.CustomerID == r.customer && p.Reason != "" && p.Reason == c.FailureReason
	case *events.OrderCancelled:
		ok = p.OrderID == r.id && p.CustomerID == r.customer
	default:
		r.t.Errorf("the saga sent a %T", p)
	}
	if !ok {
		r.t.Errorf("sent %T %+v: not this order's data", p, p)
	}
}

// sent lists the types of all the order's outbox rows, in order.
func (r *sagaRun) sent() []events.Type {
	r.t.Helper()
	var out []events.Type
	for _, row := range r.outbox() {
		out = append(out, events.Type(row.EventType))
	}
	return out
}

func TestSagaCompletes(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		r := startSaga(t, svc, db)
		r.step(r.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)
		r.ignore(r.orderCreated())    // duplicate
		r.ignore(r.stockReserved())   // too early: never asked
		r.ignore(r.chargePayment())   // our own command, echoed
		r.ignore(r.stockReleased())   // never asked
		r.ignore(r.paymentRefunded()) // never asked
		r.step(r.paymentCharged(), Inventory, "INVENTORY", events.ReserveStockType)
		r.ignore(r.paymentCharged()) // duplicate reply
		r.ignore(r.paymentDeclined())
		r.step(r.stockReserved(), Fulfillment, "FULFILLMENT", events.CreateShipmentType)
		r.ignore(r.paymentCharged()) // late
		r.ignore(r.stockReserved())  // duplicate reply
		r.ignore(r.stockRejected())
		r.step(r.shipmentCreated(), Completed, "COMPLETED", events.OrderCompletedType)
		r.ignore(r.shipmentCreated()) // duplicate
		r.ignore(r.shipmentFailed())
		r.ignore(r.orderCompleted()) // our own event, echoed
		r.expire("", "")             // nothing awaits a reply
		r.cancelRefused("cancel-late")

		c := readSagaCols(t, db, r.id)
		if !c.Charged || !c.Reserved || c.Outcome != string(Completed) || c.OutcomeReason != "" || c.Attempts != 0 {
			t.Errorf("completed order's saga = %+v", c)
		}
		if got, want := r.sent(), []events.Type{events.OrderCreatedType, events.ChargePaymentType,
			events.ReserveStockType, events.CreateShipmentType, events.OrderCompletedType}; !slices.Equal(got, want) {
			t.Errorf("outbox = %v, want %v", got, want)
		}
	})
}

func TestSagaPaymentDeclined(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		r := startSaga(t, svc, db)
		r.step(r.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)
		r.step(r.paymentDeclined(), Failed, "FAILED PAYMENT_DECLINED", events.OrderFailedType)
		r.ignore(r.paymentDeclined()) // duplicate
		r.ignore(r.paymentCharged())
		r.ignore(r.paymentRefunded())
		r.expire("", "")
		r.cancelRefused("cancel-late")

		c := readSagaCols(t, db, r.id)
		if c.FailureReason != ReasonPaymentDeclined || c.Outcome != string(Failed) || c.Charged {
			t.Errorf("declined order's saga = %+v", c)
		}
		if got, want := r.sent(), []events.Type{events.OrderCreatedType, events.ChargePaymentType,
			events.OrderFailedType}; !slices.Equal(got, want) {
			t.Errorf("outbox = %v, want %v", got, want)
		}
	})
}

func TestSagaOutOfStock(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		r := startSaga(t, svc, db)
		r.step(r.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)
		r.step(r.paymentCharged(), Inventory, "INVENTORY", events.ReserveStockType)
		r.step(r.stockRejected(), Compensating, "COMPENSATING OUT_OF_STOCK", events.RefundPaymentType)
		c := readSagaCols(t, db, r.id)
		if !c.RefundPending || c.ReleasePending || c.Outcome != string(Failed) || c.OutcomeReason != ReasonOutOfStock ||
			c.FailureReason != "" || c.Attempts != 1 {
			t.Errorf("compensating saga = %+v, want a refund pending towards FAILED OUT_OF_STOCK", c)
		}
		r.ignore(r.stockRejected()) // duplicate
		r.ignore(r.paymentDeclined())
		// The refund's reply is the last undo: the order ends, and the history shows both the undo
		// and the end.
		r.stepLastUndo(r.paymentRefunded(), Failed, "COMPENSATING PAYMENT_REFUNDED", "FAILED OUT_OF_STOCK",
			events.OrderFailedType)
		r.ignore(r.paymentRefunded()) // duplicate
		r.cancelRefused("cancel-late")

		c = readSagaCols(t, db, r.id)
		if c.FailureReason != ReasonOutOfStock || c.RefundPending || !c.Charged || c.Reserved {
			t.Errorf("failed order's saga = %+v", c)
		}
		if got, want := r.sent(), []events.Type{events.OrderCreatedType, events.ChargePaymentType,
			events.ReserveStockType, events.RefundPaymentType, events.OrderFailedType}; !slices.Equal(got, want) {
			t.Errorf("outbox = %v, want %v", got, want)
		}
	})
}

func TestSagaShipmentFailed(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		// Two orders in one database, their undo replies in opposite orders.
		for _, refundFirst := range []bool{false, true} {
			r := startSaga(t, svc, db)
			r.step(r.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)
			r.step(r.paymentCharged(), Inventory, "INVENTORY", events.ReserveStockType)
			r.step(r.stockReserved(), Fulfillment, "FULFILLMENT", events.CreateShipmentType)
			r.step(r.shipmentFailed(), Compensating, "COMPENSATING SHIPMENT_FAILED",
				events.ReleaseStockType, events.RefundPaymentType)
			c := readSagaCols(t, db, r.id)
			if !c.RefundPending || !c.ReleasePending || c.Outcome != string(Failed) ||
				c.OutcomeReason != ReasonShipmentFailed || c.FailureReason != "" {
				t.Errorf("compensating saga = %+v, want refund and release pending towards FAILED SHIPMENT_FAILED", c)
			}
			r.ignore(r.shipmentFailed()) // duplicate
			if refundFirst {
				r.step(r.paymentRefunded(), Compensating, "COMPENSATING PAYMENT_REFUNDED")
				if c := readSagaCols(t, db, r.id); c.RefundPending || !c.ReleasePending {
					t.Errorf("after the refund: %+v", c)
				}
				// A duplicate refund reply: applied (stored), but no history line and nothing sent.
				r.step(r.paymentRefunded(), Compensating, "")
				if c := readSagaCols(t, db, r.id); c.RefundPending || !c.ReleasePending {
					t.Errorf("after the duplicate refund: %+v", c)
				}
				r.stepLastUndo(r.stockReleased(), Failed, "COMPENSATING STOCK_RELEASED", "FAILED SHIPMENT_FAILED",
					events.OrderFailedType)
			} else {
				r.step(r.stockReleased(), Compensating, "COMPENSATING STOCK_RELEASED")
				if c := readSagaCols(t, db, r.id); !c.RefundPending || c.ReleasePending {
					t.Errorf("after the release: %+v", c)
				}
				// A duplicate release reply: applied (stored), but no history line and nothing sent.
				r.step(r.stockReleased(), Compensating, "")
				if c := readSagaCols(t, db, r.id); !c.RefundPending || c.ReleasePending {
					t.Errorf("after the duplicate release: %+v", c)
				}
				r.stepLastUndo(r.paymentRefunded(), Failed, "COMPENSATING PAYMENT_REFUNDED", "FAILED SHIPMENT_FAILED",
					events.OrderFailedType)
			}
			r.ignore(r.stockReleased())
			r.ignore(r.paymentRefunded())
			if c := readSagaCols(t, db, r.id); c.FailureReason != ReasonShipmentFailed {
				t.Errorf("failure reason %q, want %s", c.FailureReason, ReasonShipmentFailed)
			}
			if got, want := r.sent(), []events.Type{events.OrderCreatedType, events.ChargePaymentType,
				events.ReserveStockType, events.CreateShipmentType, events.ReleaseStockType, events.RefundPaymentType,
				events.OrderFailedType}; !slices.Equal(got, want) {
				t.Errorf("outbox = %v, want %v", got, want)
			}
		}
	})
}

func TestSagaCancel(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		t.Run("PENDING", func(t *testing.T) {
			r := startSaga(t, svc, db)
			r.cancel("cancel-1", Cancelled, "CANCELLED CANCELLED", events.OrderCancelledType)
			// The order's own OrderCreated is still on its way to the saga: it must not revive it.
			r.ignore(r.orderCreated())
			r.cancelRefused("cancel-2")
			if c := readSagaCols(t, db, r.id); c.Outcome != string(Cancelled) || c.OutcomeReason != ReasonCancelled {
				t.Errorf("cancelled order's saga = %+v", c)
			}
		})
		t.Run("PAYMENT", func(t *testing.T) {
			r := startSaga(t, svc, db)
			r.step(r.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)
			r.cancel("cancel-1", Compensating, "COMPENSATING CANCELLED", events.RefundPaymentType)
			if c := readSagaCols(t, db, r.id); c.Charged || !c.RefundPending || c.ReleasePending {
				t.Errorf("after the cancel: %+v", c)
			}
			// The charge that was in flight lands: recorded, nothing sent, the refund undoes it.
			r.step(r.paymentCharged(), Compensating, "")
			if c := readSagaCols(t, db, r.id); !c.Charged || !c.RefundPending {
				t.Errorf("after the late charge: %+v", c)
			}
			r.ignore(r.paymentDeclined()) // a reply that changes nothing: the refund answers all the same
			// A release confirmation never asked for: applied (there is a rule), no history line,
			// nothing sent.
			r.step(r.stockReleased(), Compensating, "")
			r.stepLastUndo(r.paymentRefunded(), Cancelled, "COMPENSATING PAYMENT_REFUNDED", "CANCELLED CANCELLED",
				events.OrderCancelledType)
			r.cancelRefused("cancel-2")
		})
		t.Run("INVENTORY", func(t *testing.T) {
			r := startSaga(t, svc, db)
			r.step(r.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)
			r.step(r.paymentCharged(), Inventory, "INVENTORY", events.ReserveStockType)
			r.cancel("cancel-1", Compensating, "COMPENSATING CANCELLED", events.ReleaseStockType, events.RefundPaymentType)
			// The reservation that was in flight lands after the cancel.
			r.step(r.stockReserved(), Compensating, "")
			if c := readSagaCols(t, db, r.id); !c.Reserved || !c.ReleasePending || !c.RefundPending {
				t.Errorf("after the late reservation: %+v", c)
			}
			r.step(r.stockReleased(), Compensating, "COMPENSATING STOCK_RELEASED")
			r.stepLastUndo(r.paymentRefunded(), Cancelled, "COMPENSATING PAYMENT_REFUNDED", "CANCELLED CANCELLED",
				events.OrderCancelledType)
			r.cancelRefused("cancel-2")
		})
		t.Run("FULFILLMENT", func(t *testing.T) {
			r := startSaga(t, svc, db)
			r.step(r.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)
			r.step(r.paymentCharged(), Inventory, "INVENTORY", events.ReserveStockType)
			r.step(r.stockReserved(), Fulfillment, "FULFILLMENT", events.CreateShipmentType)
			r.cancel("cancel-1", Compensating, "COMPENSATING CANCELLED", events.ReleaseStockType, events.RefundPaymentType)
			r.step(r.paymentRefunded(), Compensating, "COMPENSATING PAYMENT_REFUNDED")
			r.stepLastUndo(r.stockReleased(), Cancelled, "COMPENSATING STOCK_RELEASED", "CANCELLED CANCELLED",
				events.OrderCancelledType)
			r.cancelRefused("cancel-2")
			if got, want := r.sent(), []events.Type{events.OrderCreatedType, events.ChargePaymentType,
				events.ReserveStockType, events.CreateShipmentType, events.ReleaseStockType, events.RefundPaymentType,
				events.OrderCancelledType}; !slices.Equal(got, want) {
				t.Errorf("outbox = %v, want %v", got, want)
			}
		})
		t.Run("COMPENSATING", func(t *testing.T) {
			// A cancel while a failure is being compensated: nothing more to undo, the order ends
			// CANCELLED rather than FAILED.
			r := startSaga(t, svc, db)
			r.step(r.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)
			r.step(r.paymentCharged(), Inventory, "INVENTORY", events.ReserveStockType)
			r.step(r.stockRejected(), Compensating, "COMPENSATING OUT_OF_STOCK", events.RefundPaymentType)
			r.cancel("cancel-1", Compensating, "COMPENSATING CANCELLED")
			if c := readSagaCols(t, db, r.id); c.Outcome != string(Cancelled) || c.OutcomeReason != ReasonCancelled {
				t.Errorf("after the cancel: %+v", c)
			}
			// Another cancel (a new key, not a replay) while already ending CANCELLED: accepted, no
			// history line, nothing sent.
			r.cancel("cancel-2", Compensating, "")
			if c := readSagaCols(t, db, r.id); c.Outcome != string(Cancelled) || c.OutcomeReason != ReasonCancelled ||
				!c.RefundPending {
				t.Errorf("after the second cancel: %+v", c)
			}
			r.stepLastUndo(r.paymentRefunded(), Cancelled, "COMPENSATING PAYMENT_REFUNDED", "CANCELLED CANCELLED",
				events.OrderCancelledType)
		})
		t.Run("unknown order", func(t *testing.T) {
			if ans, err := svc.Cancel(context.Background(), uuid.NewString(), "cancel-1"); !errors.Is(err, ErrNotFound) {
				t.Errorf("cancel of an unknown order = %+v, %v; want ErrNotFound", ans, err)
			}
		})
	})
}

func TestSagaCancelIdempotent(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		ctx := context.Background()
		r := startSaga(t, svc, db)
		r.step(r.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)
		first := r.cancel("k-cancel", Compensating, "COMPENSATING CANCELLED", events.RefundPaymentType)

		replay := func() {
			t.Helper()
			before := readSagaCols(t, db, r.id)
			again, err := svc.Cancel(ctx, r.id, "k-cancel")
			if err != nil {
				t.Fatalf("same key again: %v", err)
			}
			if !again.Replayed || again.Body != first.Body {
				t.Errorf("same key again = %+v, want a replay of %+v", again, first)
			}
			if after := readSagaCols(t, db, r.id); after != before {
				t.Errorf("a replay changed the order:\nbefore %+v\nafter  %+v", before, after)
			}
			r.checkHistory()
			r.checkSent(nil)
		}
		replay()
		replay()

		// The same key stays a replay of the first answer after the order has ended.
		r.stepLastUndo(r.paymentRefunded(), Cancelled, "COMPENSATING PAYMENT_REFUNDED", "CANCELLED CANCELLED",
			events.OrderCancelledType)
		replay()
		r.cancelRefused("k-other")

		// Keys are per order: the same key cancels another order.
		other := startSaga(t, svc, db)
		other.cancel("k-cancel", Cancelled, "CANCELLED CANCELLED", events.OrderCancelledType)

		if n := countRows(t, db, "idempotency_keys"); n != 4 { // two creates, two cancels
			t.Errorf("idempotency_keys has %d rows, want 4", n)
		}
	})
}

// TestSagaCancelConcurrent: a client retrying its cancel while the first is in flight gets the
// first's answer, as with create; and a cancel racing a reply succeeds whichever goes first.
func TestSagaCancelConcurrent(t *testing.T) {
	eachStore(t, func(t *testing.T, svc *Service, db *sqlstore.DB) {
		ctx := context.Background()
		// Several orders, so that the later rounds run on a warm connection pool and really overlap.
		for range 5 {
			r := startSaga(t, svc, db)
			r.step(r.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)
			const n = 8
			answers := make([]CancelAnswer, n)
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					answers[i], errs[i] = svc.Cancel(ctx, r.id, "k-race")
				})
			}
			close(start)
			wg.Wait()
			fresh := 0
			for i := range n {
				if errs[i] != nil {
					t.Errorf("call %d: %v", i, errs[i])
					continue
				}
				if !answers[i].Replayed {
					fresh++
				}
				if answers[i].Body.Status != "COMPENSATING" {
					t.Errorf("call %d: %+v", i, answers[i])
				}
			}
			if fresh != 1 {
				t.Errorf("%d calls were not replays, want exactly 1", fresh)
			}
			r.history = append(r.history, "COMPENSATING CANCELLED")
			r.checkHistory()
			r.checkSent([]events.Type{events.RefundPaymentType})
		}

		for range 5 {
			r := startSaga(t, svc, db)
			r.step(r.orderCreated(), Payment, "PAYMENT", events.ChargePaymentType)
			start := make(chan struct{})
			var cancelErr, feedErr error
			var wg sync.WaitGroup
			wg.Go(func() {
				<-start
				_, cancelErr = svc.Cancel(ctx, r.id, "k-cancel")
			})
			wg.Go(func() {
				<-start
				// Each locks the order, so the second waits for the first and applies to what it left.
				feedErr = feed(t, svc, db, "payment", r.id, r.paymentCharged())
			})
			close(start)
			wg.Wait()
			if cancelErr != nil || feedErr != nil {
				t.Errorf("cancel racing PaymentCharged: cancel %v, reply %v", cancelErr, feedErr)
			}
			c := r.check(Compensating)
			if !c.Charged || !c.RefundPending || c.Outcome != string(Cancelled) {
				t.Errorf("after cancel and charge: %+v", c)
			}
		}
	})
}

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
func (h *logRecorder) WithGroup(string) slog.Handler      { return h }

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
		ctx := context.Background()
		a, b := startSaga(t, svc, db), startSaga(t, svc, db)
		var batch []messaging.Event
		for _, e := range []struct {
			r *sagaRun
			p events.Payload
		}{{a, a.orderCreated()}, {b, b.orderCreated()}, {a, a.paymentCharged()}} {
			ev, err := messaging.NewEvent(sourceOf(e.p.EventType()), e.r.id, e.p)
			if err != nil {
				t.Fatal(err)
			}
			batch = append(batch, ev)
		}
		sub := svc.Subscriptions()[0]
		if err := messaging.NewConsumer(sub, db, nil, messaging.RetryConfig{}, slog.Default()).ApplyBatch(ctx, batch); err != nil {
			t.Fatal(err)
		}
		a.history = append(a.history, "PAYMENT", "INVENTORY")
		a.check(Inventory)
		b.history = append(b.history, "PAYMENT")
		b.check(Payment)

		// b's next step reads its row, items included, with the batch.
		ev, err := messaging.NewEvent(sourceOf(events.PaymentChargedType), b.id, b.paymentCharged())
		if err != nil {
			t.Fatal(err)
		}
		if err := messaging.NewConsumer(sub, db, nil, messaging.RetryConfig{}, slog.Default()).ApplyBatch(ctx, []messaging.Event{ev}); err != nil {
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
