package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ordersys/ordersys/internal/sqlstore"
)

// Retention keeps the bookkeeping tables from growing forever.
//
// The inbox gets a row per applied event and per consumer; once an event is older than any
// redelivery can be (Kafka retention, a replay from the dead-letter topic), its row only costs
// space, so rows older than RetentionConfig.Inbox are pruned. The outbox needs nothing: the relay
// deletes each row as soon as the broker has acknowledged it.
//
// Pruning an inbox row too early would let a late redelivery of that event apply twice, so
// RetentionConfig.Inbox must exceed how long a message can wait in Kafka before being consumed or
// replayed (the topics' retention.ms, the DLQ's included); Validate refuses one shorter than
// TopicRetention.

// RetentionConfig tunes RunRetention and the pruners built from it.
type RetentionConfig struct {
	// Inbox is how long an inbox row is kept after its event was applied (default 14 days: Kafka
	// keeps a record at least its topic's retention.ms, 7 days by default, and up to a segment
	// longer, and a redelivery or replay after the row is gone would apply the event again).
	Inbox time.Duration
	// Interval is the pause between pruning rounds (default 1 minute).
	Interval time.Duration
	// BatchSize bounds the rows one transaction deletes (default 1000), so that on SQLite the
	// writer lock is released between batches and requests are not held up.
	BatchSize int
}

// Retention defaults.
const (
	DefaultInboxRetention    = 14 * 24 * time.Hour
	DefaultRetentionInterval = time.Minute
	DefaultRetentionBatch    = 1000
)

// Validate refuses a configuration that contradicts itself: a negative field, or an Inbox
// retention shorter than TopicRetention, which would let a redelivery or replay of an event
// arrive after its inbox row was pruned and apply the event twice. Zero fields are valid: they
// keep the defaults, and the checks apply to the values then in force.
func (c RetentionConfig) Validate() error {
	var errs []error
	if c.Inbox < 0 {
		errs = append(errs, fmt.Errorf("inbox retention %v: must not be negative", c.Inbox))
	}
	if c.Interval < 0 {
		errs = append(errs, fmt.Errorf("retention interval %v: must not be negative", c.Interval))
	}
	if c.BatchSize < 0 {
		errs = append(errs, fmt.Errorf("retention batch size %d: must not be negative", c.BatchSize))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	c.defaults()
	if c.Inbox < TopicRetention {
		return fmt.Errorf("inbox retention %v is shorter than the topics' retention %v: an event redelivered or replayed after its inbox row was pruned would be applied twice", c.Inbox, TopicRetention)
	}
	return nil
}

func (c *RetentionConfig) defaults() {
	if c.Inbox <= 0 {
		c.Inbox = DefaultInboxRetention
	}
	if c.Interval <= 0 {
		c.Interval = DefaultRetentionInterval
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultRetentionBatch
	}
}

// pruneInboxSQL deletes one batch of expired inbox rows. It is one fixed statement for both
// dialects: neither has a portable DELETE ... LIMIT, so the batch is chosen in a subquery and
// deleted by primary key through a row value ((a, b) IN (SELECT ...), SQLite 3.15+). Both engines
// then look each chosen row up by primary key. With the inbox_received index the subquery is an
// index range probe; without it, a table scan.
//
// Rows are never updated and only ever deleted here, so a concurrent prune (another replica on
// PostgreSQL) merely finds some rows already gone, and the statement deletes fewer.
const pruneInboxSQL = `DELETE FROM inbox WHERE (consumer, event_id) IN
	(SELECT consumer, event_id FROM inbox WHERE received_at < $1 LIMIT $2)`

// PruneInbox deletes the inbox rows received before olderThan, at most batch rows per transaction
// (DefaultRetentionBatch if batch <= 0), until a batch comes up short. It returns how many rows
// it deleted, also when it stops early because ctx ended or a batch failed.
func PruneInbox(ctx context.Context, db *sqlstore.DB, olderThan time.Time, batch int) (int64, error) {
	n, err := DeleteBatched(ctx, db, pruneInboxSQL, olderThan, batch)
	if err != nil {
		return n, fmt.Errorf("prune inbox: %w", err)
	}
	return n, nil
}

// DeleteBatched runs query, a DELETE taking a cutoff time ($1) and a row limit ($2), in one short
// transaction per batch until a batch deletes fewer than batch rows (DefaultRetentionBatch if
// batch <= 0). It returns the rows deleted in all. Between batches the transaction, and on SQLite
// the writer lock, is released, so other writers wait at most one batch. The cutoff is passed in
// UTC, as ordersys stores its timestamps.
func DeleteBatched(ctx context.Context, db *sqlstore.DB, query string, cutoff time.Time, batch int) (int64, error) {
	if batch <= 0 {
		batch = DefaultRetentionBatch
	}
	cutoff = cutoff.UTC()
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		var n int64
		err := db.InTx(ctx, func(tx *sqlstore.Tx) error {
			res, err := tx.ExecContext(ctx, query, cutoff, batch)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < int64(batch) {
			return total, nil
		}
	}
}

// Pruner deletes what has expired as of now and returns how many rows it deleted.
type Pruner = func(ctx context.Context, now time.Time) (int64, error)

// InboxPruner is the pruner for RunRetention that applies cfg.Inbox to db's inbox, in batches of
// cfg.BatchSize (defaults as documented on RetentionConfig).
func InboxPruner(db *sqlstore.DB, cfg RetentionConfig) func(ctx context.Context, now time.Time) (int64, error) {
	cfg.defaults()
	return func(ctx context.Context, now time.Time) (int64, error) {
		return PruneInbox(ctx, db, now.Add(-cfg.Inbox), cfg.BatchSize)
	}
}

// RunRetention runs every pruner once at the start and then every cfg.Interval after the previous
// round ended, until ctx ends; it returns then. Each pruner gets the current time in UTC. Rows
// removed are logged at Info (when there were any), failures at Warn, and a failing or panicking
// pruner neither stops the others nor later rounds. Pruners are told apart in the log by their
// position in prune ("pruner": 0, 1, ...). log may be nil.
func RunRetention(ctx context.Context, cfg RetentionConfig, log *slog.Logger, prune ...func(ctx context.Context, now time.Time) (int64, error)) {
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		for i, p := range prune {
			if ctx.Err() != nil {
				return
			}
			if p == nil {
				continue
			}
			start := time.Now()
			n, err := runPruner(ctx, p, start.UTC())
			switch {
			case err != nil && ctx.Err() != nil:
				return // shutting down: not worth a warning
			case err != nil:
				log.Warn("retention: pruning failed", "pruner", i, "deleted", n, "err", err)
			case n > 0:
				log.Info("retention: pruned expired rows", "pruner", i, "deleted", n,
					"took", time.Since(start).Round(time.Millisecond))
			}
		}
		timer.Reset(cfg.Interval)
	}
}

// runPruner calls p, turning a panic into an error.
func runPruner(ctx context.Context, p Pruner, now time.Time) (n int64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("pruner panicked: %v", r)
		}
	}()
	return p(ctx, now)
}
