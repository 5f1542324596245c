-- Record shop schema (MySQL 8 / MariaDB 10.5+). Money is integer cents; stock can never go
-- negative. utf8mb4 with the server's default collation: a binary one (utf8mb4_bin) would make
-- the driver report text columns as VARBINARY. Comparisons that matter are case-normalised by
-- the application (emails are stored lower-cased, filters compare LOWER(column)).
CREATE TABLE customers (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(200) NOT NULL,
    email VARCHAR(254) NOT NULL,
    CONSTRAINT customers_email_key UNIQUE (email)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE disks (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    title VARCHAR(200) NOT NULL,
    artist VARCHAR(200) NOT NULL,
    genre VARCHAR(50) NOT NULL,
    year INT NOT NULL,
    price_cents BIGINT NOT NULL,
    stock BIGINT NOT NULL,
    CONSTRAINT disks_price_cents_check CHECK (price_cents >= 0),
    CONSTRAINT disks_stock_check CHECK (stock >= 0),
    INDEX disks_artist_idx (artist),
    INDEX disks_title_idx (title),
    INDEX disks_genre_idx (genre),
    INDEX disks_price_cents_idx (price_cents)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE orders (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    customer_id BIGINT NOT NULL,
    disk_id BIGINT NOT NULL,
    quantity INT NOT NULL,
    unit_price_cents BIGINT NOT NULL,
    total_cents BIGINT NOT NULL,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    CONSTRAINT orders_quantity_check CHECK (quantity > 0),
    CONSTRAINT orders_unit_price_cents_check CHECK (unit_price_cents >= 0),
    CONSTRAINT orders_total_cents_check CHECK (total_cents >= 0),
    CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE RESTRICT,
    CONSTRAINT orders_disk_fk FOREIGN KEY (disk_id) REFERENCES disks (id) ON DELETE RESTRICT,
    INDEX orders_customer_id_idx (customer_id, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
