\set n random(1, 1000000000)
BEGIN;
INSERT INTO orders VALUES (md5(:n::text || clock_timestamp()::text), 'PENDING', '1022.17', now());
INSERT INTO outbox (topic, msg_key, payload) VALUES ('orders.events', :n::text, '{"orderId":"x","totalAmount":1022.17}');
SELECT pg_notify('order_outbox', '');
COMMIT;
