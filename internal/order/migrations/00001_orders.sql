-- +goose Up
-- Money is stored as decimal text: exact, and the same in SQLite and PostgreSQL.
CREATE TABLE orders (
    id             TEXT PRIMARY KEY,
    customer_id    TEXT NOT NULL,
    status         TEXT NOT NULL,
    failure_reason TEXT NOT NULL DEFAULT '',
    currency       TEXT NOT NULL,
    total_amount   TEXT NOT NULL,
    ship_country   TEXT NOT NULL,
    ship_city      TEXT NOT NULL,
    ship_line1     TEXT NOT NULL,
    ship_line2     TEXT NOT NULL DEFAULT '',
    ship_postal    TEXT NOT NULL DEFAULT '',
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL
);
CREATE INDEX orders_created ON orders (created_at, id);
CREATE INDEX orders_customer ON orders (customer_id, created_at);
CREATE INDEX orders_status ON orders (status, created_at);

CREATE TABLE order_items (
    order_id   TEXT NOT NULL REFERENCES orders (id),
    line       INTEGER NOT NULL,
    sku        TEXT NOT NULL,
    quantity   TEXT NOT NULL,
    unit_price TEXT NOT NULL,
    line_total TEXT NOT NULL,
    PRIMARY KEY (order_id, line)
);

-- Every status an order has been in, in order, with why.
CREATE TABLE order_history (
    order_id TEXT NOT NULL REFERENCES orders (id),
    seq      INTEGER NOT NULL,
    status   TEXT NOT NULL,
    reason   TEXT NOT NULL DEFAULT '',
    at       TIMESTAMP NOT NULL,
    PRIMARY KEY (order_id, seq)
);

-- The stored answer to each Idempotency-Key, written in the same transaction as the order.
CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code  INTEGER NOT NULL,
    response     TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (scope, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE order_history;
DROP TABLE order_items;
DROP TABLE orders;
