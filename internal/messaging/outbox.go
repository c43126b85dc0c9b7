package messaging

import (
	"context"
	"embed"
	"fmt"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

//go:embed migrations
var migrationsFS embed.FS

// Migrations creates the outbox and inbox tables in a service's database.
var Migrations = sqlstore.EmbeddedMigrations("goose_messaging_version", migrationsFS, "migrations")

// Outbox writes outgoing messages in the caller's transaction and wakes the relay once that
// transaction commits.
type Outbox struct {
	wake chan struct{}
}

// NewOutbox returns an outbox whose writes wake relays started with it.
func NewOutbox() *Outbox { return &Outbox{wake: make(chan struct{}, 1)} }

// Put stores msgs in tx. They are published only if tx commits.
func (o *Outbox) Put(ctx context.Context, tx *sqlstore.Tx, msgs ...events.Message) error {
	for _, m := range msgs {
		e := m.Envelope
		_, err := tx.ExecContext(ctx, `INSERT INTO outbox
			(topic, msg_key, event_id, event_type, source, event_time, traceparent, payload)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			m.Topic, m.Key, e.ID, string(e.Type), e.Source, e.Time.UTC(), e.TraceParent, string(e.Data))
		if err != nil {
			return fmt.Errorf("outbox %s: %w", e.Type, err)
		}
	}
	if len(msgs) > 0 && tx.Once("outbox") {
		tx.AfterCommit(o.Wake)               // the relay in this process
		return tx.Notify(ctx, notifyChannel) // a relay in another replica, on PostgreSQL
	}
	return nil
}

// notifyChannel is where outbox writes are announced to the relay holding the lease.
const notifyChannel = "outbox"

// Wake nudges the relay; it never blocks, and many nudges before the relay looks collapse to one.
func (o *Outbox) Wake() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}
