//! What the queries give back: each table's rows as stored, and why an order was not placed.
//!
//! The row types live apart from the queries that read them because the batch queues carry
//! them too (`read_batch` answers with a [`DiskRow`], `order_batch` with an [`OrderRow`] or an
//! [`OrderRejected`]), and [`super::Db`] holds those queues: kept next to their queries, which
//! take a `Db`, they would make `db` and its children import each other.

use chrono::{DateTime, Utc};

use super::list::HasId;
use crate::domain::{CustomerFields, DiskFields};

/// A stored customer, as read from the `customers` table.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CustomerRow {
    pub id: i64,
    pub name: String,
    /// Stored lower-cased; unique.
    pub email: String,
}

impl HasId for CustomerRow {
    fn id(&self) -> i64 {
        self.id
    }
}

impl CustomerRow {
    pub(super) fn new(id: i64, fields: &CustomerFields) -> Self {
        Self {
            id,
            name: fields.name().to_owned(),
            email: fields.email().as_str().to_owned(),
        }
    }
}

/// A disk for sale, as read from the `disks` table.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DiskRow {
    pub id: i64,
    pub title: String,
    pub artist: String,
    pub genre: String,
    pub year: i32,
    /// Price in integer cents (never a float).
    pub price_cents: i64,
    /// Units in stock; never negative.
    pub stock: i64,
}

impl HasId for DiskRow {
    fn id(&self) -> i64 {
        self.id
    }
}

impl DiskRow {
    pub(super) fn new(id: i64, fields: &DiskFields) -> Self {
        Self {
            id,
            title: fields.title().to_owned(),
            artist: fields.artist().to_owned(),
            genre: fields.genre().to_owned(),
            year: fields.year(),
            price_cents: fields.price_cents(),
            stock: fields.stock(),
        }
    }
}

/// A placed order, as read from the `orders` table.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderRow {
    pub id: i64,
    pub customer_id: i64,
    pub disk_id: i64,
    pub quantity: i32,
    /// The disk's price when the order was placed, in cents.
    pub unit_price_cents: i64,
    /// `quantity * unit_price_cents`.
    pub total_cents: i64,
    pub created_at: DateTime<Utc>,
}

impl HasId for OrderRow {
    fn id(&self) -> i64 {
        self.id
    }
}

/// Why an order was not placed (the caller maps these to 404/409).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderRejected {
    UnknownCustomer,
    UnknownDisk,
    /// Fewer units than asked for; `available` is the stock seen after the attempt.
    InsufficientStock {
        available: i64,
    },
}
