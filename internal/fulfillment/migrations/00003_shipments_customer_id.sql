-- +goose Up
-- The order's owner, so that a customer lists only its own orders' shipments. Rows shipped
-- before the saga sent it have none (NULL), and only an admin sees them.
ALTER TABLE shipments ADD COLUMN customer_id TEXT;

-- +goose Down
ALTER TABLE shipments DROP COLUMN customer_id;
