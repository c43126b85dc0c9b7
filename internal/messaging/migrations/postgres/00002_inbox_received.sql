-- +goose Up
-- Retention deletes inbox rows by age; without this every round scans the whole inbox.
CREATE INDEX inbox_received ON inbox (received_at);

-- +goose Down
DROP INDEX inbox_received;
