package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/pgtest"
	"github.com/ordersys/ordersys/internal/sqlstore"
	"github.com/ordersys/ordersys/internal/storetest"
)

// TestMain stops the throwaway PostgreSQL the tests start.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// waitTimeout bounds every wait for an asynchronous condition. Conditions are polled; a test never
// relies on a fixed sleep for its assertion.
const waitTimeout = 15 * time.Second

// testTopic is the topic the consumer tests use; its DLQ is seeded with it.
const testTopic = events.TopicPaymentCommands

// newBroker starts an in-process Kafka-protocol broker with the given topics, each with partitions
// partitions, and returns its addresses.
func newBroker(t *testing.T, partitions int32, topics ...string) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// newClient returns a kgo client closed at cleanup. With no options beyond the brokers it is a
// producer that sends at once.
func newClient(t *testing.T, brokers []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ProducerLinger(0)}, opts...)...)
	if err != nil {
		t.Fatalf("kgo client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// testMigrations creates the table the test handlers write their effects to.
var testMigrations = sqlstore.Migrations{
	Table: "goose_test_version",
	FS: fstest.MapFS{
		"00001_effects.sql": {Data: []byte("-- +goose Up\n" +
			"CREATE TABLE effects (event_id TEXT NOT NULL, n INTEGER NOT NULL);\n")},
	},
}

// newDB opens a fresh, migrated SQLite database in the test's temporary directory.
func newDB(t *testing.T) *sqlstore.DB {
	t.Helper()
	return storetest.Open(t, storetest.SQLiteDSN(t), "test", messaging.Migrations, testMigrations)
}

// count runs a COUNT(*) style query.
func count(t *testing.T, db *sqlstore.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// effects is how many effect rows event id has.
func effects(t *testing.T, db *sqlstore.DB, id string) int {
	t.Helper()
	return count(t, db, `SELECT COUNT(*) FROM effects WHERE event_id = $1`, id)
}

func totalEffects(t *testing.T, db *sqlstore.DB) int {
	t.Helper()
	return count(t, db, `SELECT COUNT(*) FROM effects`)
}

// waitFor polls cond until it holds, failing the test after waitTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitApplied waits until event id has at least one effect row.
func waitApplied(t *testing.T, db *sqlstore.DB, id string) {
	t.Helper()
	waitFor(t, "event "+id+" to be applied", func() bool { return effects(t, db, id) > 0 })
}

// charge builds a ChargePayment command for order, with n as its amount.
func charge(t *testing.T, order string, n int64) events.Message {
	t.Helper()
	m, err := events.New("test", order, events.ChargePayment{
		OrderID: order, CustomerID: "c-1", Amount: decimal.NewFromInt(n), Currency: "EUR",
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// produce sends records synchronously and returns them with their offsets filled in.
func produce(t *testing.T, cl *kgo.Client, records ...*kgo.Record) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	return records
}

// recorder is a handler that writes one effect row per applied event and counts its invocations
// per event. fail, when set, decides whether an invocation fails (it gets the handler's ctx); the
// effect row is written before the failure, so a rolled-back attempt would be visible if the
// rollback did not happen.
type recorder struct {
	mu    sync.Mutex
	calls map[string]int
	fail  func(ctx context.Context, id string, call int) error
}

func newRecorder(fail func(ctx context.Context, id string, call int) error) *recorder {
	return &recorder{calls: make(map[string]int), fail: fail}
}

func (r *recorder) handle(ctx context.Context, tx *sqlstore.Tx, ev messaging.Event) error {
	e, p := ev.Envelope, ev.Payload
	cp, ok := p.(*events.ChargePayment)
	if !ok {
		return messaging.Permanent(fmt.Errorf("unexpected payload %T", p))
	}
	r.mu.Lock()
	r.calls[e.ID]++
	call, fail := r.calls[e.ID], r.fail
	r.mu.Unlock()
	if _, err := tx.ExecContext(ctx, `INSERT INTO effects (event_id, n) VALUES ($1, $2)`,
		e.ID, cp.Amount.IntPart()); err != nil {
		return err
	}
	if fail != nil {
		return fail(ctx, e.ID, call)
	}
	return nil
}

func (r *recorder) callsFor(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[id]
}

// startConsumer runs c until the returned stop is called (or the test ends); stop waits for Run to
// return and fails the test if it does not within waitTimeout or returns an error.
func startConsumer(t *testing.T, c *messaging.Consumer, brokers []string, extra ...kgo.Opt) (stop func()) {
	t.Helper()
	return start(t, "consumer Run", func(ctx context.Context) error { return c.Run(ctx, brokers, extra...) })
}

// start runs run in the background until the returned stop is called (or the test ends): stop
// cancels run's context, waits for it to return and fails the test, naming it what, if it does
// not within waitTimeout or returns an error.
func start(t *testing.T, what string, run func(ctx context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%s: %v", what, err)
				}
			case <-time.After(waitTimeout):
				t.Errorf("%s did not return within %v of cancellation", what, waitTimeout)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// newLogger returns a logger writing to t.Log until the test ends (and dropping records after, as
// background goroutines may outlive the test body by a moment).
func newLogger(t *testing.T) *slog.Logger {
	h := &tHandler{state: &tState{t: t}}
	t.Cleanup(func() {
		h.state.mu.Lock()
		h.state.done = true
		h.state.mu.Unlock()
	})
	return slog.New(h)
}

type tState struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

type tHandler struct {
	state *tState
	attrs []slog.Attr
}

func (h *tHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *tHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	for _, a := range h.attrs {
		fmt.Fprintf(&b, " %s", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s", a)
		return true
	})
	h.state.mu.Lock()
	defer h.state.mu.Unlock()
	if !h.state.done {
		h.state.t.Log(b.String())
	}
	return nil
}

func (h *tHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &tHandler{state: h.state, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *tHandler) WithGroup(string) slog.Handler { return h }

// consumeAll reads topic from the start with a group-less client until want records have arrived.
func consumeAll(t *testing.T, brokers []string, topic string, want int) []*kgo.Record {
	t.Helper()
	cl := newClient(t, brokers, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var out []*kgo.Record
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records from %s before timing out", len(out), want, topic)
		}
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Logf("fetch %s/%d: %v", topic, p, err)
			}
		})
		out = append(out, fs.Records()...)
	}
	return out
}

// endOffsets is the sum of the end offsets of topic's partitions: how many records it holds.
func endOffsets(t *testing.T, brokers []string, topic string) int64 {
	t.Helper()
	adm := kadm.NewClient(newClient(t, brokers))
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	offs, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	if err := offs.Error(); err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	var sum int64
	offs.Each(func(o kadm.ListedOffset) { sum += o.Offset })
	return sum
}

// header returns the value of the last header named key and whether there was one.
func header(r *kgo.Record, key string) (string, bool) {
	v, ok := "", false
	for _, h := range r.Headers {
		if h.Key == key {
			v, ok = string(h.Value), true
		}
	}
	return v, ok
}

// logRecorder keeps the level and message of every log record.
type logRecorder struct {
	mu      sync.Mutex
	records []string
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	s := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool {
		s += " " + a.String()
		return true
	})
	h.mu.Lock()
	h.records = append(h.records, s)
	h.mu.Unlock()
	return nil
}
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecorder) WithGroup(string) slog.Handler      { return h }

func (h *logRecorder) count(prefix string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.records {
		if len(r) >= len(prefix) && r[:len(prefix)] == prefix {
			n++
		}
	}
	return n
}
