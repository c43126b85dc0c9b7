package inventory

import (
	"context"
	"fmt"

	"github.com/ordersys/ordersys/internal/service"
)

// Config configures the service. The zero value is valid.
type Config struct {
	// DemoCatalog stocks DemoCatalog's SKUs, where they are missing, at every start.
	DemoCatalog bool
}

// Module is the inventory service as a process runs it: the consumer of its commands and of
// completed orders, and the stock operations of the API.
func Module(cfg Config) service.Module {
	return service.Module{Name: Name, Migrations: Migrations,
		Start: func(ctx context.Context, d service.Deps) (service.Parts, error) {
			svc := New(d.DB, d.Outbox).WithLogger(d.Log)
			if cfg.DemoCatalog {
				if err := svc.Seed(ctx, DemoCatalog); err != nil {
					return service.Parts{}, fmt.Errorf("demo catalog: %w", err)
				}
			}
			return service.Parts{Subscriptions: svc.Subscriptions(), API: NewAPI(svc), Service: svc}, nil
		}}
}
