package notification_test

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
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/notification"
	"github.com/ordersys/ordersys/internal/sqlstore"
	"github.com/ordersys/ordersys/internal/storetest"
)

// listAs lists the order's notifications through the API as p, and returns the body too.
func listAs(t *testing.T, svc *notification.Service, p auth.Principal, order uuid.UUID) ([]api.Notification, string) {
	t.Helper()
	resp, err := notification.NewAPI(svc).ListNotifications(auth.NewContext(t.Context(), p),
		api.ListNotificationsRequestObject{Params: api.ListNotificationsParams{OrderId: order}})
	if err != nil {
		t.Fatal(err)
	}
	l, ok := resp.(api.ListNotifications200JSONResponse)
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

// upTo is the migrations of m up to and including version last ("00001"): a database as an older
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

// TestListNotificationsFollowsTheOwner: a customer lists only its own orders' notifications; for
// another customer's order it gets what an order without any gets. An admin, and every caller
// when authentication is off, sees them all; a context without a principal sees none. A
// notification written before the migration is its recipient's, who was the order's customer.
func TestListNotificationsFollowsTheOwner(t *testing.T) {
	storetest.EachDSN(t, func(t *testing.T, dsn string) {
		db := storetest.Open(t, dsn, notification.Name, messaging.Migrations, upTo(t, notification.Migrations, "00001"))
		owner, other := uuid.NewString(), uuid.NewString()
		before, owned := uuid.New(), uuid.New()
		if _, err := db.ExecContext(t.Context(), `SELECT customer_id FROM notifications`); err == nil {
			t.Fatal("notifications has customer_id before its migration")
		}
		if _, err := db.ExecContext(t.Context(), `INSERT INTO notifications
			(id, order_id, kind, recipient, message, created_at) VALUES ($1, $2, $3, $4, 'Cancelled.', $5)`,
			uuid.NewString(), before.String(), notification.KindOrderCancelled, owner, time.Now().UTC()); err != nil {
			t.Fatal(err)
		}
		if err := sqlstore.Migrate(t.Context(), db, notification.Migrations); err != nil {
			t.Fatal(err)
		}
		svc := notification.New(db, notification.Config{}, nil, nil)
		deliver(t, db, svc, owned.String(), &events.OrderCancelled{OrderID: owned.String(), CustomerID: owner})
		_, none := listAs(t, svc, customer(owner), uuid.New())
		if none != `{"items":[]}` {
			t.Fatalf("an order without notifications lists %s", none)
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
			{"its customer, on a notification from before the migration", customer(owner), before, true},
			{"another customer, on a notification from before the migration", customer(other), before, false},
			{"admin, on a notification from before the migration", admin(other), before, true},
		} {
			items, body := listAs(t, svc, c.p, c.order)
			switch {
			case c.sees && (len(items) != 1 || items[0].OrderId != c.order):
				t.Errorf("%s lists %s, want the notification of %s", c.name, body, c.order)
			case !c.sees && body != none:
				t.Errorf("%s lists %s, want %s as for an order without notifications", c.name, body, none)
			}
		}
	})
}
