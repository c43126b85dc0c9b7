// Package payment is the payment service: it charges (and later refunds) orders, each exactly
// once, answering the saga's commands with events.
package payment

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

// Name is the service's name: its consumer group, event source and database name.
const Name = "payment"

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Migrations creates the service's tables.
var Migrations = sqlstore.EmbeddedMigrations("goose_payment_version", migrationsFS, "migrations")

// Service handles payment commands.
type Service struct {
	db     *sqlstore.DB
	outbox *messaging.Outbox
}

// New returns the payment service on db.
func New(db *sqlstore.DB, outbox *messaging.Outbox) *Service {
	return &Service{db: db, outbox: outbox}
}

// Subscriptions lists what the service consumes.
func (s *Service) Subscriptions() []messaging.Subscription {
	return []messaging.Subscription{{Name: Name, Topics: []string{events.TopicPaymentCommands}, Handle: s.handle}}
}

func (s *Service) handle(ctx context.Context, tx *sqlstore.Tx, _ events.Envelope, p events.Payload) error {
	switch cmd := p.(type) {
	case *events.ChargePayment:
		return s.charge(ctx, tx, cmd)
	default:
		return messaging.Permanent(fmt.Errorf("payment service cannot handle %s", p.EventType()))
	}
}

// charge records the charge once per order and answers PaymentCharged. A repeated command answers
// again with the first charge, so a saga that re-sent it still gets its reply.
func (s *Service) charge(ctx context.Context, tx *sqlstore.Tx, cmd *events.ChargePayment) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO payments (id, order_id, customer_id, kind, amount, currency, created_at)
		VALUES ($1, $2, $3, 'CHARGE', $4, $5, $6) ON CONFLICT (order_id, kind) DO NOTHING`,
		uuid.NewString(), cmd.OrderID, cmd.CustomerID, cmd.Amount.String(), cmd.Currency, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("charge %s: %w", cmd.OrderID, err)
	}
	var paymentID string
	if err := tx.QueryRowContext(ctx, `SELECT id FROM payments WHERE order_id = $1 AND kind = 'CHARGE'`,
		cmd.OrderID).Scan(&paymentID); err != nil {
		return fmt.Errorf("charge %s: %w", cmd.OrderID, err)
	}
	reply, err := events.New(Name, cmd.OrderID, events.PaymentCharged{
		OrderID: cmd.OrderID, PaymentID: paymentID, Amount: cmd.Amount, Currency: cmd.Currency,
	})
	if err != nil {
		return err
	}
	return s.outbox.Put(ctx, tx, reply)
}

// Payment is one recorded charge or refund.
type Payment struct {
	ID, OrderID, Kind, Amount, Currency string
	CreatedAt                           time.Time
}

// PaymentsFor lists an order's charges and refunds, oldest first.
func (s *Service) PaymentsFor(ctx context.Context, orderID string) ([]Payment, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, order_id, kind, amount, currency, created_at
		FROM payments WHERE order_id = $1 ORDER BY created_at, id`, orderID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Payment
	for rows.Next() {
		var p Payment
		if err := rows.Scan(&p.ID, &p.OrderID, &p.Kind, &p.Amount, &p.Currency, &p.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
