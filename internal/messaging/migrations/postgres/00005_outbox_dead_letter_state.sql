-- +goose Up
-- What an operator made of an outbox dead letter: pending, replayed (it went back into the outbox;
-- the row stays, so that it is listed as replayed) or discarded (never replayed). state_at: when.
ALTER TABLE outbox_dead_letters ADD COLUMN state TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE outbox_dead_letters ADD COLUMN state_at TIMESTAMP;

-- +goose Down
ALTER TABLE outbox_dead_letters DROP COLUMN state_at;
ALTER TABLE outbox_dead_letters DROP COLUMN state;
