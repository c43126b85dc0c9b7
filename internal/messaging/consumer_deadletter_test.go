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
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
)

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
