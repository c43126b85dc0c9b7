package fulfillment_test

import (
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/auth"
	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/fulfillment"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/pgtest"
	"github.com/ordersys/ordersys/internal/sqlstore"
	"github.com/ordersys/ordersys/internal/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// send delivers p, under a fresh event id, to svc's subscription in a transaction of its own.
func send(t *testing.T, db *sqlstore.DB, svc *fulfillment.Service, orderID string, p events.Payload) error {
	t.Helper()
	return storetest.Deliver(t, db, svc.Subscriptions()[0], "test", orderID, p)
}

// ship sends CreateShipment for a new order (or orderID, if given) to country and returns the reply.
func ship(t *testing.T, db *sqlstore.DB, svc *fulfillment.Service, orderID, country string) events.Payload {
	t.Helper()
	before := len(storetest.Replies(t, db))
	cmd := &events.CreateShipment{OrderID: orderID,
		Address: events.Address{Country: country, City: "Austin", AddressLine1: "Lincoln, 65"}}
	if err := send(t, db, svc, orderID, cmd); err != nil {
		t.Fatalf("ship to %q: %v", country, err)
	}
	all := storetest.Replies(t, db)
	if len(all) != before+1 {
		t.Fatalf("ship to %q: %d replies, want 1", country, len(all)-before)
	}
	return all[len(all)-1]
}

func wantCreated(t *testing.T, reply events.Payload, orderID string) *events.ShipmentCreated {
	t.Helper()
	c, ok := reply.(*events.ShipmentCreated)
	if !ok {
		t.Fatalf("reply %T %+v, want ShipmentCreated", reply, reply)
	}
	if c.OrderID != orderID || c.ShipmentID == "" || c.Carrier == "" || !strings.HasPrefix(c.TrackingNumber, "1Z") {
		t.Errorf("created %+v for order %s", c, orderID)
	}
	return c
}

func wantFailed(t *testing.T, reply events.Payload, orderID string) {
	t.Helper()
	f, ok := reply.(*events.ShipmentFailed)
	if !ok {
		t.Fatalf("reply %T %+v, want ShipmentFailed", reply, reply)
	}
	if f.OrderID != orderID || f.Reason != fulfillment.ReasonUnsupportedCountry {
		t.Errorf("failed %+v, want order %s reason %s", f, orderID, fulfillment.ReasonUnsupportedCountry)
	}
}

func count(t *testing.T, svc *fulfillment.Service, orderID string) int {
	t.Helper()
	n, err := svc.ShipmentCount(t.Context(), orderID)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSupportedCountryShips(t *testing.T) {
	storetest.Each(t, fulfillment.Name, fulfillment.Migrations, func(t *testing.T, db *sqlstore.DB) {
		svc := fulfillment.New(db, messaging.NewOutbox(), fulfillment.Config{})
		for _, country := range []string{"USA", "US", "CAN", "CA", "GBR", "GB", "DEU", "DE", "FRA", "FR"} {
			order := uuid.NewString()
			wantCreated(t, ship(t, db, svc, order, country), order)
			if n := count(t, svc, order); n != 1 {
				t.Errorf("%s: %d shipments, want 1", country, n)
			}
		}
	})
}

func TestUnsupportedCountryFails(t *testing.T) {
	storetest.Each(t, fulfillment.Name, fulfillment.Migrations, func(t *testing.T, db *sqlstore.DB) {
		svc := fulfillment.New(db, messaging.NewOutbox(), fulfillment.Config{})
		for _, country := range []string{"BRA", "JP", "", "  ", "U SA", "USAA"} {
			order := uuid.NewString()
			wantFailed(t, ship(t, db, svc, order, country), order)
			if n := count(t, svc, order); n != 0 {
				t.Errorf("%q: %d shipments, want none", country, n)
			}
		}
	})
}

func TestCountriesCompareCaseInsensitively(t *testing.T) {
	storetest.Each(t, fulfillment.Name, fulfillment.Migrations, func(t *testing.T, db *sqlstore.DB) {
		svc := fulfillment.New(db, messaging.NewOutbox(), fulfillment.Config{})
		for _, country := range []string{"usa", " Usa ", "gb", "\tDe\n", "fRa"} {
			order := uuid.NewString()
			wantCreated(t, ship(t, db, svc, order, country), order)
		}
		// A configured list is normalised the same way, and replaces the default.
		custom := fulfillment.New(db, messaging.NewOutbox(), fulfillment.Config{Countries: []string{" nld ", "be"}})
		for country, ok := range map[string]bool{"NLD": true, "nld": true, "BE": true, "USA": false} {
			order := uuid.NewString()
			if reply := ship(t, db, custom, order, country); ok {
				wantCreated(t, reply, order)
			} else {
				wantFailed(t, reply, order)
			}
		}
	})
}

func TestRepeatAnswersTheSame(t *testing.T) {
	storetest.Each(t, fulfillment.Name, fulfillment.Migrations, func(t *testing.T, db *sqlstore.DB) {
		svc := fulfillment.New(db, messaging.NewOutbox(), fulfillment.Config{})
		shipped, failed := uuid.NewString(), uuid.NewString()
		first := wantCreated(t, ship(t, db, svc, shipped, "USA"), shipped)
		again := wantCreated(t, ship(t, db, svc, shipped, "USA"), shipped)
		if *again != *first {
			t.Errorf("repeat answered %+v, first was %+v", again, first)
		}
		wantFailed(t, ship(t, db, svc, failed, "BRA"), failed)
		wantFailed(t, ship(t, db, svc, failed, "BRA"), failed)
		if n := count(t, svc, shipped) + count(t, svc, failed); n != 1 {
			t.Errorf("%d shipments, want 1", n)
		}
		// The first decision stands even if the supported countries change meanwhile.
		changed := fulfillment.New(db, messaging.NewOutbox(), fulfillment.Config{Countries: []string{"BRA"}})
		wantFailed(t, ship(t, db, changed, failed, "BRA"), failed)
		if later := wantCreated(t, ship(t, db, changed, shipped, "USA"), shipped); *later != *first {
			t.Errorf("after a config change answered %+v, first was %+v", later, first)
		}
		if n := count(t, svc, shipped) + count(t, svc, failed); n != 1 {
			t.Errorf("%d shipments after a config change, want 1", n)
		}
	})
}

// TestBatchDecidesOncePerOrder applies a batch the way a consumer does: its loader reads the
// recorded decisions of all its orders first, then each command is handled in order. An order
// decided earlier keeps its answer, and one whose command comes twice in the batch is decided by
// the first and answered the same by the second.
func TestBatchDecidesOncePerOrder(t *testing.T) {
	storetest.Each(t, fulfillment.Name, fulfillment.Migrations, func(t *testing.T, db *sqlstore.DB) {
		svc := fulfillment.New(db, messaging.NewOutbox(), fulfillment.Config{})
		earlier, fresh, abroad := uuid.NewString(), uuid.NewString(), uuid.NewString()
		first := wantCreated(t, ship(t, db, svc, earlier, "USA"), earlier)
		var batch []messaging.Event
		for _, c := range []struct{ order, country string }{
			{earlier, "USA"}, {fresh, "USA"}, {abroad, "BRA"}, {fresh, "USA"}, {abroad, "BRA"},
		} {
			cmd := events.CreateShipment{OrderID: c.order, Address: events.Address{Country: c.country, City: "Austin"}}
			batch = append(batch, storetest.Event(t, "test", c.order, cmd))
		}
		if err := storetest.Apply(t, db, svc.Subscriptions()[0], batch...); err != nil {
			t.Fatal(err)
		}
		got := storetest.Replies(t, db)[1:]
		if len(got) != len(batch) {
			t.Fatalf("%d replies to a batch of %d", len(got), len(batch))
		}
		if again := wantCreated(t, got[0], earlier); *again != *first {
			t.Errorf("earlier order answered %+v, first was %+v", again, first)
		}
		if a, b := wantCreated(t, got[1], fresh), wantCreated(t, got[3], fresh); *a != *b {
			t.Errorf("one order's two commands answered %+v and %+v", a, b)
		}
		wantFailed(t, got[2], abroad)
		wantFailed(t, got[4], abroad)
		if n := count(t, svc, earlier) + count(t, svc, fresh) + count(t, svc, abroad); n != 2 {
			t.Errorf("%d shipments, want 2", n)
		}
	})
}

// TestConcurrentRepeatsShipOnce sends one order's CreateShipment several times at once, as
// replicas can during a rebalance. On PostgreSQL all but one fail on the order's unique shipment
// and are retried, as a consumer retries; every answer names the one shipment.
func TestConcurrentRepeatsShipOnce(t *testing.T) {
	storetest.Each(t, fulfillment.Name, fulfillment.Migrations, func(t *testing.T, db *sqlstore.DB) {
		svc := fulfillment.New(db, messaging.NewOutbox(), fulfillment.Config{})
		order := uuid.NewString()
		cmd := &events.CreateShipment{OrderID: order, Address: events.Address{Country: "USA", City: "Austin", AddressLine1: "1 Main"}}
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() {
				for range 3 {
					if errs[i] = send(t, db, svc, order, cmd); !sqlstore.IsUniqueViolation(errs[i]) {
						return
					}
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, r := range storetest.Replies(t, db) {
			ids[wantCreated(t, r, order).ShipmentID] = true
		}
		if len(ids) != 1 || count(t, svc, order) != 1 {
			t.Errorf("answers named shipments %v, %d shipments: want one", ids, count(t, svc, order))
		}
	})
}

func TestOtherCommandsArePermanent(t *testing.T) {
	storetest.Each(t, fulfillment.Name, fulfillment.Migrations, func(t *testing.T, db *sqlstore.DB) {
		svc := fulfillment.New(db, messaging.NewOutbox(), fulfillment.Config{})
		if err := send(t, db, svc, "o", &events.ReleaseStock{OrderID: "o"}); !messaging.IsPermanent(err) {
			t.Errorf("ReleaseStock: %v, want a permanent error", err)
		}
	})
}

func TestDefaultCountries(t *testing.T) {
	got := fulfillment.DefaultCountries()
	for _, want := range []string{"USA", "US", "CAN", "CA", "GBR", "GB", "DEU", "DE", "FRA", "FR"} {
		if !slices.Contains(got, want) {
			t.Errorf("default countries %v lack %s", got, want)
		}
	}
	got[0] = "XXX"
	if fulfillment.DefaultCountries()[0] == "XXX" {
		t.Error("DefaultCountries returns the package's own slice")
	}
	svc := fulfillment.New(nil, nil, fulfillment.Config{Countries: []string{}})
	if !svc.Ships("usa") || svc.Ships("BRA") {
		t.Error("an empty list does not mean the default")
	}
}

func TestListShipments(t *testing.T) {
	storetest.Each(t, fulfillment.Name, fulfillment.Migrations, func(t *testing.T, db *sqlstore.DB) {
		svc := fulfillment.New(db, messaging.NewOutbox(), fulfillment.Config{})
		a := fulfillment.NewAPI(svc)
		list := func(order uuid.UUID) []api.Shipment {
			t.Helper()
			items, _ := listShipmentsAs(t, a, auth.Anyone, order)
			return items
		}
		shipped, failed := uuid.New(), uuid.New()
		if items := list(shipped); len(items) != 0 {
			t.Errorf("before shipping: %+v", items)
		}
		created := wantCreated(t, ship(t, db, svc, shipped.String(), "usa"), shipped.String())
		wantFailed(t, ship(t, db, svc, failed.String(), "BRA"), failed.String())
		items := list(shipped)
		if len(items) != 1 {
			t.Fatalf("items %+v, want one shipment", items)
		}
		got := items[0]
		if got.ShipmentId != created.ShipmentID || got.OrderId != shipped || got.Carrier != created.Carrier ||
			got.TrackingNumber != created.TrackingNumber || got.Country != "USA" || got.CreatedAt.IsZero() {
			t.Errorf("listed %+v, want %+v", got, created)
		}
		if items := list(failed); len(items) != 0 {
			t.Errorf("unshippable order lists %+v", items)
		}
	})
}
