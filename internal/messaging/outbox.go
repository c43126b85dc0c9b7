package messaging

import (
	"context"
	"embed"
	"log/slog"
	"sync/atomic"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/sqlstore"
	"github.com/ordersys/ordersys/internal/tracing"
)

//go:embed migrations
var migrationsFS embed.FS

// Migrations creates the outbox and inbox tables in a service's database.
var Migrations = sqlstore.EmbeddedMigrations("goose_messaging_version", migrationsFS, "migrations")

// Outbox writes outgoing messages in the caller's transaction and wakes the relay once that
// transaction commits: directly when the relay runs in this process, through the database when
// another replica holds the relay's lease.
type Outbox struct {
	wake     chan struct{} // the relay in this process
	announce chan struct{} // the announcer, for a relay in another process
	leading  atomic.Bool   // whether this process's relay holds the lease
}

// NewOutbox returns an outbox whose writes wake relays started with it.
func NewOutbox() *Outbox {
	return &Outbox{wake: make(chan struct{}, 1), announce: make(chan struct{}, 1)}
}

// outboxColumns are the columns Put fills; the id is assigned on insert, in Put order.
var outboxColumns = []string{"topic", "msg_key", "event_id", "event_type", "source", "event_time", "traceparent", "tracestate", "payload"}

// Put stores msgs in tx. They are published only if tx commits. The rows are written just before
// the commit, together with every other message of the transaction (see sqlstore.InsertLater). A
// message without trace context takes ctx's, so that it continues the trace of what caused it.
func (o *Outbox) Put(ctx context.Context, tx *sqlstore.Tx, msgs ...events.Message) error {
	for _, m := range msgs {
		e := m.Envelope
		if e.TraceParent == "" {
			e.TraceParent, e.TraceState = tracing.Inject(ctx)
		}
		tx.InsertLater("outbox", outboxColumns,
			m.Topic, m.Key, e.ID, string(e.Type), e.Source, e.Time.UTC(), e.TraceParent, e.TraceState, string(e.Data))
	}
	if len(msgs) > 0 && tx.Once("outbox") {
		tx.AfterCommit(o.Wake)
	}
	return nil
}

// Send puts a new message from source about subject, carrying p, in tx: a service's reply to a
// command, say.
func (o *Outbox) Send(ctx context.Context, tx *sqlstore.Tx, source, subject string, p events.Payload) error {
	msg, err := events.New(source, subject, p)
	if err != nil {
		return err
	}
	return o.Put(ctx, tx, msg)
}

// notifyChannel is where outbox writes are announced to the relay holding the lease.
const notifyChannel = "outbox"

// Wake nudges the relay; it never blocks, and many nudges before the relay looks collapse to one.
func (o *Outbox) Wake() {
	nudge(o.wake)
	if !o.leading.Load() {
		nudge(o.announce)
	}
}

func nudge(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// announce tells the relay in another replica that rows were written, one notification at a time:
// writes that commit while one is being sent fold into the next, so under load there are far
// fewer notifications than commits, and none of them sits inside a writing transaction.
func (o *Outbox) announceWrites(ctx context.Context, db *sqlstore.DB, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.announce:
		}
		if o.leading.Load() {
			continue
		}
		if err := db.Notify(ctx, notifyChannel); err != nil && ctx.Err() == nil {
			log.Warn("announcing outbox writes failed; the relay's poll will find them", "err", err)
		}
	}
}
