package fulfillment_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/fulfillment"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/sqlstore"
	"github.com/ordersys/ordersys/internal/storetest"
)

// cancelShipment sends CancelShipment for orderID and returns the reply.
func cancelShipment(t *testing.T, db *sqlstore.DB, svc *fulfillment.Service, orderID string) events.Payload {
	t.Helper()
	before := len(storetest.Replies(t, db))
	if err := send(t, db, svc, orderID, &events.CancelShipment{OrderID: orderID}); err != nil {
		t.Fatalf("cancel %s: %v", orderID, err)
	}
	all := storetest.Replies(t, db)
	if len(all) != before+1 {
		t.Fatalf("cancel %s: %d replies, want 1", orderID, len(all)-before)
	}
	return all[len(all)-1]
}

func wantCancelled(t *testing.T, reply events.Payload, orderID string) {
	t.Helper()
	if c, ok := reply.(*events.ShipmentCancelled); !ok || c.OrderID != orderID {
		t.Fatalf("reply %T %+v, want ShipmentCancelled for %s", reply, reply, orderID)
	}
}

// TestCancelBeforeShipping: a cancel that arrives before the order's CreateShipment was decided
// (its CreateShipment was dead-lettered and is replayed later, say) is recorded, and the
// CreateShipment after it is refused: no shipment, ever.
func TestCancelBeforeShipping(t *testing.T) {
	storetest.Each(t, fulfillment.Name, fulfillment.Migrations, func(t *testing.T, db *sqlstore.DB) {
		svc := fulfillment.New(db, messaging.NewOutbox(), fulfillment.Config{})
		order := uuid.NewString()
		wantCancelled(t, cancelShipment(t, db, svc, order), order)
		wantCancelled(t, ship(t, db, svc, order, "USA"), order)
		wantCancelled(t, cancelShipment(t, db, svc, order), order) // a repeat answers the same
		if n := count(t, svc, order); n != 0 {
			t.Errorf("%d shipments of a cancelled order", n)
		}
	})
}

// TestCancelAfterShipping: a shipment made stands; the cancel is answered with it, so the saga
// completes the order.
func TestCancelAfterShipping(t *testing.T) {
	storetest.Each(t, fulfillment.Name, fulfillment.Migrations, func(t *testing.T, db *sqlstore.DB) {
		svc := fulfillment.New(db, messaging.NewOutbox(), fulfillment.Config{})
		order := uuid.NewString()
		first := wantCreated(t, ship(t, db, svc, order, "USA"), order)
		if again := wantCreated(t, cancelShipment(t, db, svc, order), order); *again != *first {
			t.Errorf("cancel answered %+v, the shipment is %+v", again, first)
		}
		if n := count(t, svc, order); n != 1 {
			t.Errorf("%d shipments, want 1", n)
		}
		// An order that could not ship answers the cancel with its failure.
		abroad := uuid.NewString()
		wantFailed(t, ship(t, db, svc, abroad, "BRA"), abroad)
		wantFailed(t, cancelShipment(t, db, svc, abroad), abroad)
	})
}

// TestCancelInTheShipmentsBatch: a CreateShipment and its CancelShipment in one batch are decided
// in order: the shipment is made and the cancel answered with it.
func TestCancelInTheShipmentsBatch(t *testing.T) {
	storetest.Each(t, fulfillment.Name, fulfillment.Migrations, func(t *testing.T, db *sqlstore.DB) {
		svc := fulfillment.New(db, messaging.NewOutbox(), fulfillment.Config{})
		shipped, cancelled := uuid.NewString(), uuid.NewString()
		addr := events.Address{Country: "USA", City: "Austin", AddressLine1: "1 Main"}
		batch := []messaging.Event{
			storetest.Event(t, "test", shipped, events.CreateShipment{OrderID: shipped, Address: addr}),
			storetest.Event(t, "test", cancelled, events.CancelShipment{OrderID: cancelled}),
			storetest.Event(t, "test", shipped, events.CancelShipment{OrderID: shipped}),
			storetest.Event(t, "test", cancelled, events.CreateShipment{OrderID: cancelled, Address: addr}),
		}
		if err := storetest.Apply(t, db, svc.Subscriptions()[0], batch...); err != nil {
			t.Fatal(err)
		}
		got := storetest.Replies(t, db)
		if len(got) != len(batch) {
			t.Fatalf("%d replies to a batch of %d", len(got), len(batch))
		}
		if a, b := wantCreated(t, got[0], shipped), wantCreated(t, got[2], shipped); *a != *b {
			t.Errorf("shipment %+v, cancel answered %+v", a, b)
		}
		wantCancelled(t, got[1], cancelled)
		wantCancelled(t, got[3], cancelled)
		if n := count(t, svc, shipped) + count(t, svc, cancelled); n != 1 {
			t.Errorf("%d shipments, want 1", n)
		}
	})
}
