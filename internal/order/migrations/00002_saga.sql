-- +goose Up
-- What the saga has done and still awaits for each order, so that compensation undoes exactly
-- what was done. version makes every saga step a compare-and-set on the order row.
ALTER TABLE orders ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN charged INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN reserved INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN refund_pending INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN release_pending INTEGER NOT NULL DEFAULT 0;
-- The terminal status compensation leads to (FAILED or CANCELLED), and why.
ALTER TABLE orders ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN outcome_reason TEXT NOT NULL DEFAULT '';
-- When the step in progress times out, and how many times its command was sent.
ALTER TABLE orders ADD COLUMN step_deadline TIMESTAMP;
ALTER TABLE orders ADD COLUMN step_attempts INTEGER NOT NULL DEFAULT 0;
CREATE INDEX orders_step_deadline ON orders (step_deadline);

-- +goose Down
DROP INDEX orders_step_deadline;
ALTER TABLE orders DROP COLUMN step_attempts;
ALTER TABLE orders DROP COLUMN step_deadline;
ALTER TABLE orders DROP COLUMN outcome_reason;
ALTER TABLE orders DROP COLUMN outcome;
ALTER TABLE orders DROP COLUMN release_pending;
ALTER TABLE orders DROP COLUMN refund_pending;
ALTER TABLE orders DROP COLUMN reserved;
ALTER TABLE orders DROP COLUMN charged;
ALTER TABLE orders DROP COLUMN version;
