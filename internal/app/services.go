package app

import (
	"log/slog"
	"time"

	"github.com/shopspring/decimal"

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

// Rules are the settings of the services' business rules.
type Rules struct {
	// StepTimeout and StepAttempts bound how long the saga waits for each reply (see order.Service).
	StepTimeout  time.Duration
	StepAttempts int
	// DemoCatalog stocks SKU-1 to SKU-20 amply, where they are missing, so orders can be tried
	// at once; dev always does.
	DemoCatalog bool
	// CreditLimit is every customer's credit limit per currency with the simulated payment
	// provider (zero: payment.DefaultCreditLimit).
	CreditLimit decimal.Decimal
	// ShipCountries are the countries fulfillment ships to (empty: fulfillment.DefaultCountries).
	ShipCountries []string
}

// serviceSpec says how to build one service: its database migrations and its constructor.
type serviceSpec struct {
	name       string
	migrations sqlstore.Migrations
	build      func(db *sqlstore.DB, out *messaging.Outbox, rules Rules, log *slog.Logger) service
}

// catalog lists the five services in saga order.
var catalog = []serviceSpec{
	{order.Name, order.Migrations, func(db *sqlstore.DB, out *messaging.Outbox, r Rules, log *slog.Logger) service {
		svc := order.New(db, out, log)
		if r.StepTimeout > 0 {
			svc.StepTimeout = r.StepTimeout
		}
		if r.StepAttempts > 0 {
			svc.StepAttempts = r.StepAttempts
		}
		return svc
	}},
	{payment.Name, payment.Migrations, func(db *sqlstore.DB, out *messaging.Outbox, r Rules, _ *slog.Logger) service {
		return payment.New(db, out, payment.Config{CreditLimit: r.CreditLimit})
	}},
	{inventory.Name, inventory.Migrations, func(db *sqlstore.DB, out *messaging.Outbox, _ Rules, log *slog.Logger) service {
		return inventory.New(db, out).WithLogger(log)
	}},
	{fulfillment.Name, fulfillment.Migrations, func(db *sqlstore.DB, out *messaging.Outbox, r Rules, _ *slog.Logger) service {
		return fulfillment.New(db, out, fulfillment.Config{Countries: r.ShipCountries})
	}},
	{notification.Name, notification.Migrations, func(db *sqlstore.DB, _ *messaging.Outbox, _ Rules, _ *slog.Logger) service {
		return notification.New(db)
	}},
}
