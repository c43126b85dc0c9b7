-- +goose Up
-- One row per charge or refund. UNIQUE (order_id, kind) is what makes a charge happen once per
-- order even when its command is re-sent under a new event id.
CREATE TABLE payments (
    id          TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    kind        TEXT NOT NULL,
    amount      TEXT NOT NULL,
    currency    TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    UNIQUE (order_id, kind)
);

-- +goose Down
DROP TABLE payments;
