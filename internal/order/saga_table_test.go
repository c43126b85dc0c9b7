package order

import "github.com/ordersys/ordersys/internal/events"

// transitionRow is one row of TestSagaTransitions' table: what next does with an event type or
// pseudo-event in a named state.
type transitionRow struct {
	from    sagaStart
	on      events.Type
	nothing bool      // next reports no transition
	want    sagaState // the state after, when something happens
	send    []events.Type
}

// sagaTransitions is the table TestSagaTransitions checks next against, with the starts it uses:
// fullStarts must each have a row for every input; the lastTries starts have rows only for
// stepTimedOut.
func sagaTransitions() (tests []transitionRow, fullStarts, lastTries []sagaStart) {
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
		cancelShipment  = events.CancelShipmentType
		shipmentCancel  = events.ShipmentCancelledType
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

		// FULFILLMENT, cancelled by the customer or out of tries: CancelShipment sent.
		cancelling = sagaStart{"FULFILLMENT(cancel pending)", sagaState{Status: Fulfillment, Charged: true, Reserved: true,
			CancelPending: true, Outcome: Cancelled, OutcomeReason: ReasonCancelled,
			Attempts: 1, MaxAttempts: maxTries}}
		timedOutCancelling = sagaStart{"FULFILLMENT(timed out, cancel pending)", sagaState{Status: Fulfillment, Charged: true,
			Reserved: true, CancelPending: true, Outcome: Failed, OutcomeReason: ReasonTimeout,
			Attempts: 1, MaxAttempts: maxTries}}

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
	fullStarts = []sagaStart{pending, payment, inventory, fulfillment, cancelling, timedOutCancelling, completed, failed, cancelled,
		refundOnly, refundAndRelease, releaseOnly}
	lastTries = []sagaStart{paymentLast, inventoryLast, fulfillmentLast, refundOnlyLast, refundAndReleaseLast, releaseOnlyLast}

	nothing := func(from sagaStart, on events.Type) transitionRow {
		return transitionRow{from: from, on: on, nothing: true}
	}
	send := func(ts ...events.Type) []events.Type { return ts }

	tests = []transitionRow{
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
		nothing(pending, cancelShipment),
		nothing(pending, shipmentCancel),
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
		nothing(payment, cancelShipment),
		nothing(payment, shipmentCancel),
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
		nothing(inventory, cancelShipment),
		nothing(inventory, shipmentCancel),
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
		nothing(fulfillment, cancelShipment),
		// An answer to a CreateShipment replayed after a cancel that was not the saga's.
		{from: fulfillment, on: shipmentCancel, want: sagaState{Status: Compensating, Charged: true, Reserved: true,
			RefundPending: true, ReleasePending: true, Outcome: Cancelled, OutcomeReason: ReasonCancelled,
			HistoryReasonTag: ReasonCancelled, Attempts: 1, MaxAttempts: maxTries}, send: send(releaseStock, refundPayment)},
		// A cancel here cannot undo a shipment: it asks fulfillment not to ship, and waits.
		{from: fulfillment, on: cancel, want: sagaState{Status: Fulfillment, Charged: true, Reserved: true,
			CancelPending: true, Outcome: Cancelled, OutcomeReason: ReasonCancelled, HistoryReasonTag: ReasonCancellingShipment,
			Attempts: 1, MaxAttempts: maxTries}, send: send(cancelShipment)},
		{from: fulfillment, on: timeout, want: sagaState{Status: Fulfillment, Charged: true, Reserved: true,
			Attempts: 2, MaxAttempts: maxTries, HistoryReasonTag: "STEP_RETRIED"}, send: send(createShipment)},
		// Out of tries, the order may still ship: ask fulfillment not to, and wait.
		{from: fulfillmentLast, on: timeout, want: sagaState{Status: Fulfillment, Charged: true, Reserved: true,
			CancelPending: true, Outcome: Failed, OutcomeReason: ReasonTimeout, HistoryReasonTag: ReasonCancellingShipment,
			Attempts: 1, MaxAttempts: maxTries}, send: send(cancelShipment)},

		// FULFILLMENT with a CancelShipment sent: the answer decides. A shipment made stands.
		nothing(cancelling, orderCreated),
		nothing(cancelling, orderCompleted),
		nothing(cancelling, orderFailed),
		nothing(cancelling, orderCancelled),
		nothing(cancelling, chargePayment),
		nothing(cancelling, paymentCharged),
		nothing(cancelling, paymentDeclined),
		nothing(cancelling, refundPayment),
		nothing(cancelling, paymentRefunded),
		nothing(cancelling, reserveStock),
		nothing(cancelling, stockReserved),
		nothing(cancelling, stockRejected),
		nothing(cancelling, releaseStock),
		nothing(cancelling, stockReleased),
		nothing(cancelling, createShipment),
		nothing(cancelling, cancelShipment),
		{from: cancelling, on: shipmentCreated, want: sagaState{Status: Completed, Charged: true, Reserved: true,
			Outcome: Completed, OutcomeReason: ReasonCancelTooLate, HistoryReasonTag: ReasonCancelTooLate, MaxAttempts: maxTries},
			send: send(orderCompleted)},
		{from: cancelling, on: shipmentCancel, want: sagaState{Status: Compensating, Charged: true, Reserved: true,
			RefundPending: true, ReleasePending: true, Outcome: Cancelled, OutcomeReason: ReasonCancelled,
			HistoryReasonTag: ReasonCancelled, Attempts: 1, MaxAttempts: maxTries}, send: send(releaseStock, refundPayment)},
		{from: cancelling, on: timeout, want: sagaState{Status: Fulfillment, Charged: true, Reserved: true, CancelPending: true,
			Outcome: Cancelled, OutcomeReason: ReasonCancelled, HistoryReasonTag: "STEP_RETRIED", Attempts: 2, MaxAttempts: maxTries},
			send: send(cancelShipment)},
		nothing(timedOutCancelling, orderCreated),
		nothing(timedOutCancelling, orderCompleted),
		nothing(timedOutCancelling, orderFailed),
		nothing(timedOutCancelling, orderCancelled),
		nothing(timedOutCancelling, chargePayment),
		nothing(timedOutCancelling, paymentCharged),
		nothing(timedOutCancelling, paymentDeclined),
		nothing(timedOutCancelling, refundPayment),
		nothing(timedOutCancelling, paymentRefunded),
		nothing(timedOutCancelling, reserveStock),
		nothing(timedOutCancelling, stockReserved),
		nothing(timedOutCancelling, stockRejected),
		nothing(timedOutCancelling, releaseStock),
		nothing(timedOutCancelling, stockReleased),
		nothing(timedOutCancelling, createShipment),
		nothing(timedOutCancelling, cancelShipment),
		{from: timedOutCancelling, on: shipmentCreated, want: sagaState{Status: Completed, Charged: true, Reserved: true,
			Outcome: Completed, OutcomeReason: ReasonCancelTooLate, HistoryReasonTag: ReasonCancelTooLate, MaxAttempts: maxTries},
			send: send(orderCompleted)},
		{from: timedOutCancelling, on: shipmentCancel, want: sagaState{Status: Compensating, Charged: true, Reserved: true,
			RefundPending: true, ReleasePending: true, Outcome: Failed, OutcomeReason: ReasonTimeout,
			HistoryReasonTag: ReasonTimeout, Attempts: 1, MaxAttempts: maxTries}, send: send(releaseStock, refundPayment)},
		{from: timedOutCancelling, on: timeout, want: sagaState{Status: Fulfillment, Charged: true, Reserved: true, CancelPending: true,
			Outcome: Failed, OutcomeReason: ReasonTimeout, HistoryReasonTag: "STEP_RETRIED", Attempts: 2, MaxAttempts: maxTries},
			send: send(cancelShipment)},
		// The order could not ship anyway: the customer's cancel wins; a timed-out one fails as usual.
		{from: cancelling, on: shipmentFailed, want: sagaState{Status: Compensating, Charged: true, Reserved: true,
			RefundPending: true, ReleasePending: true, Outcome: Cancelled, OutcomeReason: ReasonCancelled,
			HistoryReasonTag: ReasonCancelled, Attempts: 1, MaxAttempts: maxTries}, send: send(releaseStock, refundPayment)},
		{from: timedOutCancelling, on: shipmentFailed, want: sagaState{Status: Compensating, Charged: true, Reserved: true,
			RefundPending: true, ReleasePending: true, Outcome: Failed, OutcomeReason: ReasonShipmentFailed,
			HistoryReasonTag: ReasonShipmentFailed, Attempts: 1, MaxAttempts: maxTries}, send: send(releaseStock, refundPayment)},
		// A second cancel changes nothing; a cancel after the step ran out of tries makes it CANCELLED.
		{from: cancelling, on: cancel, want: cancelling.s},
		{from: timedOutCancelling, on: cancel, want: sagaState{Status: Fulfillment, Charged: true, Reserved: true,
			CancelPending: true, Outcome: Cancelled, OutcomeReason: ReasonCancelled, HistoryReasonTag: ReasonCancelled,
			Attempts: 1, MaxAttempts: maxTries}},

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
		nothing(completed, cancelShipment),
		nothing(completed, shipmentCancel),
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
		nothing(failed, cancelShipment),
		nothing(failed, shipmentCancel),
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
		nothing(cancelled, cancelShipment),
		nothing(cancelled, shipmentCancel),
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
		nothing(refundOnly, cancelShipment),
		nothing(refundOnly, shipmentCancel),
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
		nothing(refundAndRelease, cancelShipment),
		nothing(refundAndRelease, shipmentCancel),
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
		nothing(releaseOnly, cancelShipment),
		nothing(releaseOnly, shipmentCancel),
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
	return tests, fullStarts, lastTries
}
