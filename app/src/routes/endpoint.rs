//! The route table's entry: one path and a handler per method. Both route lists are written
//! with it (the shop's in `routes`, the stress endpoints' in `stress`), so the router, the
//! metrics table (`startup::route_patterns`) and the OpenAPI test all read the same lists.
//!
//! It lives apart from the shop's routes because `stress` builds its list with it too: kept
//! in `routes`, the two modules would import each other (`routes::meta` reads the stress
//! gauges for `/metrics`).

use std::rc::Rc;

use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, FromRequest, Handler, HttpRequest, HttpResponse, Responder};

use crate::error::ApiError;

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
    pub fn into_resource(self) -> actix_web::Resource {
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
