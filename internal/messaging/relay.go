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
	// DeleteWait is how long published rows wait to be deleted with the next round's read, in
	// its round trip, before they are deleted on their own (default 100ms; PostgreSQL only).
	DeleteWait time.Duration
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
	if c.DeleteWait <= 0 {
		c.DeleteWait = 100 * time.Millisecond
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
	var announcer sync.WaitGroup
	announcer.Go(func() { o.announceWrites(ctx, db, log) })
	defer announcer.Wait()
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

// relay publishes while the lease holds. The rows a round published are deleted in the next
// round's read, which saves PostgreSQL a round trip per round and keeps one off the path from a
// write to its publication; when no write comes within DeleteWait, they are deleted on their own,
// so that none linger while the relay is idle.
func (o *Outbox) relay(ctx context.Context, db *sqlstore.DB, producer *kgo.Client, cfg RelayConfig, lease *sqlstore.Lease, log *slog.Logger) {
	backoff := cfg.Backoff
	deleted := 0          // rows deleted since the last vacuum
	var published []int64 // rows published and not yet deleted
	// Vacuums run beside the relay, one at a time: inline, each would stop publishing for as long
	// as it took.
	vacuuming := make(chan struct{}, 1)
	var vacuums sync.WaitGroup
	defer vacuums.Wait()
	poll := time.NewTimer(cfg.Poll)
	defer poll.Stop()
	// In process, a delete saves no round trip by going with the next read, and would make that
	// read a write waiting for the writer's lock: delete at once.
	deleteWait := cfg.DeleteWait
	if !db.Dialect.Networked {
		deleteWait = 0
	}
	defer func() {
		if len(published) == 0 {
			return
		}
		// Shutting down or losing the lease: delete what was published, so that a restart or the
		// next holder does not publish it again (harmless, the inboxes absorb it, but wasteful).
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := db.DeleteIDs(ctx, "outbox", published); err != nil {
			log.Warn("deleting published outbox rows failed; they will be published again", "err", err)
		}
	}()
	for {
		select {
		case <-lease.Lost():
			log.Warn("outbox relay lost its lease; re-acquiring")
			return
		default:
		}
		ids, err := publishBatch(ctx, db, producer, cfg.BatchSize, published)
		if err == nil {
			deleted += len(published)
			published = ids
			// After a full batch more rows are likely waiting: read on at once.
			if len(ids) > 0 && len(ids) < cfg.BatchSize && !o.awaitWrite(ctx, lease, deleteWait) {
				// Nothing written within DeleteWait: delete now rather than with the next read.
				if err = db.DeleteIDs(ctx, "outbox", published); err != nil {
					err = fmt.Errorf("delete published outbox rows: %w", err)
				} else {
					deleted += len(published)
					published = nil
				}
			}
		}
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
		if deleted >= cfg.VacuumEvery {
			select {
			case vacuuming <- struct{}{}:
				deleted = 0
				vacuums.Go(func() {
					defer func() { <-vacuuming }()
					if err := db.Vacuum(ctx, "outbox"); err != nil && ctx.Err() == nil {
						log.Warn("vacuuming the outbox failed", "err", err)
					}
				})
			default: // the last one is still running; try again after the next round
			}
		}
		if len(published) > 0 {
			continue // a full batch, or a write came: read on, deleting what was published
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

// awaitWrite waits up to d for a write to wake the relay, reporting whether one did. It also
// returns true when ctx ends or the lease is lost, for the relay's loop to notice.
func (o *Outbox) awaitWrite(ctx context.Context, lease *sqlstore.Lease, d time.Duration) bool {
	if d <= 0 {
		return len(o.wake) > 0 || len(lease.Notifications()) > 0
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-o.wake:
	case <-lease.Notifications():
	case <-ctx.Done():
	case <-lease.Lost():
	case <-t.C:
		return false
	}
	return true
}

// publishBatch deletes the rows done (published by the previous round), then publishes up to
// limit rows and returns their ids, to be deleted once the caller is done with them.
func publishBatch(ctx context.Context, db *sqlstore.DB, producer *kgo.Client, limit int, done []int64) ([]int64, error) {
	var ids []int64
	var records []*kgo.Record
	err := db.DeleteIDsThen(ctx, "outbox", done, sqlstore.Read{
		Query: `SELECT id, topic, msg_key, event_id, event_type, source,
			event_time, traceparent, payload FROM outbox ORDER BY id LIMIT $1`,
		Args: []any{limit},
		Rows: func(rows sqlstore.Rows) error {
			for rows.Next() {
				var id int64
				var m events.Message
				var typ, payload string
				if err := rows.Scan(&id, &m.Topic, &m.Key, &m.Envelope.ID, &typ, &m.Envelope.Source,
					&m.Envelope.Time, &m.Envelope.TraceParent, &payload); err != nil {
					return err
				}
				m.Envelope.Type = events.Type(typ)
				m.Envelope.Subject = m.Key
				m.Envelope.Data = []byte(payload)
				ids = append(ids, id)
				records = append(records, ToRecord(m))
			}
			return rows.Err()
		},
	})
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	if len(records) == 0 {
		return nil, nil
	}
	if err := producer.ProduceSync(ctx, records...).FirstErr(); err != nil {
		return nil, fmt.Errorf("publish %d outbox records: %w", len(records), err)
	}
	// Delete by id, never by range: on PostgreSQL a row with a lower id may commit after we read.
	return ids, nil
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
