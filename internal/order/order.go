// Package order is the order service: it accepts orders over the REST API and orchestrates the
// saga that carries each one to a terminal status.
package order

import (
	"cmp"
	"embed"
	"log/slog"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ordersys/ordersys/internal/errs"
	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/metrics"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// Name is the service's name: its event source and database name.
const Name = "order"

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Migrations creates the service's tables.
var Migrations = sqlstore.EmbeddedMigrations("goose_order_version", migrationsFS, "migrations")

// Status is where an order is in the saga.
type Status string

// The seed's statuses, plus the ones a saga with compensation needs.
const (
	Pending      Status = "PENDING"
	Payment      Status = "PAYMENT"
	Inventory    Status = "INVENTORY"
	Fulfillment  Status = "FULFILLMENT"
	Completed    Status = "COMPLETED"
	Compensating Status = "COMPENSATING"
	Failed       Status = "FAILED"
	Cancelled    Status = "CANCELLED"
)

// Terminal reports whether an order in s will never move again.
func (s Status) Terminal() bool { return s == Completed || s == Failed || s == Cancelled }

// Item is one order line.
type Item struct {
	SKU       string
	Quantity  decimal.Decimal
	UnitPrice decimal.Decimal
}

// HistoryEntry is one status an order has been in.
type HistoryEntry struct {
	Status Status
	Reason string
	At     time.Time
}

// Order is an order with everything the API shows of it.
type Order struct {
	ID            string
	CustomerID    string
	Status        Status
	FailureReason string
	Currency      string
	Total         decimal.Decimal
	Address       events.Address
	Items         []Item
	History       []HistoryEntry
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// TraceParent and TraceState are the W3C trace context of the request that created it.
	TraceParent, TraceState string
	// Step is the saga step it is in; nil once it has ended.
	Step *Step
}

// Step is the saga step an order that has not ended is in: what operators look at to tell a slow
// order from a stuck one.
type Step struct {
	Attempts    int       // how many times the step's command was sent (0 while PENDING)
	MaxAttempts int       // how many sends it gets before the saga gives up on it
	Deadline    time.Time // when it times out
	// WaitingFor are the replies the saga awaits (see awaiting).
	WaitingFor []events.Type
}

// ErrNotFound is returned for an order id that does not exist.
var ErrNotFound = errs.New(errs.ENOTFOUND, "Order not found", "order not found")

// Service is the order service.
type Service struct {
	db     *sqlstore.DB
	outbox *messaging.Outbox
	log    *slog.Logger
	// IdempotencyTTL is how long an Idempotency-Key is remembered (default 24h).
	IdempotencyTTL time.Duration
	// StepTimeout is how long a saga step waits for its reply before its command is sent again
	// (default 30s); StepAttempts is how many sends a step gets before the saga gives up on it
	// and compensates (default 3).
	StepTimeout  time.Duration
	StepAttempts int

	metrics    *metrics.Metrics // nil: none recorded
	firstSteps *firstSteps      // orders created here, for RunFirstSteps
	admission  *admission       // see RunAdmission and SetAdmission
	counts     statusCounts     // see Counts
	watch      *watchers        // the requests waiting for orders to end (see Await)
}

// New returns the order service on db.
func New(db *sqlstore.DB, outbox *messaging.Outbox, log *slog.Logger) *Service {
	s := &Service{db: db, outbox: outbox, log: log, IdempotencyTTL: 24 * time.Hour,
		StepTimeout: 30 * time.Second, StepAttempts: 3, firstSteps: newFirstSteps(),
		admission: newAdmission(DefaultMaxCreates, DefaultMaxInFlight)}
	s.watch = newWatchers(DefaultWatchPoll, s.endedOrders)
	return s
}

// SetAdmission bounds the creates that run at once in this process and the orders in flight
// across every replica (see admission); zero keeps a default.
func (s *Service) SetAdmission(maxCreates, maxInFlight int) {
	s.admission = newAdmission(cmp.Or(maxCreates, DefaultMaxCreates), cmp.Or(maxInFlight, DefaultMaxInFlight))
}

// now is the service's clock: UTC, to the microsecond that PostgreSQL keeps.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
