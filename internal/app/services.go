package app

import (
	"log/slog"

	"github.com/ordersys/ordersys/internal/fulfillment"
	"github.com/ordersys/ordersys/internal/inventory"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/notification"
	"github.com/ordersys/ordersys/internal/order"
	"github.com/ordersys/ordersys/internal/payment"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// service is what the wiring needs of every service: what it consumes.
type service interface {
	Subscriptions() []messaging.Subscription
}

// serviceSpec says how to build one service: its database migrations and its constructor.
type serviceSpec struct {
	name       string
	migrations sqlstore.Migrations
	build      func(db *sqlstore.DB, out *messaging.Outbox, log *slog.Logger) service
}

// catalog lists the five services in saga order.
var catalog = []serviceSpec{
	{order.Name, order.Migrations, func(db *sqlstore.DB, out *messaging.Outbox, log *slog.Logger) service {
		return order.New(db, out, log)
	}},
	{payment.Name, payment.Migrations, func(db *sqlstore.DB, out *messaging.Outbox, _ *slog.Logger) service {
		return payment.New(db, out)
	}},
	{inventory.Name, inventory.Migrations, func(db *sqlstore.DB, out *messaging.Outbox, _ *slog.Logger) service {
		return inventory.New(db, out)
	}},
	{fulfillment.Name, fulfillment.Migrations, func(db *sqlstore.DB, out *messaging.Outbox, _ *slog.Logger) service {
		return fulfillment.New(db, out)
	}},
	{notification.Name, notification.Migrations, func(db *sqlstore.DB, _ *messaging.Outbox, _ *slog.Logger) service {
		return notification.New(db)
	}},
}
