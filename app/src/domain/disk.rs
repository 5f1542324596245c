//! A disk's fields (the body of `POST /disks` and `PUT /disks/{id}`) and the `GET /disks`
//! search (filters and page), validated.

use std::ops::RangeInclusive;

use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::page::{paged_query, Page};
use super::validation::{ValidationError, Validator};

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_ARTIST_CHARS: usize = 200;
pub const MAX_GENRE_CHARS: usize = 50;
pub const YEARS: RangeInclusive<i64> = 1850..=2100;
pub const MAX_PRICE_CENTS: i64 = 100_000_000;
pub const MAX_STOCK: i64 = 1_000_000_000;

/// Body of `POST /disks` and `PUT /disks/{id}` (a full replacement). Unknown fields are
/// rejected (422).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiskInput {
    /// 1 to 200 characters.
    #[schema(value_type = String, required = true, example = "Kind of Blue", min_length = 1, max_length = 200)]
    pub title: Option<Value>,
    /// 1 to 200 characters.
    #[schema(value_type = String, required = true, example = "Miles Davis", min_length = 1, max_length = 200)]
    pub artist: Option<Value>,
    /// 1 to 50 characters.
    #[schema(value_type = String, required = true, example = "jazz", min_length = 1, max_length = 50)]
    pub genre: Option<Value>,
    /// 1850 to 2100.
    #[schema(value_type = i32, required = true, example = 1959, minimum = 1850, maximum = 2100)]
    pub year: Option<Value>,
    /// Integer cents, 0 to 100,000,000.
    #[schema(value_type = i64, required = true, example = 2990, minimum = 0, maximum = 100_000_000)]
    pub price_cents: Option<Value>,
    /// Units in stock, 0 to 1,000,000,000.
    #[schema(value_type = i64, required = true, example = 12, minimum = 0, maximum = 1_000_000_000)]
    pub stock: Option<Value>,
}

/// Validated disk fields (create and full replace).
#[derive(Debug, Clone)]
pub struct DiskFields {
    title: String,
    artist: String,
    genre: String,
    year: i32,
    price_cents: i64,
    stock: i64,
}

impl DiskFields {
    pub fn title(&self) -> &str {
        &self.title
    }

    pub fn artist(&self) -> &str {
        &self.artist
    }

    pub fn genre(&self) -> &str {
        &self.genre
    }

    /// In [`YEARS`].
    pub fn year(&self) -> i32 {
        self.year
    }

    /// 0 to [`MAX_PRICE_CENTS`]: a price times an order's quantity cannot overflow.
    pub fn price_cents(&self) -> i64 {
        self.price_cents
    }

    /// 0 to [`MAX_STOCK`].
    pub fn stock(&self) -> i64 {
        self.stock
    }
}

impl TryFrom<DiskInput> for DiskFields {
    type Error = ValidationError;

    /// Validates every field, naming each one that is wrong.
    fn try_from(input: DiskInput) -> Result<Self, ValidationError> {
        let mut v = Validator::default();
        let title = v.text("title", input.title, MAX_TITLE_CHARS);
        let artist = v.text("artist", input.artist, MAX_ARTIST_CHARS);
        let genre = v.text("genre", input.genre, MAX_GENRE_CHARS);
        let year = v
            .int("year", input.year, YEARS)
            .and_then(|y| i32::try_from(y).ok());
        let price_cents = v.int("price_cents", input.price_cents, 0..=MAX_PRICE_CENTS);
        let stock = v.int("stock", input.stock, 0..=MAX_STOCK);
        match (title, artist, genre, year, price_cents, stock) {
            (
                Some(title),
                Some(artist),
                Some(genre),
                Some(year),
                Some(price_cents),
                Some(stock),
            ) if v.is_empty() => Ok(Self {
                title,
                artist,
                genre,
                year,
                price_cents,
                stock,
            }),
            _ => Err(v.into_error()),
        }
    }
}

paged_query! {
    /// `GET /disks` query string as received. Unknown parameters are rejected (422).
    pub struct DiskQuery {
        /// Case-insensitive substring of the artist.
        pub artist: Option<String>,
        /// Case-insensitive substring of the title.
        pub title: Option<String>,
        /// Genre, case-insensitive exact match.
        pub genre: Option<String>,
        /// Lowest price in cents (inclusive).
        #[param(value_type = Option<i64>, minimum = 0)]
        pub min_price_cents: Option<String>,
        /// Highest price in cents (inclusive).
        #[param(value_type = Option<i64>, minimum = 0)]
        pub max_price_cents: Option<String>,
        /// `true`: only disks with stock; `false`: only sold-out disks.
        #[param(value_type = Option<bool>)]
        pub in_stock: Option<String>,
    }
    after: "Keyset cursor: only disks with an id above this one (the previous page's \
            `next_after`).\nNot together with `offset`.",
    total: "`true`: also count every matching disk (`total` in the answer). Off by default: \
            an exact\ncount reads every match.",
}

/// Validated list filters; the default filters nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskFilter {
    artist: Option<String>,
    title: Option<String>,
    genre: Option<String>,
    min_price_cents: Option<i64>,
    max_price_cents: Option<i64>,
    in_stock: Option<bool>,
}

impl DiskFilter {
    /// Case-insensitive substring of the artist, lower-cased.
    pub fn artist(&self) -> Option<&str> {
        self.artist.as_deref()
    }

    /// Case-insensitive substring of the title, lower-cased.
    pub fn title(&self) -> Option<&str> {
        self.title.as_deref()
    }

    /// Case-insensitive exact genre, lower-cased.
    pub fn genre(&self) -> Option<&str> {
        self.genre.as_deref()
    }

    /// Never above [`max_price_cents`](Self::max_price_cents) when both are given.
    pub fn min_price_cents(&self) -> Option<i64> {
        self.min_price_cents
    }

    pub fn max_price_cents(&self) -> Option<i64> {
        self.max_price_cents
    }

    /// `Some(true)`: stock > 0; `Some(false)`: stock = 0.
    pub fn in_stock(&self) -> Option<bool> {
        self.in_stock
    }
}

/// A validated `GET /disks`: what to match and which page of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskSearch {
    filter: DiskFilter,
    page: Page,
}

impl DiskSearch {
    pub fn filter(&self) -> &DiskFilter {
        &self.filter
    }

    pub fn page(&self) -> Page {
        self.page
    }
}

impl TryFrom<&DiskQuery> for DiskSearch {
    type Error = ValidationError;

    /// Validates every parameter, naming each one that is wrong.
    fn try_from(query: &DiskQuery) -> Result<Self, ValidationError> {
        let mut v = Validator::default();
        let page = Page::parse(query.raw(), &mut v);
        let filter = DiskFilter::parse(query, &mut v);
        match (page, filter) {
            (Some(page), Some(filter)) if v.is_empty() => Ok(Self { filter, page }),
            _ => Err(v.into_error()),
        }
    }
}

impl DiskFilter {
    /// Validates the filter parameters, recording problems in `v` (shared with the page's, so
    /// one error names them all); `None` when any is wrong.
    fn parse(query: &DiskQuery, v: &mut Validator) -> Option<Self> {
        let text = |v: &mut Validator, field, raw: &Option<String>, max| match raw {
            None => Some(None),
            Some(raw) => v.query_text(field, raw, max).map(Some),
        };
        let price = |v: &mut Validator, field, raw: &Option<String>| match raw {
            None => Some(None),
            Some(raw) => v.query_int(field, raw, 0..=MAX_PRICE_CENTS).map(Some),
        };
        let artist = text(v, "artist", &query.artist, MAX_ARTIST_CHARS);
        let title = text(v, "title", &query.title, MAX_TITLE_CHARS);
        let genre = text(v, "genre", &query.genre, MAX_GENRE_CHARS);
        let min_price_cents = price(v, "min_price_cents", &query.min_price_cents);
        let max_price_cents = price(v, "max_price_cents", &query.max_price_cents);
        let in_stock = match &query.in_stock {
            None => Some(None),
            Some(raw) => v.query_bool("in_stock", raw).map(Some),
        };
        if let (Some(Some(min)), Some(Some(max))) = (min_price_cents, max_price_cents) {
            if min > max {
                v.reject("min_price_cents", "must not exceed max_price_cents");
            }
        }
        Some(Self {
            artist: artist?,
            title: title?,
            genre: genre?,
            min_price_cents: min_price_cents?,
            max_price_cents: max_price_cents?,
            in_stock: in_stock?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(body: Value) -> DiskInput {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn a_valid_disk_is_kept_as_sent() {
        let fields = DiskFields::try_from(input(json!({
            "title": "Kind of Blue", "artist": "Miles Davis", "genre": "Jazz",
            "year": 1959, "price_cents": 2990, "stock": 0
        })))
        .unwrap();
        assert_eq!(fields.title(), "Kind of Blue");
        assert_eq!(
            fields.genre(),
            "Jazz",
            "only search filters are lower-cased"
        );
        assert_eq!(
            (fields.year(), fields.price_cents(), fields.stock()),
            (1959, 2990, 0)
        );
    }

    #[test]
    fn every_field_out_of_range_is_named() {
        let err = DiskFields::try_from(input(json!({
            "title": "x".repeat(MAX_TITLE_CHARS + 1), "artist": null, "genre": 7,
            "year": 1849, "price_cents": MAX_PRICE_CENTS + 1, "stock": -1
        })))
        .unwrap_err();
        assert_eq!(
            err.fields().keys().map(String::as_str).collect::<Vec<_>>(),
            ["artist", "genre", "price_cents", "stock", "title", "year"]
        );
        assert_eq!(err.fields()["year"], "must be an integer from 1850 to 2100");
    }

    #[test]
    fn search_filters_are_lower_cased_and_checked_together() {
        let search = DiskSearch::try_from(&DiskQuery {
            artist: Some("Miles".into()),
            in_stock: Some("1".into()),
            min_price_cents: Some("100".into()),
            max_price_cents: Some("100".into()),
            ..DiskQuery::default()
        })
        .unwrap();
        assert_eq!(search.filter().artist(), Some("miles"));
        assert_eq!(search.filter().in_stock(), Some(true));
        assert_eq!(search.page().limit(), crate::domain::page::DEFAULT_LIMIT);

        let err = DiskSearch::try_from(&DiskQuery {
            min_price_cents: Some("200".into()),
            max_price_cents: Some("100".into()),
            in_stock: Some("maybe".into()),
            title: Some(String::new()),
            limit: Some("0".into()),
            ..DiskQuery::default()
        })
        .unwrap_err();
        assert_eq!(
            err.fields().keys().map(String::as_str).collect::<Vec<_>>(),
            ["in_stock", "limit", "min_price_cents", "title"]
        );
        assert_eq!(
            err.fields()["min_price_cents"],
            "must not exceed max_price_cents"
        );
    }
}
