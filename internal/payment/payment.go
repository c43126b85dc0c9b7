// Package payment is the payment service: it charges and refunds orders, each at most once per
// order, through a payment provider, answering the saga's commands with events.
package payment

import (
	"context"
	"embed"
	"fmt"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

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

// DefaultCreditLimit is each customer's credit limit per currency when Config leaves it zero.
var DefaultCreditLimit = decimal.NewFromInt(10000)

// Config configures the service. The zero value is valid: the simulated provider with the
// default credit limit.
type Config struct {
	// CreditLimit is what the simulated provider lets each customer spend per currency (charges
	// minus refunds). Zero means DefaultCreditLimit. At most 4 fraction digits.
	CreditLimit decimal.Decimal
	// Provider moves the money; nil means the simulated provider with CreditLimit.
	Provider Provider
}

// Validate reports whether the configuration can be used.
func (c Config) Validate() error {
	if c.Provider != nil {
		return nil
	}
	_, err := newSimulator(c.creditLimit())
	return err
}

func (c Config) creditLimit() decimal.Decimal {
	if c.CreditLimit.IsZero() {
		return DefaultCreditLimit
	}
	return c.CreditLimit
}

// Payment statuses: only SUCCEEDED rows are payments; see migrations/00002_payment_outcomes.sql.
const (
	statusSucceeded = "SUCCEEDED"
	statusDeclined  = "DECLINED"
	statusVoided    = "VOIDED"
)

// Payment kinds.
const (
	KindCharge = "CHARGE"
	KindRefund = "REFUND"
)

// Service handles payment commands.
type Service struct {
	db       *sqlstore.DB
	outbox   *messaging.Outbox
	provider batchProvider
}

// New returns the payment service on db. It panics if cfg is invalid (a negative credit limit,
// or one with more than 4 fraction digits); check configuration from users with cfg.Validate.
func New(db *sqlstore.DB, outbox *messaging.Outbox, cfg Config) *Service {
	var p batchProvider = fixed{cfg.Provider}
	if cfg.Provider == nil {
		sim, err := newSimulator(cfg.creditLimit())
		if err != nil {
			panic("payment: " + err.Error())
		}
		p = sim
	}
	return &Service{db: db, outbox: outbox, provider: p}
}

// Subscriptions lists what the service consumes.
func (s *Service) Subscriptions() []messaging.Subscription {
	return []messaging.Subscription{{Name: Name, Topics: []string{events.TopicPaymentCommands},
		Load: messaging.Stateful(s.load, s.handle)}}
}

func (s *Service) handle(ctx context.Context, tx *sqlstore.Tx, b *batch, e messaging.Event) error {
	switch cmd := e.Payload.(type) {
	case *events.ChargePayment:
		if err := s.charge(ctx, tx, b, cmd); err != nil {
			return fmt.Errorf("charge %s: %w", cmd.OrderID, err)
		}
		return nil
	case *events.RefundPayment:
		if err := s.refund(ctx, tx, b, cmd); err != nil {
			return fmt.Errorf("refund %s: %w", cmd.OrderID, err)
		}
		return nil
	default:
		return messaging.Permanent(fmt.Errorf("payment service cannot handle %s", e.Payload.EventType()))
	}
}

// charge charges the order once: the first command asks the provider and records the outcome
// (charged or declined); every command, first or repeated under any event id, answers with that
// recorded outcome, so a saga that re-sent it still hears back.
func (s *Service) charge(ctx context.Context, tx *sqlstore.Tx, b *batch, cmd *events.ChargePayment) error {
	if err := validate(cmd.CustomerID, cmd.Amount, cmd.Currency); err != nil {
		return messaging.Permanent(err)
	}
	r, done := b.rows[paymentKey{cmd.OrderID, KindCharge}]
	if !done {
		r = row{id: uuid.NewString(), orderID: cmd.OrderID, customerID: cmd.CustomerID, kind: KindCharge,
			amount: cmd.Amount, currency: cmd.Currency, status: statusSucceeded}
		res, err := b.provider.Charge(ctx, tx, ChargeRequest{PaymentID: r.id, OrderID: cmd.OrderID,
			CustomerID: cmd.CustomerID, Amount: cmd.Amount, Currency: cmd.Currency})
		if err != nil {
			return err
		}
		if !res.Approved {
			r.status, r.reason = statusDeclined, res.DeclineReason
		}
		b.insert(tx, r)
	}
	return s.outbox.Send(ctx, tx, Name, cmd.OrderID, chargeReply(r))
}

// refund gives the order's charge back once. With no charge to give back (declined, or none
// ever made) it just answers; an order with no charge row gets a VOIDED one, closing its charge
// slot, so that a ChargePayment arriving after its own compensation (a replayed dead letter) is
// declined rather than taking money for an order that has already failed or been cancelled.
func (s *Service) refund(ctx context.Context, tx *sqlstore.Tx, b *batch, cmd *events.RefundPayment) error {
	charge, charged := b.rows[paymentKey{cmd.OrderID, KindCharge}]
	if !charged {
		b.insert(tx, row{id: uuid.NewString(), orderID: cmd.OrderID, customerID: cmd.CustomerID, kind: KindCharge,
			amount: decimal.Zero, currency: cmd.Currency, status: statusVoided, reason: ReasonAlreadyRefunded})
	}
	if !charged || charge.status != statusSucceeded {
		return s.outbox.Send(ctx, tx, Name, cmd.OrderID, events.PaymentRefunded{OrderID: cmd.OrderID})
	}
	// The refund gives back what was charged, as recorded, whatever amount the command carries.
	refund, done := b.rows[paymentKey{cmd.OrderID, KindRefund}]
	if !done {
		refund = row{id: uuid.NewString(), orderID: cmd.OrderID, customerID: charge.customerID, kind: KindRefund,
			amount: charge.amount, currency: charge.currency, status: statusSucceeded}
		if err := b.provider.Refund(ctx, tx, RefundRequest{RefundID: refund.id, PaymentID: charge.id,
			OrderID: cmd.OrderID, CustomerID: charge.customerID, Amount: charge.amount,
			Currency: charge.currency}); err != nil {
			return err
		}
		b.insert(tx, refund)
	}
	return s.outbox.Send(ctx, tx, Name, cmd.OrderID, events.PaymentRefunded{OrderID: cmd.OrderID, RefundID: refund.id})
}
