-- Idempotency-Key on POST /orders (docs/service.md, "Retrying an order safely"): the key a
-- client sent with the order it placed. NULL for an order placed without a key, and for one
-- whose key has expired (the app releases it).
-- ascii_bin: keys are visible ASCII (the app checks), compared byte for byte as on Postgres
-- and SQLite; the tables' default utf8mb4 collation would make `abc` and `ABC` one key. The
-- column is never read back (only compared), so the driver's view of binary collations (see
-- the initial schema) does not matter here. 255 ASCII bytes keep the index entry small. The
-- app binds only keys it validated as ASCII (a non-ASCII value compared with this column would
-- be an "illegal mix of collations").
-- No partial indexes here: unkeyed orders add a (customer_id, NULL) entry, and NULLs never
-- collide in a UNIQUE index.
ALTER TABLE orders
    ADD COLUMN idempotency_key VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NULL,
    ADD UNIQUE INDEX orders_customer_idempotency_key_idx (customer_id, idempotency_key);
