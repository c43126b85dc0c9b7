// Package inventory is the inventory service: it reserves an order's stock, all lines or none,
// answering the saga's commands with events.
package inventory

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

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

// Service handles inventory commands.
type Service struct {
	db     *sqlstore.DB
	outbox *messaging.Outbox
}

// New returns the inventory service on db.
func New(db *sqlstore.DB, outbox *messaging.Outbox) *Service {
	return &Service{db: db, outbox: outbox}
}

// Subscriptions lists what the service consumes.
func (s *Service) Subscriptions() []messaging.Subscription {
	return []messaging.Subscription{{Name: Name, Topics: []string{events.TopicInventoryCommands}, Handle: s.handle}}
}

func (s *Service) handle(ctx context.Context, tx *sqlstore.Tx, _ events.Envelope, p events.Payload) error {
	switch cmd := p.(type) {
	case *events.ReserveStock:
		return s.reserve(ctx, tx, cmd)
	default:
		return messaging.Permanent(fmt.Errorf("inventory service cannot handle %s", p.EventType()))
	}
}

// reserve records one reservation per order and answers StockReserved; a repeated command answers
// again with the first reservation.
func (s *Service) reserve(ctx context.Context, tx *sqlstore.Tx, cmd *events.ReserveStock) error {
	var id string
	err := tx.QueryRowContext(ctx, `SELECT id FROM reservations WHERE order_id = $1`, cmd.OrderID).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		id = uuid.NewString()
		if _, err := tx.ExecContext(ctx, `INSERT INTO reservations (id, order_id, status, created_at)
			VALUES ($1, $2, 'RESERVED', $3)`, id, cmd.OrderID, time.Now().UTC()); err != nil {
			return fmt.Errorf("reserve %s: %w", cmd.OrderID, err)
		}
		for _, l := range mergeLines(cmd.Lines) {
			if _, err := tx.ExecContext(ctx, `INSERT INTO reservation_lines (reservation_id, sku, quantity)
				VALUES ($1, $2, $3)`, id, l.SKU, l.Quantity.String()); err != nil {
				return fmt.Errorf("reserve %s: %w", cmd.OrderID, err)
			}
		}
	case err != nil:
		return fmt.Errorf("reserve %s: %w", cmd.OrderID, err)
	}
	reply, err := events.New(Name, cmd.OrderID, events.StockReserved{OrderID: cmd.OrderID, ReservationID: id})
	if err != nil {
		return err
	}
	return s.outbox.Put(ctx, tx, reply)
}

// mergeLines sums repeated SKUs, since an order may list one SKU on several lines.
func mergeLines(lines []events.Line) []events.Line {
	var out []events.Line
	index := map[string]int{}
	for _, l := range lines {
		if i, ok := index[l.SKU]; ok {
			out[i].Quantity = out[i].Quantity.Add(l.Quantity)
			continue
		}
		index[l.SKU] = len(out)
		out = append(out, l)
	}
	return out
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
