//! Pagination: `?limit=&offset=` or `?limit=&after=` as received, and the validated [`Page`].
//!
//! Two ways to walk a list, both ordered by id:
//! - **keyset** (`after=<id>`): the rows after the last id the client saw. The database seeks
//!   straight to it through the primary key (or the filter's index), so page 500 costs what page
//!   1 costs. Every answer carries `next_after`, the cursor for the next page (`null` on the
//!   last one).
//! - **offset** (`offset=<n>`): kept for clients that jump to a page number; the database still
//!   reads and discards the `n` rows before the page, so deep offsets cost more.
//!
//! `total` (how many rows match) is counted only when asked for with `total=true`: an exact
//! `COUNT(*)` reads every matching row, which is most of the work of a deep or broad list.

use super::validation::{ValidationError, Validator};

/// Default and bounds of `limit`; `offset` bounds.
pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;
pub const MAX_OFFSET: i64 = 1_000_000_000;

/// Declares a list's query string as received: its own filter fields, then the four page
/// parameters every list takes (`limit`, `offset`, `after`, `total`), written once here, and
/// `raw()`, the page parameters for `Page::parse`. `after:` and `total:` are those two
/// parameters' documentation, which names what the list holds (a literal each: utoipa reads
/// only literal doc strings). Unknown parameters are rejected (422).
///
/// A macro, not a `PageQuery` field under `#[serde(flatten)]`: serde cannot reject unknown
/// fields through a flattened struct, and an unknown parameter must stay a 422.
macro_rules! paged_query {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident { $($filters:tt)* }
        after: $after_doc:tt,
        total: $total_doc:tt $(,)?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
        #[serde(deny_unknown_fields)]
        #[into_params(parameter_in = Query)]
        $vis struct $name {
            $($filters)*
            /// Items per page, 1 to 100 (default 20). Out of range is a 422, not a clamp.
            #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
            pub limit: Option<String>,
            /// Items to skip (default 0). Not together with `after`.
            #[param(value_type = Option<i64>, minimum = 0)]
            pub offset: Option<String>,
            #[doc = $after_doc]
            #[param(value_type = Option<i64>, minimum = 0)]
            pub after: Option<String>,
            #[doc = $total_doc]
            #[param(value_type = Option<bool>)]
            pub total: Option<String>,
        }

        impl $name {
            /// The page parameters, for `Page::parse`.
            pub(crate) fn raw(&self) -> $crate::domain::page::RawPage<'_> {
                $crate::domain::page::RawPage {
                    limit: self.limit.as_deref(),
                    offset: self.offset.as_deref(),
                    after: self.after.as_deref(),
                    total: self.total.as_deref(),
                }
            }
        }
    };
}
pub(crate) use paged_query;

paged_query! {
    /// `?limit=&offset=&after=&total=` as received.
    pub struct PageQuery {}
    after: "Keyset cursor: only items with an id above this one (the previous page's \
            `next_after`).\nNot together with `offset`.",
    total: "`true`: also count every matching item (`total` in the answer). Off by default: \
            an exact\ncount reads every match.",
}

/// The raw pagination parameters of any list query (shared by [`PageQuery`] and the list
/// queries that add filters to it).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RawPage<'a> {
    pub limit: Option<&'a str>,
    pub offset: Option<&'a str>,
    pub after: Option<&'a str>,
    pub total: Option<&'a str>,
}

/// Where a page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Skip this many rows (0: the first page).
    Offset(i64),
    /// Rows with an id above this one.
    After(i64),
}

/// A validated page: `limit` in 1..=[`MAX_LIMIT`], a start, and whether to count the total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    limit: i64,
    start: Start,
    count_total: bool,
}

impl Page {
    pub fn limit(&self) -> i64 {
        self.limit
    }

    /// The rows to fetch: one more than the page, to learn whether a next page exists
    /// without counting.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    pub fn start(&self) -> Start {
        self.start
    }

    /// The offset to skip (0 for a keyset page).
    pub fn offset(&self) -> i64 {
        match self.start {
            Start::Offset(offset) => offset,
            Start::After(_) => 0,
        }
    }

    /// The keyset cursor, if the page has one.
    pub fn after(&self) -> Option<i64> {
        match self.start {
            Start::After(id) => Some(id),
            Start::Offset(_) => None,
        }
    }

    pub fn count_total(&self) -> bool {
        self.count_total
    }

    /// The first page of `limit` items, without a total (for tests and internal callers).
    pub fn first(limit: i64) -> Self {
        Self {
            limit: limit.clamp(1, MAX_LIMIT),
            start: Start::Offset(0),
            count_total: false,
        }
    }

    /// The same page, asking for the exact total too.
    pub fn with_total(self) -> Self {
        Self {
            count_total: true,
            ..self
        }
    }

    /// Validates the parameters, recording problems in `v` (shared with the other parameters
    /// of the same query, so one error names them all).
    pub(crate) fn parse(raw: RawPage<'_>, v: &mut Validator) -> Option<Self> {
        let limit = match raw.limit {
            None => Some(DEFAULT_LIMIT),
            Some(text) => v.query_int("limit", text, 1..=MAX_LIMIT),
        };
        let start = match (raw.offset, raw.after) {
            (Some(_), Some(_)) => {
                v.reject("after", "use either `offset` or `after`, not both");
                None
            }
            (Some(text), None) => v
                .query_int("offset", text, 0..=MAX_OFFSET)
                .map(Start::Offset),
            (None, Some(text)) => v.query_int("after", text, 0..=i64::MAX).map(Start::After),
            (None, None) => Some(Start::Offset(0)),
        };
        let count_total = match raw.total {
            None => Some(false),
            Some(text) => v.query_bool("total", text),
        };
        Some(Self {
            limit: limit?,
            start: start?,
            count_total: count_total?,
        })
    }
}

impl TryFrom<&PageQuery> for Page {
    type Error = ValidationError;

    fn try_from(query: &PageQuery) -> Result<Self, ValidationError> {
        let mut v = Validator::default();
        Page::parse(query.raw(), &mut v).ok_or_else(|| v.into_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw<'a>(limit: Option<&'a str>, offset: Option<&'a str>) -> RawPage<'a> {
        RawPage {
            limit,
            offset,
            ..RawPage::default()
        }
    }

    #[test]
    fn limits_outside_bounds_are_rejected_not_clamped() {
        let mut v = Validator::default();
        assert!(Page::parse(raw(Some("0"), None), &mut v).is_none());
        assert!(Page::parse(raw(Some("101"), Some("-1")), &mut v).is_none());
        let err = v.into_error();
        assert!(err.fields().contains_key("limit"));
        assert!(err.fields().contains_key("offset"));
        let mut v = Validator::default();
        let page = Page::parse(raw(None, None), &mut v).unwrap();
        assert_eq!(
            (page.limit, page.start, page.count_total),
            (DEFAULT_LIMIT, Start::Offset(0), false)
        );
        assert_eq!(page.fetch(), DEFAULT_LIMIT + 1);
    }

    #[test]
    fn a_page_query_names_both_bad_parameters() {
        let query = PageQuery {
            limit: Some("abc".into()),
            offset: Some("1000000001".into()),
            ..PageQuery::default()
        };
        let err = Page::try_from(&query).unwrap_err();
        assert_eq!(
            err.fields()["limit"],
            "must be an integer from 1 to 100",
            "{err}"
        );
        assert_eq!(
            err.fields()["offset"],
            "must be an integer from 0 to 1000000000"
        );
        let page = Page::try_from(&PageQuery {
            limit: Some(" 100 ".into()),
            offset: Some("0".into()),
            ..PageQuery::default()
        })
        .unwrap();
        assert_eq!((page.limit(), page.offset()), (100, 0));
    }

    #[test]
    fn a_keyset_page_starts_after_an_id_and_counts_only_when_asked() {
        let page = Page::try_from(&PageQuery {
            after: Some("8450".into()),
            total: Some("true".into()),
            ..PageQuery::default()
        })
        .unwrap();
        assert_eq!(page.start(), Start::After(8450));
        assert_eq!((page.after(), page.offset()), (Some(8450), 0));
        assert!(page.count_total());
    }

    #[test]
    fn offset_and_after_together_or_a_bad_cursor_or_total_are_rejected() {
        let err = Page::try_from(&PageQuery {
            offset: Some("10".into()),
            after: Some("10".into()),
            ..PageQuery::default()
        })
        .unwrap_err();
        assert_eq!(
            err.fields()["after"],
            "use either `offset` or `after`, not both"
        );
        let err = Page::try_from(&PageQuery {
            after: Some("-1".into()),
            total: Some("maybe".into()),
            ..PageQuery::default()
        })
        .unwrap_err();
        assert!(err.fields().contains_key("after"), "{err}");
        assert!(err.fields().contains_key("total"), "{err}");
    }
}
