-- +goose Up
-- outbox: messages committed with the state change that caused them, published by the relay
-- in id order. AUTOINCREMENT keeps ids increasing even after the newest rows are deleted.
CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    topic      TEXT NOT NULL,
    msg_key    TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    event_type TEXT NOT NULL,
    source     TEXT NOT NULL,
    event_time TIMESTAMP NOT NULL,
    traceparent TEXT NOT NULL DEFAULT '',
    payload    TEXT NOT NULL
);

-- inbox: one row per (consumer, event) applied; a second delivery finds its row and is skipped.
CREATE TABLE inbox (
    consumer    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

-- +goose Down
DROP TABLE inbox;
DROP TABLE outbox;
