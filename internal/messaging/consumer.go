package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/sethvargo/go-retry"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/metrics"
	"github.com/ordersys/ordersys/internal/sqlstore"
	"github.com/ordersys/ordersys/internal/tracing"
)

// Handler applies one event inside tx. Returning an error rolls the transaction back; wrap it
// with Permanent when retrying cannot help.
type Handler func(ctx context.Context, tx *sqlstore.Tx, e Event) error

// Loader starts a transaction's batch of events: it returns the handler that applies each fresh
// event of the batch, and the reads that fetch, and lock, what that handler decides against.
// The consumer sends those reads with the batch's inbox claims, in one round trip on PostgreSQL.
// See Stateless and Stateful.
type Loader func(tx *sqlstore.Tx, batch []Event) (Handler, []sqlstore.Read)

// Stateless is the Loader of a handler that reads nothing before it decides.
func Stateless(h Handler) Loader {
	return func(*sqlstore.Tx, []Event) (Handler, []sqlstore.Read) { return h, nil }
}

// Stateful is the Loader of a handler that decides each event against state S, read for the
// whole batch at once by load. A handler that updates shared rows (stock per SKU) locks all of
// them in load, in one order: records of a batch would otherwise take them in no common order,
// and two batches on PostgreSQL could deadlock. load sees every event of the batch, including
// any the inbox will then skip; handle sees only the fresh ones, in order, and keeps S up to date
// with what it writes, so that a later event of the batch decides against it.
func Stateful[S any](load func(tx *sqlstore.Tx, batch []Event) (S, []sqlstore.Read),
	handle func(ctx context.Context, tx *sqlstore.Tx, state S, e Event) error) Loader {
	return func(tx *sqlstore.Tx, batch []Event) (Handler, []sqlstore.Read) {
		state, reads := load(tx, batch)
		return func(ctx context.Context, tx *sqlstore.Tx, e Event) error { return handle(ctx, tx, state, e) }, reads
	}
}

// Subscription is what a service consumes and how it applies it.
type Subscription struct {
	// Name is both the Kafka consumer group and the inbox's consumer column.
	Name   string
	Topics []string
	// Types, when set, are the event types the subscription wants; other known types on the
	// topics are skipped without a transaction (an event of an unknown type is still
	// dead-lettered).
	Types []events.Type
	Load  Loader
	// Linger, when set, lets the broker hold each fetch this long to gather records, for a
	// subscription that no step of an order waits for (notifications): fewer, larger transactions
	// leave the CPU to the consumers that orders do wait for.
	Linger time.Duration
}

// Event is one decoded record.
type Event struct {
	Envelope events.Envelope
	Payload  events.Payload
	// Partition and Offset are where the record was (zero for an event that was not one).
	Partition int32
	Offset    int64
}

// NewEvent is the Event a consumer would hand its handlers for a new message carrying p from
// source about subject: encoded, then decoded, as it travels (for ApplyBatch).
func NewEvent(source, subject string, p events.Payload) (Event, error) {
	msg, err := events.New(source, subject, p)
	if err != nil {
		return Event{}, err
	}
	decoded, err := msg.Envelope.Decode()
	return Event{Envelope: msg.Envelope, Payload: decoded}, err
}

// skips reports whether the subscription has no use for events of type t.
func (s Subscription) skips(t events.Type) bool {
	return s.Types != nil && !slices.Contains(s.Types, t) && events.Known(t)
}

// Consumer runs one subscription against a service database.
type Consumer struct {
	sub     Subscription
	db      *sqlstore.DB
	dlq     *kgo.Client
	retry   RetryConfig
	log     *slog.Logger
	metrics *metrics.Metrics // nil: none recorded
	polled  time.Time        // when the poll being settled returned
}

// SetMetrics makes the consumer count the records it settles, by outcome, in m.
func (c *Consumer) SetMetrics(m *metrics.Metrics) {
	c.metrics = m
	for _, topic := range c.sub.Topics { // every series from zero, so that a rate starts at once
		for _, outcome := range []string{metrics.Applied, metrics.Duplicate, metrics.Retried, metrics.DeadLettered} {
			m.Settled(c.sub.Name, topic, outcome, 0)
		}
	}
}

// NewConsumer binds a subscription to its database. Dead letters are produced through dlq.
func NewConsumer(sub Subscription, db *sqlstore.DB, dlq *kgo.Client, retry RetryConfig, log *slog.Logger) *Consumer {
	retry.defaults()
	return &Consumer{sub: sub, db: db, dlq: dlq, retry: retry, log: log.With("consumer", sub.Name)}
}

// Run consumes until ctx ends. Offsets are committed only for records whose transaction has
// committed (or that went to the dead-letter topic), so a crash re-delivers and the inbox skips.
func (c *Consumer) Run(ctx context.Context, brokers []string, extra ...kgo.Opt) error {
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ConsumerGroup(c.sub.Name),
		kgo.ConsumeTopics(c.sub.Topics...),
		kgo.ClientID("ordersys-" + c.sub.Name),
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(time.Second),
		// Hold rebalances while a polled batch is being applied, so a partition is never applied
		// here and by its new owner at once; revoked partitions commit what was applied.
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, _ map[string][]int32) {
			if err := cl.CommitMarkedOffsets(ctx); err != nil {
				c.log.Warn("commit on revoke failed", "err", err)
			}
		}),
	}, extra...)
	if c.sub.Linger > 0 {
		// The broker answers a fetch once it has MinBytes or MaxWait has passed; nothing this
		// service consumes reaches a mebibyte in a linger, so each fetch waits the linger out.
		opts = append(opts, kgo.FetchMinBytes(1<<20), kgo.FetchMaxWait(c.sub.Linger))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("consumer %s: %w", c.sub.Name, err)
	}
	var fenced error // another member took this one's instance id
	defer func() {
		// A fresh context: ctx is already done, and the marks must still be committed.
		commitCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := cl.CommitMarkedOffsets(commitCtx); err != nil {
			c.log.Warn("final commit failed", "err", err)
		}
		cl.AllowRebalance() // the last poll may have blocked rebalances; leaving the group needs one
		cl.Close()
		if fenced == nil {
			c.leaveStatic(commitCtx, cl)
		}
	}()

	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			if errors.Is(err, kerr.FencedInstanceID) {
				fenced = err
				return
			}
			c.log.Warn("fetch failed", "topic", topic, "partition", partition, "err", err)
		})
		if fenced != nil {
			id, _ := cl.OptValue(kgo.InstanceID).(string)
			return fmt.Errorf("consumer %s: another process joined the group as instance %q and took this one's place: give each replica its own --instance-id: %w",
				c.sub.Name, id, fenced)
		}
		// One transaction for records of every partition polled, rather than one per partition:
		// fewer, larger transactions cost less per record (a commit each), and batches of one
		// service never contend for the same rows (inventory's hot stock rows) with each other.
		c.polled = time.Now()
		var records []*kgo.Record
		fetches.EachPartition(func(p kgo.FetchTopicPartition) { records = append(records, p.Records...) })
		c.settle(ctx, cl, records)
		cl.AllowRebalance()
	}
}

// countApplied counts a committed batch's events: applied, or skipped by the inbox as duplicates.
func (c *Consumer) countApplied(todo []Event, fresh []bool) {
	now := time.Now()
	for i, e := range todo {
		outcome := metrics.Applied
		if !fresh[i] {
			outcome = metrics.Duplicate
		} else if !c.polled.IsZero() {
			c.metrics.ConsumerEventAge(c.sub.Name, e.Envelope.Type.Topic(), e.Envelope.Time, c.polled, now)
		}
		c.metrics.Settled(c.sub.Name, e.Envelope.Type.Topic(), outcome, 1)
	}
}

// leaveStatic takes a static member out of its group once its client is closed: a client with an
// instance id does not leave on close, so that a restart takes its partitions back at once, but
// a process stopped on purpose may not come back (scaled in), and its partitions would wait out
// the session. A crash keeps the place for the restart.
func (c *Consumer) leaveStatic(ctx context.Context, cl *kgo.Client) {
	id, _ := cl.OptValue(kgo.InstanceID).(string)
	if id == "" || c.dlq == nil {
		return
	}
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group = c.sub.Name
	m := kmsg.NewLeaveGroupRequestMember()
	m.InstanceID = &id
	req.Members = append(req.Members, m)
	resp, err := req.RequestWith(ctx, c.dlq)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
		for _, m := range resp.Members {
			if err == nil && !errors.Is(kerr.ErrorForCode(m.ErrorCode), kerr.UnknownMemberID) {
				err = kerr.ErrorForCode(m.ErrorCode)
			}
		}
	}
	if err != nil {
		c.log.Warn("leaving the group failed: its partitions wait out the session", "instance_id", id, "err", err)
	}
}

// settle applies records in order (those of one partition keep theirs) and marks each for
// commit once it is settled. The common case, every record applying cleanly, runs a batch per
// transaction. A batch that fails is rolled back and replayed one record at a time, with retries
// and dead-lettering. The failed batch's run of the culprit is not counted as
// an attempt (which record failed is only known once they run alone), so a handler can run
// MaxAttempts+1 times; its database effects were rolled back each time, so only side effects
// outside the transaction could repeat, and handlers have none.
func (c *Consumer) settle(ctx context.Context, cl *kgo.Client, records []*kgo.Record) {
	for len(records) > 0 {
		batch := records[:min(len(records), c.db.Dialect.BatchSize)]
		records = records[len(batch):]
		if len(batch) > 1 && c.applyBatch(ctx, batch) == nil {
			cl.MarkCommitRecords(batch...)
			continue
		}
		for _, r := range batch {
			if !c.process(ctx, r) {
				return // shutting down: leave the rest unmarked for redelivery
			}
			cl.MarkCommitRecords(r)
		}
	}
}

// applyBatch applies every record of batch in one transaction, or none of them. The inbox claims
// for the whole batch are one statement.
func (c *Consumer) applyBatch(ctx context.Context, batch []*kgo.Record) error {
	var todo []Event
	for _, r := range batch {
		env, err := FromRecord(r)
		if err != nil {
			return err
		}
		if c.sub.skips(env.Type) {
			continue
		}
		payload, err := env.Decode()
		if err != nil {
			return err
		}
		todo = append(todo, Event{Envelope: env, Payload: payload, Partition: r.Partition, Offset: r.Offset})
	}
	if len(todo) == 0 {
		return nil
	}
	return c.apply(ctx, todo)
}

// apply runs the handler for each of todo in one transaction guarded by the inbox. Its first
// round trip carries the inbox claims and the subscription's loader reads.
func (c *Consumer) apply(ctx context.Context, todo []Event) error {
	ids := make([]string, len(todo))
	for i, e := range todo {
		ids[i] = e.Envelope.ID
	}
	return c.db.InTx(ctx, func(tx *sqlstore.Tx) error {
		fresh := make([]bool, len(ids))
		handle, reads := c.sub.Load(tx, todo)
		handle = Traced(c.sub.Name)(handle)
		if err := tx.QueryAll(ctx, append([]sqlstore.Read{claimRead(c.sub.Name, ids, fresh)}, reads...)...); err != nil {
			return err
		}
		for i, e := range todo {
			if !fresh[i] {
				continue
			}
			if err := handle(ctx, tx, e); err != nil {
				return err
			}
		}
		if c.metrics != nil {
			tx.AfterCommit(func() { c.countApplied(todo, fresh) })
		}
		return nil
	})
}

// process applies one record, retrying transient failures and dead-lettering permanent ones.
// It returns false only when ctx ended before the record was settled.
func (c *Consumer) process(ctx context.Context, r *kgo.Record) bool {
	env, err := FromRecord(r)
	if err != nil {
		return c.deadLetter(ctx, r, Permanent(err), 1)
	}
	if c.sub.skips(env.Type) {
		return true
	}
	// The trace and the span that sent the record: where its story goes on.
	log := c.log.With("event_id", env.ID, "event_type", env.Type, "order_id", env.Subject,
		"trace_id", tracing.TraceID(env.TraceParent), "span_id", tracing.SpanID(env.TraceParent))
	payload, err := env.Decode()
	if err != nil {
		return c.deadLetter(ctx, r, Permanent(err), 1)
	}

	backoff := retry.WithCappedDuration(c.retry.Cap, retry.WithJitterPercent(20, retry.NewExponential(c.retry.Base)))
	event := []Event{{Envelope: env, Payload: payload, Partition: r.Partition, Offset: r.Offset}}
	for attempts := 1; ; attempts++ {
		err := c.apply(ctx, event)
		switch {
		case err == nil:
			return true
		case ctx.Err() != nil:
			return false
		case IsPermanent(err):
			log.Error("handler failed permanently; dead-lettering", "err", err)
			return c.deadLetter(ctx, r, err, attempts)
		case sqlstore.Unavailable(err):
			// An outage that a ping does not show (a full disk, a read-only standby): like one
			// that it does, it must not spend the message's retry budget.
			attempts--
		case !c.waitForDatabase(ctx, log):
			return false
		case attempts >= c.retry.MaxAttempts:
			log.Error("handler gave up; dead-lettering", "attempts", attempts, "err", err)
			return c.deadLetter(ctx, r, err, attempts)
		}
		delay, _ := backoff.Next()
		c.metrics.Settled(c.sub.Name, r.Topic, metrics.Retried, 1)
		log.Warn("handler failed; retrying", "attempt", attempts, "retry_in", delay, "err", err)
		if !sleep(ctx, delay) {
			return false
		}
	}
}

// waitForDatabase pauses while the service's database is unreachable, so that an outage does not
// spend retry budgets and dead-letter healthy messages. It returns false if ctx ended meanwhile.
func (c *Consumer) waitForDatabase(ctx context.Context, log *slog.Logger) bool {
	for paused := false; ; paused = true {
		pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := c.db.PingContext(pingCtx)
		cancel()
		if err == nil {
			if paused {
				log.Info("database reachable again; resuming")
			}
			return true
		}
		if !paused {
			log.Warn("database unreachable; pausing consumption", "err", err)
		}
		if !sleep(ctx, time.Second) {
			return false
		}
	}
}

// Apply runs the handler for one event in a transaction guarded by the inbox: however many times
// and however concurrently the same event arrives, its effects are applied once.
func (c *Consumer) Apply(ctx context.Context, env events.Envelope, payload events.Payload) error {
	return c.apply(ctx, []Event{{Envelope: env, Payload: payload}})
}

// ApplyBatch applies events in one transaction, or none of them, as Run applies a poll: the inbox
// claims and the subscription's loader reads first, then each fresh event's handler in order.
func (c *Consumer) ApplyBatch(ctx context.Context, batch []Event) error {
	return c.apply(ctx, batch)
}

// deadLetter produces r to its topic's DLQ with the failure in headers, retrying the produce until
// it succeeds or ctx ends: a message is never dropped.
func (c *Consumer) deadLetter(ctx context.Context, r *kgo.Record, cause error, attempts int) bool {
	dl := &kgo.Record{
		Topic:   events.DLQ(r.Topic),
		Key:     r.Key,
		Value:   r.Value,
		Headers: append(append([]kgo.RecordHeader(nil), r.Headers...), dlqHeaders(r, c.sub.Name, cause, attempts)...),
	}
	err := retry.Do(ctx, retry.WithCappedDuration(5*time.Second, retry.NewExponential(100*time.Millisecond)),
		func(ctx context.Context) error {
			if err := c.dlq.ProduceSync(ctx, dl).FirstErr(); err != nil {
				c.log.Warn("dead-letter produce failed; retrying", "err", err)
				return retry.RetryableError(err)
			}
			return nil
		})
	if err != nil {
		return false
	}
	c.metrics.Settled(c.sub.Name, r.Topic, metrics.DeadLettered, 1)
	c.log.Error("message dead-lettered", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset,
		"dlq", dl.Topic, "err", cause)
	return true
}

// DLQ header names.
const (
	HdrDLQError     = "x-ordersys-error"
	HdrDLQAttempts  = "x-ordersys-attempts"
	HdrDLQConsumer  = "x-ordersys-consumer"
	HdrDLQTopic     = "x-ordersys-original-topic"
	HdrDLQPartition = "x-ordersys-original-partition"
	HdrDLQOffset    = "x-ordersys-original-offset"
	HdrDLQTime      = "x-ordersys-dead-lettered-at"
)

func dlqHeaders(r *kgo.Record, consumer string, cause error, attempts int) []kgo.RecordHeader {
	h := func(k, v string) kgo.RecordHeader { return kgo.RecordHeader{Key: k, Value: []byte(v)} }
	return []kgo.RecordHeader{
		h(HdrDLQError, cause.Error()),
		h(HdrDLQAttempts, strconv.Itoa(attempts)),
		h(HdrDLQConsumer, consumer),
		h(HdrDLQTopic, r.Topic),
		h(HdrDLQPartition, strconv.Itoa(int(r.Partition))),
		h(HdrDLQOffset, strconv.FormatInt(r.Offset, 10)),
		h(HdrDLQTime, time.Now().UTC().Format(time.RFC3339Nano)),
	}
}
