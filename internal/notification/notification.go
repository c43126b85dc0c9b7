// Package notification is the notification service: it tells the customer how their order
// ended, once per order and outcome.
package notification

import (
	"context"
	"embed"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// Name is the service's name: its consumer group and database name.
const Name = "notification"

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Migrations creates the service's tables.
var Migrations = sqlstore.EmbeddedMigrations("goose_notification_version", migrationsFS, "migrations")

// Service records notifications for order outcomes.
type Service struct {
	db *sqlstore.DB
}

// New returns the notification service on db.
func New(db *sqlstore.DB) *Service { return &Service{db: db} }

// Subscriptions lists what the service consumes.
func (s *Service) Subscriptions() []messaging.Subscription {
	return []messaging.Subscription{{Name: Name, Topics: []string{events.TopicOrderEvents},
		Types: []events.Type{events.OrderCompletedType}, Handle: s.handle}}
}

func (s *Service) handle(ctx context.Context, tx *sqlstore.Tx, _ events.Envelope, p events.Payload) error {
	switch e := p.(type) {
	case *events.OrderCompleted:
		msg := fmt.Sprintf("Your order %s is complete: %s %s charged, and it is on its way.",
			e.OrderID, e.Total.String(), e.Currency)
		return s.record(ctx, tx, e.OrderID, "ORDER_COMPLETED", e.CustomerID, msg)
	default:
		return nil // other order events need no message
	}
}

// record stores the message unless this order already has one of this kind.
func (s *Service) record(ctx context.Context, tx *sqlstore.Tx, orderID, kind, recipient, message string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO notifications (id, order_id, kind, recipient, message, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (order_id, kind) DO NOTHING`,
		uuid.NewString(), orderID, kind, recipient, message, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("notify %s %s: %w", orderID, kind, err)
	}
	return nil
}

// CountFor counts the notifications recorded for an order.
func (s *Service) CountFor(ctx context.Context, orderID string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM notifications WHERE order_id = $1`, orderID).Scan(&n)
	return n, err
}
