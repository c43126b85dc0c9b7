-- +goose Up
-- Stock per SKU, in exact thousandths of a unit (quantities have at most 3 fraction digits), so
-- that reserving is one conditional UPDATE doing integer arithmetic on either database.
CREATE TABLE stock (
    sku             TEXT PRIMARY KEY,
    available_milli BIGINT NOT NULL CHECK (available_milli >= 0),
    reserved_milli  BIGINT NOT NULL CHECK (reserved_milli >= 0),
    updated_at      TIMESTAMP NOT NULL
);

-- A reservation's status is RESERVED, REJECTED, RELEASED or CONSUMED. A rejected one records
-- which SKU failed and why, so that a repeated command gets the same answer.
ALTER TABLE reservations ADD COLUMN reject_sku TEXT;
ALTER TABLE reservations ADD COLUMN reject_reason TEXT;
ALTER TABLE reservations ADD COLUMN updated_at TIMESTAMP;

-- What each line holds, in thousandths. NULL on lines written before stock was tracked: those
-- held no stock, so releasing or consuming them gives none back.
ALTER TABLE reservation_lines ADD COLUMN quantity_milli BIGINT;

-- +goose Down
ALTER TABLE reservation_lines DROP COLUMN quantity_milli;
ALTER TABLE reservations DROP COLUMN updated_at;
ALTER TABLE reservations DROP COLUMN reject_reason;
ALTER TABLE reservations DROP COLUMN reject_sku;
DROP TABLE stock;
