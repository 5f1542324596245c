//! What the service accepts, as types that can only hold valid values.
//!
//! Each input has two types: the shape a client sends (`CustomerInput`, `DiskQuery`…, every
//! field raw JSON or text, unknown fields rejected, so that serde never stops at the first bad
//! field) and the validated value built from it with `TryFrom` (`CustomerFields`,
//! `DiskSearch`…), whose fields are private: once one exists, it is valid. A failed
//! conversion is a [`ValidationError`] naming *every* offending field; `error` answers it 422.
//!
//! Nothing here knows HTTP or SQL: routes parse and convert, `db` takes the validated values.

mod customer;
mod disk;
mod idempotency_key;
mod order;
mod page;
mod validation;

pub use customer::{CustomerFields, CustomerInput, Email, MAX_EMAIL_CHARS, MAX_NAME_CHARS};
pub use disk::{
    DiskFields, DiskFilter, DiskInput, DiskQuery, DiskSearch, MAX_ARTIST_CHARS, MAX_GENRE_CHARS,
    MAX_PRICE_CENTS, MAX_STOCK, MAX_TITLE_CHARS, YEARS,
};
pub use idempotency_key::IdempotencyKey;
pub use order::{NewOrder, OrderInput, MAX_QUANTITY};
pub use page::{Page, PageQuery, Start, DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET};
pub use validation::ValidationError;
