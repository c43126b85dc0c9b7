package messaging

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// RelayConfig tunes the outbox relay.
type RelayConfig struct {
	// BatchSize is how many rows one publish round takes (default 500).
	BatchSize int
	// Poll is the safety-net interval between looks when nothing woke the relay (default 2s).
	// Writes in this process wake it at once; the poll only matters for rows written by others.
	Poll time.Duration
	// Backoff is the wait after a failed round, doubled up to MaxBackoff (defaults 100ms and 5s).
	Backoff, MaxBackoff time.Duration
	// VacuumEvery is how many published rows the relay deletes between vacuums of the outbox
	// (default 2,000; see sqlstore.DB.Vacuum).
	VacuumEvery int
}

func (c *RelayConfig) defaults() {
	if c.BatchSize <= 0 {
		c.BatchSize = 500
	}
	if c.Poll <= 0 {
		c.Poll = 2 * time.Second
	}
	if c.Backoff <= 0 {
		c.Backoff = 100 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Second
	}
	if c.VacuumEvery <= 0 {
		c.VacuumEvery = 2000
	}
}

// RunRelay publishes the outbox of db through producer until ctx ends: committed rows in id order,
// a batch at a time, deleted only once the broker has acknowledged every record of the batch. A
// crash between the ack and the delete publishes the batch again, which the consumers' inboxes
// absorb: delivery is at least once, effects exactly once.
//
// Only one relay per database is active at a time (a lease: a PostgreSQL advisory lock), so one
// order's messages leave in the order they were written. Rows are never skipped by a watermark:
// each round reads every unpublished row, so a transaction that commits after one with a higher
// id is simply published in a later round. Per-key order still holds, because the writes for one
// order are serialised by that order's own row (a saga step locks it until it commits).
func (o *Outbox) RunRelay(ctx context.Context, db *sqlstore.DB, producer *kgo.Client, cfg RelayConfig, log *slog.Logger) error {
	cfg.defaults()
	if db.Dialect == sqlstore.Postgres {
		var announcer sync.WaitGroup
		announcer.Go(func() { o.announceWrites(ctx, db, log) })
		defer announcer.Wait()
	}
	for ctx.Err() == nil {
		lease, err := db.Acquire(ctx, "outbox-relay", notifyChannel, cfg.Poll)
		if err != nil {
			return nil // only ctx ends Acquire
		}
		log.Debug("outbox relay active")
		o.leading.Store(true)
		o.relay(ctx, db, producer, cfg, lease, log)
		o.leading.Store(false)
		if err := lease.Release(); err != nil {
			log.Warn("releasing the relay lease failed", "err", err)
		}
	}
	return nil
}

// relay publishes while the lease holds.
func (o *Outbox) relay(ctx context.Context, db *sqlstore.DB, producer *kgo.Client, cfg RelayConfig, lease *sqlstore.Lease, log *slog.Logger) {
	backoff := cfg.Backoff
	deleted := 0 // rows deleted since the last vacuum
	poll := time.NewTimer(cfg.Poll)
	defer poll.Stop()
	for {
		select {
		case <-lease.Lost():
			log.Warn("outbox relay lost its lease; re-acquiring")
			return
		default:
		}
		n, err := publishBatch(ctx, db, producer, cfg.BatchSize)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Warn("outbox relay round failed; retrying", "err", err, "retry_in", backoff)
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, cfg.MaxBackoff)
			continue
		}
		backoff = cfg.Backoff
		if deleted += n; deleted >= cfg.VacuumEvery {
			if err := db.Vacuum(ctx, "outbox"); err != nil && ctx.Err() == nil {
				log.Warn("vacuuming the outbox failed", "err", err)
			}
			deleted = 0
		}
		if n == cfg.BatchSize {
			continue // more rows are likely waiting
		}
		poll.Reset(cfg.Poll)
		select {
		case <-ctx.Done():
			return
		case <-lease.Lost():
		case <-o.wake:
		case <-lease.Notifications():
		case <-poll.C:
		}
	}
}

// publishBatch publishes up to limit rows and deletes them; it returns how many it published.
func publishBatch(ctx context.Context, db *sqlstore.DB, producer *kgo.Client, limit int) (int, error) {
	rows, err := db.QueryWork(ctx, `SELECT id, topic, msg_key, event_id, event_type, source,
		event_time, traceparent, payload FROM outbox ORDER BY id LIMIT $1`, limit)
	if err != nil {
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	var ids []int64
	var records []*kgo.Record
	for rows.Next() {
		var id int64
		var m events.Message
		var typ, payload string
		if err := rows.Scan(&id, &m.Topic, &m.Key, &m.Envelope.ID, &typ, &m.Envelope.Source,
			&m.Envelope.Time, &m.Envelope.TraceParent, &payload); err != nil {
			rows.Close()
			return 0, fmt.Errorf("read outbox: %w", err)
		}
		m.Envelope.Type = events.Type(typ)
		m.Envelope.Subject = m.Key
		m.Envelope.Data = []byte(payload)
		ids = append(ids, id)
		records = append(records, ToRecord(m))
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	rows.Close()
	if len(records) == 0 {
		return 0, nil
	}
	if err := producer.ProduceSync(ctx, records...).FirstErr(); err != nil {
		return 0, fmt.Errorf("publish %d outbox records: %w", len(records), err)
	}
	// Delete by id, never by range: on PostgreSQL a row with a lower id may commit after we read.
	if err := db.DeleteIDs(ctx, "outbox", ids); err != nil {
		return 0, fmt.Errorf("delete published outbox rows: %w", err)
	}
	return len(records), nil
}

// sleep waits d or until ctx ends, reporting whether the full wait happened.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
