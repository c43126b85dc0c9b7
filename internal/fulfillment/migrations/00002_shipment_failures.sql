-- +goose Up
-- Orders that cannot be shipped, with why: a re-sent CreateShipment answers ShipmentFailed again
-- (and never creates a shipment) even if the supported countries change meanwhile.
CREATE TABLE shipment_failures (
    order_id   TEXT PRIMARY KEY,
    reason     TEXT NOT NULL,
    country    TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- +goose Down
DROP TABLE shipment_failures;
