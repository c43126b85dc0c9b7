package notification

import (
	"context"

	"github.com/ordersys/ordersys/internal/service"
)

// Module is the notification service as a process runs it: the consumer of order outcomes and
// the notification operations of the API.
func Module() service.Module {
	return service.Module{Name: Name, Migrations: Migrations,
		Start: func(_ context.Context, d service.Deps) (service.Parts, error) {
			svc := New(d.DB)
			return service.Parts{Subscriptions: svc.Subscriptions(), API: NewAPI(svc), Service: svc}, nil
		}}
}
