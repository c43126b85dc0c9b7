-- +goose Up
-- One message per order per outcome.
CREATE TABLE notifications (
    id          TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    message     TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    UNIQUE (order_id, kind)
);

-- +goose Down
DROP TABLE notifications;
