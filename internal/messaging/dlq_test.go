package messaging

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

const dlqWait = 15 * time.Second

// dlqCluster starts a one-broker cluster with topics t and t.dlq and returns a producer on it.
func dlqCluster(t *testing.T) (*kgo.Client, []string) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t", "t.dlq"))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return dlqClient(t, c.ListenAddrs()), c.ListenAddrs()
}

func dlqClient(t *testing.T, brokers []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ProducerLinger(0)}, opts...)...)
	if err != nil {
		t.Fatalf("kgo: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func dlqCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), dlqWait)
	t.Cleanup(cancel)
	return ctx
}

func dlqProduce(t *testing.T, cl *kgo.Client, rs ...*kgo.Record) {
	t.Helper()
	if err := cl.ProduceSync(dlqCtx(t), rs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

func dlqCreateTopics(t *testing.T, cl *kgo.Client, topics ...string) {
	t.Helper()
	if err := EnsureTopics(dlqCtx(t), kadm.NewClient(cl), 1, 1, topics...); err != nil {
		t.Fatal(err)
	}
}

// chargeRecord is a ChargePayment command for order as a CloudEvents record on topic.
func chargeRecord(t *testing.T, topic, order string, amount int64) *kgo.Record {
	t.Helper()
	m, err := events.New("test", order, events.ChargePayment{
		OrderID: order, CustomerID: "c-1", Amount: decimal.NewFromInt(amount), Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	m.Topic = topic
	m.Envelope.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	return ToRecord(m)
}

// deadLettered builds the DLQ record of orig exactly as Consumer.deadLetter does.
func deadLettered(orig *kgo.Record, consumer string, cause error, attempts int) *kgo.Record {
	return &kgo.Record{
		Topic:   events.DLQ(orig.Topic),
		Key:     orig.Key,
		Value:   orig.Value,
		Headers: append(append([]kgo.RecordHeader(nil), orig.Headers...), dlqHeaders(orig, consumer, cause, attempts)...),
	}
}

// readAll reads every record of topic's partition 0 up to its current end.
func readAll(t *testing.T, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	ctx := dlqCtx(t)
	adm := kadm.NewClient(dlqClient(t, brokers))
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	end, _ := ends.Lookup(topic, 0)
	if end.Offset == 0 {
		return nil
	}
	cl := dlqClient(t, brokers, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {0: kgo.NewOffset().AtStart()}}))
	var out []*kgo.Record
	for int64(len(out)) < end.Offset {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records of %s", len(out), end.Offset, topic)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func hdr(r *kgo.Record, key string) (string, bool) {
	for _, h := range slices.Backward(r.Headers) {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

func TestDeadLetters(t *testing.T) {
	cl, brokers := dlqCluster(t)
	ctx := dlqCtx(t)
	dlqCreateTopics(t, cl, "u", "u.dlq", "empty.dlq")

	// Originals, consumed from t and u at these offsets. A plain record on each first, so that the
	// originals are not at offset 0.
	dlqProduce(t, cl, &kgo.Record{Topic: "t", Value: []byte("not dead")}, &kgo.Record{Topic: "u", Value: []byte("not dead")})
	a, b, c := chargeRecord(t, "t", "order-a", 1), chargeRecord(t, "t", "order-b", 2), chargeRecord(t, "t", "order-c", 3)
	u := chargeRecord(t, "u", "order-u", 4)
	dlqProduce(t, cl, a, b, c, u)

	// Dead-lettered in the order a, u, c, b, but written to t.dlq as a, b, c: listing is by time,
	// not by topic or offset.
	type dead struct {
		orig, dl *kgo.Record
		cause    string
		attempts int
		consumer string
	}
	var ds []*dead
	for i, orig := range []*kgo.Record{a, u, c, b} {
		d := &dead{orig: orig, cause: fmt.Sprintf("boom %d", i), attempts: i + 1, consumer: "consumer-" + orig.Topic}
		d.dl = deadLettered(orig, d.consumer, Permanent(errors.New(d.cause)), d.attempts)
		ds = append(ds, d)
		time.Sleep(2 * time.Millisecond) // distinct dead-lettered times
	}
	dlqProduce(t, cl, ds[0].dl, ds[3].dl, ds[2].dl, ds[1].dl)

	check := func(got DeadLetter, d *dead) {
		t.Helper()
		id := fmt.Sprintf("%s:%d:%d", d.dl.Topic, d.dl.Partition, d.dl.Offset)
		at, _ := hdr(d.dl, HdrDLQTime)
		wantAt, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			t.Fatal(err)
		}
		ceID, _ := hdr(d.orig, hdrID)
		ceType, _ := hdr(d.orig, hdrType)
		want := DeadLetter{
			ID: id, Topic: d.orig.Topic + ".dlq", OriginalTopic: d.orig.Topic, Partition: 0, Offset: d.dl.Offset,
			Key: string(d.orig.Key), EventID: ceID, EventType: ceType, Error: d.cause, Attempts: d.attempts,
			Consumer: d.consumer, DeadLetteredAt: wantAt, OriginalPartition: d.orig.Partition, OriginalOffset: d.orig.Offset,
		}
		if got.DeadLetteredAt.Equal(want.DeadLetteredAt) {
			got.DeadLetteredAt = want.DeadLetteredAt
		}
		if got != want {
			t.Errorf("dead letter\n got %+v\nwant %+v", got, want)
		}
		if ceID == "" || ceType == "" || d.orig.Offset == 0 {
			t.Fatalf("test setup: original %+v", d.orig)
		}
		if url.PathEscape(got.ID) != got.ID {
			t.Errorf("ID %q is not URL-safe", got.ID)
		}
	}

	// Every .dlq topic, oldest dead letter first.
	all, err := ListDeadLetters(ctx, cl, nil)
	if err != nil {
		t.Fatalf("ListDeadLetters: %v", err)
	}
	if len(all) != len(ds) {
		t.Fatalf("ListDeadLetters returned %d dead letters, want %d: %+v", len(all), len(ds), all)
	}
	for i, d := range ds {
		check(all[i], d)
	}

	// Named topics.
	if got, err := ListDeadLetters(ctx, cl, []string{"u.dlq"}); err != nil || len(got) != 1 {
		t.Errorf("ListDeadLetters(u.dlq) = %+v, %v; want one", got, err)
	} else {
		check(got[0], ds[1])
	}
	if got, err := ListDeadLetters(ctx, cl, []string{"t.dlq", "empty.dlq"}); err != nil || len(got) != 3 {
		t.Errorf("ListDeadLetters(t.dlq, empty.dlq) = %+v, %v; want three", got, err)
	}
	if got, err := ListDeadLetters(ctx, cl, []string{"empty.dlq"}); err != nil || len(got) != 0 {
		t.Errorf("ListDeadLetters(empty.dlq) = %+v, %v; want none", got, err)
	}
	if _, err := ListDeadLetters(ctx, cl, []string{"nope.dlq"}); err == nil {
		t.Error("ListDeadLetters of a topic that does not exist: no error")
	}

	// Replaying b puts the original back on t: same key, value and headers, none of the dead-letter
	// headers, and where it came from.
	idB := all[3].ID
	got, err := ReplayDeadLetter(ctx, cl, idB)
	if err != nil {
		t.Fatalf("ReplayDeadLetter(%s): %v", idB, err)
	}
	check(got, ds[3])
	onT := readAll(t, brokers, "t")
	if len(onT) != 5 {
		t.Fatalf("t holds %d records after one replay, want 5", len(onT))
	}
	replayed := onT[4]
	if !bytes.Equal(replayed.Key, b.Key) || !bytes.Equal(replayed.Value, b.Value) {
		t.Errorf("replayed key/value %q/%q, want %q/%q", replayed.Key, replayed.Value, b.Key, b.Value)
	}
	wantHeaders := append(slices.Clone(b.Headers), kgo.RecordHeader{Key: HdrReplayedFrom, Value: []byte(idB)})
	if !slices.EqualFunc(replayed.Headers, wantHeaders, func(x, y kgo.RecordHeader) bool {
		return x.Key == y.Key && bytes.Equal(x.Value, y.Value)
	}) {
		t.Errorf("replayed headers\n got %v\nwant %v", replayed.Headers, wantHeaders)
	}
	for _, h := range replayed.Headers {
		if strings.HasPrefix(h.Key, "x-ordersys-") && h.Key != HdrReplayedFrom {
			t.Errorf("replayed record carries dead-letter header %s", h.Key)
		}
	}
	if env, err := FromRecord(replayed); err != nil || env.ID != all[3].EventID {
		t.Errorf("replayed record decodes to %+v, %v; want event id %s", env, err, all[3].EventID)
	}

	// Replaying does not remove it from the DLQ.
	if again, err := ListDeadLetters(ctx, cl, nil); err != nil || len(again) != len(ds) {
		t.Errorf("after a replay ListDeadLetters = %d dead letters, %v; want %d", len(again), err, len(ds))
	}

	// Unknown ids.
	for _, id := range []string{"t.dlq:0:99", "t.dlq:3:0", "nope.dlq:0:0", "empty.dlq:0:0", "t.dlq:0:-1",
		"t.dlq:0", "t.dlq", "", ":0:0", "t.dlq:x:0"} {
		if _, err := ReplayDeadLetter(ctx, cl, id); !errors.Is(err, ErrDeadLetterNotFound) {
			t.Errorf("ReplayDeadLetter(%q) = %v, want ErrDeadLetterNotFound", id, err)
		}
	}

	// All of them: every current dead letter, oldest first, the one replayed before included.
	n, err := ReplayAll(ctx, cl, nil)
	if err != nil || n != 4 {
		t.Fatalf("ReplayAll = %d, %v; want 4, nil", n, err)
	}
	onT = readAll(t, brokers, "t")
	var from []string
	for _, r := range onT[5:] {
		v, _ := hdr(r, HdrReplayedFrom)
		from = append(from, v)
	}
	if want := []string{all[0].ID, all[2].ID, all[3].ID}; !slices.Equal(from, want) {
		t.Errorf("ReplayAll put %v on t, want %v", from, want)
	}
	if onU := readAll(t, brokers, "u"); len(onU) != 3 {
		t.Errorf("u holds %d records after ReplayAll, want 3", len(onU))
	} else if v, _ := hdr(onU[2], HdrReplayedFrom); v != all[1].ID {
		t.Errorf("replay on u came from %q, want %q", v, all[1].ID)
	}
	if n, err := ReplayAll(ctx, cl, []string{"empty.dlq"}); err != nil || n != 0 {
		t.Errorf("ReplayAll(empty.dlq) = %d, %v; want 0, nil", n, err)
	}

	// A record on a DLQ topic without the dead-letter headers is listed, but cannot be replayed.
	dlqCreateTopics(t, cl, "junk.dlq")
	dlqProduce(t, cl, &kgo.Record{Topic: "junk.dlq", Key: []byte("k"), Value: []byte("v")})
	junk, err := ListDeadLetters(ctx, cl, []string{"junk.dlq"})
	if err != nil || len(junk) != 1 || junk[0].ID != "junk.dlq:0:0" || junk[0].OriginalTopic != "" ||
		junk[0].DeadLetteredAt.IsZero() {
		t.Errorf("ListDeadLetters(junk.dlq) = %+v, %v", junk, err)
	}
	if _, err := ReplayDeadLetter(ctx, cl, "junk.dlq:0:0"); !errors.Is(err, ErrDeadLetterNotFound) {
		t.Errorf("ReplayDeadLetter of a record without dead-letter headers: %v, want ErrDeadLetterNotFound", err)
	}
	if n, err := ReplayAll(ctx, cl, []string{"junk.dlq", "u.dlq"}); err == nil || n != 1 {
		t.Errorf("ReplayAll(junk.dlq, u.dlq) = %d, %v; want 1 and an error about the junk", n, err)
	}
}

// TestDeadLettersOfAGroupConsumer: ListDeadLetters works with a client that is a group consumer,
// and leaves its consumption alone.
func TestDeadLettersOfAGroupConsumer(t *testing.T) {
	cl, brokers := dlqCluster(t)
	orig := chargeRecord(t, "t", "order-1", 1)
	dlqProduce(t, cl, orig)
	dlqProduce(t, cl, deadLettered(orig, "c", errors.New("x"), 1))
	group := dlqClient(t, brokers, kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t"))
	got, err := ListDeadLetters(dlqCtx(t), group, nil)
	if err != nil || len(got) != 1 || got[0].ID != "t.dlq:0:0" {
		t.Errorf("ListDeadLetters = %+v, %v", got, err)
	}
}

// TestDeadLetterReplayEndToEnd: a consumer dead-letters a message its handler cannot apply; once
// the cause is fixed a replay applies it, once, and a second replay changes nothing.
func TestDeadLetterReplayEndToEnd(t *testing.T) {
	producer, brokers := dlqCluster(t)
	ctx := dlqCtx(t)

	db, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "e2e.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	effectsSQL := sqlstore.Migrations{Table: "goose_dlqtest_version", FS: fstest.MapFS{
		"00001_effects.sql": {Data: []byte("-- +goose Up\nCREATE TABLE dlq_effects (event_id TEXT NOT NULL);\n")},
	}}
	if err := sqlstore.Migrate(ctx, db, Migrations, effectsSQL); err != nil {
		t.Fatal(err)
	}
	effects := func(id string) int {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM dlq_effects WHERE event_id = $1`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	var fixed atomic.Bool
	var mu sync.Mutex
	calls := map[string]int{}
	handle := func(ctx context.Context, tx *sqlstore.Tx, ev Event) error {
		e := ev.Envelope
		mu.Lock()
		calls[e.ID]++
		mu.Unlock()
		if !fixed.Load() {
			return Permanent(errors.New("the cause is not fixed yet"))
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO dlq_effects (event_id) VALUES ($1)`, e.ID)
		return err
	}
	callsFor := func(id string) int {
		mu.Lock()
		defer mu.Unlock()
		return calls[id]
	}

	logs := &logRecorder{}
	t.Cleanup(func() {
		if t.Failed() {
			logs.mu.Lock()
			defer logs.mu.Unlock()
			for _, r := range logs.records {
				t.Log(r)
			}
		}
	})
	sub := Subscription{Name: "dlq-e2e", Topics: []string{"t"}, Load: Stateless(handle)}
	consumer := NewConsumer(sub, db, dlqClient(t, brokers), RetryConfig{Base: time.Millisecond, Cap: 10 * time.Millisecond}, slog.New(logs))
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- consumer.Run(runCtx, brokers) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("consumer: %v", err)
			}
		case <-time.After(dlqWait):
			t.Error("consumer did not stop")
		}
	})

	m := chargeRecord(t, "t", "order-1", 10)
	mID, _ := hdr(m, hdrID)
	dlqProduce(t, producer, m)

	var dls []DeadLetter
	waitUntil(t, "the message to be dead-lettered", func() bool {
		listCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		dls, err = ListDeadLetters(listCtx, producer, []string{"t.dlq"})
		return err == nil && len(dls) == 1
	})
	dl := dls[0]
	if dl.EventID != mID || dl.OriginalTopic != "t" || dl.OriginalOffset != m.Offset || dl.Consumer != "dlq-e2e" ||
		!strings.Contains(dl.Error, "the cause is not fixed yet") || dl.Attempts != 1 {
		t.Errorf("dead letter = %+v", dl)
	}
	if n := effects(mID); n != 0 {
		t.Fatalf("dead-lettered message applied %d times", n)
	}
	failedCalls := callsFor(mID)

	// The cause is fixed: replay.
	fixed.Store(true)
	if _, err := ReplayDeadLetter(ctx, producer, dl.ID); err != nil {
		t.Fatalf("replay: %v", err)
	}
	waitUntil(t, "the replayed message to be applied", func() bool { return effects(mID) > 0 })

	// Again: the inbox knows the event id. A message behind it on the same partition shows when the
	// second replay has been consumed.
	if _, err := ReplayDeadLetter(ctx, producer, dl.ID); err != nil {
		t.Fatalf("second replay: %v", err)
	}
	after := chargeRecord(t, "t", "order-1", 11)
	afterID, _ := hdr(after, hdrID)
	dlqProduce(t, producer, after)
	waitUntil(t, "the message after the second replay to be applied", func() bool { return effects(afterID) > 0 })

	if n := effects(mID); n != 1 {
		t.Errorf("replayed message applied %d times, want 1", n)
	}
	if n := callsFor(mID) - failedCalls; n != 1 {
		t.Errorf("handler ran %d times for the message after the fix, want 1 (the inbox skips the second replay)", n)
	}
	if got, err := ListDeadLetters(ctx, producer, []string{"t.dlq"}); err != nil || len(got) != 1 {
		t.Errorf("DLQ after the replays holds %d records (%v), want the 1 original", len(got), err)
	}
	onT := readAll(t, brokers, "t")
	if len(onT) != 4 {
		t.Fatalf("t holds %d records, want 4 (message, 2 replays, next message)", len(onT))
	}
	for _, r := range onT[1:3] {
		if id, _ := hdr(r, hdrID); id != mID {
			t.Errorf("replay carries event id %q, want %q", id, mID)
		}
	}
}
