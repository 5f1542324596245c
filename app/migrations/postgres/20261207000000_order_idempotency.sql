-- Idempotency-Key on POST /orders (docs/service.md, "Retrying an order safely"): the key a
-- client sent with the order it placed. NULL for an order placed without a key, and for one
-- whose key has expired (the app releases it). Adding a nullable column without a default
-- rewrites nothing.
ALTER TABLE orders ADD COLUMN idempotency_key VARCHAR(255);
-- One order per customer and key: the index decides between two requests racing with one key.
-- Partial: unkeyed orders (every order siege places, many per batch statement) add no entry,
-- so the hot path writes no more index than before. NULLs would not collide anyway. A lookup
-- `idempotency_key = $2` implies IS NOT NULL, so the planner uses it for that too.
CREATE UNIQUE INDEX orders_customer_idempotency_key_idx ON orders (customer_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
