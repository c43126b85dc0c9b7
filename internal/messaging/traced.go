package messaging

import (
	"context"
	"strconv"

	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordersys/ordersys/internal/sqlstore"
	"github.com/ordersys/ordersys/internal/tracing"
)

// Traced runs h for each event in a span of the trace the event's producer was in (its
// ce_traceparent), so that what the handler sends continues that trace too.
func Traced(consumer string) func(Handler) Handler {
	return func(h Handler) Handler {
		return func(ctx context.Context, tx *sqlstore.Tx, e Event) error {
			topic := e.Envelope.Type.Topic()
			ctx = tracing.Extract(ctx, e.Envelope.TraceParent, e.Envelope.TraceState)
			ctx, span := tracing.Tracer().Start(ctx, "process "+topic, trace.WithSpanKind(trace.SpanKindConsumer),
				trace.WithAttributes(semconv.MessagingSystemKafka, semconv.MessagingOperationTypeProcess,
					semconv.MessagingDestinationName(topic), semconv.MessagingConsumerGroupName(consumer),
					semconv.MessagingDestinationPartitionID(strconv.Itoa(int(e.Partition))),
					semconv.MessagingKafkaOffset(int(e.Offset)), semconv.MessagingMessageID(e.Envelope.ID),
					tracing.OrderID.String(e.Envelope.Subject), tracing.EventType.String(string(e.Envelope.Type))))
			defer span.End()
			err := h(ctx, tx, e)
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			}
			return err
		}
	}
}
