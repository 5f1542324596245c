//! Pagination: `?limit=&offset=` as received, and the validated [`Page`].

use serde::Deserialize;
use utoipa::IntoParams;

use super::validation::{ValidationError, Validator};

/// Default and bounds of `limit`; `offset` bounds.
pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;
pub const MAX_OFFSET: i64 = 1_000_000_000;

/// `?limit=&offset=` as received.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 100 (default 20). Out of range is a 422, not a clamp.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// Items to skip (default 0).
    #[param(value_type = Option<i64>, minimum = 0)]
    pub offset: Option<String>,
}

/// A validated page: `limit` in 1..=[`MAX_LIMIT`], `offset` in 0..=[`MAX_OFFSET`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    limit: i64,
    offset: i64,
}

impl Page {
    pub fn limit(&self) -> i64 {
        self.limit
    }

    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// Validates `limit` and `offset`, recording problems in `v` (shared with the other
    /// parameters of the same query, so one error names them all).
    pub(crate) fn parse(
        limit: Option<&str>,
        offset: Option<&str>,
        v: &mut Validator,
    ) -> Option<Self> {
        let limit = match limit {
            None => Some(DEFAULT_LIMIT),
            Some(raw) => v.query_int("limit", raw, 1..=MAX_LIMIT),
        };
        let offset = match offset {
            None => Some(0),
            Some(raw) => v.query_int("offset", raw, 0..=MAX_OFFSET),
        };
        Some(Self {
            limit: limit?,
            offset: offset?,
        })
    }
}

impl TryFrom<&PageQuery> for Page {
    type Error = ValidationError;

    fn try_from(query: &PageQuery) -> Result<Self, ValidationError> {
        let mut v = Validator::default();
        Page::parse(query.limit.as_deref(), query.offset.as_deref(), &mut v)
            .ok_or_else(|| v.into_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_outside_bounds_are_rejected_not_clamped() {
        let mut v = Validator::default();
        assert!(Page::parse(Some("0"), None, &mut v).is_none());
        assert!(Page::parse(Some("101"), Some("-1"), &mut v).is_none());
        let err = v.into_error();
        assert!(err.fields().contains_key("limit"));
        assert!(err.fields().contains_key("offset"));
        let mut v = Validator::default();
        let page = Page::parse(None, None, &mut v).unwrap();
        assert_eq!((page.limit, page.offset), (DEFAULT_LIMIT, 0));
    }

    #[test]
    fn a_page_query_names_both_bad_parameters() {
        let query = PageQuery {
            limit: Some("abc".into()),
            offset: Some("1000000001".into()),
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
        })
        .unwrap();
        assert_eq!((page.limit(), page.offset()), (100, 0));
    }
}
