// Package fulfillment is the fulfillment service: it hands an order to a carrier, once, answering
// the saga's commands with events.
package fulfillment

import (
	"context"
	"embed"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// Name is the service's name: its consumer group, event source and database name.
const Name = "fulfillment"

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Migrations creates the service's tables.
var Migrations = sqlstore.EmbeddedMigrations("goose_fulfillment_version", migrationsFS, "migrations")

// Service handles fulfillment commands.
type Service struct {
	db     *sqlstore.DB
	outbox *messaging.Outbox
}

// New returns the fulfillment service on db.
func New(db *sqlstore.DB, outbox *messaging.Outbox) *Service {
	return &Service{db: db, outbox: outbox}
}

// Subscriptions lists what the service consumes.
func (s *Service) Subscriptions() []messaging.Subscription {
	return []messaging.Subscription{{Name: Name, Topics: []string{events.TopicFulfillmentCommands}, Handle: s.handle}}
}

func (s *Service) handle(ctx context.Context, tx *sqlstore.Tx, _ events.Envelope, p events.Payload) error {
	switch cmd := p.(type) {
	case *events.CreateShipment:
		return s.ship(ctx, tx, cmd)
	default:
		return messaging.Permanent(fmt.Errorf("fulfillment service cannot handle %s", p.EventType()))
	}
}

// ship creates the order's one shipment and answers ShipmentCreated; a repeated command answers
// again with the first shipment.
func (s *Service) ship(ctx context.Context, tx *sqlstore.Tx, cmd *events.CreateShipment) error {
	id := uuid.NewString()
	tracking := "1Z" + strings.ToUpper(strings.ReplaceAll(id, "-", "")[:16])
	a := cmd.Address
	if _, err := tx.ExecContext(ctx, `INSERT INTO shipments
		(id, order_id, carrier, tracking_number, country, city, address_line1, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (order_id) DO NOTHING`,
		id, cmd.OrderID, "UPS", tracking, a.Country, a.City, a.AddressLine1, time.Now().UTC()); err != nil {
		return fmt.Errorf("ship %s: %w", cmd.OrderID, err)
	}
	reply := events.ShipmentCreated{OrderID: cmd.OrderID}
	if err := tx.QueryRowContext(ctx, `SELECT id, carrier, tracking_number FROM shipments WHERE order_id = $1`,
		cmd.OrderID).Scan(&reply.ShipmentID, &reply.Carrier, &reply.TrackingNumber); err != nil {
		return fmt.Errorf("ship %s: %w", cmd.OrderID, err)
	}
	msg, err := events.New(Name, cmd.OrderID, reply)
	if err != nil {
		return err
	}
	return s.outbox.Put(ctx, tx, msg)
}

// ShipmentCount counts the order's shipments (zero or one).
func (s *Service) ShipmentCount(ctx context.Context, orderID string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM shipments WHERE order_id = $1`, orderID).Scan(&n)
	return n, err
}
