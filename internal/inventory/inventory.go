// Package inventory is the inventory service: it keeps the stock of every SKU and reserves an
// order's stock, all lines or none, exactly once per order, answering the saga's commands with
// events. A reservation is released when the saga compensates and consumed when the order
// completes.
package inventory

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// Name is the service's name: its consumer group, event source and database name.
const Name = "inventory"

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Migrations creates the service's tables.
var Migrations = sqlstore.EmbeddedMigrations("goose_inventory_version", migrationsFS, "migrations")

// Reservation statuses.
const (
	StatusReserved = "RESERVED" // the order's lines are held: available went down, reserved up
	StatusRejected = "REJECTED" // a line could not be reserved, so none was
	StatusReleased = "RELEASED" // the saga compensated: what was held is available again
	StatusConsumed = "CONSUMED" // the order completed: what was held has left the warehouse
)

// Rejection reasons of StockRejected.
const (
	ReasonUnknownSKU        = "UNKNOWN_SKU"
	ReasonInsufficientStock = "INSUFFICIENT_STOCK"
)

// Service handles inventory commands and keeps the stock.
type Service struct {
	db     *sqlstore.DB
	outbox *messaging.Outbox
	log    *slog.Logger
}

// New returns the inventory service on db. It logs to slog.Default until WithLogger is called.
func New(db *sqlstore.DB, outbox *messaging.Outbox) *Service {
	return &Service{db: db, outbox: outbox, log: slog.Default()}
}

// WithLogger makes the service log to log (which names the service), and returns it.
func (s *Service) WithLogger(log *slog.Logger) *Service {
	s.log = log
	return s
}

// Subscriptions lists what the service consumes: its commands, and completed orders, whose
// reservations become shipped stock. Both update the hot stock rows, so they are one consumer:
// as two, each would hold those rows locked while the other waited for them. A batch locks every
// stock row it will touch before applying any record (see load).
func (s *Service) Subscriptions() []messaging.Subscription {
	return []messaging.Subscription{{
		Name:   Name,
		Topics: []string{events.TopicInventoryCommands, events.TopicOrderEvents},
		Types:  []events.Type{events.ReserveStockType, events.ReleaseStockType, events.OrderCompletedType},
		Load:   messaging.Stateful(load, s.handle),
	}}
}

func (s *Service) handle(ctx context.Context, tx *sqlstore.Tx, b *batch, e messaging.Event) error {
	switch cmd := e.Payload.(type) {
	case *events.ReserveStock:
		return s.reserve(ctx, tx, b, cmd)
	case *events.ReleaseStock:
		return s.release(ctx, tx, b, cmd)
	case *events.OrderCompleted:
		return s.consume(tx, b, cmd.OrderID)
	default:
		return messaging.Permanent(fmt.Errorf("inventory service cannot handle %s", e.Payload.EventType()))
	}
}

// ReservationFor reports the order's reservation status, or "" when there is none.
func (s *Service) ReservationFor(ctx context.Context, orderID string) (string, error) {
	var status string
	err := s.db.QueryRowContext(ctx, `SELECT status FROM reservations WHERE order_id = $1`, orderID).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return status, err
}
