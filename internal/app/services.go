package app

import (
	"time"

	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/internal/fulfillment"
	"github.com/ordersys/ordersys/internal/inventory"
	"github.com/ordersys/ordersys/internal/notification"
	"github.com/ordersys/ordersys/internal/order"
	"github.com/ordersys/ordersys/internal/payment"
	"github.com/ordersys/ordersys/internal/service"
)

// Rules are the settings of the services' business rules.
type Rules struct {
	// StepTimeout and StepAttempts bound how long the saga waits for each reply (see order.Service;
	// zero: its defaults).
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
	// MaxCreates and MaxInFlight bound the creates a process runs at once and the orders in
	// flight it accepts more beside; past them creates are refused with 503 (zero: the defaults).
	MaxCreates, MaxInFlight int
	// Webhooks is how the notification service delivers webhooks.
	Webhooks notification.Config
}

// modules lists the five services in saga order, configured by r. A new service is a new line.
func modules(r Rules) []service.Module {
	return []service.Module{
		order.Module(order.Config{StepTimeout: r.StepTimeout, StepAttempts: r.StepAttempts,
			MaxCreates: r.MaxCreates, MaxInFlight: r.MaxInFlight}),
		payment.Module(payment.Config{CreditLimit: r.CreditLimit}),
		inventory.Module(inventory.Config{DemoCatalog: r.DemoCatalog}),
		fulfillment.Module(fulfillment.Config{Countries: r.ShipCountries}),
		notification.Module(r.Webhooks),
	}
}
