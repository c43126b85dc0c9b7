-- +goose Up
-- Where to POST which order events. secret signs every delivery; after a rotation the previous
-- secret signs too, until previous_until, so receivers can switch without losing a message.
CREATE TABLE webhook_subscriptions (
    id              TEXT PRIMARY KEY,
    url             TEXT NOT NULL,
    events          TEXT NOT NULL, -- space-separated event names (order.completed ...)
    description     TEXT NOT NULL,
    secret          TEXT NOT NULL,
    previous_secret TEXT NOT NULL DEFAULT '',
    previous_until  TIMESTAMP,
    disabled_at     TIMESTAMP,
    disabled_reason TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMP NOT NULL
);

-- One delivery per subscription, event and order, written in the transaction that consumed the
-- event: the delivery loop's outbox. id is the webhook-id, the same on every attempt. attempts
-- also versions the row: a loop claims a delivery by raising it.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL,
    event           TEXT NOT NULL,
    order_id        TEXT NOT NULL,
    body            TEXT NOT NULL,
    state           TEXT NOT NULL, -- PENDING, DELIVERED, FAILED
    attempts        INTEGER NOT NULL DEFAULT 0,
    retry_from      INTEGER NOT NULL DEFAULT 0, -- attempts when the budget began (a resend begins a new one)
    next_attempt_at TIMESTAMP NOT NULL,
    give_up_at      TIMESTAMP NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    UNIQUE (subscription_id, event, order_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'PENDING';
CREATE INDEX webhook_deliveries_by_subscription ON webhook_deliveries (subscription_id, created_at);
CREATE INDEX webhook_deliveries_ended ON webhook_deliveries (updated_at) WHERE state <> 'PENDING';

-- What each attempt got: status 0 is no answer (error says why).
CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    at          TIMESTAMP NOT NULL,
    status_code INTEGER NOT NULL,
    latency_ms  INTEGER NOT NULL,
    error       TEXT NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_subscriptions;
