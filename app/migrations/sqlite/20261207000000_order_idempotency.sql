-- Idempotency-Key on POST /orders (docs/service.md, "Retrying an order safely"): the key a
-- client sent with the order it placed. NULL for an order placed without a key, and for one
-- whose key has expired (the app releases it). TEXT compares byte for byte (BINARY
-- collation), so keys are case-sensitive as on the other backends; the app checks the length
-- (at most 255), as for every other text column here.
ALTER TABLE orders ADD COLUMN idempotency_key TEXT;
-- One order per customer and key: the index decides between two requests racing with one key.
-- Partial, as on Postgres: unkeyed orders add no entry. SQLite uses a partial index for a
-- query whose `idempotency_key = ?` term implies the IS NOT NULL.
CREATE UNIQUE INDEX orders_customer_idempotency_key_idx ON orders (customer_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
