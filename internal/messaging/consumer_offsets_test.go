package messaging_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
)

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
