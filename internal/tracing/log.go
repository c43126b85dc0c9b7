package tracing

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// LogHandler adds the trace_id and span_id of the context a line is logged with (InfoContext and
// the like), so that a log line about an order leads to its trace.
func LogHandler(h slog.Handler) slog.Handler { return logHandler{h} }

type logHandler struct{ slog.Handler }

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return logHandler{h.Handler.WithAttrs(as)}
}
func (h logHandler) WithGroup(name string) slog.Handler { return logHandler{h.Handler.WithGroup(name)} }

// SpanID is the span id that traceparent names ("" for none): the span that sent a message.
func SpanID(traceparent string) string {
	sc := trace.SpanContextFromContext(Extract(context.Background(), traceparent, ""))
	if !sc.HasSpanID() {
		return ""
	}
	return sc.SpanID().String()
}
