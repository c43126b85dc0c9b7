package app

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordersys/ordersys/internal/asyncapitest"
	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
)

// TestEventContract drives orders down the saga's paths (completed, with and without a trace;
// payment declined; out of stock; unshippable; cancelled), then reads every record of every topic,
// dead-letter topics included, back with a plain Kafka client: each validates against
// api/asyncapi.yaml, the schema its ce_type names. A record the test makes malformed on purpose is
// refused by that check, and dead-lettered with the headers the document gives a dead letter.
func TestEventContract(t *testing.T) {
	contract, err := asyncapitest.Load()
	if err != nil {
		t.Fatal(err)
	}
	d := startDev(t)
	base := "http://" + d.Addr
	setStock(t, base, "LIMITED", "5")

	traced, _ := placeTracedOrder(t, base, testOrder{lines: map[string]string{"SKU-1": "2", "SKU-2": "0.125"}}.body(),
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "vendor=contract")
	ids := []string{
		traced,
		placeOrder(t, base, testOrder{lines: map[string]string{"SKU-3": "1"}, price: "19.99"}.body()),
		placeOrder(t, base, testOrder{lines: map[string]string{"SKU-1": "1"}, price: "20000"}.body()),   // declined
		placeOrder(t, base, testOrder{lines: map[string]string{"SKU-1": "1", "LIMITED": "100"}}.body()), // out of stock
		placeOrder(t, base, testOrder{lines: map[string]string{"SKU-1": "3"}, country: "Atlantis"}.body()),
	}
	// Cancelled at once: the saga has at most just sent ChargePayment, so the order is compensated
	// and ends CANCELLED; had the saga beaten the cancel (COMPLETED, the cancel 409), another try.
	var cancelled string
	for try := 0; try < 5 && cancelled == ""; try++ {
		id := placeOrder(t, base, testOrder{lines: map[string]string{"SKU-4": "1"}}.body())
		r := do(t, http.MethodPost, base+"/api/v1/orders/"+id+"/cancel", "", uuid.NewString(), nil)
		switch {
		case r.status != http.StatusAccepted && r.status != http.StatusConflict:
			t.Fatalf("cancel: %d %s", r.status, r.body)
		case waitTerminal(t, base, id, 30*time.Second)["status"] == "CANCELLED":
			cancelled = id
		}
	}
	if cancelled == "" {
		t.Fatal("no order cancelled in 5 tries: each completed before its cancel")
	}
	ids = append(ids, cancelled)
	want := []string{"COMPLETED", "COMPLETED", "FAILED PAYMENT_DECLINED", "FAILED OUT_OF_STOCK", "FAILED SHIPMENT_FAILED"}
	for i, id := range ids[:len(want)] {
		o := waitTerminal(t, base, id, 30*time.Second)
		got := o["status"].(string)
		if reason, _ := o["failureReason"].(string); reason != "" {
			got += " " + reason
		}
		if got != want[i] {
			t.Errorf("order %s ended %s, want %s", id, got, want[i])
		}
	}

	// A ReserveStock without its orderId: a CloudEvent of a known type whose payload the
	// document refuses, and which inventory dead-letters.
	cl, err := kgo.NewClient(kgo.SeedBrokers(d.KafkaAddr), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	junk := events.Message{Topic: events.TopicInventoryCommands, Key: uuid.NewString(), Envelope: events.Envelope{
		ID: uuid.NewString(), Type: events.ReserveStockType, Source: "contract-test", Time: time.Now().UTC(),
		Data: []byte(`{"lines":[{"sku":"SKU-1","quantity":1}]}`)}}
	junk.Envelope.Subject = junk.Key
	if err := cl.ProduceSync(t.Context(), messaging.ToRecord(junk)).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// Every type the orders above make, and the dead letter. The records of an order that has
	// ended may still be in its service's outbox, so read until they are all there.
	required := []events.Type{
		events.OrderCreatedType, events.ChargePaymentType, events.PaymentChargedType, events.ReserveStockType,
		events.StockReservedType, events.CreateShipmentType, events.ShipmentCreatedType, events.OrderCompletedType,
		events.PaymentDeclinedType, events.OrderFailedType,
		events.StockRejectedType, events.RefundPaymentType, events.PaymentRefundedType,
		events.ShipmentFailedType, events.ReleaseStockType, events.StockReleasedType, events.OrderCancelledType,
	}
	var records []*kgo.Record
	seen := map[events.Type]int{}
	poll(t, 30*time.Second, 100*time.Millisecond, func() (bool, string) {
		records = readEveryTopic(t, d.KafkaAddr)
		clear(seen)
		deadLetters := 0
		for _, r := range records {
			if strings.HasSuffix(r.Topic, ".dlq") {
				deadLetters++
				continue
			}
			seen[events.Type(messaging.HeaderValue(r, "ce_type"))]++
		}
		var missing []events.Type
		for _, typ := range required {
			if seen[typ] == 0 {
				missing = append(missing, typ)
			}
		}
		return len(missing) == 0 && deadLetters > 0, fmt.Sprintf("no record of %v, %d dead letters", missing, deadLetters)
	})
	t.Logf("%d records; types seen: %v", len(records), seen)

	traceHeaders, checked := 0, 0
	for _, r := range records {
		where := fmt.Sprintf("%s:%d:%d (%s)", r.Topic, r.Partition, r.Offset, messaging.HeaderValue(r, "ce_type"))
		m, err := contract.CheckRecord(r)
		if messaging.HeaderValue(r, "ce_id") == junk.Envelope.ID && r.Topic == junk.Topic {
			if err == nil || !strings.Contains(err.Error(), "orderId") {
				t.Errorf("%s: the ReserveStock without an orderId passed the contract check (%v)", where, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v\nheaders %v\nvalue %s", where, err, r.Headers, r.Value)
			continue
		}
		checked++
		if m == contract.DeadLetter {
			if messaging.HeaderValue(r, "ce_id") != junk.Envelope.ID || messaging.HeaderValue(r, "x-ordersys-consumer") != "inventory" {
				t.Errorf("%s: an unexpected dead letter, of %s by %s: %s", where, messaging.HeaderValue(r, "ce_id"),
					messaging.HeaderValue(r, "x-ordersys-consumer"), messaging.HeaderValue(r, "x-ordersys-error"))
			}
			continue
		}
		if messaging.HeaderValue(r, "ce_subject") == traced {
			if messaging.HeaderValue(r, "ce_traceparent") == "" || messaging.HeaderValue(r, "ce_tracestate") != "vendor=contract" {
				t.Errorf("%s: the traced order's record lacks its trace: %v", where, r.Headers)
			}
			traceHeaders++
		}
	}
	if traceHeaders == 0 || checked < len(required) {
		t.Errorf("checked %d records, %d of them the traced order's", checked, traceHeaders)
	}
}

// readEveryTopic reads every record of every event and dead-letter topic, from the start to the
// end each partition had when called.
func readEveryTopic(t *testing.T, broker string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	topics := slices.Clone(events.AllTopics)
	for _, topic := range events.AllTopics {
		topics = append(topics, events.DLQ(topic))
	}
	reader, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	ends, err := kadm.NewClient(reader).ListEndOffsets(ctx, topics...)
	if err != nil {
		t.Fatal(err)
	}
	if err := ends.Error(); err != nil {
		t.Fatal(err)
	}
	from := map[string]map[int32]kgo.Offset{}
	left := 0
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			if from[o.Topic] == nil {
				from[o.Topic] = map[int32]kgo.Offset{}
			}
			from[o.Topic][o.Partition] = kgo.NewOffset().AtStart()
			left++
		}
	})
	if left == 0 {
		return nil
	}
	reader.AddConsumePartitions(from)
	var out []*kgo.Record
	for left > 0 {
		fetches := reader.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("reading the topics back: %v", err)
		}
		fetches.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fetches.EachRecord(func(r *kgo.Record) {
			end, _ := ends.Lookup(r.Topic, r.Partition)
			if r.Offset >= end.Offset {
				return // produced after the ends were listed: left for the next read
			}
			out = append(out, r)
			if r.Offset == end.Offset-1 {
				left--
			}
		})
	}
	return out
}
