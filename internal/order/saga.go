package order

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// step is what an event does to an order in a given status: the status it moves to and the
// messages it sends on.
type step struct {
	next Status
	send func(o *Order) events.Payload
	// items says whether send needs the order's lines.
	items bool
}

// transitions is the saga, the whole of it: for each status, the events that move an order on.
// An event missing here for the order's current status is late or a duplicate, and is ignored.
var transitions = map[Status]map[events.Type]step{
	Pending: {
		events.OrderCreatedType: {Payment, chargePayment, false},
	},
	Payment: {
		events.PaymentChargedType: {Inventory, reserveStock, true},
	},
	Inventory: {
		events.StockReservedType: {Fulfillment, createShipment, true},
	},
	Fulfillment: {
		events.ShipmentCreatedType: {Completed, orderCompleted, false},
	},
}

// sagaEvents lists every event type some transition consumes.
func sagaEvents() []events.Type {
	var out []events.Type
	for _, byEvent := range transitions {
		for t := range byEvent {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// next looks up the transition for an event; ok is false when the event changes nothing.
func next(s Status, t events.Type) (step, bool) {
	st, ok := transitions[s][t]
	return st, ok
}

func chargePayment(o *Order) events.Payload {
	return events.ChargePayment{OrderID: o.ID, CustomerID: o.CustomerID, Amount: o.Total, Currency: o.Currency}
}

func reserveStock(o *Order) events.Payload {
	return events.ReserveStock{OrderID: o.ID, Lines: lines(o)}
}

func createShipment(o *Order) events.Payload {
	return events.CreateShipment{OrderID: o.ID, Address: o.Address, Lines: lines(o)}
}

func orderCompleted(o *Order) events.Payload {
	return events.OrderCompleted{OrderID: o.ID, CustomerID: o.CustomerID, Total: o.Total, Currency: o.Currency}
}

func lines(o *Order) []events.Line {
	out := make([]events.Line, len(o.Items))
	for i, it := range o.Items {
		out[i] = events.Line{SKU: it.SKU, Quantity: it.Quantity}
	}
	return out
}

// commandID derives a command's event id from its order and type, so the same step of the same
// order always sends the same id and a re-sent command is recognisably the one sent before.
func commandID(orderID string, t events.Type) string {
	return uuid.NewSHA1(sagaNamespace, []byte(orderID+"/"+string(t))).String()
}

var sagaNamespace = uuid.MustParse("5b0c3a52-6c1e-4d4e-9a43-6f2a0a8d2f6e")

// Subscriptions lists what the order service consumes: its own OrderCreated, which starts the
// saga, and every reply the other services send.
func (s *Service) Subscriptions() []messaging.Subscription {
	return []messaging.Subscription{{
		Name: "order-saga",
		Topics: []string{events.TopicOrderEvents, events.TopicPaymentEvents,
			events.TopicInventoryEvents, events.TopicFulfillmentEvents},
		Types:  sagaEvents(),
		Handle: s.advance,
	}}
}

// advance applies one event to its order's saga.
func (s *Service) advance(ctx context.Context, tx *sqlstore.Tx, e events.Envelope, _ events.Payload) error {
	o, err := loadOrder(ctx, tx, e.Subject, false)
	if errors.Is(err, ErrNotFound) {
		return messaging.Permanent(fmt.Errorf("%s for unknown order %q", e.Type, e.Subject))
	}
	if err != nil {
		return err
	}
	st, ok := next(o.Status, e.Type)
	if !ok {
		s.log.Debug("event changes nothing", "order_id", o.ID, "status", o.Status, "event_type", e.Type, "event_id", e.ID)
		return nil
	}
	if err := setStatus(ctx, tx, o.ID, o.Status, st.next, ""); err != nil {
		return err
	}
	if st.items {
		if o.Items, err = loadItems(ctx, tx, o.ID); err != nil {
			return err
		}
	}
	payload := st.send(o)
	msg, err := events.NewWithID(commandID(o.ID, payload.EventType()), Name, o.ID, payload)
	if err != nil {
		return err
	}
	s.log.Debug("order moved", "order_id", o.ID, "from", o.Status, "to", st.next, "event_id", e.ID)
	return s.outbox.Put(ctx, tx, msg)
}
