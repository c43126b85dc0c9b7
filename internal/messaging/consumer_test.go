package messaging_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

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
