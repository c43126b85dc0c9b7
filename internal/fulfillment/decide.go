package fulfillment

import (
	"strings"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/events"
)

// decision is what the service decided for an order: a shipment, or why there is none. The zero
// value is no decision yet.
type decision struct {
	failed, shipped bool
	reason          string // why it failed
	shipment        events.ShipmentCreated
}

// decide is the service's rule: an order gets one decision, the first. A repeated command gets
// that decision again (fresh is false), even if the country has since been dropped from the list:
// a shipment made stands.
func (s *Service) decide(prior decision, cmd *events.CreateShipment) (d decision, fresh bool) {
	if prior.failed || prior.shipped {
		return prior, false
	}
	if !s.Ships(cmd.Address.Country) {
		return decision{failed: true, reason: ReasonUnsupportedCountry}, true
	}
	id := uuid.NewString()
	return decision{shipped: true, shipment: events.ShipmentCreated{OrderID: cmd.OrderID, ShipmentID: id,
		Carrier: "UPS", TrackingNumber: "1Z" + strings.ToUpper(strings.ReplaceAll(id, "-", "")[:16])}}, true
}

// cancel decides a CancelShipment: an order already decided keeps its decision (a shipment made
// stands), and an undecided one is decided not to ship, so a CreateShipment after it is refused.
func cancel(prior decision) (d decision, fresh bool) {
	if prior.failed || prior.shipped {
		return prior, false
	}
	return decision{failed: true, reason: ReasonCancelled}, true
}

// reply is the answer to every command of the order once d is decided.
func (d decision) reply(orderID string) events.Payload {
	if d.failed && d.reason == ReasonCancelled {
		return events.ShipmentCancelled{OrderID: orderID}
	}
	if d.failed {
		return events.ShipmentFailed{OrderID: orderID, Reason: d.reason}
	}
	return d.shipment
}
