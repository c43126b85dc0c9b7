// Package notification is the notification service: it tells the customer how their order
// ended, once per order and outcome.
package notification

import (
	"context"
	"embed"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/metrics"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// Name is the service's name: its consumer group and database name.
const Name = "notification"

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Migrations creates the service's tables.
var Migrations = sqlstore.EmbeddedMigrations("goose_notification_version", migrationsFS, "migrations")

// Notification kinds: one per order outcome.
const (
	KindOrderCompleted = "ORDER_COMPLETED"
	KindOrderFailed    = "ORDER_FAILED"
	KindOrderCancelled = "ORDER_CANCELLED"
)

// Service records notifications for order outcomes and delivers them to webhooks.
type Service struct {
	db      *sqlstore.DB
	cfg     Config
	poster  *poster
	log     *slog.Logger
	metrics *metrics.Metrics
	wake    chan struct{} // a delivery was made or put back: look for what is due
}

// New returns the notification service on db, delivering webhooks as cfg says (validate it
// first: New applies its defaults).
func New(db *sqlstore.DB, cfg Config, log *slog.Logger, m *metrics.Metrics) *Service {
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m.DeclareWebhookOutcomes(OutcomeDelivered, OutcomeRetry, OutcomeGone, OutcomeGaveUp)
	return &Service{db: db, cfg: cfg, poster: newPoster(cfg), log: log, metrics: m, wake: make(chan struct{}, 1)}
}

// Subscriptions lists what the service consumes: the three ways an order ends.
func (s *Service) Subscriptions() []messaging.Subscription {
	return []messaging.Subscription{{Name: Name, Topics: []string{events.TopicOrderEvents},
		Types: []events.Type{events.OrderCompletedType, events.OrderFailedType, events.OrderCancelledType},
		Load:  messaging.Stateful(loadSubscribers, s.handle),
		// A customer's message can leave a fifth of a second later; the saga's steps cannot.
		Linger: 200 * time.Millisecond}}
}

// handle records the customer's message about an order's end and queues its webhook deliveries.
func (s *Service) handle(ctx context.Context, tx *sqlstore.Tx, subs subscribers, ev messaging.Event) error {
	var err error
	switch e := ev.Payload.(type) {
	case *events.OrderCompleted:
		err = s.notify(ctx, tx, e.OrderID, KindOrderCompleted, e.CustomerID, e)
	case *events.OrderFailed:
		err = s.notify(ctx, tx, e.OrderID, KindOrderFailed, e.CustomerID, e)
	case *events.OrderCancelled:
		err = s.notify(ctx, tx, e.OrderID, KindOrderCancelled, e.CustomerID, e)
	default:
		return nil // other order events need no message (Types keeps them away anyway)
	}
	if err != nil {
		return err
	}
	if err := s.enqueueWebhooks(tx, subs, ev); err != nil {
		return messaging.Permanent(fmt.Errorf("webhook body for %s: %w", ev.Envelope.Type, err))
	}
	return nil
}

// notify renders the kind's message about e and records it, to and owned by the order's customer,
// unless this order already has one of this kind: a re-published outcome, under any event id,
// sends nothing new.
func (s *Service) notify(ctx context.Context, tx *sqlstore.Tx, orderID, kind, customer string, e events.Payload) error {
	message, err := render(kind, e)
	if err != nil {
		return messaging.Permanent(fmt.Errorf("notify %s %s: %w", orderID, kind, err))
	}
	tx.ExecLater("notifications", `INSERT INTO notifications
		(id, order_id, customer_id, kind, recipient, message, created_at)
		VALUES ($1, $2, NULLIF($3, ''), $4, $5, $6, $7) ON CONFLICT (order_id, kind) DO NOTHING`,
		uuid.NewString(), orderID, customer, kind, customer, message, time.Now().UTC())
	return nil
}

// render executes the kind's template with the event as its data.
func render(kind string, data any) (string, error) {
	t, ok := templates[kind]
	if !ok {
		return "", fmt.Errorf("no template for %s", kind)
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// Notification is one message recorded for an order.
type Notification struct {
	ID, OrderID, Kind, Recipient, Message string
	CreatedAt                             time.Time
}

// NotificationsFor lists the messages recorded for an order, oldest first: only if they are
// customer's when customer is not "" (one recorded without its customer is then never listed).
func (s *Service) NotificationsFor(ctx context.Context, orderID, customer string) ([]Notification, error) {
	return sqlstore.Collect(ctx, s.db, func(r sqlstore.Scanner) (n Notification, err error) {
		err = r.Scan(&n.ID, &n.OrderID, &n.Kind, &n.Recipient, &n.Message, &n.CreatedAt)
		return n, err
	}, `SELECT id, order_id, kind, recipient, message, created_at
		FROM notifications WHERE order_id = $1 AND ($2 = '' OR customer_id = $2)
		ORDER BY created_at, id`, orderID, customer)
}

// CountFor counts the notifications recorded for an order.
func (s *Service) CountFor(ctx context.Context, orderID string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM notifications WHERE order_id = $1`, orderID).Scan(&n)
	return n, err
}
