package messaging

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/sqlstore"
	"github.com/ordersys/ordersys/internal/tracing"
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
	// MaxRefusals is how many times the broker may refuse a row for good (too large for the
	// topic, say; see refusedForGood) before the relay moves it to the outbox dead letters so
	// that the rows behind it flow (default DefaultMaxRefusals, 3). Other failures, the broker
	// being down above all, never count: rows wait for as long as they last.
	MaxRefusals int
	// Published, when set, is told of each row the broker acknowledged (for metrics): its topic,
	// its event's time, when the relay read it and when the broker acknowledged it.
	Published func(topic string, born, read, acked time.Time)
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
	if c.MaxRefusals <= 0 {
		c.MaxRefusals = DefaultMaxRefusals
	}
}

// RunRelay publishes the outbox of db through producer until ctx ends: committed rows in id order,
// a batch at a time, each deleted only once the broker has acknowledged it. A crash between the
// ack and the delete publishes the row again, which the consumers' inboxes absorb: delivery is at
// least once, effects exactly once.
//
// Only one relay per database is active at a time (a lease: a PostgreSQL advisory lock), so one
// order's messages leave in the order they were written. Rows are never skipped by a watermark:
// each round reads every unpublished row, so a transaction that commits after one with a higher
// id is simply published in a later round. Per-key order still holds, because the writes for one
// order are serialised by that order's own row (a saga step locks it until it commits).
//
// A row the broker refuses for good (too large, say) is moved aside after cfg.MaxRefusals
// refusals, to the outbox dead letters (see outbox_dlq.go), which the DLQ API of this process
// lists and replays while RunRelay runs. Rows of the same key behind it wait while it is being
// retried, and flow once it has been moved aside.
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
	p := &publisher{db: db, producer: producer, maxRefusals: cfg.MaxRefusals, log: log, refused: map[int64]int{},
		acked: cfg.Published}
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
		round, err := p.publish(ctx, cfg.BatchSize, published)
		if round.read {
			deleted += len(published)
			published = round.published
		}
		if err == nil {
			// After a full batch more rows are likely waiting: read on at once.
			if len(published) > 0 && round.rows < cfg.BatchSize && !round.more && !o.awaitWrite(ctx, lease, deleteWait) {
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
			if !errors.Is(err, errRefusedPending) { // publish logged each refusal
				log.Warn("outbox relay round failed; retrying", "err", err, "retry_in", backoff)
			}
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
		if len(published) > 0 || round.more {
			continue // a full batch, a write came, or rows held back may go: read on
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

// publisher publishes an outbox for one lease term, remembering which rows the broker refused for
// good and how many times.
type publisher struct {
	db          *sqlstore.DB
	producer    *kgo.Client
	maxRefusals int
	log         *slog.Logger
	refused     map[int64]int // outbox id -> refusals for good so far, for rows still in the outbox
	acked       func(topic string, born, read, acked time.Time)
	readAt      time.Time // when this round's read returned
}

// round is what one publish did.
type round struct {
	read      bool    // the rows it was given were deleted, with the read
	rows      int     // how many rows the read returned
	published []int64 // rows the broker acknowledged, to delete once the caller is done with them
	more      bool    // rows were held back that may go now: read again at once
}

// errRefusedPending fails a round in which the broker refused rows for good that have not been
// refused MaxRefusals times yet: the relay backs off before it sends them again.
var errRefusedPending = errors.New("rows refused for good wait for another try")

// publish deletes the rows done (published by the previous round), then publishes up to limit
// rows in id order and returns which the broker acknowledged, to be deleted once the caller is
// done with them. Rows are deleted by id, never by range: on PostgreSQL a row with a lower id may
// commit after we read.
//
// Rows go in one ProduceSync, but a row the broker has refused for good before goes on its own,
// after the others, so that its answer is about that record alone (the broker refuses a whole
// batch when the batch is too large for it, innocent records included); so do the rows of a
// batch the broker refuses for good, at once. Each refusal for good of a record sent alone counts;
// at MaxRefusals the row is moved aside. The rows of the same key behind a row that is being
// retried wait, unsent, until it is published or moved aside, so an order's messages leave in
// order, with two exceptions: rows that were in the same ProduceSync as its first refusal may be
// out already (kgo splits a ProduceSync into batches, and the broker takes a later batch after
// refusing an earlier one), and the rows behind a row moved aside go on without it, as a consumer
// goes on past a dead letter (the saga ignores a reply it no longer expects, should the dead
// letter be replayed late). Any other failure fails the round and counts nothing.
func (p *publisher) publish(ctx context.Context, limit int, done []int64) (round, error) {
	var rows []outboxRow
	err := p.db.DeleteIDsThen(ctx, "outbox", done, sqlstore.Read{
		Query: `SELECT id, topic, msg_key, event_id, event_type, source,
			event_time, traceparent, tracestate, payload FROM outbox ORDER BY id LIMIT $1`,
		Args: []any{limit},
		Rows: func(rs sqlstore.Rows) error {
			for rs.Next() {
				var r outboxRow
				m := &r.msg
				var typ, payload string
				if err := rs.Scan(&r.id, &m.Topic, &m.Key, &m.Envelope.ID, &typ, &m.Envelope.Source,
					&m.Envelope.Time, &m.Envelope.TraceParent, &m.Envelope.TraceState, &payload); err != nil {
					return err
				}
				m.Envelope.Type = events.Type(typ)
				m.Envelope.Subject = m.Key
				m.Envelope.Data = []byte(payload)
				rows = append(rows, r)
			}
			return rs.Err()
		},
	})
	if err != nil {
		return round{}, fmt.Errorf("read outbox: %w", err)
	}
	p.readAt = time.Now()
	res := round{read: true, rows: len(rows)}
	if len(rows) == 0 {
		return res, nil
	}
	ctx, span := publishSpan(ctx, rows)
	defer span.End()

	var batch, alone []outboxRow
	retrying := map[string]bool{} // keys with a row sent alone
	for _, r := range rows {
		switch {
		case retrying[r.msg.Key]:
			res.more = true // waits for the row before it
		case p.refused[r.id] > 0:
			alone = append(alone, r)
			retrying[r.msg.Key] = true
		default:
			batch = append(batch, r)
		}
	}

	var failed error // the first failure other than a refusal for good
	if len(batch) > 0 {
		records := make([]*kgo.Record, len(batch))
		index := make(map[*kgo.Record]int, len(batch))
		for i, r := range batch {
			records[i] = ToRecord(r.msg)
			index[records[i]] = i
		}
		refused := 0
		results := p.producer.ProduceSync(ctx, records...)
		acked := time.Now()
		for _, pr := range results {
			r := batch[index[pr.Record]]
			switch {
			case pr.Err == nil:
				res.published = append(res.published, r.id)
				p.published(r, acked)
			case refusedForGood(pr.Err):
				alone = append(alone, r)
				refused++
			case failed == nil:
				failed = fmt.Errorf("publish %d outbox records: %w", len(records), pr.Err)
			}
		}
		if refused > 0 && failed == nil {
			p.log.Warn("the broker refused outbox records for good; sending each on its own",
				"records", refused, "of", len(records))
		}
	}
	if failed != nil {
		// The broker is in trouble, or the network: judge no record by what it said.
		return res, failed
	}

	slices.SortFunc(alone, func(a, b outboxRow) int { return cmp.Compare(a.id, b.id) })
	pending := 0
	blocked := map[string]bool{} // keys whose row sent alone is still in the outbox
	for _, r := range alone {
		if blocked[r.msg.Key] {
			continue
		}
		err := p.producer.ProduceSync(ctx, ToRecord(r.msg)).FirstErr()
		switch {
		case err == nil:
			res.published = append(res.published, r.id)
			p.published(r, time.Now())
			if p.refused[r.id] > 0 {
				p.log.Info("outbox row published after refusals", "outbox_id", r.id, "topic", r.msg.Topic, "refusals", p.refused[r.id])
			}
			delete(p.refused, r.id)
		case !refusedForGood(err):
			// The broker is in trouble, or the network: the rows left wait for the next round.
			return res, fmt.Errorf("publish outbox row %d: %w", r.id, err)
		default:
			p.refused[r.id]++
			n := p.refused[r.id]
			if n < p.maxRefusals {
				p.log.Warn("the broker refused an outbox record for good; it will be tried again",
					"outbox_id", r.id, "topic", r.msg.Topic, "key", r.msg.Key, "event_type", r.msg.Envelope.Type,
					"refusals", n, "max_refusals", p.maxRefusals, "err", err)
				blocked[r.msg.Key] = true
				pending++
				continue
			}
			dl, moved, err2 := moveAside(ctx, p.db, r, err, n)
			if err2 != nil {
				// The next round sends it again, and its next refusal moves it.
				p.refused[r.id]--
				return res, err2
			}
			delete(p.refused, r.id)
			res.more = true // the rows of its key behind it may go
			if moved {
				p.log.Error("the broker refused an outbox record for good; moved it to the outbox dead letters",
					"outbox_id", r.id, "topic", r.msg.Topic, "key", r.msg.Key, "event_id", r.msg.Envelope.ID,
					"event_type", r.msg.Envelope.Type, "refusals", n, "err", err, "dead_letter", dl.ID)
			}
		}
	}
	if pending > 0 {
		return res, fmt.Errorf("%d outbox row(s): %w", pending, errRefusedPending)
	}
	return res, nil
}

// publishSpan is the span of one publish round. A round carries the messages of many orders, each
// in its own trace, so it is a trace of its own, linked to each message's.
func publishSpan(ctx context.Context, rows []outboxRow) (context.Context, trace.Span) {
	links := make([]trace.Link, 0, min(len(rows), maxLinks))
	for _, r := range rows[:min(len(rows), maxLinks)] {
		e := r.msg.Envelope
		if sc := trace.SpanContextFromContext(tracing.Extract(context.Background(), e.TraceParent, e.TraceState)); sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc, Attributes: []attribute.KeyValue{tracing.OrderID.String(r.msg.Key)}})
		}
	}
	return tracing.Tracer().Start(ctx, "send outbox", trace.WithSpanKind(trace.SpanKindProducer), trace.WithLinks(links...),
		trace.WithAttributes(semconv.MessagingSystemKafka, semconv.MessagingOperationTypeSend,
			semconv.MessagingBatchMessageCount(len(rows))))
}

// maxLinks bounds the links of a publish span: a round of 500 rows would otherwise carry 500.
const maxLinks = 128

func (p *publisher) published(r outboxRow, acked time.Time) {
	if p.acked != nil {
		p.acked(r.msg.Topic, r.msg.Envelope.Time, p.readAt, acked)
	}
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
