-- +goose Up
-- One shipment per order.
CREATE TABLE shipments (
    id              TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL UNIQUE,
    carrier         TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    country         TEXT NOT NULL,
    city            TEXT NOT NULL,
    address_line1   TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL
);

-- +goose Down
DROP TABLE shipments;
