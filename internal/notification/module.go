package notification

import (
	"context"
	"time"

	"github.com/ordersys/ordersys/internal/messaging"

	"github.com/ordersys/ordersys/internal/service"
)

// Module is the notification service as a process runs it: the consumer of order outcomes, the
// webhook delivery loop, and the notification and webhook operations of the API.
func Module(cfg Config) service.Module {
	return service.Module{Name: Name, Migrations: Migrations,
		Start: func(_ context.Context, d service.Deps) (service.Parts, error) {
			if err := cfg.Validate(); err != nil {
				return service.Parts{}, err
			}
			svc := New(d.DB, cfg, d.Log, d.Metrics)
			batch := d.Retention.BatchSize
			return service.Parts{Subscriptions: svc.Subscriptions(), Loops: []func(context.Context){svc.RunDeliveries},
				Pruners: []messaging.Pruner{func(ctx context.Context, now time.Time) (int64, error) {
					return svc.PruneDeliveries(ctx, now, batch)
				}},
				API: NewAPI(svc), Service: svc}, nil
		}}
}
