package app

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/messaging"
	"github.com/ordersys/ordersys/internal/payment"
)

// TestDeadLetters sends a malformed message to a command topic with a plain Kafka client: it is
// dead-lettered with its story in headers, the orders behind it complete, and the operator can
// list and replay dead letters over HTTP and from the command line.
func TestDeadLetters(t *testing.T) {
	d := startDev(t)
	base := "http://" + d.Addr
	cl, err := kgo.NewClient(kgo.SeedBrokers(d.KafkaAddr), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := t.Context()
	sendMalformed(t, d.KafkaAddr, 1)
	id := placeOrder(t, base, orderBody(uuid.NewString(), "SKU-1"))
	waitStatus(t, base, id, "COMPLETED", 30*time.Second)

	var letters []map[string]any
	pollGET(t, base+"/api/v1/admin/dlq?topic=payments.commands.dlq", 20*time.Second, func(body map[string]any) (bool, string) {
		for _, item := range body["items"].([]any) {
			letters = append(letters, item.(map[string]any))
		}
		return len(letters) > 0, "no dead letter on payments.commands.dlq"
	})
	if len(letters) != 1 {
		t.Fatalf("dead letters = %v, want the one malformed message", letters)
	}
	dl := letters[0]
	if dl["consumer"] != payment.Name || dl["originalTopic"] != events.TopicPaymentCommands || dl["key"] != "junk" ||
		dl["attempts"].(float64) != 1 || !strings.Contains(dl["error"].(string), "CloudEvents") ||
		dl["state"] != "pending" || dl["stateAt"] != nil || dl["payload"] != "{not json" ||
		fmt.Sprint(dl["headers"]) != "map[]" {
		t.Errorf("dead letter %v", dl)
	}

	// Replay an applied command as if it had been dead-lettered: it keeps its event id, so
	// neither this replay nor a second one charges the order again.
	charge := chargeCommand(t, d, id)
	if err := cl.ProduceSync(ctx, charge).FirstErr(); err != nil {
		t.Fatal(err)
	}
	replayID := events.DLQ(events.TopicPaymentCommands) + ":0:1"
	for range 2 {
		r := do(t, http.MethodPost, base+"/api/v1/admin/dlq/"+replayID+"/replay", "", "", nil)
		if r.status != http.StatusAccepted {
			t.Fatalf("replay: %d %s", r.status, r.body)
		}
		// The original message as it was: its CloudEvents headers, and its body as JSON.
		if dl := r.json(t); dl["state"] != "replayed" || dl["stateAt"] == nil ||
			dl["headers"].(map[string]any)["ce_type"] != string(events.ChargePaymentType) ||
			dl["payload"].(map[string]any)["orderId"] != id {
			t.Errorf("replayed dead letter %v", dl)
		}
	}
	// It can no longer be discarded: its message went back to its topic.
	if r := do(t, http.MethodPost, base+"/api/v1/admin/dlq/"+replayID+"/discard", "", "", nil); r.status != http.StatusConflict ||
		!strings.Contains(string(r.body), "replayed") {
		t.Errorf("discard of a replayed dead letter: %d %s, want 409", r.status, r.body)
	}
	var out bytes.Buffer
	if err := Run(ctx, []string{"ordersys", "dlq", "replay", "--all", "--topic", "payments.commands.dlq",
		"--kafka-brokers", d.KafkaAddr}, func(string) string { return "" }, &out, &out); err != nil {
		t.Fatalf("dlq replay --all: %v: %s", err, out.String())
	}
	if !strings.Contains(out.String(), "replayed 2 dead letters") {
		t.Errorf("dlq replay --all said %q", out.String())
	}
	if r := do(t, http.MethodPost, base+"/api/v1/admin/dlq/payments.commands.dlq:0:99/replay", "", "", nil); r.status != http.StatusNotFound {
		t.Errorf("replay of an unknown id: %d %s", r.status, r.body)
	}
	// A topic that does not exist has no dead letters to list: 404, as for replaying one.
	if r := do(t, http.MethodGet, base+"/api/v1/admin/dlq?topic=nope.dlq", "", "", nil); r.status != http.StatusNotFound ||
		r.header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("list of an unknown topic: %d %s, want a 404 problem", r.status, r.body)
	}
	// The malformed message, replayed by --all, is dead-lettered again, being no better than
	// before. An order placed now is charged after every replay on the one partition, so once it
	// completes the replays have all been consumed.
	waitDeadLetters(t, base, 2)
	waitStatus(t, base, placeOrder(t, base, orderBody(uuid.NewString(), "SKU-2")), "COMPLETED", 30*time.Second)
	payments, err := d.node.services[payment.Name].(*payment.Service).PaymentsFor(ctx, id, "")
	if err != nil || len(payments) != 1 {
		t.Errorf("payments after replays = %v (%v), want the one charge", payments, err)
	}

	// The malformed message, dead-lettered again, is discarded: it stays listed, discarded, for
	// every process (the CLI reads the brokers itself), is not replayed, and replay --all leaves it.
	var again string
	for _, dl := range deadLetters(t, base) {
		if dl["key"] == "junk" && dl["state"] == "pending" {
			again = dl["id"].(string)
		}
	}
	discard := func() map[string]any {
		t.Helper()
		r := do(t, http.MethodPost, base+"/api/v1/admin/dlq/"+again+"/discard", "", "", nil)
		if r.status != http.StatusOK {
			t.Fatalf("discard %q: %d %s", again, r.status, r.body)
		}
		return r.json(t)
	}
	discarded := discard()
	if discarded["id"] != again || discarded["state"] != "discarded" || discarded["stateAt"] == nil {
		t.Errorf("discarded dead letter %v", discarded)
	}
	if second := discard(); second["state"] != "discarded" || second["stateAt"] != discarded["stateAt"] {
		t.Errorf("second discard answered %v, want it as it was: %v", second, discarded)
	}
	states := map[string]string{}
	for _, dl := range deadLetters(t, base) {
		states[dl["id"].(string)] = dl["state"].(string)
	}
	if states[again] != "discarded" || states[replayID] != "replayed" || len(states) != 3 {
		t.Errorf("states after the discard: %v", states)
	}
	r := do(t, http.MethodPost, base+"/api/v1/admin/dlq/"+again+"/replay", "", "", nil)
	if r.status != http.StatusConflict || r.header.Get("Content-Type") != "application/problem+json" ||
		!strings.Contains(string(r.body), "discarded") {
		t.Errorf("replay of a discarded dead letter: %d %s, want a 409 problem", r.status, r.body)
	}
	out.Reset()
	if err := Run(ctx, []string{"ordersys", "dlq", "list", "--kafka-brokers", d.KafkaAddr},
		func(string) string { return "" }, &out, &out); err != nil {
		t.Fatalf("dlq list: %v: %s", err, out.String())
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[0] == again && f[2] != "discarded" {
			t.Errorf("dlq list shows %s as %s: %s", again, f[2], out.String())
		}
	}
	if !strings.Contains(out.String(), "STATE") {
		t.Errorf("dlq list has no STATE column: %s", out.String())
	}
	out.Reset()
	if err := Run(ctx, []string{"ordersys", "dlq", "replay", "--all", "--kafka-brokers", d.KafkaAddr},
		func(string) string { return "" }, &out, &out); err != nil {
		t.Fatalf("dlq replay --all: %v: %s", err, out.String())
	}
	if !strings.Contains(out.String(), "replayed 2 dead letters") || !strings.Contains(out.String(), "left 1 discarded") {
		t.Errorf("dlq replay --all with one discarded said %q", out.String())
	}
	if r := do(t, http.MethodPost, base+"/api/v1/admin/dlq/nope.dlq:0:0/discard", "", "", nil); r.status != http.StatusNotFound {
		t.Errorf("discard of an unknown id: %d %s", r.status, r.body)
	}
}

// deadLetters lists every dead letter over HTTP.
func deadLetters(t *testing.T, base string) []map[string]any {
	t.Helper()
	r := do(t, http.MethodGet, base+"/api/v1/admin/dlq", "", "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("list dead letters: %d %s", r.status, r.body)
	}
	var out []map[string]any
	for _, item := range r.json(t)["items"].([]any) {
		out = append(out, item.(map[string]any))
	}
	return out
}

// chargeCommand finds the ChargePayment the saga sent for an order on payments.commands and
// copies it, event id and all, as a dead letter on payments.commands.dlq.
func chargeCommand(t *testing.T, d *Dev, orderID string) *kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(d.KafkaAddr), kgo.ConsumeTopics(events.TopicPaymentCommands),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("the order's ChargePayment is not on payments.commands")
		}
		for _, r := range fetches.Records() {
			if string(r.Key) != orderID {
				continue
			}
			r.Topic = events.DLQ(events.TopicPaymentCommands)
			r.Headers = append(r.Headers,
				kgo.RecordHeader{Key: messaging.HdrDLQTopic, Value: []byte(events.TopicPaymentCommands)},
				kgo.RecordHeader{Key: messaging.HdrDLQConsumer, Value: []byte(payment.Name)},
				kgo.RecordHeader{Key: messaging.HdrDLQError, Value: []byte("simulated")},
				kgo.RecordHeader{Key: messaging.HdrDLQAttempts, Value: []byte("8")},
			)
			return &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value, Headers: r.Headers}
		}
	}
}

func waitDeadLetters(t *testing.T, base string, want int) {
	t.Helper()
	pollGET(t, base+"/api/v1/admin/dlq?topic=payments.commands.dlq&size=100", 20*time.Second, func(body map[string]any) (bool, string) {
		malformed := 0
		for _, item := range body["items"].([]any) {
			if item.(map[string]any)["key"] == "junk" {
				malformed++
			}
		}
		return malformed == want, fmt.Sprintf("%d malformed dead letters (want %d)", malformed, want)
	})
}

// TestOutboxDeadLetters: a reply the broker refuses for good (larger than its topic allows) is
// moved from the payment service's outbox to its dead letters, so that it no longer holds the
// outbox back; the DLQ API lists it under the pseudo-topic outbox.dlq (and with every dead letter);
// once the operator raises the limit, replaying it puts it back in the outbox, the relay publishes
// it and the order completes. Unknown outbox dead letters are 404, like any other.
func TestOutboxDeadLetters(t *testing.T) {
	d := startDev(t)
	base := "http://" + d.Addr
	cl, err := kgo.NewClient(kgo.SeedBrokers(d.KafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	setLimit := func(n int) {
		t.Helper()
		v := strconv.Itoa(n)
		rs, err := kadm.NewClient(cl).AlterTopicConfigs(t.Context(),
			[]kadm.AlterConfig{{Name: "max.message.bytes", Value: &v}}, events.TopicPaymentEvents)
		if err == nil {
			_, err = rs.On(events.TopicPaymentEvents, nil)
		}
		if err != nil {
			t.Fatalf("max.message.bytes of %s: %v", events.TopicPaymentEvents, err)
		}
	}
	setLimit(100) // smaller than any record

	id := placeOrder(t, base, orderBody(uuid.NewString(), "SKU-1"))
	var dl map[string]any
	pollGET(t, base+"/api/v1/admin/dlq?topic="+messaging.OutboxDLQ, 20*time.Second, func(body map[string]any) (bool, string) {
		items := body["items"].([]any)
		if len(items) > 0 {
			dl = items[0].(map[string]any)
		}
		return len(items) == 1, fmt.Sprintf("%d outbox dead letters, want the order's PaymentCharged", len(items))
	})
	if dl["topic"] != messaging.OutboxDLQ || !strings.HasPrefix(dl["id"].(string), messaging.OutboxDLQ+":") ||
		dl["originalTopic"] != events.TopicPaymentEvents || dl["key"] != id ||
		dl["eventType"] != string(events.PaymentChargedType) || dl["consumer"] != payment.Name+"-relay" ||
		dl["attempts"].(float64) != messaging.DefaultMaxRefusals || !strings.Contains(dl["error"].(string), "MESSAGE_TOO_LARGE") ||
		dl["originalPartition"].(float64) != -1 || dl["originalOffset"].(float64) != -1 || dl["state"] != "pending" ||
		dl["headers"].(map[string]any)["ce_subject"] != id || dl["payload"].(map[string]any)["orderId"] != id {
		t.Errorf("outbox dead letter %v", dl)
	}
	// Listed with every dead letter too.
	pollGET(t, base+"/api/v1/admin/dlq", 20*time.Second, func(body map[string]any) (bool, string) {
		for _, item := range body["items"].([]any) {
			if item.(map[string]any)["id"] == dl["id"] {
				return true, ""
			}
		}
		return false, "the outbox dead letter is not in the list of all dead letters"
	})
	if o := do(t, http.MethodGet, base+"/api/v1/orders/"+id, "", "", nil).json(t); o["status"] != "PAYMENT" {
		t.Errorf("order %s is %v, want PAYMENT while its PaymentCharged is a dead letter", id, o["status"])
	}
	for _, unknown := range []string{messaging.OutboxDLQ + ":" + uuid.NewString(), messaging.OutboxDLQ + ":"} {
		if r := do(t, http.MethodPost, base+"/api/v1/admin/dlq/"+unknown+"/replay", "", "", nil); r.status != http.StatusNotFound {
			t.Errorf("replay of unknown %s: %d %s, want 404", unknown, r.status, r.body)
		}
	}

	setLimit(1 << 20)
	r := do(t, http.MethodPost, base+"/api/v1/admin/dlq/"+dl["id"].(string)+"/replay", "", "", nil)
	if r.status != http.StatusAccepted || r.json(t)["id"] != dl["id"] {
		t.Fatalf("replay: %d %s", r.status, r.body)
	}
	waitStatus(t, base, id, "COMPLETED", 30*time.Second)
	// Replayed, it stays listed so, and cannot be discarded.
	listed := do(t, http.MethodGet, base+"/api/v1/admin/dlq?topic="+messaging.OutboxDLQ, "", "", nil).json(t)["items"].([]any)
	if len(listed) != 1 || listed[0].(map[string]any)["state"] != "replayed" || listed[0].(map[string]any)["stateAt"] == nil {
		t.Errorf("outbox dead letters after the replay: %v, want it, replayed", listed)
	}
	if r := do(t, http.MethodPost, base+"/api/v1/admin/dlq/"+dl["id"].(string)+"/discard", "", "", nil); r.status != http.StatusConflict {
		t.Errorf("discard of a replayed outbox dead letter: %d %s, want 409", r.status, r.body)
	}
	var out bytes.Buffer
	if err := Run(t.Context(), []string{"ordersys", "dlq", "list", "--topic", messaging.OutboxDLQ,
		"--kafka-brokers", d.KafkaAddr}, func(string) string { return "" }, &out, &out); err == nil ||
		!strings.Contains(err.Error(), "/api/v1/admin/dlq?topic="+messaging.OutboxDLQ) {
		t.Errorf("dlq list --topic %s: %v, want an error pointing at the HTTP API", messaging.OutboxDLQ, err)
	}
}

// sendMalformed produces n records to payments.commands, keyed "junk", that are not CloudEvents:
// the payment consumer dead-letters each at once.
func sendMalformed(t *testing.T, kafkaAddr string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddr), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for range n {
		if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: events.TopicPaymentCommands, Key: []byte("junk"),
			Value: []byte("{not json")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}
