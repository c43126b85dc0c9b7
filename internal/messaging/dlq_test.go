package messaging_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
)

// dlqCluster starts a one-broker cluster with topics t and t.dlq and returns a producer on it.
func dlqCluster(t *testing.T) (*kgo.Client, []string) {
	t.Helper()
	brokers := newBroker(t, 1, "t", "t.dlq")
	return newClient(t, brokers), brokers
}

func dlqCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func dlqCreateTopics(t *testing.T, cl *kgo.Client, topics ...string) {
	t.Helper()
	if err := messaging.EnsureTopics(dlqCtx(t), kadm.NewClient(cl), 1, 1, topics...); err != nil {
		t.Fatal(err)
	}
}

// chargeRecord is a ChargePayment command for order as a CloudEvents record on topic.
func chargeRecord(t *testing.T, topic, order string, amount int64) *kgo.Record {
	t.Helper()
	m := charge(t, order, amount)
	m.Topic = topic
	m.Envelope.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	return messaging.ToRecord(m)
}

// deadLettered builds the DLQ record of orig exactly as Consumer.deadLetter does.
func deadLettered(orig *kgo.Record, consumer string, cause error, attempts int) *kgo.Record {
	return &kgo.Record{
		Topic:   events.DLQ(orig.Topic),
		Key:     orig.Key,
		Value:   orig.Value,
		Headers: append(append([]kgo.RecordHeader(nil), orig.Headers...), messaging.DLQHeaders(orig, consumer, cause, attempts)...),
	}
}

// readAll reads every record of topic's partition 0 up to its current end.
func readAll(t *testing.T, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	ctx := dlqCtx(t)
	adm := kadm.NewClient(newClient(t, brokers))
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
	cl := newClient(t, brokers, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
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

func TestDeadLetters(t *testing.T) {
	cl, brokers := dlqCluster(t)
	ctx := dlqCtx(t)
	dlqCreateTopics(t, cl, "u", "u.dlq", "empty.dlq")

	// Originals, consumed from t and u at these offsets. A plain record on each first, so that the
	// originals are not at offset 0.
	produce(t, cl, &kgo.Record{Topic: "t", Value: []byte("not dead")}, &kgo.Record{Topic: "u", Value: []byte("not dead")})
	a, b, c := chargeRecord(t, "t", "order-a", 1), chargeRecord(t, "t", "order-b", 2), chargeRecord(t, "t", "order-c", 3)
	u := chargeRecord(t, "u", "order-u", 4)
	produce(t, cl, a, b, c, u)

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
		d.dl = deadLettered(orig, d.consumer, messaging.Permanent(errors.New(d.cause)), d.attempts)
		ds = append(ds, d)
		time.Sleep(2 * time.Millisecond) // distinct dead-lettered times
	}
	produce(t, cl, ds[0].dl, ds[3].dl, ds[2].dl, ds[1].dl)

	check := func(got messaging.DeadLetter, d *dead) {
		t.Helper()
		id := fmt.Sprintf("%s:%d:%d", d.dl.Topic, d.dl.Partition, d.dl.Offset)
		at, _ := header(d.dl, messaging.HdrDLQTime)
		wantAt, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			t.Fatal(err)
		}
		ceID, _ := header(d.orig, messaging.HdrID)
		ceType, _ := header(d.orig, messaging.HdrType)
		headers := map[string]string{}
		for _, h := range d.orig.Headers {
			headers[h.Key] = string(h.Value)
		}
		want := messaging.DeadLetter{
			ID: id, Topic: d.orig.Topic + ".dlq", OriginalTopic: d.orig.Topic, Partition: 0, Offset: d.dl.Offset,
			Key: string(d.orig.Key), EventID: ceID, EventType: ceType, Error: d.cause, Attempts: d.attempts,
			Consumer: d.consumer, DeadLetteredAt: wantAt, OriginalPartition: d.orig.Partition, OriginalOffset: d.orig.Offset,
			State: messaging.StatePending, Headers: headers, Payload: d.orig.Value,
		}
		if got.DeadLetteredAt.Equal(want.DeadLetteredAt) {
			got.DeadLetteredAt = want.DeadLetteredAt
		}
		if len(headers) < 7 || headers["ce_traceparent"] == "" {
			t.Fatalf("test setup: original headers %v", headers)
		}
		if !reflect.DeepEqual(got, want) {
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
	all, err := messaging.ListDeadLetters(ctx, cl, nil)
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
	if got, err := messaging.ListDeadLetters(ctx, cl, []string{"u.dlq"}); err != nil || len(got) != 1 {
		t.Errorf("ListDeadLetters(u.dlq) = %+v, %v; want one", got, err)
	} else {
		check(got[0], ds[1])
	}
	if got, err := messaging.ListDeadLetters(ctx, cl, []string{"t.dlq", "empty.dlq"}); err != nil || len(got) != 3 {
		t.Errorf("ListDeadLetters(t.dlq, empty.dlq) = %+v, %v; want three", got, err)
	}
	if got, err := messaging.ListDeadLetters(ctx, cl, []string{"empty.dlq"}); err != nil || len(got) != 0 {
		t.Errorf("ListDeadLetters(empty.dlq) = %+v, %v; want none", got, err)
	}
	if _, err := messaging.ListDeadLetters(ctx, cl, []string{"nope.dlq"}); err == nil {
		t.Error("ListDeadLetters of a topic that does not exist: no error")
	}

	// Replaying b puts the original back on t: same key, value and headers, none of the dead-letter
	// headers, and where it came from.
	idB := all[3].ID
	got, err := messaging.ReplayDeadLetter(ctx, cl, idB)
	if err != nil {
		t.Fatalf("ReplayDeadLetter(%s): %v", idB, err)
	}
	if got.State != messaging.StateReplayed || time.Since(got.StateAt) > time.Minute {
		t.Errorf("replayed dead letter is %s at %v, want replayed now", got.State, got.StateAt)
	}
	got.State, got.StateAt = messaging.StatePending, time.Time{}
	check(got, ds[3])
	onT := readAll(t, brokers, "t")
	if len(onT) != 5 {
		t.Fatalf("t holds %d records after one replay, want 5", len(onT))
	}
	replayed := onT[4]
	if !bytes.Equal(replayed.Key, b.Key) || !bytes.Equal(replayed.Value, b.Value) {
		t.Errorf("replayed key/value %q/%q, want %q/%q", replayed.Key, replayed.Value, b.Key, b.Value)
	}
	wantHeaders := append(slices.Clone(b.Headers), kgo.RecordHeader{Key: messaging.HdrReplayedFrom, Value: []byte(idB)})
	if !slices.EqualFunc(replayed.Headers, wantHeaders, func(x, y kgo.RecordHeader) bool {
		return x.Key == y.Key && bytes.Equal(x.Value, y.Value)
	}) {
		t.Errorf("replayed headers\n got %v\nwant %v", replayed.Headers, wantHeaders)
	}
	for _, h := range replayed.Headers {
		if strings.HasPrefix(h.Key, "x-ordersys-") && h.Key != messaging.HdrReplayedFrom {
			t.Errorf("replayed record carries dead-letter header %s", h.Key)
		}
	}
	if env, err := messaging.FromRecord(replayed); err != nil || env.ID != all[3].EventID {
		t.Errorf("replayed record decodes to %+v, %v; want event id %s", env, err, all[3].EventID)
	}

	// Replaying does not remove it from the DLQ: it is listed replayed, the others pending.
	if again, err := messaging.ListDeadLetters(ctx, cl, nil); err != nil || len(again) != len(ds) {
		t.Errorf("after a replay ListDeadLetters = %d dead letters, %v; want %d", len(again), err, len(ds))
	} else {
		for _, dl := range again {
			want := messaging.StatePending
			if dl.ID == idB {
				want = messaging.StateReplayed
			}
			if dl.State != want {
				t.Errorf("after replaying %s, %s is %s, want %s", idB, dl.ID, dl.State, want)
			}
		}
	}

	// Unknown ids.
	for _, id := range []string{"t.dlq:0:99", "t.dlq:3:0", "nope.dlq:0:0", "empty.dlq:0:0", "t.dlq:0:-1",
		"t.dlq:0", "t.dlq", "", ":0:0", "t.dlq:x:0"} {
		if _, err := messaging.ReplayDeadLetter(ctx, cl, id); !errors.Is(err, messaging.ErrDeadLetterNotFound) {
			t.Errorf("ReplayDeadLetter(%q) = %v, want ErrDeadLetterNotFound", id, err)
		}
	}

	// All of them: every current dead letter, oldest first, the one replayed before included.
	n, discarded, err := messaging.ReplayAll(ctx, cl, nil)
	if err != nil || n != 4 || discarded != 0 {
		t.Fatalf("ReplayAll = %d, %d, %v; want 4, 0, nil", n, discarded, err)
	}
	onT = readAll(t, brokers, "t")
	var from []string
	for _, r := range onT[5:] {
		v, _ := header(r, messaging.HdrReplayedFrom)
		from = append(from, v)
	}
	if want := []string{all[0].ID, all[2].ID, all[3].ID}; !slices.Equal(from, want) {
		t.Errorf("ReplayAll put %v on t, want %v", from, want)
	}
	if onU := readAll(t, brokers, "u"); len(onU) != 3 {
		t.Errorf("u holds %d records after ReplayAll, want 3", len(onU))
	} else if v, _ := header(onU[2], messaging.HdrReplayedFrom); v != all[1].ID {
		t.Errorf("replay on u came from %q, want %q", v, all[1].ID)
	}
	if n, _, err := messaging.ReplayAll(ctx, cl, []string{"empty.dlq"}); err != nil || n != 0 {
		t.Errorf("ReplayAll(empty.dlq) = %d, %v; want 0, nil", n, err)
	}

	// A record on a DLQ topic without the dead-letter headers is listed, but cannot be replayed.
	dlqCreateTopics(t, cl, "junk.dlq")
	produce(t, cl, &kgo.Record{Topic: "junk.dlq", Key: []byte("k"), Value: []byte("v")})
	junk, err := messaging.ListDeadLetters(ctx, cl, []string{"junk.dlq"})
	if err != nil || len(junk) != 1 || junk[0].ID != "junk.dlq:0:0" || junk[0].OriginalTopic != "" ||
		junk[0].DeadLetteredAt.IsZero() {
		t.Errorf("ListDeadLetters(junk.dlq) = %+v, %v", junk, err)
	}
	if _, err := messaging.ReplayDeadLetter(ctx, cl, "junk.dlq:0:0"); !errors.Is(err, messaging.ErrDeadLetterNotFound) {
		t.Errorf("ReplayDeadLetter of a record without dead-letter headers: %v, want ErrDeadLetterNotFound", err)
	}
	if n, _, err := messaging.ReplayAll(ctx, cl, []string{"junk.dlq", "u.dlq"}); err == nil || n != 1 {
		t.Errorf("ReplayAll(junk.dlq, u.dlq) = %d, %v; want 1 and an error about the junk", n, err)
	}
}

// TestDeadLettersOfAGroupConsumer: ListDeadLetters works with a client that is a group consumer,
// and leaves its consumption alone.
func TestDeadLettersOfAGroupConsumer(t *testing.T) {
	cl, brokers := dlqCluster(t)
	orig := chargeRecord(t, "t", "order-1", 1)
	produce(t, cl, orig)
	produce(t, cl, deadLettered(orig, "c", errors.New("x"), 1))
	group := newClient(t, brokers, kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t"))
	got, err := messaging.ListDeadLetters(dlqCtx(t), group, nil)
	if err != nil || len(got) != 1 || got[0].ID != "t.dlq:0:0" {
		t.Errorf("ListDeadLetters = %+v, %v", got, err)
	}
}

// newClientHook counts the clients it is attached to, as a metrics hook registers itself per
// client.
type newClientHook struct{ clients atomic.Int32 }

func (h *newClientHook) OnNewClient(*kgo.Client) { h.clients.Add(1) }

// TestDeadLetterReaderKeepsNoHooks: listing and replaying read through short-lived clients built
// from the given one's connection settings, but not its hooks: a metrics hook serves one client
// (kprom's panics on a second, and unregisters the first's metrics when the second closes).
func TestDeadLetterReaderKeepsNoHooks(t *testing.T) {
	hook := &newClientHook{}
	_, brokers := dlqCluster(t)
	cl := newClient(t, brokers, kgo.WithHooks(hook), kgo.ClientID("hooked"))
	ctx := dlqCtx(t)
	orig := chargeRecord(t, "t", "order-1", 1)
	produce(t, cl, deadLettered(orig, "c", errors.New("boom"), 1))
	letters, err := messaging.ListDeadLetters(ctx, cl, nil)
	if err != nil || len(letters) != 1 {
		t.Fatalf("dead letters = %v (%v), want one", letters, err)
	}
	if _, err := messaging.ReplayDeadLetter(ctx, cl, letters[0].ID); err != nil {
		t.Fatal(err)
	}
	if n := hook.clients.Load(); n != 1 {
		t.Errorf("the hook was attached to %d clients, want only the one it was given to", n)
	}
}

// TestDeadLetterStates: a dead letter discarded is listed discarded, by any client, and never
// replayed (ReplayAll leaves it); discarding it again changes nothing. One replayed is listed
// replayed and cannot be discarded. The states are on the compacted state topic, made on the first
// write when no process made it. A state does not pass to a new record at the same ID.
func TestDeadLetterStates(t *testing.T) {
	cl, brokers := dlqCluster(t)
	ctx := dlqCtx(t)
	a, b, c := chargeRecord(t, "t", "order-a", 1), chargeRecord(t, "t", "order-b", 2), chargeRecord(t, "t", "order-c", 3)
	produce(t, cl, a, b, c)
	produce(t, cl, deadLettered(a, "c", errors.New("a"), 1), deadLettered(b, "c", errors.New("b"), 1),
		deadLettered(c, "c", errors.New("c"), 1))
	idA, idB, idC := "t.dlq:0:0", "t.dlq:0:1", "t.dlq:0:2"
	// states lists through a client of its own, as another process does.
	states := func() map[string]messaging.DeadLetter {
		t.Helper()
		letters, err := messaging.ListDeadLetters(ctx, newClient(t, brokers), nil)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]messaging.DeadLetter{}
		for _, dl := range letters {
			out[dl.ID] = dl
		}
		return out
	}
	onT := func() int { t.Helper(); return len(readAll(t, brokers, "t")) }

	discarded, err := messaging.DiscardDeadLetter(ctx, cl, idA)
	if err != nil || discarded.State != messaging.StateDiscarded || time.Since(discarded.StateAt) > time.Minute {
		t.Fatalf("discard = %s at %v, %v; want discarded now", discarded.State, discarded.StateAt, err)
	}
	if got := states(); got[idA].State != messaging.StateDiscarded || !got[idA].StateAt.Equal(discarded.StateAt) ||
		got[idB].State != messaging.StatePending || !got[idB].StateAt.IsZero() {
		t.Errorf("after discarding %s: %s is %s at %v, %s is %s", idA, idA, got[idA].State, got[idA].StateAt, idB, got[idB].State)
	}
	if again, err := messaging.DiscardDeadLetter(ctx, cl, idA); err != nil || !again.StateAt.Equal(discarded.StateAt) {
		t.Errorf("second discard = %s at %v, %v; want it as it was, discarded at %v", again.State, again.StateAt, err, discarded.StateAt)
	}
	if _, err := messaging.ReplayDeadLetter(ctx, cl, idA); !errors.Is(err, messaging.ErrDeadLetterDiscarded) {
		t.Errorf("replay of a discarded dead letter: %v, want ErrDeadLetterDiscarded", err)
	}
	if n := onT(); n != 3 {
		t.Errorf("t holds %d records after replaying a discarded dead letter, want the 3 originals", n)
	}

	replayed, err := messaging.ReplayDeadLetter(ctx, cl, idB)
	if err != nil || replayed.State != messaging.StateReplayed {
		t.Fatalf("replay = %s, %v; want replayed", replayed.State, err)
	}
	if _, err := messaging.DiscardDeadLetter(ctx, cl, idB); !errors.Is(err, messaging.ErrDeadLetterReplayed) {
		t.Errorf("discard of a replayed dead letter: %v, want ErrDeadLetterReplayed", err)
	}
	if got := states(); got[idB].State != messaging.StateReplayed || !got[idB].StateAt.Equal(replayed.StateAt) {
		t.Errorf("%s is %s at %v, want replayed at %v", idB, got[idB].State, got[idB].StateAt, replayed.StateAt)
	}
	for _, id := range []string{"t.dlq:0:99", "nope.dlq:0:0", "t.dlq"} {
		if _, err := messaging.DiscardDeadLetter(ctx, cl, id); !errors.Is(err, messaging.ErrDeadLetterNotFound) {
			t.Errorf("DiscardDeadLetter(%q) = %v, want ErrDeadLetterNotFound", id, err)
		}
	}

	// All of them but the discarded one: b again, and c.
	n, left, err := messaging.ReplayAll(ctx, cl, nil)
	if err != nil || n != 2 || left != 1 {
		t.Errorf("ReplayAll = %d, %d, %v; want 2 replayed, 1 discarded left", n, left, err)
	}
	var from []string
	for _, r := range readAll(t, brokers, "t")[3:] {
		v, _ := header(r, messaging.HdrReplayedFrom)
		from = append(from, v)
	}
	if want := []string{idB, idB, idC}; !slices.Equal(from, want) {
		t.Errorf("replays on t came from %v, want %v", from, want)
	}
	if got := states(); got[idA].State != messaging.StateDiscarded || got[idC].State != messaging.StateReplayed {
		t.Errorf("after ReplayAll %s is %s, %s is %s; want discarded, replayed", idA, got[idA].State, idC, got[idC].State)
	}

	// The state topic, made by the first discard, keeps the last state of each ID.
	cfgs, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, messaging.TopicDeadLetterState)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := cfgs.On(messaging.TopicDeadLetterState, nil); err != nil {
		t.Errorf("configs of %s: %v", messaging.TopicDeadLetterState, err)
	} else {
		policy := ""
		for _, c := range cfg.Configs {
			if c.Key == "cleanup.policy" && c.Value != nil {
				policy = *c.Value
			}
		}
		if !strings.Contains(policy, "compact") {
			t.Errorf("%s has cleanup.policy %q, want compaction", messaging.TopicDeadLetterState, policy)
		}
	}

	// t.dlq deleted and made again: its first record has the ID a had, and none of a's state.
	if _, err := kadm.NewClient(cl).DeleteTopics(ctx, "t.dlq"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "t.dlq to be made again", func() bool {
		return messaging.EnsureTopics(ctx, kadm.NewClient(cl), 1, 1, "t.dlq") == nil
	})
	time.Sleep(2 * time.Millisecond) // a later dead-lettered time than a's
	// Through a new client: cl knows the old topic's id.
	produce(t, newClient(t, brokers), deadLettered(a, "c", errors.New("again"), 1))
	if got := states(); got[idA].State != messaging.StatePending || got[idA].Error != "again" {
		t.Errorf("the new %s is %s (%q), want pending: the state was the old one's", idA, got[idA].State, got[idA].Error)
	}
}
