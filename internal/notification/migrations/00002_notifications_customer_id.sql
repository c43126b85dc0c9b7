-- +goose Up
-- The order's owner, so that a customer lists only its own orders' notifications. The recipient
-- of the rows written before has always been the order's customer.
ALTER TABLE notifications ADD COLUMN customer_id TEXT;
UPDATE notifications SET customer_id = recipient;

-- +goose Down
ALTER TABLE notifications DROP COLUMN customer_id;
