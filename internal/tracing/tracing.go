// Package tracing carries an order's OpenTelemetry trace through ordersys: from the API request
// that creates it, through the outbox and each Kafka record (as W3C trace context), to every
// consumer that handles one of its messages, so that one order is one trace. Spans are recorded and
// exported only when an OTLP endpoint is configured (Setup); without one, trace context still
// flows, so that a caller's traceparent is kept, at no measurable cost.
package tracing

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
)

// Attributes of ordersys's own: the order a span is about, and the type of the event it handles.
const (
	OrderID   = attribute.Key("ordersys.order_id")
	EventType = attribute.Key("ordersys.event_type")
)

// Tracer is ordersys's tracer, from the global provider (a no-op one until Setup installs one).
func Tracer() trace.Tracer { return otel.Tracer("github.com/ordersys/ordersys") }

// w3c is the propagation format of trace context in headers, outbox rows and records.
var w3c = propagation.TraceContext{}

// Setup installs a tracer provider that exports spans with OTLP over HTTP when endpoint is set or
// the standard OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is; the SDK
// honours OTEL_TRACES_SAMPLER (default: follow the caller's decision, else sample everything) and
// OTEL_SERVICE_NAME (default: service). With nothing set it installs nothing. shutdown flushes
// what is buffered.
func Setup(ctx context.Context, endpoint, service string, getenv func(string) string) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(w3c)
	if endpoint == "" && getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return func(context.Context) error { return nil }, nil
	}
	var opts []otlptracehttp.Option
	if endpoint != "" {
		opts = append(opts, otlptracehttp.WithEndpointURL(endpoint))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(service)))
	if err != nil {
		return nil, err
	}
	if name := getenv("OTEL_SERVICE_NAME"); name != "" {
		res, err = resource.Merge(res, resource.NewSchemaless(semconv.ServiceName(name)))
		if err != nil {
			return nil, err
		}
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	return func(ctx context.Context) error { return errors.Join(tp.Shutdown(ctx)) }, nil
}

// Inject returns the W3C trace context of ctx's span: traceparent and tracestate ("" for none).
func Inject(ctx context.Context) (traceparent, tracestate string) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return "", "" // the usual case with tracing off: no carrier to make per message
	}
	c := propagation.MapCarrier{}
	w3c.Inject(ctx, c)
	return c["traceparent"], c["tracestate"]
}

// Extract returns ctx carrying the span context that traceparent and tracestate name, as the
// parent of the spans started from it; ctx itself when traceparent is empty or malformed.
func Extract(ctx context.Context, traceparent, tracestate string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return w3c.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent, "tracestate": tracestate})
}

// TraceID is the trace id that traceparent names ("" for none).
func TraceID(traceparent string) string {
	sc := trace.SpanContextFromContext(Extract(context.Background(), traceparent, ""))
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}
