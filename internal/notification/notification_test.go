package notification_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/api"
	"github.com/ordersys/ordersys/internal/auth"
	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/notification"
	"github.com/ordersys/ordersys/internal/pgtest"
	"github.com/ordersys/ordersys/internal/sqlstore"
	"github.com/ordersys/ordersys/internal/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// each runs fn with a fresh service on SQLite and on PostgreSQL (skipped when no PostgreSQL can
// be had).
func each(t *testing.T, fn func(t *testing.T, db *sqlstore.DB, svc *notification.Service)) {
	storetest.Each(t, notification.Name, notification.Migrations, func(t *testing.T, db *sqlstore.DB) {
		fn(t, db, notification.New(db, notification.Config{}, nil, nil))
	})
}

// deliver hands p, under a fresh event id, to the service's handler in a transaction of its own.
func deliver(t *testing.T, db *sqlstore.DB, svc *notification.Service, orderID string, p events.Payload) {
	t.Helper()
	if err := storetest.Deliver(t, db, svc.Subscriptions()[0], "order", orderID, p); err != nil {
		t.Fatalf("%s: %v", p.EventType(), err)
	}
}

// list lists the order's notifications through the API, as a caller who sees every customer.
func list(t *testing.T, svc *notification.Service, order uuid.UUID) []api.Notification {
	t.Helper()
	items, _ := listAs(t, svc, auth.Anyone, order)
	return items
}

func TestSubscription(t *testing.T) {
	subs := notification.New(nil, notification.Config{}, nil, nil).Subscriptions()
	if len(subs) != 1 {
		t.Fatalf("%d subscriptions", len(subs))
	}
	s := subs[0]
	want := []events.Type{events.OrderCompletedType, events.OrderFailedType, events.OrderCancelledType}
	if s.Name != notification.Name || !slices.Equal(s.Topics, []string{events.TopicOrderEvents}) || !slices.Equal(s.Types, want) {
		t.Errorf("subscription %+v, want %s on %s for %v", s, notification.Name, events.TopicOrderEvents, want)
	}
}

func TestEachOutcomeOnce(t *testing.T) {
	each(t, func(t *testing.T, db *sqlstore.DB, svc *notification.Service) {
		customer := uuid.NewString()
		completed, failed, cancelled := uuid.New(), uuid.New(), uuid.New()
		deliver(t, db, svc, completed.String(), &events.OrderCompleted{OrderID: completed.String(), CustomerID: customer,
			Total: decimal.RequireFromString("1022.5"), Currency: "USD"})
		deliver(t, db, svc, failed.String(), &events.OrderFailed{OrderID: failed.String(), CustomerID: customer,
			Reason: "OUT_OF_STOCK", Detail: "SKU-9 has 2 left"})
		deliver(t, db, svc, cancelled.String(), &events.OrderCancelled{OrderID: cancelled.String(), CustomerID: customer})
		for order, want := range map[uuid.UUID]struct {
			kind  api.NotificationKind
			texts []string
		}{
			completed: {api.ORDERCOMPLETED, []string{completed.String(), "complete", "1022.50 USD"}},
			failed:    {api.ORDERFAILED, []string{failed.String(), "OUT_OF_STOCK", "out of stock", "SKU-9 has 2 left"}},
			cancelled: {api.ORDERCANCELLED, []string{cancelled.String(), "cancelled"}},
		} {
			items := list(t, svc, order)
			if len(items) != 1 {
				t.Errorf("order %s: %+v, want one %s", order, items, want.kind)
				continue
			}
			n := items[0]
			if n.Kind != want.kind || n.OrderId != order || n.Recipient != customer || n.NotificationId == "" || n.CreatedAt.IsZero() {
				t.Errorf("order %s: %+v, want %s to %s", order, n, want.kind, customer)
			}
			for _, text := range want.texts {
				if !strings.Contains(n.Message, text) {
					t.Errorf("%s message %q lacks %q", want.kind, n.Message, text)
				}
			}
		}
		// The service only records: nothing goes out through the outbox.
		var out int
		if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM outbox`).Scan(&out); err != nil {
			t.Fatal(err)
		}
		if out != 0 {
			t.Errorf("%d outbox rows", out)
		}
	})
}

func TestFailureReasons(t *testing.T) {
	each(t, func(t *testing.T, db *sqlstore.DB, svc *notification.Service) {
		for _, reason := range []string{"PAYMENT_DECLINED", "OUT_OF_STOCK", "SHIPMENT_FAILED", "TIMEOUT", "SOMETHING_NEW"} {
			order := uuid.New()
			deliver(t, db, svc, order.String(), &events.OrderFailed{OrderID: order.String(), CustomerID: "c", Reason: reason})
			items := list(t, svc, order)
			if len(items) != 1 || !strings.Contains(items[0].Message, order.String()) || !strings.Contains(items[0].Message, reason) {
				t.Errorf("%s: %+v, want a message naming the order and the reason", reason, items)
				continue
			}
			if strings.Contains(items[0].Message, "<no value>") || strings.Contains(items[0].Message, "  ") {
				t.Errorf("%s: badly rendered message %q", reason, items[0].Message)
			}
		}
	})
}

func TestDuplicatesIgnored(t *testing.T) {
	each(t, func(t *testing.T, db *sqlstore.DB, svc *notification.Service) {
		order := uuid.New()
		first := &events.OrderFailed{OrderID: order.String(), CustomerID: "c", Reason: "PAYMENT_DECLINED"}
		deliver(t, db, svc, order.String(), first)
		// Re-published under new event ids, even with different contents: still one message, the first.
		deliver(t, db, svc, order.String(), first)
		deliver(t, db, svc, order.String(), &events.OrderFailed{OrderID: order.String(), CustomerID: "c", Reason: "TIMEOUT"})
		items := list(t, svc, order)
		if len(items) != 1 || !strings.Contains(items[0].Message, "PAYMENT_DECLINED") {
			t.Errorf("after duplicates: %+v, want the first message only", items)
		}
		if n, err := svc.CountFor(t.Context(), order.String()); err != nil || n != 1 {
			t.Errorf("CountFor = %d, %v; want 1", n, err)
		}
		// Events that end no order are no reason to write.
		deliver(t, db, svc, order.String(), &events.OrderCreated{OrderID: order.String()})
		if n, _ := svc.CountFor(t.Context(), order.String()); n != 1 {
			t.Errorf("OrderCreated recorded a notification: %d", n)
		}
	})
}

func TestListNotifications(t *testing.T) {
	each(t, func(t *testing.T, db *sqlstore.DB, svc *notification.Service) {
		order := uuid.New()
		if items := list(t, svc, order); len(items) != 0 {
			t.Errorf("before any outcome: %+v", items)
		}
		// Not a sequence the saga produces, but the list is by time whatever the kinds.
		deliver(t, db, svc, order.String(), &events.OrderFailed{OrderID: order.String(), CustomerID: "c", Reason: "TIMEOUT"})
		deliver(t, db, svc, order.String(), &events.OrderCancelled{OrderID: order.String(), CustomerID: "c"})
		deliver(t, db, svc, order.String(), &events.OrderCompleted{OrderID: order.String(), CustomerID: "c",
			Total: decimal.NewFromInt(5), Currency: "EUR"})
		items := list(t, svc, order)
		var kinds []string
		for i, n := range items {
			kinds = append(kinds, string(n.Kind))
			if i > 0 && n.CreatedAt.Before(items[i-1].CreatedAt) {
				t.Errorf("item %d is older than item %d", i, i-1)
			}
		}
		if strings.Join(kinds, ",") != "ORDER_FAILED,ORDER_CANCELLED,ORDER_COMPLETED" {
			t.Errorf("kinds %v, want oldest first", kinds)
		}
		if items := list(t, svc, uuid.New()); len(items) != 0 {
			t.Errorf("another order lists %+v", items)
		}
	})
}
