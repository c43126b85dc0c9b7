package order

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/sqlstore"
	"github.com/ordersys/ordersys/internal/tracing"
)

// sagaState is what the saga knows of an order beyond its items: where it is, what has been done
// that may need undoing, and what undoing it still awaits.
type sagaState struct {
	Status         Status
	Charged        bool // a charge may exist: ChargePayment was answered PaymentCharged
	Reserved       bool // stock may be held: ReserveStock was answered StockReserved
	RefundPending  bool // RefundPayment sent, PaymentRefunded not yet received
	ReleasePending bool // ReleaseStock sent, StockReleased not yet received
	// CancelPending: CancelShipment sent, its answer not yet received. Outcome and OutcomeReason
	// then say how the order ends if the cancel wins.
	CancelPending    bool
	Outcome          Status
	OutcomeReason    string
	Attempts         int // how many times the current step's command was sent
	MaxAttempts      int // from the service's configuration, not stored
	FailureReason    string
	HistoryReasonTag string // what the history entry of this step says, if anything
	// UndoneTag records the last undo reply in the history (COMPENSATING PAYMENT_REFUNDED, say)
	// when that same step also ends the saga, so both show.
	UndoneTag string
}

// Pseudo-events: things that happen to a saga without a message. They sit in the same table as
// the events so that every way an order can move is in one place.
const (
	cancelRequested events.Type = "ordersys.order.cancel-requested"
	stepTimedOut    events.Type = "ordersys.order.step-timed-out"
)

// Machine-readable failure reasons.
const (
	ReasonPaymentDeclined = "PAYMENT_DECLINED"
	ReasonOutOfStock      = "OUT_OF_STOCK"
	ReasonShipmentFailed  = "SHIPMENT_FAILED"
	ReasonTimeout         = "TIMEOUT"
	ReasonCancelled       = "CANCELLED"
)

// History reasons of a cancel that reached FULFILLMENT: the shipment is being cancelled, and the
// order completed because it had shipped first.
const (
	ReasonCancellingShipment = "CANCELLING_SHIPMENT"
	ReasonCancelTooLate      = "CANCEL_TOO_LATE"
)

// rule computes what an event does to a saga in one status: the new state and the messages to
// send, by type (built from the order by build).
type rule func(s sagaState, p events.Payload) (sagaState, []events.Type)

// rules is the saga, the whole of it: for each status, what each event does. An event missing
// here for the order's status is a duplicate or a late reply that needs nothing, and is ignored.
var rules = map[Status]map[events.Type]rule{
	// OrderCreated is applied by the process that created the order (RunFirstSteps); the deadline
	// takes the step for an order whose process died first.
	Pending: {
		events.OrderCreatedType: advanceTo(Payment, events.ChargePaymentType),
		cancelRequested:         finishAs(Cancelled, ReasonCancelled),
		stepTimedOut:            advanceTo(Payment, events.ChargePaymentType),
	},
	Payment: {
		events.PaymentChargedType: func(s sagaState, _ events.Payload) (sagaState, []events.Type) {
			s.Charged = true
			return advanceTo(Inventory, events.ReserveStockType)(s, nil)
		},
		events.PaymentDeclinedType: finishAs(Failed, ReasonPaymentDeclined),
		cancelRequested:            compensate(Cancelled, ReasonCancelled, true, false),
		stepTimedOut:               retryOr(events.ChargePaymentType, compensate(Failed, ReasonTimeout, true, false)),
	},
	Inventory: {
		events.StockReservedType: func(s sagaState, _ events.Payload) (sagaState, []events.Type) {
			s.Reserved = true
			return advanceTo(Fulfillment, events.CreateShipmentType)(s, nil)
		},
		events.StockRejectedType: compensate(Failed, ReasonOutOfStock, true, false),
		cancelRequested:          compensate(Cancelled, ReasonCancelled, true, true),
		stepTimedOut:             retryOr(events.ReserveStockType, compensate(Failed, ReasonTimeout, true, true)),
	},
	// Goods that left cannot be called back, so from FULFILLMENT on nothing is undone before the
	// fulfillment service has answered whether there is a shipment: a cancel, or a step out of
	// tries, asks it not to ship and waits. Its answer decides: a shipment made stands and the
	// order completes; otherwise none will be made, and the charge and the stock are given back.
	Fulfillment: {
		events.ShipmentCreatedType: func(s sagaState, p events.Payload) (sagaState, []events.Type) {
			reason := ""
			if s.CancelPending {
				reason = ReasonCancelTooLate
			}
			s.CancelPending = false
			return finishAs(Completed, reason)(s, p)
		},
		events.ShipmentFailedType: func(s sagaState, p events.Payload) (sagaState, []events.Type) {
			if s.CancelPending && s.Outcome == Cancelled {
				return shipmentCancelled(s, p) // no shipment, as the customer asked
			}
			s.CancelPending = false
			return compensate(Failed, ReasonShipmentFailed, true, true)(s, p)
		},
		events.ShipmentCancelledType: shipmentCancelled,
		cancelRequested:              cancelShipment(Cancelled, ReasonCancelled),
		stepTimedOut: func(s sagaState, p events.Payload) (sagaState, []events.Type) {
			if s.CancelPending {
				// Whether the order shipped is still unknown: ask again, for as long as it takes.
				s.Attempts++
				s.HistoryReasonTag = "STEP_RETRIED"
				return s, []events.Type{events.CancelShipmentType}
			}
			return retryOr(events.CreateShipmentType, cancelShipment(Failed, ReasonTimeout))(s, p)
		},
	},
	Compensating: {
		// Replies that were in flight when compensation began: the undo commands were sent
		// after the commands these answer, on the same partitions, so they undo them too.
		events.PaymentChargedType: func(s sagaState, _ events.Payload) (sagaState, []events.Type) {
			s.Charged = true
			return s, nil
		},
		events.StockReservedType: func(s sagaState, _ events.Payload) (sagaState, []events.Type) {
			s.Reserved = true
			return s, nil
		},
		events.PaymentRefundedType: func(s sagaState, _ events.Payload) (sagaState, []events.Type) {
			if !s.RefundPending {
				return s, nil // an answer to a refund already counted
			}
			s.RefundPending, s.HistoryReasonTag = false, "PAYMENT_REFUNDED"
			return finishIfUndone(s)
		},
		events.StockReleasedType: func(s sagaState, _ events.Payload) (sagaState, []events.Type) {
			if !s.ReleasePending {
				return s, nil
			}
			s.ReleasePending, s.HistoryReasonTag = false, "STOCK_RELEASED"
			return finishIfUndone(s)
		},
		cancelRequested: func(s sagaState, _ events.Payload) (sagaState, []events.Type) {
			if s.Outcome != Cancelled {
				s.Outcome, s.OutcomeReason, s.HistoryReasonTag = Cancelled, ReasonCancelled, ReasonCancelled
			}
			return s, nil
		},
		// Undo commands are durable in Kafka and will be applied when their service returns;
		// after the last try the order ends without waiting for them.
		stepTimedOut: func(s sagaState, _ events.Payload) (sagaState, []events.Type) {
			if s.Attempts < s.MaxAttempts {
				s.Attempts++
				s.HistoryReasonTag = "STEP_RETRIED"
				return s, pendingUndo(s)
			}
			s.RefundPending, s.ReleasePending = false, false
			return finishIfUndone(s)
		},
	},
}

// awaiting lists the replies an order in state s waits for: any one of them takes a step forward
// (PENDING's is its own OrderCreated, applied where it was created); while compensating, each undo
// not yet answered. Every one has a rule in s's status.
func awaiting(s sagaState) []events.Type {
	switch s.Status {
	case Pending:
		return []events.Type{events.OrderCreatedType}
	case Payment:
		return []events.Type{events.PaymentChargedType, events.PaymentDeclinedType}
	case Inventory:
		return []events.Type{events.StockReservedType, events.StockRejectedType}
	case Fulfillment:
		if s.CancelPending { // CancelShipment is answered with the shipment if it was made
			return []events.Type{events.ShipmentCancelledType, events.ShipmentCreatedType, events.ShipmentFailedType}
		}
		return []events.Type{events.ShipmentCreatedType, events.ShipmentFailedType}
	case Compensating:
		var out []events.Type
		if s.RefundPending {
			out = append(out, events.PaymentRefundedType)
		}
		if s.ReleasePending {
			out = append(out, events.StockReleasedType)
		}
		return out
	}
	return nil
}

// advanceTo moves to the next step and sends its command.
func advanceTo(next Status, command events.Type) rule {
	return func(s sagaState, _ events.Payload) (sagaState, []events.Type) {
		s.Status, s.Attempts = next, 1
		return s, []events.Type{command}
	}
}

// finishAs ends the saga without anything to undo.
func finishAs(end Status, reason string) rule {
	return func(s sagaState, _ events.Payload) (sagaState, []events.Type) {
		s.Outcome, s.OutcomeReason = end, reason
		s.RefundPending, s.ReleasePending = false, false
		return finishIfUndone(s)
	}
}

// cancelShipment asks the fulfillment service not to ship, to end as end (for reason) if it
// does not. A customer's cancel while a timed-out step's cancel is pending makes the order end
// CANCELLED.
func cancelShipment(end Status, reason string) rule {
	return func(s sagaState, _ events.Payload) (sagaState, []events.Type) {
		if s.CancelPending {
			if end == Cancelled && s.Outcome != Cancelled {
				s.Outcome, s.OutcomeReason, s.HistoryReasonTag = Cancelled, ReasonCancelled, ReasonCancelled
			}
			return s, nil
		}
		s.CancelPending, s.Outcome, s.OutcomeReason, s.Attempts = true, end, reason, 1
		s.HistoryReasonTag = ReasonCancellingShipment
		return s, []events.Type{events.CancelShipmentType}
	}
}

// shipmentCancelled undoes the charge and the reservation of an order that will not ship. A
// CreateShipment replayed after a cancel is answered ShipmentCancelled without one pending.
func shipmentCancelled(s sagaState, p events.Payload) (sagaState, []events.Type) {
	end, reason := s.Outcome, s.OutcomeReason
	if !s.CancelPending {
		end, reason = Cancelled, ReasonCancelled
	}
	s.CancelPending = false
	return compensate(end, reason, true, true)(s, p)
}

// compensate starts undoing what may have been done: the charge (refund) and the reservation
// (release). The undo commands follow the commands they undo on the same partitions, so they are
// applied after them even if those are still in flight.
func compensate(end Status, reason string, refund, release bool) rule {
	return func(s sagaState, _ events.Payload) (sagaState, []events.Type) {
		s.Status, s.Outcome, s.OutcomeReason, s.Attempts = Compensating, end, reason, 1
		s.HistoryReasonTag = reason
		s.RefundPending, s.ReleasePending = refund, release
		return s, pendingUndo(s)
	}
}

func pendingUndo(s sagaState) []events.Type {
	var out []events.Type
	if s.ReleasePending {
		out = append(out, events.ReleaseStockType)
	}
	if s.RefundPending {
		out = append(out, events.RefundPaymentType)
	}
	return out
}

// finishIfUndone ends the saga once nothing awaits undoing.
func finishIfUndone(s sagaState) (sagaState, []events.Type) {
	if s.RefundPending || s.ReleasePending {
		return s, nil
	}
	s.UndoneTag = s.HistoryReasonTag
	s.Status, s.Attempts, s.HistoryReasonTag = s.Outcome, 0, s.OutcomeReason
	switch s.Outcome {
	case Completed:
		return s, []events.Type{events.OrderCompletedType}
	case Cancelled:
		return s, []events.Type{events.OrderCancelledType}
	default:
		s.FailureReason = s.OutcomeReason
		return s, []events.Type{events.OrderFailedType}
	}
}

// retryOr re-sends the step's command (a new command id each time) until the attempts run out,
// then does what otherwise says.
func retryOr(command events.Type, otherwise rule) rule {
	return func(s sagaState, p events.Payload) (sagaState, []events.Type) {
		if s.Attempts < s.MaxAttempts {
			s.Attempts++
			s.HistoryReasonTag = "STEP_RETRIED"
			return s, []events.Type{command}
		}
		return otherwise(s, p)
	}
}

// next looks up what event t does to an order in state s; ok is false when it does nothing.
func next(s sagaState, t events.Type, p events.Payload) (sagaState, []events.Type, bool) {
	r, ok := rules[s.Status][t]
	if !ok {
		return s, nil, false
	}
	s.HistoryReasonTag, s.UndoneTag = "", ""
	s2, send := r(s, p)
	return s2, send, true
}

// build makes the message of type t for an order.
func build(t events.Type, o *Order, s sagaState) events.Payload {
	switch t {
	case events.ChargePaymentType:
		return events.ChargePayment{OrderID: o.ID, CustomerID: o.CustomerID, Amount: o.Total, Currency: o.Currency}
	case events.RefundPaymentType:
		return events.RefundPayment{OrderID: o.ID, CustomerID: o.CustomerID, Amount: o.Total, Currency: o.Currency}
	case events.ReserveStockType:
		return events.ReserveStock{OrderID: o.ID, Lines: lines(o)}
	case events.ReleaseStockType:
		return events.ReleaseStock{OrderID: o.ID}
	case events.CreateShipmentType:
		return events.CreateShipment{OrderID: o.ID, CustomerID: o.CustomerID, Address: o.Address, Lines: lines(o)}
	case events.CancelShipmentType:
		return events.CancelShipment{OrderID: o.ID}
	case events.OrderCompletedType:
		return events.OrderCompleted{OrderID: o.ID, CustomerID: o.CustomerID, Total: o.Total, Currency: o.Currency}
	case events.OrderCancelledType:
		return events.OrderCancelled{OrderID: o.ID, CustomerID: o.CustomerID, Total: &o.Total, Currency: o.Currency}
	case events.OrderFailedType:
		return events.OrderFailed{OrderID: o.ID, CustomerID: o.CustomerID, Reason: s.OutcomeReason, Total: &o.Total, Currency: o.Currency}
	}
	panic(fmt.Sprintf("saga sends no %s", t)) // the rules table and build disagree: a bug
}

func lines(o *Order) []events.Line {
	out := make([]events.Line, len(o.Items))
	for i, it := range o.Items {
		out[i] = events.Line{SKU: it.SKU, Quantity: it.Quantity}
	}
	return out
}

// commandID derives a message's event id from its order, type and attempt, so that a message the
// relay sends twice is one message to its receiver's inbox, while a step's command re-sent after
// its deadline is a new one: the receiver answers it again from what it recorded the first time,
// and a reply that was lost (dead-lettered on its way back, say) is sent again. The first attempt
// (and messages sent once, with attempt 0) keep the id of the order and type alone.
func commandID(orderID string, t events.Type, attempt int) string {
	name := orderID + "/" + string(t)
	if attempt > 1 {
		name += "/" + strconv.Itoa(attempt)
	}
	return uuid.NewSHA1(sagaNamespace, []byte(name)).String()
}

var sagaNamespace = uuid.MustParse("5b0c3a52-6c1e-4d4e-9a43-6f2a0a8d2f6e")

// sagaEvents lists every event type some rule consumes from Kafka: all the real ones but
// OrderCreated, which is applied where it is created.
func sagaEvents() []events.Type {
	var out []events.Type
	for _, byEvent := range rules {
		for t := range byEvent {
			if events.Known(t) && t != events.OrderCreatedType && !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// Subscriptions lists what the order service consumes: every reply the other services send. Its
// own OrderCreated, which starts the saga, is applied where it is created (RunFirstSteps).
func (s *Service) Subscriptions() []messaging.Subscription {
	return []messaging.Subscription{{
		Name:   "order-saga",
		Topics: []string{events.TopicPaymentEvents, events.TopicInventoryEvents, events.TopicFulfillmentEvents},
		Types:  sagaEvents(),
		Load:   messaging.Stateful(loadBatch, s.advance),
	}}
}

// loadBatch locks a batch's orders in id order before any step: batches from the saga's three
// topics can hold events of the same orders (a refund and a release while compensating), and on
// PostgreSQL two batches updating them in different orders would deadlock. Only the replies that
// move an order on to a step whose command lists its items have its items read.
func loadBatch(tx *sqlstore.Tx, batch []messaging.Event) (sagas, []sqlstore.Read) {
	var ids, withItems []string
	for _, e := range batch {
		id := e.Envelope.Subject
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
		switch e.Envelope.Type {
		case events.PaymentChargedType, events.StockReservedType:
			if !slices.Contains(withItems, id) {
				withItems = append(withItems, id)
			}
		}
	}
	return loadSagas(tx, ids, withItems)
}

// advance applies one event to its order's saga.
func (s *Service) advance(ctx context.Context, tx *sqlstore.Tx, sg sagas, e messaging.Event) error {
	_, err := s.step(ctx, tx, sg[e.Envelope.Subject], e.Envelope.Type, e.Payload, e.Envelope.ID)
	if errors.Is(err, ErrNotFound) {
		return messaging.Permanent(fmt.Errorf("%s for unknown order %q", e.Envelope.Type, e.Envelope.Subject))
	}
	return err
}

// step applies event t to an order that tx has locked and read (nil: there is no such order)
// and sends what the saga says. It reports whether the order changed.
func (s *Service) step(ctx context.Context, tx *sqlstore.Tx, row *sagaRow, t events.Type, p events.Payload, eventID string) (bool, error) {
	if row == nil {
		return false, ErrNotFound
	}
	if due, ok := p.(stepDue); ok && !(row.deadline.Valid && row.deadline.Time.Before(due.by)) {
		return false, nil // not due any more: the step moved on since it was found overdue
	}
	o, st := row.order, row.state
	st.MaxAttempts = s.StepAttempts
	// Every step continues the order's trace, so that one order is one trace: one taken outside a
	// consumer (the first, a deadline) has none of its own, and a cancel request has its own.
	if orderTrace := tracing.Extract(ctx, o.TraceParent, o.TraceState); trace.SpanContextFromContext(orderTrace).TraceID() !=
		trace.SpanContextFromContext(ctx).TraceID() {
		ctx = orderTrace
	}
	nextState, send, ok := next(st, t, p)
	if !ok {
		s.log.Debug("event changes nothing", "order_id", o.ID, "status", st.Status, "event_type", t, "event_id", eventID)
		return false, nil
	}
	if slices.ContainsFunc(send, func(t events.Type) bool {
		return t == events.ReserveStockType || t == events.CreateShipmentType
	}) {
		if !row.itemsKnown {
			return false, fmt.Errorf("order %s: %s lists its items, which were not read", o.ID, send)
		}
		o.Items = row.items
	}
	// Every status but the terminal ones awaits a reply by a deadline (PENDING, whose deadline
	// create sets, awaits its first step; no rule leads back to it). The deadline runs from when
	// the step's commands were sent: a reply that sends nothing (one undo of two, or a duplicate)
	// leaves it where it was.
	at := now()
	due, deadline := row.deadline, row.deadline
	switch {
	case nextState.Status.Terminal():
		deadline = sql.NullTime{}
	case len(send) > 0:
		deadline = sql.NullTime{Time: at.Add(s.StepTimeout), Valid: true}
	}
	row.save(tx, nextState, deadline, at)
	for _, typ := range send {
		msg, err := events.NewWithID(commandID(o.ID, typ, nextState.Attempts), Name, o.ID, build(typ, o, nextState))
		if err != nil {
			return false, err
		}
		if err := s.outbox.Put(ctx, tx, msg); err != nil {
			return false, err
		}
	}
	s.log.Debug("saga step", "order_id", o.ID, "from", st.Status, "to", nextState.Status, "event_type", t,
		"event_id", eventID, "sent", send)
	s.observe(ctx, tx, o, st.Status, nextState, t, due, at)
	return true, nil
}

// observe records what a step did to an order once its transaction has committed (a transaction
// rolled back and retried would otherwise count it twice): a step's reply applied, a step out of
// time, the order's end (which also wakes the requests waiting for it).
// due is when the step the order was in was due.
func (s *Service) observe(ctx context.Context, tx *sqlstore.Tx, o *Order, from Status, to sagaState, t events.Type, due sql.NullTime, at time.Time) {
	step := stepName(from)
	var answered time.Duration
	if step != "" && t != stepTimedOut && t != cancelRequested && due.Valid {
		answered = at.Sub(due.Time.Add(-s.StepTimeout)) // the deadline runs from the send
	}
	tx.AfterCommit(func() {
		switch {
		case step != "" && t == stepTimedOut:
			s.metrics.StepTimedOut(step)
		case step != "" && to.Status != from && answered > 0:
			s.metrics.StepAnswered(step, answered)
		}
		if to.Status.Terminal() {
			s.watch.end(o.ID)
			took := at.Sub(o.CreatedAt)
			s.metrics.OrderFinished(string(to.Status), to.OutcomeReason, took)
			// In the span of the step that ended it: the line names the order's trace.
			s.log.InfoContext(ctx, "order finished", "order_id", o.ID, "status", to.Status,
				"reason", to.OutcomeReason, "duration_ms", took.Milliseconds())
		}
	})
}

// stepName is the saga step an order in status s awaits ("" for none; PENDING awaits its first):
// the label of the step metrics.
func stepName(s Status) string {
	switch s {
	case Pending, Payment, Inventory, Fulfillment, Compensating:
		return strings.ToLower(string(s))
	}
	return ""
}
