-- +goose Up
-- A CancelShipment sent and not yet answered: from FULFILLMENT on, a cancel waits for the
-- fulfillment service to say whether the order shipped.
ALTER TABLE orders ADD COLUMN cancel_pending INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE orders DROP COLUMN cancel_pending;
