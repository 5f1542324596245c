-- Record shop schema. Money is integer cents; stock can never go negative. Foreign keys are
-- enforced because every connection sets PRAGMA foreign_keys = ON. They use the default
-- NO ACTION, which refuses deleting a referenced row just like RESTRICT but reports it as a
-- foreign-key error (RESTRICT reports a trigger error, code 1811).
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    CONSTRAINT customers_email_key UNIQUE (email)
);

CREATE TABLE disks (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    artist TEXT NOT NULL,
    genre TEXT NOT NULL,
    year INTEGER NOT NULL,
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
    stock INTEGER NOT NULL CHECK (stock >= 0)
);
CREATE INDEX disks_artist_idx ON disks (artist);
CREATE INDEX disks_title_idx ON disks (title);
CREATE INDEX disks_genre_idx ON disks (genre);
CREATE INDEX disks_price_cents_idx ON disks (price_cents);

CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    disk_id INTEGER NOT NULL REFERENCES disks (id),
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_cents INTEGER NOT NULL CHECK (unit_price_cents >= 0),
    total_cents INTEGER NOT NULL CHECK (total_cents >= 0),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX orders_customer_id_idx ON orders (customer_id, id);
CREATE INDEX orders_disk_id_idx ON orders (disk_id);
