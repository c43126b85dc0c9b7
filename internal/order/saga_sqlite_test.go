package order

import (
	"context"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
)

// TestSagaHappyPathSQLite drives one order through the saga against a real database, with
// duplicate, early and late events mixed in, and checks the order, its history and the outbox
// after every event.
func TestSagaHappyPathSQLite(t *testing.T) {
	svc, db := newTestService(t)
	ctx := context.Background()
	customer := uuid.MustParse("7f1c2b9e-3d4a-4b5c-8d6e-9f0a1b2c3d4e")

	placed := mustCreate(t, svc, "saga-1", quickStart(customer))
	id := placed.Body.OrderId.String()

	// At create: the order is PENDING and OrderCreated is on orders.events.
	out := readOutbox(t, db)
	if len(out) != 1 {
		t.Fatalf("outbox after create has %d rows, want 1: %+v", len(out), out)
	}
	if r := out[0]; r.Topic != events.TopicOrderEvents || r.EventType != string(events.OrderCreatedType) ||
		r.Key != id || r.Source != Name {
		t.Errorf("outbox after create = %+v, want OrderCreated on %s keyed %s from %s",
			r, events.TopicOrderEvents, id, Name)
	}
	if _, err := uuid.Parse(out[0].EventID); err != nil {
		t.Errorf("OrderCreated event id %q is not a UUID", out[0].EventID)
	}
	if p, ok := decodeRow(t, out[0]).(*events.OrderCreated); !ok {
		t.Errorf("OrderCreated row decodes as %T", decodeRow(t, out[0]))
	} else if p.OrderID != id || p.CustomerID != customer.String() || p.Total.String() != "1022.17" || p.Currency != "USD" {
		t.Errorf("OrderCreated payload = %+v", p)
	}
	checkOrder(t, svc, id, Pending, []Status{Pending})

	cmd := func(topic string, ty events.Type) outboxRow {
		return outboxRow{Topic: topic, Key: id, EventType: string(ty), EventID: commandID(id, ty), Source: Name}
	}
	steps := []struct {
		name    string
		source  string
		payload events.Payload
		status  Status
		history []Status
		sent    []outboxRow // rows this event adds to the outbox, payload left out
	}{
		{"OrderCreated", Name, events.OrderCreated{OrderID: id, CustomerID: customer.String(), Total: dec("1022.17"), Currency: "USD"},
			Payment, []Status{Pending, Payment},
			[]outboxRow{cmd(events.TopicPaymentCommands, events.ChargePaymentType)}},
		{"OrderCreated again", Name, events.OrderCreated{OrderID: id, CustomerID: customer.String(), Total: dec("1022.17"), Currency: "USD"},
			Payment, []Status{Pending, Payment}, nil},
		{"StockReserved too early", "inventory", events.StockReserved{OrderID: id, ReservationID: "r-1"},
			Payment, []Status{Pending, Payment}, nil},
		{"PaymentCharged", "payment", events.PaymentCharged{OrderID: id, PaymentID: "p-1", Amount: dec("1022.17"), Currency: "USD"},
			Inventory, []Status{Pending, Payment, Inventory},
			[]outboxRow{cmd(events.TopicInventoryCommands, events.ReserveStockType)}},
		{"StockReserved", "inventory", events.StockReserved{OrderID: id, ReservationID: "r-1"},
			Fulfillment, []Status{Pending, Payment, Inventory, Fulfillment},
			[]outboxRow{cmd(events.TopicFulfillmentCommands, events.CreateShipmentType)}},
		{"PaymentCharged late", "payment", events.PaymentCharged{OrderID: id, PaymentID: "p-1", Amount: dec("1022.17"), Currency: "USD"},
			Fulfillment, []Status{Pending, Payment, Inventory, Fulfillment}, nil},
		{"ChargePayment command echoed", Name, events.ChargePayment{OrderID: id, CustomerID: customer.String(), Amount: dec("1022.17"), Currency: "USD"},
			Fulfillment, []Status{Pending, Payment, Inventory, Fulfillment}, nil},
		{"ShipmentCreated", "fulfillment", events.ShipmentCreated{OrderID: id, ShipmentID: "s-1", Carrier: "UPS", TrackingNumber: "1Z"},
			Completed, []Status{Pending, Payment, Inventory, Fulfillment, Completed},
			[]outboxRow{cmd(events.TopicOrderEvents, events.OrderCompletedType)}},
		{"ShipmentCreated again", "fulfillment", events.ShipmentCreated{OrderID: id, ShipmentID: "s-1", Carrier: "UPS", TrackingNumber: "1Z"},
			Completed, []Status{Pending, Payment, Inventory, Fulfillment, Completed}, nil},
		{"own OrderCompleted", Name, events.OrderCompleted{OrderID: id, CustomerID: customer.String(), Total: dec("1022.17"), Currency: "USD"},
			Completed, []Status{Pending, Payment, Inventory, Fulfillment, Completed}, nil},
	}

	for _, step := range steps {
		before := readOutbox(t, db)
		prev, err := svc.Get(ctx, id)
		if err != nil {
			t.Fatalf("%s: get: %v", step.name, err)
		}
		if err := feed(t, svc, db, step.source, id, step.payload); err != nil {
			t.Fatalf("%s: advance: %v", step.name, err)
		}
		o := checkOrder(t, svc, id, step.status, step.history)
		if step.sent == nil && !o.UpdatedAt.Equal(prev.UpdatedAt) {
			t.Errorf("%s: changed nothing but updated_at moved from %v to %v", step.name, prev.UpdatedAt, o.UpdatedAt)
		}
		after := readOutbox(t, db)
		if !slices.Equal(after[:min(len(before), len(after))], before) {
			t.Fatalf("%s: outbox rows already written changed:\nbefore %+v\nafter  %+v", step.name, before, after)
		}
		added := after[len(before):]
		stripped := make([]outboxRow, len(added))
		for i, r := range added {
			r.Payload = ""
			stripped[i] = r
		}
		if !slices.Equal(stripped, step.sent) {
			t.Fatalf("%s: outbox rows added = %+v, want %+v", step.name, stripped, step.sent)
		}
		for _, r := range added {
			checkCommandPayload(t, step.name, decodeRow(t, r), id, customer.String())
		}
	}

	// The full outbox, in order, as the relay would publish it.
	var got [][2]string
	for _, r := range readOutbox(t, db) {
		got = append(got, [2]string{r.Topic, r.EventType})
	}
	want := [][2]string{
		{events.TopicOrderEvents, string(events.OrderCreatedType)},
		{events.TopicPaymentCommands, string(events.ChargePaymentType)},
		{events.TopicInventoryCommands, string(events.ReserveStockType)},
		{events.TopicFulfillmentCommands, string(events.CreateShipmentType)},
		{events.TopicOrderEvents, string(events.OrderCompletedType)},
	}
	if !slices.Equal(got, want) {
		t.Errorf("outbox = %v, want %v", got, want)
	}
}

// checkCommandPayload checks what the saga sends carries the order's data.
func checkCommandPayload(t *testing.T, step string, p events.Payload, id, customer string) {
	t.Helper()
	wantLines := []events.Line{{SKU: "SKU-APPLE", Quantity: dec("33")}, {SKU: "SKU-COFFEE", Quantity: dec("14.5")}}
	linesEqual := func(got []events.Line) bool {
		return slices.EqualFunc(got, wantLines, func(a, b events.Line) bool {
			return a.SKU == b.SKU && a.Quantity.Equal(b.Quantity)
		})
	}
	switch p := p.(type) {
	case *events.ChargePayment:
		if p.OrderID != id || p.CustomerID != customer || p.Amount.String() != "1022.17" || p.Currency != "USD" {
			t.Errorf("%s: ChargePayment = %+v", step, p)
		}
	case *events.ReserveStock:
		if p.OrderID != id || !linesEqual(p.Lines) {
			t.Errorf("%s: ReserveStock = %+v, want lines %v", step, p, wantLines)
		}
	case *events.CreateShipment:
		want := events.Address{Country: "US", City: "Springfield", AddressLine1: "742 Evergreen Terrace",
			AddressLine2: "Apt 4", PostalCode: "62704"}
		if p.OrderID != id || p.Address != want || !linesEqual(p.Lines) {
			t.Errorf("%s: CreateShipment = %+v, want address %+v and lines %v", step, p, want, wantLines)
		}
	case *events.OrderCompleted:
		if p.OrderID != id || p.CustomerID != customer || p.Total.String() != "1022.17" || p.Currency != "USD" {
			t.Errorf("%s: OrderCompleted = %+v", step, p)
		}
	default:
		t.Errorf("%s: sent unexpected %T", step, p)
	}
}

// checkOrder reads the order and checks its status and history: the statuses in order, timestamps
// non-decreasing, from created_at to updated_at.
func checkOrder(t *testing.T, svc *Service, id string, status Status, history []Status) *Order {
	t.Helper()
	o, err := svc.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	if o.Status != status {
		t.Errorf("status = %s, want %s", o.Status, status)
	}
	got := make([]Status, len(o.History))
	for i, h := range o.History {
		got[i] = h.Status
		if h.Reason != "" {
			t.Errorf("history[%d] reason = %q, want none", i, h.Reason)
		}
		if i > 0 && h.At.Before(o.History[i-1].At) {
			t.Errorf("history[%d] at %v is before history[%d] at %v", i, h.At, i-1, o.History[i-1].At)
		}
	}
	if !slices.Equal(got, history) {
		t.Fatalf("history = %v, want %v", got, history)
	}
	if first := o.History[0].At; !first.Equal(o.CreatedAt) {
		t.Errorf("first history entry at %v, order created at %v", first, o.CreatedAt)
	}
	if last := o.History[len(o.History)-1].At; !last.Equal(o.UpdatedAt) {
		t.Errorf("last history entry at %v, order updated at %v", last, o.UpdatedAt)
	}
	if o.FailureReason != "" {
		t.Errorf("failure reason = %q, want none", o.FailureReason)
	}
	return o
}

func TestAdvanceUnknownOrderIsPermanent(t *testing.T) {
	svc, db := newTestService(t)
	mustCreate(t, svc, "other", quickStart(uuid.New())) // an order exists, just not this one

	unknown := uuid.NewString()
	for _, p := range []events.Payload{
		events.OrderCreated{OrderID: unknown, CustomerID: uuid.NewString(), Total: dec("1"), Currency: "USD"},
		events.PaymentCharged{OrderID: unknown, PaymentID: "p-1", Amount: dec("1"), Currency: "USD"},
		events.ShipmentCreated{OrderID: unknown, ShipmentID: "s-1"},
	} {
		err := feed(t, svc, db, "payment", unknown, p)
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
}
