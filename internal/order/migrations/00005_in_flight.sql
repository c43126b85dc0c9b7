-- +goose Up
-- The orders in flight, newest first. The stuck-orders list (GET /api/v1/orders?stuck=true) reads
-- and counts them here, so that it costs what is in flight (which admission bounds), not what has
-- ended: only orders with a step deadline are in it, and an order loses its deadline when it ends.
-- orders_step_deadline is not enough for SQLite, which has no statistics to tell that few orders
-- have a deadline: it walks orders_created backwards through every order that ended instead, and
-- counts through it too (PostgreSQL, with its statistics, reads either index).
CREATE INDEX orders_in_flight ON orders (created_at, id, step_deadline) WHERE step_deadline IS NOT NULL;

-- +goose Down
DROP INDEX orders_in_flight;
