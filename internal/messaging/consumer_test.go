package messaging_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// fastRetry keeps retry tests quick.
var fastRetry = messaging.RetryConfig{Base: time.Millisecond, Cap: 10 * time.Millisecond}

// newConsumer builds a consumer of testTopic for group name, dead-lettering through its own producer.
func newConsumer(t *testing.T, db *sqlstore.DB, brokers []string, name string, rec *recorder, retry messaging.RetryConfig) *messaging.Consumer {
	t.Helper()
	var dlq *kgo.Client
	if brokers != nil {
		dlq = newClient(t, brokers)
	}
	sub := messaging.Subscription{Name: name, Topics: []string{testTopic}, Load: messaging.Stateless(rec.handle)}
	return messaging.NewConsumer(sub, db, dlq, retry, newLogger(t))
}

// consumerEnv is a broker with testTopic (one partition) and its DLQ, a database and a producer.
type consumerEnv struct {
	brokers  []string
	db       *sqlstore.DB
	producer *kgo.Client
}

func newConsumerEnv(t *testing.T) consumerEnv {
	brokers := newBroker(t, 1, testTopic, events.DLQ(testTopic))
	return consumerEnv{brokers: brokers, db: newDB(t), producer: newClient(t, brokers)}
}

// 1. The same event delivered more than once through Kafka is applied once.
func TestConsumerDuplicateDelivery(t *testing.T) {
	env := newConsumerEnv(t)
	e1, e2 := charge(t, "order-1", 1), charge(t, "order-1", 2)

	// Two deliveries of e1 (same ce_id) ahead of e2, all in one produce: one poll, one batch.
	produce(t, env.producer, messaging.ToRecord(e1), messaging.ToRecord(e1), messaging.ToRecord(e2))

	rec := newRecorder(nil)
	startConsumer(t, newConsumer(t, env.db, env.brokers, "dup", rec, fastRetry), env.brokers)

	// The partition is applied in order, so once e2 is applied both copies of e1 were settled.
	waitApplied(t, env.db, e2.Envelope.ID)
	if n := effects(t, env.db, e1.Envelope.ID); n != 1 {
		t.Errorf("e1 applied %d times, want 1", n)
	}
	if n := effects(t, env.db, e2.Envelope.ID); n != 1 {
		t.Errorf("e2 applied %d times, want 1", n)
	}
	if n := totalEffects(t, env.db); n != 2 {
		t.Errorf("%d effect rows, want 2", n)
	}
	if n := rec.callsFor(e1.Envelope.ID); n != 1 {
		t.Errorf("handler ran %d times for e1, want 1 (the inbox must skip the copy)", n)
	}

	// A later redelivery of e1, in a batch that fails once and is replayed one record at a time.
	flaky, e3 := charge(t, "order-1", 3), charge(t, "order-1", 4)
	rec.mu.Lock()
	rec.fail = func(_ context.Context, id string, call int) error {
		if id == flaky.Envelope.ID && call == 1 {
			return errors.New("transient")
		}
		return nil
	}
	rec.mu.Unlock()
	produce(t, env.producer, messaging.ToRecord(e1), messaging.ToRecord(flaky), messaging.ToRecord(e3))
	waitApplied(t, env.db, e3.Envelope.ID)
	for _, m := range []events.Message{e1, e2, flaky, e3} {
		if n := effects(t, env.db, m.Envelope.ID); n != 1 {
			t.Errorf("event %s applied %d times, want 1", m.Envelope.ID, n)
		}
	}
	if n := totalEffects(t, env.db); n != 4 {
		t.Errorf("%d effect rows, want 4", n)
	}
	if n := count(t, env.db, `SELECT COUNT(*) FROM inbox WHERE consumer = 'dup'`); n != 4 {
		t.Errorf("%d inbox rows, want 4", n)
	}
	if n := endOffsets(t, env.brokers, events.DLQ(testTopic)); n != 0 {
		t.Errorf("%d records dead-lettered, want 0", n)
	}
}

// 2. Apply for one envelope from many goroutines at once applies it once, with no errors.
func TestApplyConcurrentDuplicate(t *testing.T) {
	db := newDB(t)
	rec := newRecorder(nil)
	c := newConsumer(t, db, nil, "concurrent", rec, fastRetry)
	m := charge(t, "order-1", 7)
	payload, err := m.Envelope.Decode()
	if err != nil {
		t.Fatal(err)
	}

	const n = 16
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = c.Apply(context.Background(), m.Envelope, payload)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Apply #%d: %v", i, err)
		}
	}
	if got := effects(t, db, m.Envelope.ID); got != 1 {
		t.Errorf("%d effect rows after %d concurrent Applies, want 1", got, n)
	}
	if got := rec.callsFor(m.Envelope.ID); got != 1 {
		t.Errorf("handler ran %d times, want 1", got)
	}
	if got := count(t, db, `SELECT COUNT(*) FROM inbox`); got != 1 {
		t.Errorf("%d inbox rows, want 1", got)
	}

	// The inbox is per consumer: another subscription applies the same event once too.
	other := newConsumer(t, db, nil, "other", rec, fastRetry)
	for range 2 {
		if err := other.Apply(context.Background(), m.Envelope, payload); err != nil {
			t.Fatalf("Apply (other consumer): %v", err)
		}
	}
	if got := effects(t, db, m.Envelope.ID); got != 2 {
		t.Errorf("%d effect rows after the second consumer applied, want 2", got)
	}
}

// A failed Apply rolls its inbox claim back with the handler's effects: the event is applied by a
// later attempt, and only then skipped.
func TestApplyFailureReleasesClaim(t *testing.T) {
	db := newDB(t)
	rec := newRecorder(func(_ context.Context, _ string, call int) error {
		if call == 1 {
			return errors.New("transient")
		}
		return nil
	})
	c := newConsumer(t, db, nil, "release", rec, fastRetry)
	m := charge(t, "order-1", 7)
	payload, err := m.Envelope.Decode()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	if err := c.Apply(ctx, m.Envelope, payload); err == nil {
		t.Fatal("Apply returned nil although the handler failed")
	}
	if n := effects(t, db, m.Envelope.ID); n != 0 {
		t.Fatalf("%d effect rows after a failed Apply, want 0", n)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM inbox`); n != 0 {
		t.Fatalf("%d inbox rows after a failed Apply, want 0", n)
	}
	for range 2 {
		if err := c.Apply(ctx, m.Envelope, payload); err != nil {
			t.Fatalf("Apply: %v", err)
		}
	}
	if n := effects(t, db, m.Envelope.ID); n != 1 {
		t.Fatalf("%d effect rows, want 1", n)
	}
	if n := rec.callsFor(m.Envelope.ID); n != 2 {
		t.Fatalf("handler ran %d times, want 2 (one failure, one success, then skipped)", n)
	}
}

// 3. A handler failing transiently k times is retried and applies the event exactly once.
func TestConsumerTransientFailure(t *testing.T) {
	const k = 3
	failFirst := func(target *string) func(context.Context, string, int) error {
		return func(_ context.Context, id string, call int) error {
			if id == *target && call <= k {
				return errors.New("database is busy")
			}
			return nil
		}
	}

	t.Run("alone", func(t *testing.T) {
		env := newConsumerEnv(t)
		m := charge(t, "order-1", 1)
		rec := newRecorder(failFirst(&m.Envelope.ID))
		produce(t, env.producer, messaging.ToRecord(m))
		startConsumer(t, newConsumer(t, env.db, env.brokers, "transient", rec, fastRetry), env.brokers)

		waitApplied(t, env.db, m.Envelope.ID)
		if n := effects(t, env.db, m.Envelope.ID); n != 1 {
			t.Errorf("applied %d times, want 1", n)
		}
		if n := rec.callsFor(m.Envelope.ID); n != k+1 {
			t.Errorf("handler invoked %d times, want %d", n, k+1)
		}
		if n := endOffsets(t, env.brokers, events.DLQ(testTopic)); n != 0 {
			t.Errorf("%d records dead-lettered, want 0", n)
		}
	})

	t.Run("within a batch", func(t *testing.T) {
		env := newConsumerEnv(t)
		before, m, after := charge(t, "order-1", 1), charge(t, "order-1", 2), charge(t, "order-1", 3)
		rec := newRecorder(failFirst(&m.Envelope.ID))
		produce(t, env.producer, messaging.ToRecord(before), messaging.ToRecord(m), messaging.ToRecord(after))
		startConsumer(t, newConsumer(t, env.db, env.brokers, "transient", rec, fastRetry), env.brokers)

		waitApplied(t, env.db, after.Envelope.ID)
		for _, e := range []events.Message{before, m, after} {
			if n := effects(t, env.db, e.Envelope.ID); n != 1 {
				t.Errorf("event %s applied %d times, want 1", e.Envelope.ID, n)
			}
		}
		if n := totalEffects(t, env.db); n != 3 {
			t.Errorf("%d effect rows, want 3", n)
		}
		// Every invocation counts, the failed batch attempt included.
		if n := rec.callsFor(m.Envelope.ID); n != k+1 {
			t.Errorf("handler invoked %d times for the failing event, want %d", n, k+1)
		}
		if n := endOffsets(t, env.brokers, events.DLQ(testTopic)); n != 0 {
			t.Errorf("%d records dead-lettered, want 0", n)
		}
	})
}

// dlqRecords reads the n records of testTopic's DLQ, keyed by their original offset, and checks
// that no more than n were written.
func dlqRecords(t *testing.T, brokers []string, n int) map[int64]*kgo.Record {
	t.Helper()
	out := make(map[int64]*kgo.Record)
	for _, r := range consumeAll(t, brokers, events.DLQ(testTopic), n) {
		v, ok := header(r, messaging.HdrDLQOffset)
		if !ok {
			t.Fatalf("dead letter at offset %d has no %s header", r.Offset, messaging.HdrDLQOffset)
		}
		off, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("%s = %q: %v", messaging.HdrDLQOffset, v, err)
		}
		if _, dup := out[off]; dup {
			t.Fatalf("offset %d dead-lettered twice", off)
		}
		out[off] = r
	}
	if got := endOffsets(t, brokers, events.DLQ(testTopic)); got != int64(n) {
		t.Fatalf("%d records on %s, want %d", got, events.DLQ(testTopic), n)
	}
	return out
}

// checkDeadLetter verifies that dl is orig dead-lettered by consumer after attempts attempts, with
// an error header satisfying errOK, between from and to.
func checkDeadLetter(t *testing.T, dl, orig *kgo.Record, consumer string, attempts int, errOK func(string) bool, from, to time.Time) {
	t.Helper()
	if dl.Topic != events.DLQ(orig.Topic) {
		t.Errorf("dead letter topic %q, want %q", dl.Topic, events.DLQ(orig.Topic))
	}
	if !bytes.Equal(dl.Key, orig.Key) || !bytes.Equal(dl.Value, orig.Value) {
		t.Errorf("dead letter key/value = %q/%q, want %q/%q", dl.Key, dl.Value, orig.Key, orig.Value)
	}
	// The original headers come first, unchanged, then exactly the seven DLQ headers.
	if len(dl.Headers) != len(orig.Headers)+7 {
		t.Errorf("dead letter has %d headers, want %d original + 7: %v", len(dl.Headers), len(orig.Headers), dl.Headers)
	} else {
		for i, h := range orig.Headers {
			if dl.Headers[i].Key != h.Key || !bytes.Equal(dl.Headers[i].Value, h.Value) {
				t.Errorf("header %d = %s:%q, want original %s:%q", i, dl.Headers[i].Key, dl.Headers[i].Value, h.Key, h.Value)
			}
		}
	}
	want := map[string]string{
		messaging.HdrDLQAttempts:  strconv.Itoa(attempts),
		messaging.HdrDLQConsumer:  consumer,
		messaging.HdrDLQTopic:     orig.Topic,
		messaging.HdrDLQPartition: strconv.Itoa(int(orig.Partition)),
		messaging.HdrDLQOffset:    strconv.FormatInt(orig.Offset, 10),
	}
	for k, v := range want {
		if got, ok := header(dl, k); !ok || got != v {
			t.Errorf("header %s = %q (present %v), want %q", k, got, ok, v)
		}
	}
	if got, ok := header(dl, messaging.HdrDLQError); !ok || !errOK(got) {
		t.Errorf("header %s = %q (present %v): unexpected", messaging.HdrDLQError, got, ok)
	}
	at, ok := header(dl, messaging.HdrDLQTime)
	ts, err := time.Parse(time.RFC3339Nano, at)
	if !ok || err != nil || ts.Location() != time.UTC || ts.Before(from) || ts.After(to) {
		t.Errorf("header %s = %q (present %v, parse error %v), want a UTC RFC 3339 time in [%v, %v]",
			messaging.HdrDLQTime, at, ok, err, from, to)
	}
}

// 4a. A permanent handler error dead-letters the record at once; the records after it still apply.
func TestConsumerPermanentFailure(t *testing.T) {
	env := newConsumerEnv(t)
	before, bad, after := charge(t, "order-1", 1), charge(t, "order-1", 2), charge(t, "order-1", 3)
	rec := newRecorder(func(_ context.Context, id string, _ int) error {
		if id == bad.Envelope.ID {
			return messaging.Permanent(errors.New("card declined"))
		}
		return nil
	})
	from := time.Now()
	recs := produce(t, env.producer, messaging.ToRecord(before), messaging.ToRecord(bad), messaging.ToRecord(after))
	startConsumer(t, newConsumer(t, env.db, env.brokers, "permanent", rec, fastRetry), env.brokers)

	waitApplied(t, env.db, after.Envelope.ID)
	to := time.Now()
	if n := effects(t, env.db, bad.Envelope.ID); n != 0 {
		t.Errorf("the failing event left %d effect rows, want 0 (rolled back)", n)
	}
	if n := count(t, env.db, `SELECT COUNT(*) FROM inbox WHERE event_id = $1`, bad.Envelope.ID); n != 0 {
		t.Errorf("the dead-lettered event has %d inbox rows, want 0", n)
	}
	for _, m := range []events.Message{before, after} {
		if n := effects(t, env.db, m.Envelope.ID); n != 1 {
			t.Errorf("event %s applied %d times, want 1", m.Envelope.ID, n)
		}
	}

	dls := dlqRecords(t, env.brokers, 1)
	dl, ok := dls[recs[1].Offset]
	if !ok {
		t.Fatalf("dead letters %v do not include offset %d", slices.Sorted(maps.Keys(dls)), recs[1].Offset)
	}
	checkDeadLetter(t, dl, recs[1], "permanent", 1,
		func(s string) bool { return s == "card declined" }, from, to)
	// Retrying cannot help, so the one-record replay does not retry: at most one call in the
	// batch attempt and one in the replay.
	if n := rec.callsFor(bad.Envelope.ID); n < 1 || n > 2 {
		t.Errorf("handler invoked %d times for a permanently failing event, want 1 or 2", n)
	}
}

// 4b. Records that cannot be decoded are dead-lettered without reaching the handler; the records
// after them still apply.
func TestConsumerMalformedRecords(t *testing.T) {
	env := newConsumerEnv(t)
	a, b, c, d := charge(t, "order-1", 1), charge(t, "order-1", 2), charge(t, "order-1", 3), charge(t, "order-1", 4)

	garbage := &kgo.Record{Topic: testTopic, Key: []byte("order-1"), Value: []byte("\x00\xff garbage {")}
	badJSON := messaging.ToRecord(charge(t, "order-1", 5))
	badJSON.Value = []byte(`{"orderId": `)
	noOrder := messaging.ToRecord(charge(t, "order-1", 6))
	noOrder.Value = []byte(`{"customerId":"c-1","amount":"1","currency":"EUR"}`)

	rec := newRecorder(nil)
	from := time.Now()
	recs := produce(t, env.producer,
		messaging.ToRecord(a), garbage, messaging.ToRecord(b), badJSON, messaging.ToRecord(c), noOrder, messaging.ToRecord(d))
	startConsumer(t, newConsumer(t, env.db, env.brokers, "malformed", rec, fastRetry), env.brokers)

	waitApplied(t, env.db, d.Envelope.ID)
	to := time.Now()
	for _, m := range []events.Message{a, b, c, d} {
		if n := effects(t, env.db, m.Envelope.ID); n != 1 {
			t.Errorf("event %s applied %d times, want 1", m.Envelope.ID, n)
		}
	}
	if n := totalEffects(t, env.db); n != 4 {
		t.Errorf("%d effect rows, want 4", n)
	}

	dls := dlqRecords(t, env.brokers, 3)
	for _, tc := range []struct {
		name   string
		orig   *kgo.Record
		errHas string
	}{
		{"garbage without headers", recs[1], "CloudEvents"},
		{"undecodable JSON", recs[3], "decode " + string(events.ChargePaymentType)},
		{"payload without order id", recs[5], "orderId is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dl, ok := dls[tc.orig.Offset]
			if !ok {
				t.Fatalf("offset %d was not dead-lettered", tc.orig.Offset)
			}
			checkDeadLetter(t, dl, tc.orig, "malformed", 1,
				func(s string) bool { return strings.Contains(s, tc.errHas) }, from, to)
		})
	}
}

// 5. A handler that never stops failing transiently is dead-lettered after MaxAttempts attempts.
func TestConsumerRetryBudgetSpent(t *testing.T) {
	env := newConsumerEnv(t)
	bad := charge(t, "order-1", 1)
	rec := newRecorder(func(_ context.Context, id string, _ int) error {
		if id == bad.Envelope.ID {
			return errors.New("db down")
		}
		return nil
	})
	retry := fastRetry
	retry.MaxAttempts = 3

	// bad is alone on the partition when the consumer starts, so it is applied on its own (no batch
	// attempt) and every invocation is one of the retry budget's attempts.
	from := time.Now()
	recs := produce(t, env.producer, messaging.ToRecord(bad))
	startConsumer(t, newConsumer(t, env.db, env.brokers, "budget", rec, retry), env.brokers)

	dls := dlqRecords(t, env.brokers, 1)
	to := time.Now()
	dl, ok := dls[recs[0].Offset]
	if !ok {
		t.Fatalf("offset %d was not dead-lettered", recs[0].Offset)
	}
	checkDeadLetter(t, dl, recs[0], "budget", 3, func(s string) bool { return s == "db down" }, from, to)
	if n := rec.callsFor(bad.Envelope.ID); n != 3 {
		t.Errorf("handler invoked %d times, want 3", n)
	}
	if n := effects(t, env.db, bad.Envelope.ID); n != 0 {
		t.Errorf("%d effect rows for the dead-lettered event, want 0", n)
	}

	// The partition moves on.
	next := charge(t, "order-1", 2)
	produce(t, env.producer, messaging.ToRecord(next))
	waitApplied(t, env.db, next.Envelope.ID)
	if n := endOffsets(t, env.brokers, events.DLQ(testTopic)); n != 1 {
		t.Errorf("%d dead letters, want 1", n)
	}
	if n := rec.callsFor(bad.Envelope.ID); n != 3 {
		t.Errorf("handler invoked %d times for the dead-lettered event, want 3", n)
	}
}

// An outage that a ping does not show (here PostgreSQL's disk full, 53100) spends no retries: the
// message waits it out and is applied, however many times it failed meanwhile.
func TestConsumerWaitsOutAFullDisk(t *testing.T) {
	env := newConsumerEnv(t)
	e := charge(t, "order-1", 1)
	rec := newRecorder(func(_ context.Context, id string, call int) error {
		if id == e.Envelope.ID && call <= 5 {
			return fmt.Errorf("insert: %w", &pgconn.PgError{Code: "53100", Message: "could not extend file"})
		}
		return nil
	})
	retry := fastRetry
	retry.MaxAttempts = 2
	produce(t, env.producer, messaging.ToRecord(e))
	startConsumer(t, newConsumer(t, env.db, env.brokers, "disk-full", rec, retry), env.brokers)

	waitApplied(t, env.db, e.Envelope.ID)
	if n := rec.callsFor(e.Envelope.ID); n != 6 {
		t.Errorf("handler invoked %d times, want 6", n)
	}
	if n := endOffsets(t, env.brokers, events.DLQ(testTopic)); n != 0 {
		t.Errorf("%d dead letters, want none", n)
	}
}

// fetchHook records the offsets a consumer's client fetched.
type fetchHook struct {
	mu      sync.Mutex
	offsets []int64
}

func (h *fetchHook) OnFetchRecordBuffered(r *kgo.Record) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.offsets = append(h.offsets, r.Offset)
}

// fetched is the set of offsets fetched, sorted. (A rebalance may legitimately make the client
// fetch an uncommitted offset again, so repeats are not counted.)
func (h *fetchHook) fetched() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Compact(slices.Sorted(slices.Values(h.offsets)))
}

func committed(t *testing.T, brokers []string, group string) int64 {
	t.Helper()
	adm := kadm.NewClient(newClient(t, brokers))
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets: %v", err)
	}
	o, ok := offs.Lookup(testTopic, 0)
	if !ok {
		return -1
	}
	if o.Err != nil {
		t.Fatalf("fetch offsets: %v", o.Err)
	}
	return o.At
}

func seq(from, to int64) []int64 {
	var s []int64
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

// 7. A stopped consumer commits what it applied; its successor in the group starts after it.
func TestConsumerResumesFromCommittedOffsets(t *testing.T) {
	env := newConsumerEnv(t)
	const group = "offsets"
	var first []events.Message
	var recs []*kgo.Record
	for i := range 10 {
		m := charge(t, "order-1", int64(i))
		first = append(first, m)
		recs = append(recs, messaging.ToRecord(m))
	}
	produce(t, env.producer, recs...)

	rec1, hook1 := newRecorder(nil), &fetchHook{}
	stop := startConsumer(t, newConsumer(t, env.db, env.brokers, group, rec1, fastRetry), env.brokers, kgo.WithHooks(hook1))
	waitFor(t, "10 effects", func() bool { return totalEffects(t, env.db) == 10 })
	stop()
	if got := hook1.fetched(); !slices.Equal(got, seq(0, 10)) {
		t.Errorf("first consumer fetched offsets %v, want 0..9", got)
	}
	if got := committed(t, env.brokers, group); got != 10 {
		t.Fatalf("committed offset after stop = %d, want 10", got)
	}

	var second []events.Message
	recs = nil
	for i := range 5 {
		m := charge(t, "order-1", int64(100+i))
		second = append(second, m)
		recs = append(recs, messaging.ToRecord(m))
	}
	produce(t, env.producer, recs...)

	rec2, hook2 := newRecorder(nil), &fetchHook{}
	stop = startConsumer(t, newConsumer(t, env.db, env.brokers, group, rec2, fastRetry), env.brokers, kgo.WithHooks(hook2))
	waitApplied(t, env.db, second[4].Envelope.ID)
	stop()

	if got := hook2.fetched(); !slices.Equal(got, seq(10, 15)) {
		t.Errorf("second consumer fetched offsets %v, want 10..14 only", got)
	}
	for _, m := range first {
		if n := rec2.callsFor(m.Envelope.ID); n != 0 {
			t.Errorf("second consumer ran the handler %d times for an already applied event", n)
		}
	}
	for _, m := range append(first, second...) {
		if n := effects(t, env.db, m.Envelope.ID); n != 1 {
			t.Errorf("event %s applied %d times, want 1", m.Envelope.ID, n)
		}
	}
	if n := totalEffects(t, env.db); n != 15 {
		t.Errorf("%d effect rows, want 15", n)
	}
	if got := committed(t, env.brokers, group); got != 15 {
		t.Errorf("committed offset after the second stop = %d, want 15", got)
	}
}

// A group that has never committed on a topic reads it from its start: a service deployed after
// events were published, or given a topic its group did not read before (inventory's completions
// joined its commands' group), must not skip them. franz-go's start offset does this; its reset
// offset, a minute back from the last record consumed, only applies once data was lost.
func TestNewGroupReadsTopicsFromTheStart(t *testing.T) {
	env := newConsumerEnv(t)
	var recs []*kgo.Record
	var ids []string
	for i := range 3 {
		m := charge(t, "order-1", int64(i))
		r := messaging.ToRecord(m)
		r.Timestamp = time.Now().Add(-time.Hour) // published an hour before the group existed
		recs = append(recs, r)
		ids = append(ids, m.Envelope.ID)
	}
	produce(t, env.producer, recs...)
	now := charge(t, "order-1", 3)
	produce(t, env.producer, messaging.ToRecord(now))

	startConsumer(t, newConsumer(t, env.db, env.brokers, "late-group", newRecorder(nil), fastRetry), env.brokers)
	waitApplied(t, env.db, now.Envelope.ID)
	for _, id := range ids {
		if n := effects(t, env.db, id); n != 1 {
			t.Errorf("event %s published before the group existed applied %d times, want 1", id, n)
		}
	}
}

// A consumer stopped while it retries a record commits only what precedes it; the next member of
// the group resumes with that record and applies it and the rest once.
func TestConsumerStopWhileRetrying(t *testing.T) {
	env := newConsumerEnv(t)
	const group = "stop-retry"
	a, bad, b := charge(t, "order-1", 1), charge(t, "order-1", 2), charge(t, "order-1", 3)
	var healed atomic.Bool
	rec := newRecorder(func(ctx context.Context, id string, call int) error {
		if id != bad.Envelope.ID || healed.Load() {
			return nil
		}
		if call >= 3 {
			// The third attempt is still running when the consumer is stopped.
			<-ctx.Done()
			return ctx.Err()
		}
		return errors.New("downstream unavailable")
	})
	retry := messaging.RetryConfig{Base: 10 * time.Millisecond, Cap: 50 * time.Millisecond, MaxAttempts: 1000}
	produce(t, env.producer, messaging.ToRecord(a), messaging.ToRecord(bad), messaging.ToRecord(b))

	stop := startConsumer(t, newConsumer(t, env.db, env.brokers, group, rec, retry), env.brokers)
	waitApplied(t, env.db, a.Envelope.ID)
	waitFor(t, "the failing record to be retried", func() bool { return rec.callsFor(bad.Envelope.ID) >= 3 })
	stop()
	if got := committed(t, env.brokers, group); got != 1 {
		t.Fatalf("committed offset after stopping mid-retry = %d, want 1 (just past the applied record)", got)
	}
	if n := effects(t, env.db, b.Envelope.ID); n != 0 {
		t.Fatalf("the record after the failing one was applied %d times before it", n)
	}

	healed.Store(true)
	stop = startConsumer(t, newConsumer(t, env.db, env.brokers, group, rec, retry), env.brokers)
	waitApplied(t, env.db, b.Envelope.ID)
	stop()
	for _, m := range []events.Message{a, bad, b} {
		if n := effects(t, env.db, m.Envelope.ID); n != 1 {
			t.Errorf("event %s applied %d times, want 1", m.Envelope.ID, n)
		}
	}
	if n := endOffsets(t, env.brokers, events.DLQ(testTopic)); n != 0 {
		t.Errorf("%d records dead-lettered, want 0", n)
	}
	if got := committed(t, env.brokers, group); got != 3 {
		t.Errorf("committed offset = %d, want 3", got)
	}
}

// A subscription with a Linger lets the broker gather records: ones produced one at a time over
// a fraction of the linger are applied in a few transactions, and every one of them exactly once.
// Without the linger each fetch would return as soon as a record arrived (about one a record).
func TestConsumerLingerGathersRecords(t *testing.T) {
	const n = 20
	env := newConsumerEnv(t)
	var mu sync.Mutex
	txs := map[*sqlstore.Tx]bool{}
	rec := newRecorder(nil)
	sub := messaging.Subscription{Name: "lingering", Topics: []string{testTopic}, Linger: 500 * time.Millisecond,
		Load: messaging.Stateless(func(ctx context.Context, tx *sqlstore.Tx, e messaging.Event) error {
			mu.Lock()
			txs[tx] = true
			mu.Unlock()
			return rec.handle(ctx, tx, e)
		})}
	startConsumer(t, messaging.NewConsumer(sub, env.db, newClient(t, env.brokers), fastRetry, newLogger(t)), env.brokers)

	var last events.Message
	for i := range n {
		last = charge(t, "order-1", int64(i))
		produce(t, env.producer, messaging.ToRecord(last))
		time.Sleep(5 * time.Millisecond)
	}
	waitApplied(t, env.db, last.Envelope.ID)
	if got := totalEffects(t, env.db); got != n {
		t.Errorf("%d effect rows, want %d", got, n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(txs) > 5 {
		t.Errorf("%d records produced one at a time took %d transactions, want a few", n, len(txs))
	}
}
