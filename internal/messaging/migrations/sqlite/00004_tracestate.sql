-- +goose Up
-- The W3C tracestate that goes with each row's traceparent (ce_tracestate on the record).
ALTER TABLE outbox ADD COLUMN tracestate TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox_dead_letters ADD COLUMN tracestate TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE outbox_dead_letters DROP COLUMN tracestate;
ALTER TABLE outbox DROP COLUMN tracestate;
