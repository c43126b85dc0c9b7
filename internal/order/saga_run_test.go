package order

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// The saga against a real database (saga_paths_test.go, saga_cancel_test.go, saga_timeout_test.go,
// saga_apply_test.go): every path an order can take, fed the way the consumer feeds it (envelopes
// built by events.New, decoded, applied by advance in a transaction), checking after every event
// the order's status, saga columns, history and the outbox rows it wrote, with the sagaRun below.
// Each test runs on SQLite and, when one can be had, on PostgreSQL (see eachStore).

// sentTopics is where each message the saga sends goes, written out rather than asked of events.
var sentTopics = map[events.Type]string{
	events.ChargePaymentType:   "payments.commands",
	events.RefundPaymentType:   "payments.commands",
	events.ReserveStockType:    "inventory.commands",
	events.ReleaseStockType:    "inventory.commands",
	events.CreateShipmentType:  "fulfillment.commands",
	events.CancelShipmentType:  "fulfillment.commands",
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
func (r *sagaRun) shipmentCancelled() events.Payload { return events.ShipmentCancelled{OrderID: r.id} }
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
	case *events.CancelShipment:
		ok = p.OrderID == r.id
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
