package app

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordersys/ordersys/internal/events"
	"github.com/ordersys/ordersys/internal/tracing"
)

// TestOneOrderIsOneTrace sends a create with a W3C traceparent and follows the order through a
// compensation (its stock is short: charged, rejected, refunded) and its notification: every
// span that names the order, in all five services, through the outbox and the broker, is in the
// caller's trace; the create answers with it, the order names it, and every Kafka record of the
// order carries it as ce_traceparent.
func TestOneOrderIsOneTrace(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	d := startDev(t)
	base := "http://" + d.Addr
	setStock(t, base, "SHORT", "1")
	const caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	id, answer := placeTracedOrder(t, base, testOrder{lines: map[string]string{"SHORT": "2"}}.body(), caller, "ordersys=test")
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	if got := tracing.TraceID(answer.Get("traceparent")); got != traceID {
		t.Errorf("create answered traceparent %q, want trace %s", answer.Get("traceparent"), traceID)
	}
	o := waitTerminal(t, base, id, 30*time.Second)
	if o["status"] != "FAILED" || o["failureReason"] != "OUT_OF_STOCK" {
		t.Fatalf("order ended %v %v, want FAILED OUT_OF_STOCK", o["status"], o["failureReason"])
	}
	waitNotified(t, base, id, 10*time.Second)
	if o["traceId"] != traceID {
		t.Errorf("order traceId %v, want %s", o["traceId"], traceID)
	}

	// Every consumer span of the order is in the trace: one per message the order caused.
	var handled []string
	poll(t, 10*time.Second, 20*time.Millisecond, func() (bool, string) {
		handled = handled[:0]
		for _, s := range spans.GetSpans() {
			if s.SpanKind != trace.SpanKindConsumer || !hasAttr(s, string(tracing.OrderID), id) {
				continue
			}
			if s.SpanContext.TraceID().String() != traceID {
				t.Fatalf("span %q of the order is in trace %s, want %s", s.Name, s.SpanContext.TraceID(), traceID)
			}
			handled = append(handled, attr(s, string(tracing.EventType)))
		}
		slices.Sort(handled)
		for _, want := range []events.Type{events.ChargePaymentType, events.PaymentChargedType, events.ReserveStockType,
			events.StockRejectedType, events.RefundPaymentType, events.PaymentRefundedType, events.OrderFailedType} {
			if !slices.Contains(handled, string(want)) {
				return false, "no span handling " + string(want) + " yet; have " + strings.Join(handled, ", ")
			}
		}
		return true, ""
	})
	published := 0 // relay rounds that sent a message of the order: linked to its trace
	for _, s := range spans.GetSpans() {
		if s.Name == "POST /api/v1/orders/create" && s.SpanContext.TraceID().String() != traceID {
			t.Errorf("the create's span is in trace %s", s.SpanContext.TraceID())
		}
		if s.Name == "send outbox" && slices.ContainsFunc(s.Links, func(l sdktrace.Link) bool {
			return l.SpanContext.TraceID().String() == traceID
		}) {
			published++
		}
	}
	if published == 0 {
		t.Error("no relay publish span links to the order's trace")
	}

	// A plain Kafka client sees the trace on every record of the order.
	cl, err := kgo.NewClient(kgo.SeedBrokers(d.KafkaAddr), kgo.ConsumeTopics(events.AllTopics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	records := 0
	for ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if string(r.Key) != id {
				return
			}
			records++
			var tp, ts string
			for _, h := range r.Headers {
				switch h.Key {
				case "ce_traceparent":
					tp = string(h.Value)
				case "ce_tracestate":
					ts = string(h.Value)
				}
			}
			if tracing.TraceID(tp) != traceID || ts != "ordersys=test" {
				t.Errorf("record on %s at %d has ce_traceparent %q, ce_tracestate %q; want trace %s, state ordersys=test",
					r.Topic, r.Offset, tp, ts, traceID)
			}
		})
	}
	// OrderCreated, ChargePayment, PaymentCharged, ReserveStock, StockRejected, RefundPayment,
	// PaymentRefunded, OrderFailed.
	if records < 8 {
		t.Errorf("%d records of the order, want at least 8", records)
	}
}

func attr(s tracetest.SpanStub, key string) string {
	for _, a := range s.Attributes {
		if string(a.Key) == key {
			return a.Value.Emit()
		}
	}
	return ""
}

func hasAttr(s tracetest.SpanStub, key, value string) bool { return attr(s, key) == value }
