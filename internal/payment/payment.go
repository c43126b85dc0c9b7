// Package payment is the payment service: it charges and refunds orders, each at most once per
// order, through a payment provider, answering the saga's commands with events.
package payment

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strings"
	"time"

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
	_, err := NewSimulator(c.creditLimit())
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
	provider Provider
}

// New returns the payment service on db. It panics if cfg is invalid (a negative credit limit,
// or one with more than 4 fraction digits); check configuration from users with cfg.Validate.
func New(db *sqlstore.DB, outbox *messaging.Outbox, cfg Config) *Service {
	p := cfg.Provider
	if p == nil {
		sim, err := NewSimulator(cfg.creditLimit())
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
		Handle: s.handle, Prepare: s.prepare}}
}

func (s *Service) handle(ctx context.Context, tx *sqlstore.Tx, _ events.Envelope, p events.Payload) error {
	switch cmd := p.(type) {
	case *events.ChargePayment:
		return s.charge(ctx, tx, cmd)
	case *events.RefundPayment:
		return s.refund(ctx, tx, cmd)
	default:
		return messaging.Permanent(fmt.Errorf("payment service cannot handle %s", p.EventType()))
	}
}

// insertPayment records a charge attempt or a refund unless the order already has one of its
// kind: UNIQUE (order_id, kind) makes it the claim that lets only one command act per order.
const insertPayment = `INSERT INTO payments
	(id, order_id, customer_id, kind, amount, currency, status, reason, created_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (order_id, kind) DO NOTHING`

// record inserts a payments row; it reports whether this call inserted it.
func record(ctx context.Context, tx *sqlstore.Tx, r row) (bool, error) {
	if k := knownOf(tx); k.covers(r.orderID) {
		key := paymentKey{r.orderID, r.kind}
		if _, taken := k.rows[key]; taken {
			return false, nil
		}
		// A plain INSERT: a concurrent command that took the order's row of this kind first fails
		// this commit on the unique key, and the retry reads that row.
		tx.ExecLater("payments", `INSERT INTO payments
			(id, order_id, customer_id, kind, amount, currency, status, reason, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, r.id, r.orderID, r.customerID, r.kind, r.amount.String(),
			r.currency, r.status, r.reason, time.Now().UTC())
		k.rows[key] = r
		return true, nil
	}
	res, err := tx.ExecContext(ctx, insertPayment, r.id, r.orderID, r.customerID, r.kind, r.amount.String(),
		r.currency, r.status, r.reason, time.Now().UTC())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// row is one payments row.
type row struct {
	id, orderID, customerID, kind, currency, status, reason string
	amount                                                  decimal.Decimal
}

// find reads the order's row of kind; ok is false if there is none.
func find(ctx context.Context, tx *sqlstore.Tx, orderID, kind string) (r row, ok bool, err error) {
	if k := knownOf(tx); k.covers(orderID) {
		r, ok = k.rows[paymentKey{orderID, kind}]
		return r, ok, nil
	}
	var amount string
	err = tx.QueryRowContext(ctx, `SELECT id, customer_id, amount, currency, status, reason
		FROM payments WHERE order_id = $1 AND kind = $2`, orderID, kind).
		Scan(&r.id, &r.customerID, &amount, &r.currency, &r.status, &r.reason)
	if errors.Is(err, sql.ErrNoRows) {
		return row{}, false, nil
	}
	if err != nil {
		return row{}, false, err
	}
	if r.amount, err = decimal.NewFromString(amount); err != nil {
		return row{}, false, fmt.Errorf("stored amount %q: %w", amount, err)
	}
	r.orderID, r.kind = orderID, kind
	return r, true, nil
}

// charge charges the order once: the first command claims the order's charge row, asks the
// provider, and records the outcome (charged or declined); every command, first or repeated under
// any event id, answers with that recorded outcome, so a saga that re-sent it still hears back.
func (s *Service) charge(ctx context.Context, tx *sqlstore.Tx, cmd *events.ChargePayment) error {
	if err := validate(cmd.CustomerID, cmd.Amount, cmd.Currency); err != nil {
		return messaging.Permanent(fmt.Errorf("charge %s: %w", cmd.OrderID, err))
	}
	claim := row{id: uuid.NewString(), orderID: cmd.OrderID, customerID: cmd.CustomerID, kind: KindCharge,
		amount: cmd.Amount, currency: cmd.Currency, status: statusSucceeded}
	fresh, err := record(ctx, tx, claim)
	if err != nil {
		return fmt.Errorf("charge %s: %w", cmd.OrderID, err)
	}
	r := claim
	if fresh {
		res, err := s.provider.Charge(ctx, tx, ChargeRequest{PaymentID: claim.id, OrderID: cmd.OrderID,
			CustomerID: cmd.CustomerID, Amount: cmd.Amount, Currency: cmd.Currency})
		if err != nil {
			return fmt.Errorf("charge %s: %w", cmd.OrderID, err)
		}
		if !res.Approved {
			r.status, r.reason = statusDeclined, res.DeclineReason
			tx.ExecLater("payments", `UPDATE payments SET status = $2, reason = $3 WHERE id = $1`,
				claim.id, r.status, r.reason)
			if k := knownOf(tx); k.covers(cmd.OrderID) {
				k.rows[paymentKey{cmd.OrderID, KindCharge}] = r
			}
		}
	} else {
		var ok bool
		r, ok, err = find(ctx, tx, cmd.OrderID, KindCharge)
		if err == nil && !ok {
			err = errors.New("charge row vanished") // cannot happen: it conflicted with it
		}
		if err != nil {
			return fmt.Errorf("charge %s: %w", cmd.OrderID, err)
		}
	}
	var reply events.Payload
	if r.status == statusSucceeded {
		reply = events.PaymentCharged{OrderID: cmd.OrderID, PaymentID: r.id, Amount: r.amount, Currency: r.currency}
	} else {
		reply = events.PaymentDeclined{OrderID: cmd.OrderID, Reason: r.reason}
	}
	return s.reply(ctx, tx, cmd.OrderID, reply)
}

// refund gives the order's charge back once. With no charge to give back (declined, or none
// ever made) it just answers; the order's charge slot is then closed (VOIDED), so that a
// ChargePayment arriving after its own compensation (a replayed dead letter) is declined rather
// than taking money for an order that has already failed or been cancelled.
func (s *Service) refund(ctx context.Context, tx *sqlstore.Tx, cmd *events.RefundPayment) error {
	wrap := func(err error) error { return fmt.Errorf("refund %s: %w", cmd.OrderID, err) }
	if _, err := record(ctx, tx, row{id: uuid.NewString(), orderID: cmd.OrderID, customerID: cmd.CustomerID,
		kind: KindCharge, amount: decimal.Zero, currency: cmd.Currency, status: statusVoided,
		reason: ReasonAlreadyRefunded}); err != nil {
		return wrap(err)
	}
	charge, ok, err := find(ctx, tx, cmd.OrderID, KindCharge)
	if err != nil {
		return wrap(err)
	}
	if !ok || charge.status != statusSucceeded {
		return s.reply(ctx, tx, cmd.OrderID, events.PaymentRefunded{OrderID: cmd.OrderID})
	}
	// The refund gives back what was charged, as recorded, whatever amount the command carries.
	refund := row{id: uuid.NewString(), orderID: cmd.OrderID, customerID: charge.customerID, kind: KindRefund,
		amount: charge.amount, currency: charge.currency, status: statusSucceeded}
	fresh, err := record(ctx, tx, refund)
	if err != nil {
		return wrap(err)
	}
	if fresh {
		if err := s.provider.Refund(ctx, tx, RefundRequest{RefundID: refund.id, PaymentID: charge.id,
			OrderID: cmd.OrderID, CustomerID: charge.customerID, Amount: charge.amount,
			Currency: charge.currency}); err != nil {
			return wrap(err)
		}
	}
	done, ok, err := find(ctx, tx, cmd.OrderID, KindRefund)
	if err == nil && !ok {
		err = errors.New("refund row vanished")
	}
	if err != nil {
		return wrap(err)
	}
	return s.reply(ctx, tx, cmd.OrderID, events.PaymentRefunded{OrderID: cmd.OrderID, RefundID: done.id})
}

func (s *Service) reply(ctx context.Context, tx *sqlstore.Tx, orderID string, p events.Payload) error {
	msg, err := events.New(Name, orderID, p)
	if err != nil {
		return err
	}
	return s.outbox.Put(ctx, tx, msg)
}

// validate rejects a charge that no retry could make valid.
func validate(customer string, amount decimal.Decimal, currency string) error {
	if strings.TrimSpace(customer) == "" {
		return errors.New("customerId is required")
	}
	if strings.TrimSpace(currency) == "" {
		return errors.New("currency is required")
	}
	if _, err := toE4(amount); err != nil && !errors.Is(err, errTooLarge) {
		return fmt.Errorf("amount %s %w", amount, err)
	}
	return nil
}

// Payment is one charge or refund that happened (declined attempts are not payments).
type Payment struct {
	ID, OrderID, Kind, Amount, Currency string
	CreatedAt                           time.Time
}

// PaymentsFor lists an order's charges and refunds, oldest first.
func (s *Service) PaymentsFor(ctx context.Context, orderID string) ([]Payment, error) {
	return sqlstore.Collect(ctx, s.db, func(r sqlstore.Scanner) (p Payment, err error) {
		err = r.Scan(&p.ID, &p.OrderID, &p.Kind, &p.Amount, &p.Currency, &p.CreatedAt)
		return p, err
	}, `SELECT id, order_id, kind, amount, currency, created_at FROM payments
		WHERE order_id = $1 AND status = 'SUCCEEDED' ORDER BY created_at, kind, id`, orderID)
}
