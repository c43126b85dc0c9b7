package fulfillment_test

import (
	"encoding/json"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/auth"
	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/fulfillment"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/sqlstore"
	"github.com/ordersys/ordersys/internal/storetest"
)

// listShipmentsAs lists the order's shipments through a as p, and returns the body too.
func listShipmentsAs(t *testing.T, a *fulfillment.API, p auth.Principal, order uuid.UUID) ([]api.Shipment, string) {
	t.Helper()
	resp, err := a.ListShipments(auth.NewContext(t.Context(), p),
		api.ListShipmentsRequestObject{Params: api.ListShipmentsParams{OrderId: order}})
	if err != nil {
		t.Fatal(err)
	}
	l, ok := resp.(api.ListShipments200JSONResponse)
	if !ok {
		t.Fatalf("response %T", resp)
	}
	if l.Items == nil {
		t.Error("items is nil: it would encode as null, not []")
	}
	body, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	return l.Items, string(body)
}

// customer is a customer's principal, with the read scope a token grants it.
func customer(id string) auth.Principal {
	return auth.Principal{Subject: id, Scopes: []string{auth.ScopeRead}}
}

// admin is an operator's principal; its subject is a customer's, to show that it is not limited
// to that one.
func admin(id string) auth.Principal {
	return auth.Principal{Subject: id, Scopes: []string{auth.ScopeRead, auth.ScopeAdmin}}
}

// upTo is the migrations of m up to and including version last ("00002"): a database as an older
// ordersys left it.
func upTo(t *testing.T, m sqlstore.Migrations, last string) sqlstore.Migrations {
	t.Helper()
	entries, err := fs.ReadDir(m.FS, ".")
	if err != nil {
		t.Fatal(err)
	}
	older := fstest.MapFS{}
	for _, e := range entries {
		if version, _, _ := strings.Cut(e.Name(), "_"); version <= last {
			b, err := fs.ReadFile(m.FS, e.Name())
			if err != nil {
				t.Fatal(err)
			}
			older[e.Name()] = &fstest.MapFile{Data: b}
		}
	}
	return sqlstore.Migrations{Table: m.Table, FS: older}
}

// TestListShipmentsFollowsTheOwner: a customer lists only its own orders' shipments; for another
// customer's order it gets what an order without shipments gets. An admin, and every caller when
// authentication is off, sees them all; a context without a principal sees none. A shipment with
// no customer (made before the migration, or from a CreateShipment sent before the saga named the
// customer) is an admin's only.
func TestListShipmentsFollowsTheOwner(t *testing.T) {
	storetest.EachDSN(t, func(t *testing.T, dsn string) {
		db := storetest.Open(t, dsn, fulfillment.Name, messaging.Migrations, upTo(t, fulfillment.Migrations, "00002"))
		owner, other := uuid.NewString(), uuid.NewString()
		before, unnamed, owned := uuid.New(), uuid.New(), uuid.New()
		if _, err := db.ExecContext(t.Context(), `SELECT customer_id FROM shipments`); err == nil {
			t.Fatal("shipments has customer_id before its migration")
		}
		if _, err := db.ExecContext(t.Context(), `INSERT INTO shipments
			(id, order_id, carrier, tracking_number, country, city, address_line1, created_at)
			VALUES ($1, $2, 'UPS', '1Z0', 'USA', 'Austin', '1 Main', $3)`,
			uuid.NewString(), before.String(), time.Now().UTC()); err != nil {
			t.Fatal(err)
		}
		if err := sqlstore.Migrate(t.Context(), db, fulfillment.Migrations); err != nil {
			t.Fatal(err)
		}
		svc := fulfillment.New(db, messaging.NewOutbox(), fulfillment.Config{})
		a := fulfillment.NewAPI(svc)
		addr := events.Address{Country: "USA", City: "Austin", AddressLine1: "1 Main"}
		// As a saga sent it before CreateShipment named the customer.
		legacy := &events.CreateShipment{OrderID: unnamed.String(), Address: addr}
		if err := send(t, db, svc, unnamed.String(), legacy); err != nil {
			t.Fatal(err)
		}
		cmd := &events.CreateShipment{OrderID: owned.String(), CustomerID: owner, Address: addr}
		if err := send(t, db, svc, owned.String(), cmd); err != nil {
			t.Fatal(err)
		}
		_, none := listShipmentsAs(t, a, customer(owner), uuid.New())
		if none != `{"items":[]}` {
			t.Fatalf("an order without shipments lists %s", none)
		}
		for _, c := range []struct {
			name  string
			p     auth.Principal
			order uuid.UUID
			sees  bool
		}{
			{"owner", customer(owner), owned, true},
			{"another customer", customer(other), owned, false},
			{"admin", admin(other), owned, true},
			{"anyone (auth off)", auth.Anyone, owned, true},
			{"nobody", auth.Principal{}, owned, false},
			{"a customer, on a shipment from before the migration", customer(owner), before, false},
			{"admin, on a shipment from before the migration", admin(owner), before, true},
			{"a customer, on a shipment of an unnamed customer", customer(owner), unnamed, false},
			{"admin, on a shipment of an unnamed customer", admin(owner), unnamed, true},
		} {
			items, body := listShipmentsAs(t, a, c.p, c.order)
			switch {
			case c.sees && (len(items) != 1 || items[0].OrderId != c.order):
				t.Errorf("%s lists %s, want the shipment of %s", c.name, body, c.order)
			case !c.sees && body != none:
				t.Errorf("%s lists %s, want %s as for an order without shipments", c.name, body, none)
			}
		}
	})
}
