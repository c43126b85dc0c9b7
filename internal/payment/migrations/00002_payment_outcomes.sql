-- +goose Up
-- A charge attempt is recorded whatever its outcome, so that a re-sent ChargePayment answers the
-- same: status SUCCEEDED (a charge or a refund that happened), DECLINED (the provider refused; no
-- money moved) or VOIDED (a refund arrived before any charge: the order's charge slot is closed,
-- so a late ChargePayment is declined instead of taking money for a compensated order). Only
-- SUCCEEDED rows are payments. Rows written before this migration were all charges or refunds
-- that happened.
ALTER TABLE payments ADD COLUMN status TEXT NOT NULL DEFAULT 'SUCCEEDED';
ALTER TABLE payments ADD COLUMN reason TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE payments DROP COLUMN reason;
ALTER TABLE payments DROP COLUMN status;
