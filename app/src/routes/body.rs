//! The JSON bodies every resource shares: the request body that must be an object, the paged
//! answer of every list, `201 Created` with the new resource, and the error answers every
//! shop route documents alike ([`JsonBodyRejected`], [`DatabaseUnavailable`]).

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoResponses, ToSchema};

use crate::db::list::Listed;
use crate::domain::Page;
use crate::error::ErrorBody;

/// Every list response: one page of items, the cursor to the next one, and the total when
/// asked for (`?total=true`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Paged<T: ToSchema> {
    pub items: Vec<T>,
    #[schema(example = 20)]
    pub limit: i64,
    /// The `offset` asked for (0 for the first page); absent on a keyset (`after`) page.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 0)]
    pub offset: Option<i64>,
    /// The `after` cursor asked for; absent on an offset page.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = json!(null))]
    pub after: Option<i64>,
    /// Pass as `after` to read the next page; `null` on the last page.
    #[schema(example = 20)]
    pub next_after: Option<i64>,
    /// Items matching the request across all pages; only with `?total=true` (an exact count
    /// reads every match).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 1)]
    pub total: Option<i64>,
}

impl<T: ToSchema + Serialize> Paged<T> {
    /// One page read from the database (stored rows, turned into the response type).
    pub fn new<R: Into<T>>(listed: Listed<R>, page: Page) -> Self {
        Self {
            items: listed.rows.into_iter().map(Into::into).collect(),
            limit: page.limit(),
            offset: page.after().is_none().then(|| page.offset()),
            after: page.after(),
            next_after: listed.next_after,
            total: listed.total,
        }
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

/// The answers of a route that reads a JSON body, besides its own: what `error::json_config`
/// answers for a body that cannot be read. Listed in such a route's `responses(...)`; its
/// 422 stays with the route, which says what makes its fields invalid.
#[derive(IntoResponses)]
pub enum JsonBodyRejected {
    #[response(status = 400, description = "Malformed JSON")]
    Malformed(ErrorBody),
    #[response(status = 413, description = "Body too large")]
    TooLarge(ErrorBody),
    #[response(status = 415, description = "Not JSON")]
    NotJson(ErrorBody),
}

/// The answer of a route that uses the database when it cannot be reached (`error` maps
/// every transient database failure to it). Listed in such a route's `responses(...)`.
#[derive(IntoResponses)]
#[response(status = 503, description = "Database unavailable")]
pub struct DatabaseUnavailable(pub ErrorBody);
