//! HTTP routes of the record shop, one file per resource, plus what they share: the route
//! table, pagination of responses and the JSON 404/405 answers.
//!
//! A handler reads top to bottom: parse (serde, into the `domain` input shapes), validate
//! (`TryFrom` into a `domain` type, a 422 naming every bad field), query (`db`), answer (the
//! response types defined next to the handlers, so the stored rows never reach a client as
//! they are). Database failures become answers through `error`'s `From` impls and `?`.
//!
//! Every route is listed once, in [`endpoints`]: the router registers exactly that list, the
//! metrics table is built from it (see `startup::route_patterns`), and a test checks that the
//! OpenAPI document describes the same paths and methods.

pub mod customers;
pub mod disks;
pub mod meta;
pub mod orders;

use std::rc::Rc;

use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, FromRequest, Handler, HttpRequest, HttpResponse, Responder};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::list::Listed;
use crate::domain::Page;
use crate::error::ApiError;

/// Every shop route (the stress routes are listed by `stress::endpoints`).
pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::at("/").get(meta::service_info),
        Endpoint::at(contract::routes::HEALTH).get(meta::health),
        Endpoint::at(contract::routes::READY).get(meta::ready),
        Endpoint::at("/metrics").get(meta::metrics),
        Endpoint::at("/openapi.json").get(meta::openapi),
        Endpoint::at("/docs").get(meta::docs),
        Endpoint::at("/customers")
            .get(customers::list)
            .post(customers::create),
        Endpoint::at("/customers/{id}")
            .get(customers::get)
            .put(customers::replace)
            .delete(customers::delete),
        Endpoint::at("/customers/{id}/orders").get(orders::list_for_customer),
        Endpoint::at("/disks").get(disks::list).post(disks::create),
        Endpoint::at("/disks/{id}")
            .get(disks::get)
            .put(disks::replace)
            .delete(disks::delete),
        Endpoint::at("/orders").post(orders::create),
        Endpoint::at("/orders/{id}").get(orders::get),
    ]
}

/// Registers every shop route; other methods on a shop path get a JSON 405 with `Allow`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(path_config()).app_data(query_config());
    for endpoint in endpoints() {
        cfg.service(endpoint.into_resource());
    }
}

/// One route pattern and its handler for each method it answers.
pub struct Endpoint {
    path: &'static str,
    handlers: Vec<(Method, actix_web::Route)>,
}

impl Endpoint {
    pub fn at(path: &'static str) -> Self {
        Self {
            path,
            handlers: Vec::new(),
        }
    }

    pub fn get<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(Method::GET, handler)
    }

    pub fn post<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(Method::POST, handler)
    }

    pub fn put<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(Method::PUT, handler)
    }

    pub fn delete<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.on(Method::DELETE, handler)
    }

    fn on<F, Args>(mut self, method: Method, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let route = web::method(method.clone()).to(handler);
        self.handlers.push((method, route));
        self
    }

    /// The route pattern, as actix matches it and metrics label it (`/disks/{id}`).
    pub fn path(&self) -> &'static str {
        self.path
    }

    /// The methods this route answers, in registration order.
    pub fn methods(&self) -> impl Iterator<Item = &Method> {
        self.handlers.iter().map(|(method, _)| method)
    }

    /// The pattern and its routes, for registering them one by one (`ServiceConfig::route`).
    pub fn into_routes(self) -> (&'static str, impl Iterator<Item = actix_web::Route>) {
        (self.path, self.handlers.into_iter().map(|(_, route)| route))
    }

    /// One resource whose unlisted methods get a JSON 405 with an `Allow` header.
    fn into_resource(self) -> actix_web::Resource {
        let allowed: Rc<[Method]> = self.methods().cloned().collect();
        let resource =
            web::resource(self.path).default_service(web::to(move |req: HttpRequest| {
                let allowed = Rc::clone(&allowed);
                async move { method_not_allowed(&req, &allowed) }
            }));
        self.handlers
            .into_iter()
            .fold(resource, |resource, (_, route)| resource.route(route))
    }
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
