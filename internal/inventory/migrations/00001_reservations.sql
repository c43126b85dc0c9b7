-- +goose Up
-- One reservation per order; its lines say what it holds.
CREATE TABLE reservations (
    id         TEXT PRIMARY KEY,
    order_id   TEXT NOT NULL UNIQUE,
    status     TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE reservation_lines (
    reservation_id TEXT NOT NULL REFERENCES reservations (id),
    sku            TEXT NOT NULL,
    quantity       TEXT NOT NULL,
    PRIMARY KEY (reservation_id, sku)
);

-- +goose Down
DROP TABLE reservation_lines;
DROP TABLE reservations;
