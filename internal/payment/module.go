package payment

import (
	"context"

	"github.com/ordersys/ordersys/internal/service"
)

// Module is the payment service as a process runs it: its commands' consumer and the payment
// operations of the API.
func Module(cfg Config) service.Module {
	return service.Module{Name: Name, Migrations: Migrations,
		Start: func(_ context.Context, d service.Deps) (service.Parts, error) {
			if err := cfg.Validate(); err != nil {
				return service.Parts{}, err
			}
			svc := New(d.DB, d.Outbox, cfg)
			return service.Parts{Subscriptions: svc.Subscriptions(), API: NewAPI(svc), Service: svc}, nil
		}}
}
