package order

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/events"
)

// allStatuses is every order status; TestSagaTableCoversEverything checks it against order.go.
var allStatuses = []Status{Pending, Payment, Inventory, Fulfillment, Completed, Compensating, Failed, Cancelled}

// allEventTypes is every event and command type of the events package; TestSagaTableCoversEverything
// checks it against events/types.go.
var allEventTypes = []events.Type{
	events.OrderCreatedType, events.OrderCompletedType, events.OrderFailedType, events.OrderCancelledType,
	events.ChargePaymentType, events.PaymentChargedType, events.PaymentDeclinedType,
	events.RefundPaymentType, events.PaymentRefundedType,
	events.ReserveStockType, events.StockReservedType, events.StockRejectedType,
	events.ReleaseStockType, events.StockReleasedType,
	events.CreateShipmentType, events.ShipmentCreatedType, events.ShipmentFailedType,
}

// pseudoEvents are the things that happen to a saga without a message; TestSagaTableCoversEverything
// checks them against saga.go.
var pseudoEvents = []events.Type{cancelRequested, stepTimedOut}

// sagaInputs is everything the state machine can be handed: every event type and pseudo-event.
var sagaInputs = slices.Concat(allEventTypes, pseudoEvents)

// sagaStart is a named state the saga is in before an event.
type sagaStart struct {
	name string
	s    sagaState
}

// TestSagaTransitions is the whole state machine, written out: every status x every event type and
// pseudo-event, what state it leads to and which messages it sends. COMPENSATING is written out for
// three representative states (what is pending decides what a reply does); the attempt-dependent
// pseudo-event stepTimedOut is written out for a step with tries left and one on its last try.
//
// A row with nothing set means "nothing happens": next reports no transition and the state is
// untouched. A row whose expected state equals its start but is not marked nothing is a transition
// that changes nothing visible (the saga applies it and stores it, but sends nothing).
func TestSagaTransitions(t *testing.T) {
	const (
		orderCreated    = events.OrderCreatedType
		orderCompleted  = events.OrderCompletedType
		orderFailed     = events.OrderFailedType
		orderCancelled  = events.OrderCancelledType
		chargePayment   = events.ChargePaymentType
		paymentCharged  = events.PaymentChargedType
		paymentDeclined = events.PaymentDeclinedType
		refundPayment   = events.RefundPaymentType
		paymentRefunded = events.PaymentRefundedType
		reserveStock    = events.ReserveStockType
		stockReserved   = events.StockReservedType
		stockRejected   = events.StockRejectedType
		releaseStock    = events.ReleaseStockType
		stockReleased   = events.StockReleasedType
		createShipment  = events.CreateShipmentType
		shipmentCreated = events.ShipmentCreatedType
		shipmentFailed  = events.ShipmentFailedType
		cancel          = cancelRequested
		timeout         = stepTimedOut
	)
	const maxTries = 3 // MaxAttempts in every state below
	var (
		pending = sagaStart{"PENDING", sagaState{Status: Pending, MaxAttempts: maxTries}}

		payment     = sagaStart{"PAYMENT", sagaState{Status: Payment, Attempts: 1, MaxAttempts: maxTries}}
		paymentLast = sagaStart{"PAYMENT(last try)", sagaState{Status: Payment, Attempts: maxTries, MaxAttempts: maxTries}}

		inventory     = sagaStart{"INVENTORY", sagaState{Status: Inventory, Charged: true, Attempts: 1, MaxAttempts: maxTries}}
		inventoryLast = sagaStart{"INVENTORY(last try)", sagaState{Status: Inventory, Charged: true, Attempts: maxTries, MaxAttempts: maxTries}}

		fulfillment = sagaStart{"FULFILLMENT", sagaState{Status: Fulfillment, Charged: true, Reserved: true,
			Attempts: 1, MaxAttempts: maxTries}}
		fulfillmentLast = sagaStart{"FULFILLMENT(last try)", sagaState{Status: Fulfillment, Charged: true, Reserved: true,
			Attempts: maxTries, MaxAttempts: maxTries}}

		completed = sagaStart{"COMPLETED", sagaState{Status: Completed, Charged: true, Reserved: true,
			Outcome: Completed, MaxAttempts: maxTries}}
		failed = sagaStart{"FAILED", sagaState{Status: Failed, Charged: true, Outcome: Failed,
			OutcomeReason: ReasonOutOfStock, FailureReason: ReasonOutOfStock, MaxAttempts: maxTries}}
		cancelled = sagaStart{"CANCELLED", sagaState{Status: Cancelled, Outcome: Cancelled,
			OutcomeReason: ReasonCancelled, MaxAttempts: maxTries}}

		// Cancelled in PAYMENT: the refund is pending, the charge may still be in flight.
		refundOnly = sagaStart{"COMPENSATING(refund pending)", sagaState{Status: Compensating,
			RefundPending: true, Outcome: Cancelled, OutcomeReason: ReasonCancelled, Attempts: 1, MaxAttempts: maxTries}}
		refundOnlyLast = sagaStart{"COMPENSATING(refund pending, last try)", sagaState{Status: Compensating,
			RefundPending: true, Outcome: Cancelled, OutcomeReason: ReasonCancelled, Attempts: maxTries, MaxAttempts: maxTries}}
		// Cancelled in INVENTORY: both undos pending, the reservation may still be in flight.
		refundAndRelease = sagaStart{"COMPENSATING(refund and release pending)", sagaState{Status: Compensating,
			Charged: true, RefundPending: true, ReleasePending: true, Outcome: Cancelled, OutcomeReason: ReasonCancelled,
			Attempts: 1, MaxAttempts: maxTries}}
		refundAndReleaseLast = sagaStart{"COMPENSATING(refund and release pending, last try)", sagaState{Status: Compensating,
			Charged: true, RefundPending: true, ReleasePending: true, Outcome: Cancelled, OutcomeReason: ReasonCancelled,
			Attempts: maxTries, MaxAttempts: maxTries}}
		// INVENTORY timed out, the refund came back, the release has not yet (second try).
		releaseOnly = sagaStart{"COMPENSATING(release pending)", sagaState{Status: Compensating,
			Charged: true, ReleasePending: true, Outcome: Failed, OutcomeReason: ReasonTimeout, Attempts: 2, MaxAttempts: maxTries}}
		releaseOnlyLast = sagaStart{"COMPENSATING(release pending, last try)", sagaState{Status: Compensating,
			Charged: true, ReleasePending: true, Outcome: Failed, OutcomeReason: ReasonTimeout, Attempts: maxTries, MaxAttempts: maxTries}}
	)
	// fullStarts must each have a row for every input; the "last try" starts only for timeout.
	fullStarts := []sagaStart{pending, payment, inventory, fulfillment, completed, failed, cancelled,
		refundOnly, refundAndRelease, releaseOnly}
	lastTries := []sagaStart{paymentLast, inventoryLast, fulfillmentLast, refundOnlyLast, refundAndReleaseLast, releaseOnlyLast}

	type row struct {
		from    sagaStart
		on      events.Type
		nothing bool      // next reports no transition
		want    sagaState // the state after, when something happens
		send    []events.Type
	}
	nothing := func(from sagaStart, on events.Type) row { return row{from: from, on: on, nothing: true} }
	send := func(ts ...events.Type) []events.Type { return ts }

	tests := []row{
		// PENDING: only the order's own OrderCreated starts the saga; a cancel ends it at once.
		{from: pending, on: orderCreated, want: sagaState{Status: Payment, Attempts: 1, MaxAttempts: maxTries},
			send: send(chargePayment)},
		nothing(pending, orderCompleted),
		nothing(pending, orderFailed),
		nothing(pending, orderCancelled),
		nothing(pending, chargePayment),
		nothing(pending, paymentCharged),
		nothing(pending, paymentDeclined),
		nothing(pending, refundPayment),
		nothing(pending, paymentRefunded),
		nothing(pending, reserveStock),
		nothing(pending, stockReserved),
		nothing(pending, stockRejected),
		nothing(pending, releaseStock),
		nothing(pending, stockReleased),
		nothing(pending, createShipment),
		nothing(pending, shipmentCreated),
		nothing(pending, shipmentFailed),
		{from: pending, on: cancel, want: sagaState{Status: Cancelled, Outcome: Cancelled, OutcomeReason: ReasonCancelled,
			HistoryReasonTag: ReasonCancelled, MaxAttempts: maxTries}, send: send(orderCancelled)},
		// The order's process died before taking the first step: the deadline takes it.
		{from: pending, on: timeout, want: sagaState{Status: Payment, Attempts: 1, MaxAttempts: maxTries},
			send: send(chargePayment)},

		// PAYMENT: awaiting the charge.
		nothing(payment, orderCreated), // duplicate
		nothing(payment, orderCompleted),
		nothing(payment, orderFailed),
		nothing(payment, orderCancelled),
		nothing(payment, chargePayment), // our own command, never consumed
		{from: payment, on: paymentCharged, want: sagaState{Status: Inventory, Charged: true, Attempts: 1, MaxAttempts: maxTries},
			send: send(reserveStock)},
		{from: payment, on: paymentDeclined, want: sagaState{Status: Failed, Outcome: Failed,
			OutcomeReason: ReasonPaymentDeclined, FailureReason: ReasonPaymentDeclined,
			HistoryReasonTag: ReasonPaymentDeclined, MaxAttempts: maxTries}, send: send(orderFailed)},
		nothing(payment, refundPayment),
		nothing(payment, paymentRefunded), // nothing was asked to be refunded
		nothing(payment, reserveStock),
		nothing(payment, stockReserved), // too early: never asked
		nothing(payment, stockRejected),
		nothing(payment, releaseStock),
		nothing(payment, stockReleased),
		nothing(payment, createShipment),
		nothing(payment, shipmentCreated),
		nothing(payment, shipmentFailed),
		// The charge may be in flight: refund it (a refund of nothing is answered all the same).
		{from: payment, on: cancel, want: sagaState{Status: Compensating, RefundPending: true, Outcome: Cancelled,
			OutcomeReason: ReasonCancelled, HistoryReasonTag: ReasonCancelled, Attempts: 1, MaxAttempts: maxTries},
			send: send(refundPayment)},
		{from: payment, on: timeout, want: sagaState{Status: Payment, Attempts: 2, MaxAttempts: maxTries,
			HistoryReasonTag: "STEP_RETRIED"}, send: send(chargePayment)},
		{from: paymentLast, on: timeout, want: sagaState{Status: Compensating, RefundPending: true, Outcome: Failed,
			OutcomeReason: ReasonTimeout, HistoryReasonTag: ReasonTimeout, Attempts: 1, MaxAttempts: maxTries},
			send: send(refundPayment)},

		// INVENTORY: charged, awaiting the reservation.
		nothing(inventory, orderCreated),
		nothing(inventory, orderCompleted),
		nothing(inventory, orderFailed),
		nothing(inventory, orderCancelled),
		nothing(inventory, chargePayment),
		nothing(inventory, paymentCharged), // duplicate reply
		nothing(inventory, paymentDeclined),
		nothing(inventory, refundPayment),
		nothing(inventory, paymentRefunded),
		nothing(inventory, reserveStock),
		{from: inventory, on: stockReserved, want: sagaState{Status: Fulfillment, Charged: true, Reserved: true,
			Attempts: 1, MaxAttempts: maxTries}, send: send(createShipment)},
		{from: inventory, on: stockRejected, want: sagaState{Status: Compensating, Charged: true, RefundPending: true,
			Outcome: Failed, OutcomeReason: ReasonOutOfStock, HistoryReasonTag: ReasonOutOfStock, Attempts: 1, MaxAttempts: maxTries},
			send: send(refundPayment)},
		nothing(inventory, releaseStock),
		nothing(inventory, stockReleased),
		nothing(inventory, createShipment),
		nothing(inventory, shipmentCreated),
		nothing(inventory, shipmentFailed),
		{from: inventory, on: cancel, want: sagaState{Status: Compensating, Charged: true, RefundPending: true,
			ReleasePending: true, Outcome: Cancelled, OutcomeReason: ReasonCancelled, HistoryReasonTag: ReasonCancelled,
			Attempts: 1, MaxAttempts: maxTries}, send: send(releaseStock, refundPayment)},
		{from: inventory, on: timeout, want: sagaState{Status: Inventory, Charged: true, Attempts: 2, MaxAttempts: maxTries,
			HistoryReasonTag: "STEP_RETRIED"}, send: send(reserveStock)},
		{from: inventoryLast, on: timeout, want: sagaState{Status: Compensating, Charged: true, RefundPending: true,
			ReleasePending: true, Outcome: Failed, OutcomeReason: ReasonTimeout, HistoryReasonTag: ReasonTimeout,
			Attempts: 1, MaxAttempts: maxTries}, send: send(releaseStock, refundPayment)},

		// FULFILLMENT: charged and reserved, awaiting the shipment.
		nothing(fulfillment, orderCreated),
		nothing(fulfillment, orderCompleted),
		nothing(fulfillment, orderFailed),
		nothing(fulfillment, orderCancelled),
		nothing(fulfillment, chargePayment),
		nothing(fulfillment, paymentCharged), // late duplicate
		nothing(fulfillment, paymentDeclined),
		nothing(fulfillment, refundPayment),
		nothing(fulfillment, paymentRefunded),
		nothing(fulfillment, reserveStock),
		nothing(fulfillment, stockReserved), // duplicate reply
		nothing(fulfillment, stockRejected),
		nothing(fulfillment, releaseStock),
		nothing(fulfillment, stockReleased),
		nothing(fulfillment, createShipment),
		{from: fulfillment, on: shipmentCreated, want: sagaState{Status: Completed, Charged: true, Reserved: true,
			Outcome: Completed, MaxAttempts: maxTries}, send: send(orderCompleted)},
		{from: fulfillment, on: shipmentFailed, want: sagaState{Status: Compensating, Charged: true, Reserved: true,
			RefundPending: true, ReleasePending: true, Outcome: Failed, OutcomeReason: ReasonShipmentFailed,
			HistoryReasonTag: ReasonShipmentFailed, Attempts: 1, MaxAttempts: maxTries}, send: send(releaseStock, refundPayment)},
		{from: fulfillment, on: cancel, want: sagaState{Status: Compensating, Charged: true, Reserved: true,
			RefundPending: true, ReleasePending: true, Outcome: Cancelled, OutcomeReason: ReasonCancelled,
			HistoryReasonTag: ReasonCancelled, Attempts: 1, MaxAttempts: maxTries}, send: send(releaseStock, refundPayment)},
		{from: fulfillment, on: timeout, want: sagaState{Status: Fulfillment, Charged: true, Reserved: true,
			Attempts: 2, MaxAttempts: maxTries, HistoryReasonTag: "STEP_RETRIED"}, send: send(createShipment)},
		{from: fulfillmentLast, on: timeout, want: sagaState{Status: Compensating, Charged: true, Reserved: true,
			RefundPending: true, ReleasePending: true, Outcome: Failed, OutcomeReason: ReasonTimeout,
			HistoryReasonTag: ReasonTimeout, Attempts: 1, MaxAttempts: maxTries}, send: send(releaseStock, refundPayment)},

		// COMPLETED, FAILED, CANCELLED: terminal, nothing moves them (a cancel is refused by Cancel).
		nothing(completed, orderCreated),
		nothing(completed, orderCompleted),
		nothing(completed, orderFailed),
		nothing(completed, orderCancelled),
		nothing(completed, chargePayment),
		nothing(completed, paymentCharged),
		nothing(completed, paymentDeclined),
		nothing(completed, refundPayment),
		nothing(completed, paymentRefunded),
		nothing(completed, reserveStock),
		nothing(completed, stockReserved),
		nothing(completed, stockRejected),
		nothing(completed, releaseStock),
		nothing(completed, stockReleased),
		nothing(completed, createShipment),
		nothing(completed, shipmentCreated), // duplicate
		nothing(completed, shipmentFailed),
		nothing(completed, cancel),
		nothing(completed, timeout),

		nothing(failed, orderCreated),
		nothing(failed, orderCompleted),
		nothing(failed, orderFailed),
		nothing(failed, orderCancelled),
		nothing(failed, chargePayment),
		nothing(failed, paymentCharged),
		nothing(failed, paymentDeclined),
		nothing(failed, refundPayment),
		nothing(failed, paymentRefunded), // duplicate
		nothing(failed, reserveStock),
		nothing(failed, stockReserved),
		nothing(failed, stockRejected),
		nothing(failed, releaseStock),
		nothing(failed, stockReleased),
		nothing(failed, createShipment),
		nothing(failed, shipmentCreated),
		nothing(failed, shipmentFailed),
		nothing(failed, cancel),
		nothing(failed, timeout),

		nothing(cancelled, orderCreated), // the order's own OrderCreated, consumed after a cancel in PENDING
		nothing(cancelled, orderCompleted),
		nothing(cancelled, orderFailed),
		nothing(cancelled, orderCancelled),
		nothing(cancelled, chargePayment),
		nothing(cancelled, paymentCharged),
		nothing(cancelled, paymentDeclined),
		nothing(cancelled, refundPayment),
		nothing(cancelled, paymentRefunded),
		nothing(cancelled, reserveStock),
		nothing(cancelled, stockReserved),
		nothing(cancelled, stockRejected),
		nothing(cancelled, releaseStock),
		nothing(cancelled, stockReleased),
		nothing(cancelled, createShipment),
		nothing(cancelled, shipmentCreated),
		nothing(cancelled, shipmentFailed),
		nothing(cancelled, cancel),
		nothing(cancelled, timeout),

		// COMPENSATING, refund pending (cancelled in PAYMENT).
		nothing(refundOnly, orderCreated),
		nothing(refundOnly, orderCompleted),
		nothing(refundOnly, orderFailed),
		nothing(refundOnly, orderCancelled),
		nothing(refundOnly, chargePayment),
		// The charge that was in flight: recorded, and the refund already sent undoes it.
		{from: refundOnly, on: paymentCharged, want: sagaState{Status: Compensating, Charged: true, RefundPending: true,
			Outcome: Cancelled, OutcomeReason: ReasonCancelled, Attempts: 1, MaxAttempts: maxTries}},
		nothing(refundOnly, paymentDeclined), // the charge in flight was declined: the refund is a no-op
		nothing(refundOnly, refundPayment),
		// The last pending undo: the order ends, and its history shows the undo step before the end.
		{from: refundOnly, on: paymentRefunded, want: sagaState{Status: Cancelled, Outcome: Cancelled,
			OutcomeReason: ReasonCancelled, HistoryReasonTag: ReasonCancelled, UndoneTag: "PAYMENT_REFUNDED",
			MaxAttempts: maxTries}, send: send(orderCancelled)},
		nothing(refundOnly, reserveStock),
		// Recorded like any in-flight reply (unreachable here: no ReserveStock was sent before PAYMENT ended).
		{from: refundOnly, on: stockReserved, want: sagaState{Status: Compensating, Reserved: true, RefundPending: true,
			Outcome: Cancelled, OutcomeReason: ReasonCancelled, Attempts: 1, MaxAttempts: maxTries}},
		nothing(refundOnly, stockRejected),
		nothing(refundOnly, releaseStock),
		// An unasked-for release confirmation: applied (there is a rule), changes nothing, leaves no history line.
		{from: refundOnly, on: stockReleased, want: refundOnly.s},
		nothing(refundOnly, createShipment),
		nothing(refundOnly, shipmentCreated),
		nothing(refundOnly, shipmentFailed),
		// Already ending CANCELLED: a second cancel is applied and changes nothing, no history line.
		{from: refundOnly, on: cancel, want: refundOnly.s},
		{from: refundOnly, on: timeout, want: sagaState{Status: Compensating, RefundPending: true, Outcome: Cancelled,
			OutcomeReason: ReasonCancelled, HistoryReasonTag: "STEP_RETRIED", Attempts: 2, MaxAttempts: maxTries},
			send: send(refundPayment)},
		// Out of tries: the refund stays queued for the payment service; the order ends now.
		{from: refundOnlyLast, on: timeout, want: sagaState{Status: Cancelled, Outcome: Cancelled,
			OutcomeReason: ReasonCancelled, HistoryReasonTag: ReasonCancelled, MaxAttempts: maxTries}, send: send(orderCancelled)},

		// COMPENSATING, refund and release pending (cancelled in INVENTORY).
		nothing(refundAndRelease, orderCreated),
		nothing(refundAndRelease, orderCompleted),
		nothing(refundAndRelease, orderFailed),
		nothing(refundAndRelease, orderCancelled),
		nothing(refundAndRelease, chargePayment),
		{from: refundAndRelease, on: paymentCharged, want: refundAndRelease.s}, // duplicate: applied, changes nothing
		nothing(refundAndRelease, paymentDeclined),
		nothing(refundAndRelease, refundPayment),
		{from: refundAndRelease, on: paymentRefunded, want: sagaState{Status: Compensating, Charged: true,
			ReleasePending: true, Outcome: Cancelled, OutcomeReason: ReasonCancelled, HistoryReasonTag: "PAYMENT_REFUNDED",
			Attempts: 1, MaxAttempts: maxTries}},
		nothing(refundAndRelease, reserveStock),
		// StockReserved after the cancel: the reservation was made; the release already sent undoes it.
		{from: refundAndRelease, on: stockReserved, want: sagaState{Status: Compensating, Charged: true, Reserved: true,
			RefundPending: true, ReleasePending: true, Outcome: Cancelled, OutcomeReason: ReasonCancelled,
			Attempts: 1, MaxAttempts: maxTries}},
		nothing(refundAndRelease, stockRejected),
		nothing(refundAndRelease, releaseStock),
		{from: refundAndRelease, on: stockReleased, want: sagaState{Status: Compensating, Charged: true,
			RefundPending: true, Outcome: Cancelled, OutcomeReason: ReasonCancelled, HistoryReasonTag: "STOCK_RELEASED",
			Attempts: 1, MaxAttempts: maxTries}},
		nothing(refundAndRelease, createShipment),
		nothing(refundAndRelease, shipmentCreated),
		nothing(refundAndRelease, shipmentFailed),
		{from: refundAndRelease, on: cancel, want: refundAndRelease.s}, // already ending CANCELLED: changes nothing
		{from: refundAndRelease, on: timeout, want: sagaState{Status: Compensating, Charged: true, RefundPending: true,
			ReleasePending: true, Outcome: Cancelled, OutcomeReason: ReasonCancelled, HistoryReasonTag: "STEP_RETRIED",
			Attempts: 2, MaxAttempts: maxTries}, send: send(releaseStock, refundPayment)},
		{from: refundAndReleaseLast, on: timeout, want: sagaState{Status: Cancelled, Charged: true, Outcome: Cancelled,
			OutcomeReason: ReasonCancelled, HistoryReasonTag: ReasonCancelled, MaxAttempts: maxTries}, send: send(orderCancelled)},

		// COMPENSATING, release pending (INVENTORY timed out; the refund is back).
		nothing(releaseOnly, orderCreated),
		nothing(releaseOnly, orderCompleted),
		nothing(releaseOnly, orderFailed),
		nothing(releaseOnly, orderCancelled),
		nothing(releaseOnly, chargePayment),
		{from: releaseOnly, on: paymentCharged, want: releaseOnly.s}, // duplicate: applied, changes nothing
		nothing(releaseOnly, paymentDeclined),
		nothing(releaseOnly, refundPayment),
		// A second refund confirmation: applied (there is a rule), changes nothing, leaves no history line.
		{from: releaseOnly, on: paymentRefunded, want: releaseOnly.s},
		nothing(releaseOnly, reserveStock),
		// The reservation that timed out did happen after all; the release already sent undoes it.
		{from: releaseOnly, on: stockReserved, want: sagaState{Status: Compensating, Charged: true, Reserved: true,
			ReleasePending: true, Outcome: Failed, OutcomeReason: ReasonTimeout, Attempts: 2, MaxAttempts: maxTries}},
		nothing(releaseOnly, stockRejected),
		nothing(releaseOnly, releaseStock),
		{from: releaseOnly, on: stockReleased, want: sagaState{Status: Failed, Charged: true, Outcome: Failed,
			OutcomeReason: ReasonTimeout, FailureReason: ReasonTimeout, HistoryReasonTag: ReasonTimeout,
			UndoneTag: "STOCK_RELEASED", MaxAttempts: maxTries}, send: send(orderFailed)},
		nothing(releaseOnly, createShipment),
		nothing(releaseOnly, shipmentCreated),
		nothing(releaseOnly, shipmentFailed),
		// A cancel while compensating a failure: the order will end CANCELLED instead.
		{from: releaseOnly, on: cancel, want: sagaState{Status: Compensating, Charged: true, ReleasePending: true,
			Outcome: Cancelled, OutcomeReason: ReasonCancelled, HistoryReasonTag: ReasonCancelled, Attempts: 2, MaxAttempts: maxTries}},
		{from: releaseOnly, on: timeout, want: sagaState{Status: Compensating, Charged: true, ReleasePending: true,
			Outcome: Failed, OutcomeReason: ReasonTimeout, HistoryReasonTag: "STEP_RETRIED", Attempts: 3, MaxAttempts: maxTries},
			send: send(releaseStock)},
		{from: releaseOnlyLast, on: timeout, want: sagaState{Status: Failed, Charged: true, Outcome: Failed,
			OutcomeReason: ReasonTimeout, FailureReason: ReasonTimeout, HistoryReasonTag: ReasonTimeout, MaxAttempts: maxTries},
			send: send(orderFailed)},
	}

	// The table is complete: every full start has exactly one row per input, every status has a
	// full start, every COMPENSATING start is full, and the last-try starts only time out.
	rowsOf := map[string]map[events.Type]int{}
	for _, tt := range tests {
		if rowsOf[tt.from.name] == nil {
			rowsOf[tt.from.name] = map[events.Type]int{}
		}
		rowsOf[tt.from.name][tt.on]++
	}
	for _, st := range fullStarts {
		for _, in := range sagaInputs {
			if n := rowsOf[st.name][in]; n != 1 {
				t.Errorf("table has %d rows for %s x %s, want 1", n, st.name, in)
			}
		}
		if n := len(rowsOf[st.name]); n != len(sagaInputs) {
			t.Errorf("table has rows for %d inputs from %s, want %d", n, st.name, len(sagaInputs))
		}
	}
	for _, st := range lastTries {
		if st.s.Attempts != st.s.MaxAttempts {
			t.Errorf("%s: attempts %d, max %d: not a last try", st.name, st.s.Attempts, st.s.MaxAttempts)
		}
		if !maps.Equal(rowsOf[st.name], map[events.Type]int{timeout: 1}) {
			t.Errorf("table rows from %s = %v, want one for %s", st.name, rowsOf[st.name], timeout)
		}
	}
	for _, s := range allStatuses {
		if !slices.ContainsFunc(fullStarts, func(st sagaStart) bool { return st.s.Status == s }) {
			t.Errorf("no full start in status %s", s)
		}
	}
	if len(rowsOf) != len(fullStarts)+len(lastTries) {
		t.Errorf("table uses %d starts, want %d", len(rowsOf), len(fullStarts)+len(lastTries))
	}

	o := &Order{
		ID: "0190a0f2-0000-7000-8000-000000000001", CustomerID: "7f1c2b9e-3d4a-4b5c-8d6e-9f0a1b2c3d4e",
		Status: Pending, Currency: "USD", Total: dec("1022.17"),
		Address: events.Address{Country: "US", City: "Springfield", AddressLine1: "742 Evergreen Terrace"},
		Items:   []Item{{SKU: "SKU-APPLE", Quantity: dec("33"), UnitPrice: dec("19.99")}},
	}
	for _, tt := range tests {
		t.Run(tt.from.name+"/"+string(tt.on), func(t *testing.T) {
			got, sent, ok := next(tt.from.s, tt.on, nil)
			if tt.nothing {
				if ok || got != tt.from.s || sent != nil {
					t.Fatalf("next = %+v, sends %v, ok %v; want nothing to happen", got, sent, ok)
				}
				return
			}
			if !ok {
				t.Fatalf("next: nothing happens, want %+v sending %v", tt.want, tt.send)
			}
			if got != tt.want {
				t.Errorf("next moves\n from %+v\n   to %+v\n want %+v", tt.from.s, got, tt.want)
			}
			if !slices.Equal(sent, tt.send) {
				t.Errorf("next sends %v, want %v", sent, tt.send)
			}
			// The failure reason is set when, and only when, the order ends FAILED.
			if (got.Status == Failed) != (got.FailureReason != "") {
				t.Errorf("status %s with failure reason %q", got.Status, got.FailureReason)
			}
			// Whatever the saga sends, build can make, for this order.
			for _, ty := range sent {
				p := build(ty, o, got)
				if p.EventType() != ty {
					t.Errorf("build(%s) made a %s", ty, p.EventType())
				}
				if f, ok := p.(events.OrderFailed); ok && (f.Reason != got.OutcomeReason || f.Reason == "") {
					t.Errorf("OrderFailed reason %q, outcome reason %q", f.Reason, got.OutcomeReason)
				}
			}
		})
	}
}

// TestSagaNextIgnoresStaleHistoryTag: a step's history lines are the step's own, never ones left
// over from the step before.
func TestSagaNextIgnoresStaleHistoryTag(t *testing.T) {
	s := sagaState{Status: Compensating, Charged: true, RefundPending: true, ReleasePending: true,
		Outcome: Failed, OutcomeReason: ReasonShipmentFailed, Attempts: 1, MaxAttempts: 3,
		HistoryReasonTag: "STOCK_RELEASED", UndoneTag: "PAYMENT_REFUNDED"}
	got, sent, ok := next(s, events.PaymentChargedType, nil)
	if !ok || got.HistoryReasonTag != "" || got.UndoneTag != "" || sent != nil {
		t.Errorf("next = %+v, %v, %v; want applied with no history line and nothing sent", got, sent, ok)
	}
	// A refund that was not pending is applied and changes nothing, stale tags included.
	s.RefundPending = false
	got, sent, ok = next(s, events.PaymentRefundedType, nil)
	if !ok || got.HistoryReasonTag != "" || got.UndoneTag != "" || sent != nil {
		t.Errorf("next = %+v, %v, %v; want applied with no history line and nothing sent", got, sent, ok)
	}
}

// TestSagaSubscriptions: the saga consumes exactly the replies it has rules for, from the topics
// they arrive on, and never its own commands.
func TestSagaSubscriptions(t *testing.T) {
	svc := &Service{}
	subs := svc.Subscriptions()
	if len(subs) != 1 {
		t.Fatalf("%d subscriptions, want 1", len(subs))
	}
	sub := subs[0]
	want := []events.Type{
		events.PaymentChargedType, events.PaymentDeclinedType, events.PaymentRefundedType,
		events.StockReservedType, events.StockRejectedType, events.StockReleasedType,
		events.ShipmentCreatedType, events.ShipmentFailedType,
	}
	got := slices.Clone(sub.Types)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("subscribed types = %v, want %v", got, want)
	}
	for _, ty := range sub.Types {
		if !slices.Contains(sub.Topics, ty.Topic()) {
			t.Errorf("%s arrives on %s, which is not subscribed (%v)", ty, ty.Topic(), sub.Topics)
		}
	}
	for _, topic := range sub.Topics {
		switch topic {
		case events.TopicPaymentCommands, events.TopicInventoryCommands, events.TopicFulfillmentCommands:
			t.Errorf("subscribes to a command topic %s", topic)
		case events.TopicOrderEvents:
			t.Errorf("subscribes to its own events (%s): the first step is taken where the order is created", topic)
		}
	}
	if sub.Load == nil {
		t.Error("no handler")
	}
}

// TestSagaTableCoversEverything keeps the lists above honest: a status, event type or pseudo-event
// added to the code without rows in TestSagaTransitions fails here.
func TestSagaTableCoversEverything(t *testing.T) {
	checkSame := func(what string, got []string, listed []string) {
		t.Helper()
		slices.Sort(got)
		listed = slices.Clone(listed)
		slices.Sort(listed)
		if !slices.Equal(got, listed) {
			t.Errorf("%s in the code = %v\ntest covers %v", what, got, listed)
		}
	}
	checkSame("Status constants in order.go", constsOfType(t, "order.go", "", "Status"), strs(allStatuses))
	checkSame("Type constants in events/types.go", constsOfType(t, "../events/types.go", "", "Type"), strs(allEventTypes))
	checkSame("events.Type constants in saga.go", constsOfType(t, "saga.go", "events", "Type"), strs(pseudoEvents))

	// Every type is registered (decodable) and routed, so the list is the events package's own.
	for _, ty := range allEventTypes {
		if !events.Known(ty) || ty.Topic() == "" {
			t.Errorf("%s: known %v, topic %q", ty, events.Known(ty), ty.Topic())
		}
	}
	// And nothing in rules lies outside them.
	for from, byType := range rules {
		if !slices.Contains(allStatuses, from) {
			t.Errorf("rules has unknown status %q", from)
		}
		for ty := range byType {
			if !slices.Contains(sagaInputs, ty) {
				t.Errorf("rules[%s] has unknown type %q", from, ty)
			}
		}
	}
}

func strs[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

// constsOfType returns the string values of the constants declared in file with the type pkg.name
// (or name, if pkg is empty).
func constsOfType(t *testing.T, file, pkg, name string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatalf("parse %s: %v", file, err)
	}
	isType := func(e ast.Expr) bool {
		switch e := e.(type) {
		case *ast.Ident:
			return pkg == "" && e.Name == name
		case *ast.SelectorExpr:
			x, ok := e.X.(*ast.Ident)
			return ok && x.Name == pkg && e.Sel.Name == name
		}
		return false
	}
	var out []string
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			if !isType(vs.Type) {
				continue
			}
			for _, v := range vs.Values {
				lit, ok := v.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Fatalf("%s: constant of type %s is not a string literal", file, name)
				}
				out = append(out, lit.Value[1:len(lit.Value)-1])
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s declares no constants of type %s", file, name)
	}
	return out
}

func TestCommandID(t *testing.T) {
	const orderA = "0190a0f2-0000-7000-8000-00000000000a"
	const orderB = "0190a0f2-0000-7000-8000-00000000000b"

	// Deterministic: the same (order, type, attempt) always gives the same id, a name-based
	// (SHA-1) UUID.
	for _, ty := range allEventTypes {
		id := commandID(orderA, ty, 1)
		if again := commandID(orderA, ty, 1); again != id {
			t.Errorf("commandID(%s, %s) = %s then %s", orderA, ty, id, again)
		}
		u, err := uuid.Parse(id)
		if err != nil {
			t.Fatalf("commandID(%s, %s) = %q: not a UUID: %v", orderA, ty, id, err)
		}
		if u.Version() != 5 || u.Variant() != uuid.RFC4122 {
			t.Errorf("commandID(%s, %s) = %s: version %d variant %v, want a version 5 RFC 4122 UUID",
				orderA, ty, id, u.Version(), u.Variant())
		}
		if want := uuid.NewSHA1(sagaNamespace, []byte(orderA+"/"+string(ty))).String(); id != want {
			t.Errorf("commandID(%s, %s) = %s, want %s", orderA, ty, id, want)
		}
	}

	// Distinct across orders and across types: 2 orders x every type, all different.
	ids := map[string]string{}
	for _, o := range []string{orderA, orderB} {
		for _, ty := range allEventTypes {
			id := commandID(o, ty, 1)
			if prev, dup := ids[id]; dup {
				t.Errorf("commandID(%s, %s) = %s, same as %s", o, ty, id, prev)
			}
			ids[id] = o + "/" + string(ty)
		}
	}
	if len(ids) != 2*len(allEventTypes) {
		t.Errorf("got %d distinct ids, want %d", len(ids), 2*len(allEventTypes))
	}

	// Attempts: 0 (a message sent once) and 1 are the same id; each re-send after that is new.
	byAttempt := map[string]int{}
	for attempt := range 4 {
		id := commandID(orderA, events.ChargePaymentType, attempt)
		if prev, dup := byAttempt[id]; dup && !(prev <= 1 && attempt <= 1) {
			t.Errorf("commandID for attempt %d = %s, same as attempt %d", attempt, id, prev)
		}
		byAttempt[id] = attempt
	}
	if len(byAttempt) != 3 {
		t.Errorf("attempts 0 to 3 gave %d distinct ids, want 3", len(byAttempt))
	}

	// Pinned: the id of a sent command is part of the wire contract (the receivers dedupe on it), so
	// changing the namespace or the name format silently re-sends every in-flight command.
	// The literals are uuid.NewSHA1(5b0c3a52-6c1e-4d4e-9a43-6f2a0a8d2f6e, orderA+"/"+type).
	for ty, want := range map[events.Type]string{
		events.ChargePaymentType: "46a631ee-1a9a-5e3e-975d-e3b5c2129e3b",
		events.RefundPaymentType: "30a4800c-ed02-5a0e-bb92-39a18f3171ac",
	} {
		if got := commandID(orderA, ty, 1); got != want {
			t.Errorf("commandID(%s, %s) = %s, want %s", orderA, ty, got, want)
		}
	}
}
