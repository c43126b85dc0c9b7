package storetest

import (
	"os"
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/fulfillment"
	"github.com/ordersys/ordersys/internal/inventory"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/notification"
	"github.com/ordersys/ordersys/internal/order"
	"github.com/ordersys/ordersys/internal/payment"
	"github.com/ordersys/ordersys/internal/pgtest"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// backend opens a fresh database for one service.
type backend func(t *testing.T, service string) *sqlstore.DB

func TestSQLite(t *testing.T) {
	run(t, func(t *testing.T, service string) *sqlstore.DB { return open(t, SQLiteDSN(t), service) })
}

func TestPostgres(t *testing.T) {
	run(t, func(t *testing.T, service string) *sqlstore.DB { return open(t, pgtest.DSN(t), service) })
}

// open opens a fresh database for service with Open, checking on the way that migrating it a
// second time is a no-op: every process migrates at start.
func open(t *testing.T, dsn, service string) *sqlstore.DB {
	t.Helper()
	migrations := map[string]sqlstore.Migrations{
		order.Name: order.Migrations, payment.Name: payment.Migrations, inventory.Name: inventory.Migrations,
		fulfillment.Name: fulfillment.Migrations, notification.Name: notification.Migrations,
	}[service]
	db := Open(t, dsn, service, messaging.Migrations, migrations)
	if err := sqlstore.Migrate(t.Context(), db, messaging.Migrations, migrations); err != nil {
		t.Fatalf("second migration: %v", err)
	}
	return db
}

func run(t *testing.T, b backend) {
	t.Run("inbox", func(t *testing.T) { testInbox(t, b(t, payment.Name)) })
	t.Run("outbox", func(t *testing.T) { testOutbox(t, b(t, payment.Name)) })
	t.Run("queued writes", func(t *testing.T) { testQueuedWrites(t, b(t, payment.Name)) })
	t.Run("order", func(t *testing.T) { testOrder(t, b(t, order.Name)) })
	t.Run("services", func(t *testing.T) {
		testCommand(t, b(t, payment.Name), func(db *sqlstore.DB, out *messaging.Outbox) sub {
			return payment.New(db, out, payment.Config{})
		}, events.ChargePayment{OrderID: uuid.NewString(), CustomerID: uuid.NewString(),
			Amount: decimal.RequireFromString("1022.17"), Currency: "USD"}, "payments", events.PaymentChargedType)
		testCommand(t, b(t, inventory.Name), func(db *sqlstore.DB, out *messaging.Outbox) sub {
			svc := inventory.New(db, out)
			if err := svc.Seed(t.Context(), map[string]decimal.Decimal{"SKU-1": decimal.NewFromInt(100)}); err != nil {
				t.Fatal(err)
			}
			return svc
		}, events.ReserveStock{OrderID: uuid.NewString(), Lines: []events.Line{
			{SKU: "SKU-1", Quantity: decimal.RequireFromString("14.5")}, {SKU: "SKU-1", Quantity: decimal.NewFromInt(1)},
		}}, "reservations", events.StockReservedType)
		testCommand(t, b(t, fulfillment.Name), func(db *sqlstore.DB, out *messaging.Outbox) sub {
			return fulfillment.New(db, out, fulfillment.Config{})
		}, events.CreateShipment{OrderID: uuid.NewString(), Address: events.Address{Country: "USA", City: "Austin",
			AddressLine1: "Lincoln, 65"}}, "shipments", events.ShipmentCreatedType)
		testCommand(t, b(t, notification.Name), func(db *sqlstore.DB, _ *messaging.Outbox) sub {
			return notification.New(db, notification.Config{}, nil, nil)
		}, events.OrderCompleted{OrderID: uuid.NewString(), CustomerID: uuid.NewString(),
			Total: decimal.RequireFromString("1022.17"), Currency: "USD"}, "notifications", "")
	})
}
