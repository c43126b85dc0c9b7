-- +goose Up
-- The simulated provider's customer accounts: one credit line per customer and currency, in
-- integer ten-thousandths (e4) so that checking and using it is one exact, atomic conditional
-- UPDATE on both databases. limit_e4 is fixed when the account is first used.
CREATE TABLE accounts (
    customer_id TEXT NOT NULL,
    currency    TEXT NOT NULL,
    limit_e4    BIGINT NOT NULL,
    used_e4     BIGINT NOT NULL DEFAULT 0,
    updated_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (customer_id, currency),
    CHECK (limit_e4 >= 0),
    CHECK (used_e4 >= 0 AND used_e4 <= limit_e4)
);

-- +goose Down
DROP TABLE accounts;
