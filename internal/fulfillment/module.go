package fulfillment

import (
	"context"

	"github.com/ordersys/ordersys/internal/service"
)

// Module is the fulfillment service as a process runs it: its commands' consumer and the
// shipment operations of the API.
func Module(cfg Config) service.Module {
	return service.Module{Name: Name, Migrations: Migrations,
		Start: func(_ context.Context, d service.Deps) (service.Parts, error) {
			svc := New(d.DB, d.Outbox, cfg)
			return service.Parts{Subscriptions: svc.Subscriptions(), API: NewAPI(svc), Service: svc}, nil
		}}
}
