package app

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/inventory"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/order"
	"github.com/ordersys/ordersys/internal/payment"
	"github.com/ordersys/ordersys/internal/pgtest"
	"github.com/ordersys/ordersys/internal/sqlstore"
)

// TestDuplicateCommandDelivery redelivers, on a running system, the very commands the saga sent
// for two finished orders (same record: key, value and CloudEvents headers, event id included) as
// new records at new offsets of the command topics, as Kafka does after a consumer crashed
// between its commit and its offset commit:
//
//   - an order that completed: its ChargePayment and ReserveStock;
//   - an order that failed OUT_OF_STOCK and was compensated: its ChargePayment, ReserveStock and
//     RefundPayment (a charge applied again here would take money for an order that gave it back).
//
// Once the payment and inventory consumer groups have committed past every copy, nothing may have
// changed: the customer's credit used, the stock of the SKUs, the payments, reservations and
// reservation lines of the orders, the orders' histories, and no service may have answered a
// copy (a second PaymentCharged, PaymentRefunded, StockReserved or StockRejected for a command
// applied already).
//
// The last check is the one only the inbox passes. The payment and inventory handlers decide each
// command against the order's payments rows or reservation, read in the batch's transaction (and
// a concurrent twin would fail on their unique keys and retry), so a copy that got past the inbox
// would still move no money and no stock (see payment.Service.charge and refund,
// inventory.Service.reserve): the balances are guarded by the services' own per-order state, not
// only by the inbox. What the copy would do is be answered again, through the
// outbox, as a fresh event: that is what this test catches when the inbox lets duplicates through.
//
// It runs on `ordersys dev` (SQLite) and on `ordersys serve` of all five services on PostgreSQL.
func TestDuplicateCommandDelivery(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		d := startDev(t)
		testDuplicateCommands(t, "http://"+d.Addr, d.KafkaAddr, d.node.dbs)
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.DSN(t)
		broker, err := startBroker(BrokerConfig{Addr: freeAddr(t), Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer broker.Close()
		s, err := StartServe(t.Context(), ServeConfig{
			Addr: "127.0.0.1:0", DatabaseURL: dsn, Brokers: broker.ListenAddrs(), Partitions: 2,
			ReplicationFactor: 1, Migrate: true, Rules: Rules{DemoCatalog: true}, Log: testLogger(),
		})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		base := "http://" + s.Addr
		waitReady(t, base, http.StatusOK, 10*time.Second)
		testDuplicateCommands(t, base, broker.ListenAddrs()[0], s.node.dbs)
	})
}

func testDuplicateCommands(t *testing.T, base, kafka string, dbs map[string]*sqlstore.DB) {
	ctx := t.Context()
	customer := uuid.NewString()
	completed := placeOrder(t, base, orderBody(customer, "SKU-3", "SKU-4"))
	failed := placeOrder(t, base, orderBody(customer, "SKU-5", "NO-SUCH-SKU"))
	orders := []string{completed, failed}
	waitStatus(t, base, completed, "COMPLETED", 30*time.Second)
	if o := waitStatus(t, base, failed, "FAILED", 30*time.Second); o["failureReason"] != order.ReasonOutOfStock {
		t.Fatalf("order %s failed with %v, want %s", failed, o["failureReason"], order.ReasonOutOfStock)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.ProducerLinger(0),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	// Inventory consumes the completed order's reservation a moment after COMPLETED. Then nothing
	// is left to happen for either order once payment and inventory have consumed every command
	// and every outbox has been published.
	poll(t, 20*time.Second, 20*time.Millisecond, func() (bool, string) {
		status := reservationStatus(t, dbs[inventory.Name], completed)
		return status == inventory.StatusConsumed, fmt.Sprintf("reservation of %s is %q, want CONSUMED", completed, status)
	})
	waitCommandsConsumed(t, adm)
	waitOutboxesEmpty(t, dbs)

	before := snapshotBalances(t, base, dbs, customer, orders)
	total := decimal.NewFromFloat(waitStatus(t, base, completed, "COMPLETED", time.Second)["totalAmount"].(float64))
	if want := total.Shift(4).IntPart(); before.usedE4 != want {
		t.Fatalf("credit used %d e4 before the duplicates, want the completed order's %s (the failed one refunded)",
			before.usedE4, total)
	}

	// The commands as the saga sent them, byte for byte.
	var sent []*kgo.Record
	for _, topic := range []string{events.TopicPaymentCommands, events.TopicInventoryCommands} {
		for _, r := range readTopic(t, kafka, adm, topic, nil) {
			if slices.Contains(orders, string(r.Key)) {
				sent = append(sent, r)
			}
		}
	}
	got := map[string]int{}
	for _, r := range sent {
		got[string(r.Key)+" "+string(envelope(t, r).Type)]++
	}
	for _, want := range []string{
		completed + " " + string(events.ChargePaymentType), completed + " " + string(events.ReserveStockType),
		failed + " " + string(events.ChargePaymentType), failed + " " + string(events.ReserveStockType),
		failed + " " + string(events.RefundPaymentType),
	} {
		if got[want] == 0 {
			t.Fatalf("no %s among the commands the saga sent (%v)", want, got)
		}
	}

	// Where the services' answers end now: anything for these orders after this is an answer to
	// a copy.
	answersFrom := endOffsets(t, adm, events.TopicPaymentEvents, events.TopicInventoryEvents)

	// The copies: same partition, key, value and headers, at new offsets.
	var copies []*kgo.Record
	original := map[*kgo.Record]*kgo.Record{}
	for _, r := range sent {
		c := &kgo.Record{Topic: r.Topic, Partition: r.Partition, Key: r.Key, Value: r.Value, Headers: slices.Clone(r.Headers)}
		copies = append(copies, c)
		original[c] = r
	}
	results := cl.ProduceSync(ctx, copies...)
	if err := results.FirstErr(); err != nil {
		t.Fatal(err)
	}
	// ProduceSync lists results as they complete, not in the order of the records.
	for _, res := range results {
		if r := original[res.Record]; res.Record.Offset <= r.Offset {
			t.Fatalf("copy of %s/%d@%d landed at offset %d", r.Topic, r.Partition, r.Offset, res.Record.Offset)
		}
	}

	// Wait until each service's consumer group has committed past its copies: the consumer
	// commits a record's offset only once the transaction that applied (or skipped) it committed.
	waitCommandsConsumed(t, adm)
	// An answer to a copy would be in an outbox, committed with the consumer's transaction; once
	// the outboxes are empty it is on its topic.
	waitOutboxesEmpty(t, dbs)

	for _, topic := range []string{events.TopicPaymentEvents, events.TopicInventoryEvents} {
		for _, r := range readTopic(t, kafka, adm, topic, answersFrom[topic]) {
			if slices.Contains(orders, string(r.Key)) {
				e := envelope(t, r)
				t.Errorf("a redelivered command was answered again: %s %s for order %s (event %s) on %s/%d@%d",
					e.Source, e.Type, r.Key, e.ID, r.Topic, r.Partition, r.Offset)
			}
		}
	}
	after := snapshotBalances(t, base, dbs, customer, orders)
	if !after.equal(before) {
		t.Errorf("the redelivered commands changed the system:\nbefore %+v\nafter  %+v", before, after)
	}
}

// balances is what a command applied twice could change.
type balances struct {
	usedE4    int64                         // the customer's credit used, USD, in ten-thousandths
	stock     map[string][2]int64           // available and reserved thousandths, by SKU
	payments  map[string]int                // payments rows (any status), by order
	reserved  map[string]int                // reservations rows, by order
	lines     map[string]int                // reservation lines, by order
	histories map[string][]string           // each order's history
	api       map[string][2]decimal.Decimal // the stock as the API shows it
}

func (b balances) equal(o balances) bool {
	return b.usedE4 == o.usedE4 && maps.Equal(b.stock, o.stock) && maps.Equal(b.payments, o.payments) &&
		maps.Equal(b.reserved, o.reserved) && maps.Equal(b.lines, o.lines) &&
		maps.EqualFunc(b.histories, o.histories, slices.Equal) &&
		maps.EqualFunc(b.api, o.api, func(x, y [2]decimal.Decimal) bool { return x[0].Equal(y[0]) && x[1].Equal(y[1]) })
}

func snapshotBalances(t *testing.T, base string, dbs map[string]*sqlstore.DB, customer string, orders []string) balances {
	t.Helper()
	ctx := t.Context()
	b := balances{stock: map[string][2]int64{}, payments: map[string]int{}, reserved: map[string]int{},
		lines: map[string]int{}, histories: map[string][]string{}, api: map[string][2]decimal.Decimal{}}
	pay, inv := dbs[payment.Name], dbs[inventory.Name]
	if err := pay.QueryRowContext(ctx, `SELECT used_e4 FROM accounts WHERE customer_id = $1 AND currency = 'USD'`,
		customer).Scan(&b.usedE4); err != nil {
		t.Fatalf("credit of %s: %v", customer, err)
	}
	for _, sku := range []string{"SKU-3", "SKU-4", "SKU-5"} {
		var s [2]int64
		if err := inv.QueryRowContext(ctx, `SELECT available_milli, reserved_milli FROM stock WHERE sku = $1`,
			sku).Scan(&s[0], &s[1]); err != nil {
			t.Fatalf("stock of %s: %v", sku, err)
		}
		b.stock[sku] = s
		available, reserved := stock(t, base, sku)
		b.api[sku] = [2]decimal.Decimal{available, reserved}
	}
	count := func(db *sqlstore.DB, query, id string) int {
		var n int
		if err := db.QueryRowContext(ctx, query, id).Scan(&n); err != nil {
			t.Fatalf("%s (%s): %v", query, id, err)
		}
		return n
	}
	for _, id := range orders {
		b.payments[id] = count(pay, `SELECT count(*) FROM payments WHERE order_id = $1`, id)
		b.reserved[id] = count(inv, `SELECT count(*) FROM reservations WHERE order_id = $1`, id)
		b.lines[id] = count(inv, `SELECT count(*) FROM reservation_lines WHERE order_id = $1`, id)
		r := do(t, http.MethodGet, base+"/api/v1/orders/"+id, "", "", nil)
		if r.status != http.StatusOK {
			t.Fatalf("order %s: %d %s", id, r.status, r.body)
		}
		b.histories[id] = historyLines(r.json(t))
	}
	return b
}

func reservationStatus(t *testing.T, db *sqlstore.DB, orderID string) string {
	t.Helper()
	var status string
	err := db.QueryRowContext(t.Context(), `SELECT status FROM reservations WHERE order_id = $1`, orderID).Scan(&status)
	if err != nil {
		return err.Error()
	}
	return status
}

// waitCommandsConsumed waits until the payment and inventory consumer groups have committed every
// record now on their command topics.
func waitCommandsConsumed(t *testing.T, adm *kadm.Client) {
	t.Helper()
	groups := map[string]string{events.TopicPaymentCommands: payment.Name, events.TopicInventoryCommands: inventory.Name}
	ends := endOffsets(t, adm, events.TopicPaymentCommands, events.TopicInventoryCommands)
	poll(t, 30*time.Second, 50*time.Millisecond, func() (bool, string) {
		for topic, group := range groups {
			committed, err := adm.FetchOffsets(t.Context(), group)
			if err != nil {
				return false, fmt.Sprintf("fetch offsets of %s: %v", group, err)
			}
			for p, end := range ends[topic] {
				if end == 0 {
					continue
				}
				if o, ok := committed.Lookup(topic, p); !ok || o.Err != nil || o.At < end {
					return false, fmt.Sprintf("group %s has committed %s/%d up to %d (%v), not to its end %d",
						group, topic, p, o.At, o.Err, end)
				}
			}
		}
		return true, ""
	})
}

// waitOutboxesEmpty waits until every service's relay has published what its outbox held.
func waitOutboxesEmpty(t *testing.T, dbs map[string]*sqlstore.DB) {
	t.Helper()
	poll(t, 20*time.Second, 20*time.Millisecond, func() (bool, string) {
		for name, db := range dbs {
			var n int
			if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM outbox`).Scan(&n); err != nil || n > 0 {
				return false, fmt.Sprintf("outbox of %s holds %d rows (%v)", name, n, err)
			}
		}
		return true, ""
	})
}

// endOffsets lists, by topic and partition, the offset the next record will get.
func endOffsets(t *testing.T, adm *kadm.Client, topics ...string) map[string]map[int32]int64 {
	t.Helper()
	ends, err := adm.ListEndOffsets(t.Context(), topics...)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset of %s/%d: %v", o.Topic, o.Partition, o.Err)
		}
		if out[o.Topic] == nil {
			out[o.Topic] = map[int32]int64{}
		}
		out[o.Topic][o.Partition] = o.Offset
	})
	return out
}

// readTopic reads every partition of topic from the offsets in from (the start where missing)
// up to its current end.
func readTopic(t *testing.T, kafka string, adm *kadm.Client, topic string, from map[int32]int64) []*kgo.Record {
	t.Helper()
	ends := endOffsets(t, adm, topic)[topic]
	want := map[int32]kgo.Offset{}
	next := map[int32]int64{}
	for p, end := range ends {
		if start := from[p]; start < end {
			want[p], next[p] = kgo.NewOffset().At(start), start
		}
	}
	if len(want) == 0 {
		return nil
	}
	rd, err := kgo.NewClient(kgo.SeedBrokers(kafka),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: want}))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for {
		done := true
		for p := range want {
			done = done && next[p] >= ends[p]
		}
		if done {
			return out
		}
		fetches := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: at %v of %v", topic, next, ends)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if r.Offset < ends[r.Partition] {
				out = append(out, r)
			}
			next[r.Partition] = max(next[r.Partition], r.Offset+1)
		})
	}
}

// envelope is a record's CloudEvents attributes.
func envelope(t *testing.T, r *kgo.Record) events.Envelope {
	t.Helper()
	e, err := messaging.FromRecord(r)
	if err != nil {
		t.Fatalf("%s/%d@%d: %v", r.Topic, r.Partition, r.Offset, err)
	}
	return e
}
