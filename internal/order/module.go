package order

import (
	"context"
	"time"

	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/service"
)

// Config sets the saga's deadlines and the bounds of admission; zero fields keep the defaults.
type Config struct {
	StepTimeout  time.Duration
	StepAttempts int
	// MaxCreates and MaxInFlight bound what a process accepts (see Service.SetAdmission).
	MaxCreates, MaxInFlight int
}

// Module is the order service as a process runs it: the saga's consumer, its deadline watch and
// first steps, the pruning of expired Idempotency-Keys, and the order operations of the API.
func Module(cfg Config) service.Module {
	return service.Module{Name: Name, Migrations: Migrations,
		Start: func(_ context.Context, d service.Deps) (service.Parts, error) {
			svc := New(d.DB, d.Outbox, d.Log)
			if cfg.StepTimeout > 0 {
				svc.StepTimeout = cfg.StepTimeout
			}
			if cfg.StepAttempts > 0 {
				svc.StepAttempts = cfg.StepAttempts
			}
			svc.SetAdmission(cfg.MaxCreates, cfg.MaxInFlight)
			svc.SetMetrics(d.Metrics)
			batch := d.Retention.BatchSize
			return service.Parts{
				Subscriptions: svc.Subscriptions(),
				Loops:         []func(context.Context){svc.RunDeadlines, svc.RunFirstSteps, svc.RunAdmission},
				Pruners: []messaging.Pruner{func(ctx context.Context, now time.Time) (int64, error) {
					return svc.PruneIdempotencyKeys(ctx, now, batch)
				}},
				API:     NewAPI(svc),
				Service: svc,
			}, nil
		}}
}
