// Package service says what one service of ordersys is to the process that runs it: a Module
// names its database schema, and starting it gives the parts the process runs: what it consumes,
// the loops it keeps going, what it prunes and the API operations it answers. A process builds
// itself from a list of modules, so adding a service is adding a module to that list.
package service

import (
	"context"
	"log/slog"

	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/metrics"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// Module is one service, ready to be started in a process.
type Module struct {
	// Name is the service's name: its database (or schema), its event source and, unless a
	// subscription says otherwise, its consumer group.
	Name       string
	Migrations sqlstore.Migrations
	// Start builds the service on its database, which is open and migrated.
	Start func(ctx context.Context, deps Deps) (Parts, error)
}

// Deps are what the process gives each service it starts.
type Deps struct {
	DB        *sqlstore.DB
	Outbox    *messaging.Outbox
	Log       *slog.Logger
	Retention messaging.RetentionConfig
	// Metrics is where the service records what it does (nil: nowhere).
	Metrics *metrics.Metrics
}

// Parts are what the process runs of a started service. The process itself runs the outbox relay
// and prunes the inbox of every service.
type Parts struct {
	Subscriptions []messaging.Subscription
	// Loops run until their context ends.
	Loops []func(context.Context)
	// Pruners delete what the service keeps only for a while, besides its inbox.
	Pruners []messaging.Pruner
	// API answers the service's operations of the REST API (nil: it has none).
	API any
	// Service is the service itself, for callers in the same process.
	Service any
}
