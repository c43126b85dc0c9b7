-- +goose Up
-- The W3C trace context of the request that created the order: its saga's steps taken outside a
-- consumer (the first step, a deadline) continue that trace, and the API names it (traceId).
ALTER TABLE orders ADD COLUMN traceparent TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN tracestate TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE orders DROP COLUMN tracestate;
ALTER TABLE orders DROP COLUMN traceparent;
