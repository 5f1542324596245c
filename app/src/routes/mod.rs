//! HTTP routes of the record shop, one file per resource, plus what they share: pagination,
//! field validation and the JSON 404/405 answers.
//!
//! Input is parsed into loosely typed "raw" bodies (every field an optional JSON value, unknown
//! fields rejected) and then validated field by field into the types the database layer takes,
//! so one 422 names *every* offending field instead of the first one serde trips on.

pub mod customers;
pub mod disks;
pub mod meta;
pub mod orders;

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

/// Registers every shop route (the stress routes are registered by `stress::configure`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(path_config())
        .app_data(query_config())
        .service(resource("/", &[Method::GET]).route(web::get().to(meta::service_info)))
        .service(resource("/health", &[Method::GET]).route(web::get().to(meta::health)))
        .service(resource("/ready", &[Method::GET]).route(web::get().to(meta::ready)))
        .service(resource("/metrics", &[Method::GET]).route(web::get().to(meta::metrics)))
        .service(resource("/openapi.json", &[Method::GET]).route(web::get().to(meta::openapi)))
        .service(
            resource("/customers", &[Method::GET, Method::POST])
                .route(web::get().to(customers::list))
                .route(web::post().to(customers::create)),
        )
        .service(
            resource(
                "/customers/{id}",
                &[Method::GET, Method::PUT, Method::DELETE],
            )
            .route(web::get().to(customers::get))
            .route(web::put().to(customers::replace))
            .route(web::delete().to(customers::delete)),
        )
        .service(
            resource("/customers/{id}/orders", &[Method::GET])
                .route(web::get().to(orders::list_for_customer)),
        )
        .service(
            resource("/disks", &[Method::GET, Method::POST])
                .route(web::get().to(disks::list))
                .route(web::post().to(disks::create)),
        )
        .service(
            resource("/disks/{id}", &[Method::GET, Method::PUT, Method::DELETE])
                .route(web::get().to(disks::get))
                .route(web::put().to(disks::replace))
                .route(web::delete().to(disks::delete)),
        )
        .service(resource("/orders", &[Method::POST]).route(web::post().to(orders::create)))
        .service(resource("/orders/{id}", &[Method::GET]).route(web::get().to(orders::get)));
}

/// A resource whose unmatched methods get a JSON 405 with an `Allow` header.
pub fn resource(path: &str, allowed: &'static [Method]) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move |req: HttpRequest| async move {
        method_not_allowed(&req, allowed)
    }))
}

fn method_not_allowed(req: &HttpRequest, allowed: &[Method]) -> HttpResponse {
    let allow: Vec<&str> = allowed.iter().map(Method::as_str).collect();
    let err = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} is not allowed on {}; allowed: {}",
            req.method(),
            req.path(),
            allow.join(", ")
        ),
    );
    let mut response = actix_web::ResponseError::error_response(&err);
    if let Ok(value) = header::HeaderValue::from_str(&allow.join(", ")) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

/// The app's default service: a JSON 404 for any unknown route.
pub async fn unknown_route(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {} {}", req.method(), req.path()),
    ))
}

/// A malformed id in the path (`/disks/abc`, `/disks/99999999999999999999`) names nothing: 404.
fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_err, req| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{} does not exist (ids are positive integers)", req.path()),
        )
        .into()
    })
}

/// Unknown or repeated query parameters are a 422 naming the parameter.
fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let message = err.to_string();
        let field = backticked(&message).unwrap_or("query").to_owned();
        ApiError::invalid_field(&field, message).into()
    })
}

/// The first `` `name` `` in a serde message.
fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(&message[start..end])
}

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

/// Validated pagination.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
}

impl Page {
    /// Validates `limit` and `offset`, recording problems in `v`.
    pub fn parse(limit: Option<&str>, offset: Option<&str>, v: &mut Validator) -> Option<Self> {
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

/// Every list response: one page of items and how many match in total.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paged<T: ToSchema> {
    pub items: Vec<T>,
    #[schema(example = 20)]
    pub limit: i64,
    #[schema(example = 0)]
    pub offset: i64,
    /// Items matching the request across all pages.
    #[schema(example = 1)]
    pub total: i64,
}

impl<T: ToSchema + Serialize> Paged<T> {
    pub fn new(items: Vec<T>, page: Page, total: i64) -> Self {
        Self {
            items,
            limit: page.limit,
            offset: page.offset,
            total,
        }
    }
}

/// Collects field problems so that one 422 names every offending field.
#[derive(Debug, Default)]
pub struct Validator {
    problems: BTreeMap<String, String>,
}

impl Validator {
    fn fail(&mut self, field: &str, problem: impl Into<String>) {
        self.problems
            .entry(field.to_owned())
            .or_insert_with(|| problem.into());
    }

    /// A required JSON string of 1..=`max_chars` characters, not blank, without NUL bytes.
    /// Stored exactly as sent (quotes, SQL-looking text and all).
    pub fn text(&mut self, field: &str, value: Option<Value>, max_chars: usize) -> Option<String> {
        let text = match value {
            Some(Value::String(text)) => text,
            None | Some(Value::Null) => {
                self.fail(field, "is required");
                return None;
            }
            Some(_) => {
                self.fail(field, "must be a string");
                return None;
            }
        };
        if text.trim().is_empty() {
            self.fail(field, "must not be blank");
            return None;
        }
        if text.chars().count() > max_chars {
            self.fail(field, format!("must be at most {max_chars} characters"));
            return None;
        }
        if text.contains('\0') {
            self.fail(field, "must not contain NUL characters");
            return None;
        }
        Some(text)
    }

    /// A required JSON integer within `range` (floats, strings and huge numbers are rejected).
    pub fn int(
        &mut self,
        field: &str,
        value: Option<Value>,
        range: RangeInclusive<i64>,
    ) -> Option<i64> {
        let problem = format!(
            "must be an integer from {} to {}",
            range.start(),
            range.end()
        );
        match value {
            None | Some(Value::Null) => {
                self.fail(field, "is required");
                None
            }
            Some(Value::Number(n)) => match n.as_i64().filter(|n| range.contains(n)) {
                Some(n) => Some(n),
                None => {
                    self.fail(field, problem);
                    None
                }
            },
            Some(_) => {
                self.fail(field, problem);
                None
            }
        }
    }

    /// An integer query parameter within `range`.
    pub fn query_int(&mut self, field: &str, raw: &str, range: RangeInclusive<i64>) -> Option<i64> {
        match raw.trim().parse::<i64>().ok().filter(|n| range.contains(n)) {
            Some(n) => Some(n),
            None => {
                self.fail(
                    field,
                    format!(
                        "must be an integer from {} to {}",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
        }
    }

    /// A boolean query parameter (`true`/`false`, `1`/`0`).
    pub fn query_bool(&mut self, field: &str, raw: &str) -> Option<bool> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => {
                self.fail(field, "must be true or false");
                None
            }
        }
    }

    /// A text query parameter of 1..=`max_chars` characters, lower-cased for matching.
    pub fn query_text(&mut self, field: &str, raw: &str, max_chars: usize) -> Option<String> {
        if raw.is_empty() || raw.chars().count() > max_chars || raw.contains('\0') {
            self.fail(field, format!("must be 1 to {max_chars} characters"));
            return None;
        }
        Some(raw.to_lowercase())
    }

    /// Records a problem found by a cross-field rule.
    pub fn reject(&mut self, field: &str, problem: impl Into<String>) {
        self.fail(field, problem);
    }

    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// The 422 naming every problem recorded.
    pub fn into_error(self) -> ApiError {
        if self.problems.is_empty() {
            // Only reached if a parser forgot to record why it produced no value.
            return ApiError::internal("validation", "a field was rejected without a reason");
        }
        ApiError::validation(self.problems)
    }
}

/// A JSON request body that must be an object. serde's derived structs would also accept an
/// array (`[1, 2, 3]` as positional fields); this wrapper asks the parser for a map, and the
/// inner type still rejects unknown and duplicate fields (422), all in one parsing pass.
#[derive(Debug)]
pub struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(std::marker::PhantomData<T>);

        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for ObjectVisitor<T> {
            type Value = T;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }

        deserializer
            .deserialize_map(ObjectVisitor(std::marker::PhantomData))
            .map(Object)
    }
}

/// The extractor for every JSON body (limits and errors come from `error::json_config`).
pub type JsonObject<T> = web::Json<Object<T>>;

/// `201 Created` with the new resource and its `Location`.
pub fn created<T: Serialize>(location: String, body: &T) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let mut v = Validator::default();
        assert_eq!(v.text("title", Some(json!("")), 10), None);
        assert_eq!(v.text("artist", Some(json!(5)), 10), None);
        assert_eq!(v.int("year", Some(json!(1.5)), 0..=10), None);
        assert_eq!(v.int("stock", Some(json!(1e300)), 0..=10), None);
        assert_eq!(v.int("price", None, 0..=10), None);
        let err = v.into_error();
        let fields: Vec<&str> = err.fields().keys().map(String::as_str).collect();
        assert_eq!(fields, ["artist", "price", "stock", "title", "year"]);
    }

    #[test]
    fn text_is_kept_verbatim() {
        let mut v = Validator::default();
        let sql = "Robert'); DROP TABLE disks;--";
        assert_eq!(v.text("title", Some(json!(sql)), 100).as_deref(), Some(sql));
        assert!(v.is_empty());
    }

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
}
