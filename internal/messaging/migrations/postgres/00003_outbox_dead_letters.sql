-- +goose Up
-- outbox_dead_letters: outbox rows the broker refused for good (too large, say), moved here by the
-- relay, in one transaction with their delete from the outbox, once the broker had refused each
-- RelayConfig.MaxRefusals times, so that the rows behind them flow. The DLQ API lists them under
-- the pseudo-topic outbox.dlq; a replay moves one back into the outbox.
CREATE TABLE outbox_dead_letters (
    id               TEXT PRIMARY KEY, -- a UUID; the API names it "outbox.dlq:<id>"
    outbox_id        BIGINT NOT NULL,  -- its id in the outbox, as the relay's logs named it
    topic            TEXT NOT NULL,
    msg_key          TEXT NOT NULL,
    event_id         TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    source           TEXT NOT NULL,
    event_time       TIMESTAMP NOT NULL,
    traceparent      TEXT NOT NULL DEFAULT '',
    payload          TEXT NOT NULL,
    error            TEXT NOT NULL,    -- the broker's last refusal
    attempts         INTEGER NOT NULL, -- how many times the broker refused it
    dead_lettered_at TIMESTAMP NOT NULL
);

-- +goose Down
DROP TABLE outbox_dead_letters;
