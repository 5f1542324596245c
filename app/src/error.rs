//! One error type for the whole API.
//!
//! Every failure a client can see is an [`ApiError`]: a status code, a stable machine-readable
//! `error` code, a human `message` and, for validation failures, every offending field in
//! `fields`. Internal failures are logged with their context here, once, and answered with a
//! generic message so that no SQL, path or stack trace ever reaches a client.
//!
//! Other layers return their own errors and this module turns them into answers, so that
//! routes can use `?`: a [`ValidationError`] from `domain` is a 422, a `sqlx::Error` from `db`
//! goes through `From<DbError>` (see [`DbContext`] for naming what the service was doing, and
//! [`OnViolation`] for the constraint violations a route answers itself). Storage code never
//! builds HTTP errors.

use std::collections::BTreeMap;
use std::fmt;

use actix_web::error::JsonPayloadError;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use sqlx::error::ErrorKind;

use crate::domain::ValidationError;

/// The JSON body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable code, e.g. `not_found`, `validation_failed`, `insufficient_stock`.
    pub error: String,
    /// Human-readable explanation.
    pub message: String,
    /// Offending fields and what is wrong with each (empty unless the error is about fields).
    pub fields: BTreeMap<String, String>,
}

/// An error answered to the client. Build it with the constructors below.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    fields: BTreeMap<String, String>,
    retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            fields: BTreeMap::new(),
            retry_after_secs: None,
        }
    }

    /// 400: the body is not valid JSON (or not valid UTF-8).
    pub fn malformed_json(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_json", message)
    }

    /// 404 for an id that does not exist.
    pub fn not_found(what: &str, id: impl fmt::Display) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} {id} does not exist"),
        )
    }

    /// 409 with a specific code (`email_taken`, `insufficient_stock`, `has_orders`, `test_running`...).
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 422 with a specific code, for a request that is well-formed but cannot be done as asked
    /// (`idempotency_key_reused`).
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 422 naming every offending field. `fields` maps field name to what is wrong with it.
    pub fn validation(fields: BTreeMap<String, String>) -> Self {
        let names: Vec<&str> = fields.keys().map(String::as_str).collect();
        let message = format!("invalid value for: {}", names.join(", "));
        Self {
            fields,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                message,
            )
        }
    }

    /// 422 for a single field.
    pub fn invalid_field(field: &str, problem: impl Into<String>) -> Self {
        Self::validation(BTreeMap::from([(field.to_owned(), problem.into())]))
    }

    /// 503: a dependency (the database) is unavailable; clients may retry after a while.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            retry_after_secs: Some(1),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
        }
    }

    /// 500: logs `context` and `err` with full detail, answers a generic message.
    pub fn internal(context: &str, err: impl fmt::Display) -> Self {
        log::error!("internal error: {context}: {err}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error; the details are in the service log",
        )
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn fields(&self) -> &BTreeMap<String, String> {
        &self.fields
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after_secs {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        response.json(ErrorBody {
            error: self.code.to_owned(),
            message: self.message.clone(),
            fields: self.fields.clone(),
        })
    }
}

impl From<ValidationError> for ApiError {
    fn from(err: ValidationError) -> Self {
        if err.fields().is_empty() {
            // Only reached if a parser forgot to record why it produced no value.
            return ApiError::internal("validation", "a field was rejected without a reason");
        }
        ApiError::validation(err.into_fields())
    }
}

/// A failed database call and what the service was doing when it failed (for the log line).
#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub struct DbError {
    context: &'static str,
    #[source]
    source: sqlx::Error,
}

impl DbError {
    /// The constraint the failed statement violated, if any.
    pub fn violation(&self) -> Option<ErrorKind> {
        violation(&self.source)
    }
}

/// Names what the service was doing when a database call failed: `.context("reading a disk")`.
pub trait DbContext<T> {
    fn context(self, context: &'static str) -> Result<T, DbError>;
}

impl<T> DbContext<T> for Result<T, sqlx::Error> {
    fn context(self, context: &'static str) -> Result<T, DbError> {
        self.map_err(|source| DbError { context, source })
    }
}

/// Answers one kind of constraint violation with a route's own error (`email_taken`,
/// `has_orders`); every other failure is answered by `From<DbError>`.
pub trait OnViolation<T> {
    fn on_violation(
        self,
        kind: ErrorKind,
        answer: impl FnOnce() -> ApiError,
    ) -> Result<T, ApiError>;
}

impl<T> OnViolation<T> for Result<T, DbError> {
    fn on_violation(
        self,
        kind: ErrorKind,
        answer: impl FnOnce() -> ApiError,
    ) -> Result<T, ApiError> {
        self.map_err(|err| {
            if err.violation() == Some(kind) {
                answer()
            } else {
                err.into()
            }
        })
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(source: sqlx::Error) -> Self {
        DbError {
            context: "querying the database",
            source,
        }
        .into()
    }
}

/// Every database failure a route does not answer itself, without leaking SQL: 503 (with
/// `Retry-After`) when the database is unreachable, overloaded or asked us to retry (deadlock,
/// serialization failure, SQLite busy); 409 for a constraint the validation should have
/// caught; 500 otherwise. All are logged with the context.
impl From<DbError> for ApiError {
    fn from(DbError { context, source }: DbError) -> Self {
        if is_transient(&source) {
            log::warn!("database unavailable while {context}: {source}");
            return ApiError::unavailable("the database is unavailable; retry shortly");
        }
        if let Some(kind) = violation(&source) {
            // A constraint the validation layer should have caught: a bug, but the client's input.
            log::error!("unexpected constraint violation ({kind:?}) while {context}: {source}");
            return ApiError::new(
                StatusCode::CONFLICT,
                "constraint_violation",
                "the request conflicts with the stored data",
            );
        }
        ApiError::internal(context, source)
    }
}

/// The constraint a failed statement violated, if any.
fn violation(err: &sqlx::Error) -> Option<ErrorKind> {
    match err.as_database_error()?.kind() {
        ErrorKind::Other => None,
        kind => Some(kind),
    }
}

/// Failures that go away by themselves: the pool or the connection, or a database that asks
/// the client to retry.
fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            matches!(
                code.as_ref(),
                // Postgres: serialization failure, deadlock, too many connections, shutting
                // down, cannot connect now, database gone or not accepting connections,
                // authentication refused (all seen when (re)connecting).
                "40001" | "40P01" | "53300" | "57P01" | "57P02" | "57P03" | "3D000" | "55000"
                | "28000" | "28P01"
                // MySQL/MariaDB: lock wait timeout, deadlock, too many connections, unknown
                // database, access denied.
                | "1205" | "1213" | "1040" | "1049" | "1045"
                // SQLite: busy, locked (and their extended codes).
                | "5" | "6" | "517" | "262"
            )
        }
        _ => false,
    }
}

/// The `web::Json` extractor configuration used by every route: body limit, and payload errors
/// mapped to the one error shape (413 over the limit, 415 wrong content type, 400 broken JSON,
/// 422 well-formed JSON of the wrong shape, naming the field).
pub fn json_config(limit_bytes: usize) -> actix_web::web::JsonConfig {
    actix_web::web::JsonConfig::default()
        .limit(limit_bytes)
        .error_handler(move |err, _req: &HttpRequest| json_payload_error(err, limit_bytes).into())
}

fn json_payload_error(err: JsonPayloadError, limit_bytes: usize) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("request body is larger than {limit_bytes} bytes"),
            )
        }
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected Content-Type: application/json",
        ),
        JsonPayloadError::Deserialize(e) => deserialize_error(&e),
        JsonPayloadError::Payload(e) => {
            ApiError::malformed_json(format!("could not read body: {e}"))
        }
        other => ApiError::malformed_json(other.to_string()),
    }
}

/// Syntax errors are 400; well-formed JSON with a wrong type, a missing or unknown field is 422.
pub fn deserialize_error(e: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => {
            let field =
                field_from_serde_message(&e.to_string()).unwrap_or_else(|| "body".to_owned());
            ApiError::invalid_field(&field, strip_position(&e.to_string()))
        }
        // `1e400`: well-formed JSON, but no field can hold it.
        Category::Syntax if e.to_string().starts_with("number out of range") => {
            ApiError::invalid_field("body", "a number is out of range")
        }
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::malformed_json(format!("body is not valid JSON: {e}"))
        }
    }
}

/// serde names the field in "missing field `x`" / "unknown field `x`"; type errors carry none.
fn field_from_serde_message(msg: &str) -> Option<String> {
    let start = msg.find('`')? + 1;
    let end = start + msg[start..].find('`')?;
    let is_field_msg = msg.starts_with("missing field") || msg.starts_with("unknown field");
    is_field_msg.then(|| msg[start..end].to_owned())
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(idx) => msg[..idx].to_owned(),
        None => msg.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_field_is_named() {
        let err =
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>("{").unwrap_err();
        assert_eq!(deserialize_error(&err).status, StatusCode::BAD_REQUEST);
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct T {
            a: u32,
        }
        let err = serde_json::from_str::<T>("{}").unwrap_err();
        let api = deserialize_error(&err);
        assert_eq!(api.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(api.fields.contains_key("a"), "{api:?}");
    }

    /// A database error as a driver reports it: a code and a kind.
    #[derive(Debug)]
    struct DriverError {
        code: &'static str,
        /// `ErrorKind` is not `Clone`: the error makes a new one each time it is asked.
        kind: fn() -> ErrorKind,
    }

    impl fmt::Display for DriverError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "driver error {} in SELECT secret FROM t", self.code)
        }
    }

    impl std::error::Error for DriverError {}

    impl sqlx::error::DatabaseError for DriverError {
        fn message(&self) -> &str {
            "driver error"
        }

        fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
            Some(self.code.into())
        }

        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }

        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }

        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }

        fn kind(&self) -> ErrorKind {
            (self.kind)()
        }
    }

    fn driver(code: &'static str, kind: fn() -> ErrorKind) -> sqlx::Error {
        sqlx::Error::Database(Box::new(DriverError { code, kind }))
    }

    fn answer(err: ApiError) -> (StatusCode, Option<String>, ErrorBody) {
        let response = err.error_response();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = ErrorBody {
            error: err.code.to_owned(),
            message: err.message.clone(),
            fields: err.fields.clone(),
        };
        (response.status(), retry_after, body)
    }

    #[test]
    fn an_unreachable_or_busy_database_is_a_503_to_retry_after_a_second() {
        for err in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into()),
            driver("40001", || ErrorKind::Other),
            driver("1213", || ErrorKind::Other),
            driver("5", || ErrorKind::Other),
        ] {
            let (status, retry_after, body) = answer(err.into());
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(retry_after.as_deref(), Some("1"));
            assert_eq!(body.error, "unavailable");
            assert_eq!(body.message, "the database is unavailable; retry shortly");
        }
    }

    #[test]
    fn other_database_failures_are_a_500_that_leaks_nothing() {
        for err in [
            sqlx::Error::RowNotFound,
            driver("42P01", || ErrorKind::Other),
        ] {
            let (status, retry_after, body) = answer(
                Err::<(), _>(err)
                    .context("reading a disk")
                    .unwrap_err()
                    .into(),
            );
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(retry_after, None);
            assert_eq!(body.error, "internal_error");
            assert!(!body.message.contains("SELECT"), "{}", body.message);
            assert!(!body.message.contains("42P01"), "{}", body.message);
        }
    }

    #[test]
    fn a_violation_is_the_routes_answer_or_else_a_generic_409() {
        let email_taken = || ApiError::conflict("email_taken", "taken");
        let unique = || Err::<(), _>(driver("23505", || ErrorKind::UniqueViolation));
        let err = unique()
            .context("creating a customer")
            .on_violation(ErrorKind::UniqueViolation, email_taken)
            .unwrap_err();
        assert_eq!(err.code(), "email_taken");

        let err = unique()
            .context("creating a customer")
            .on_violation(ErrorKind::ForeignKeyViolation, email_taken)
            .unwrap_err();
        let (status, _, body) = answer(err);
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body.error, "constraint_violation");
        assert_eq!(body.message, "the request conflicts with the stored data");
    }

    #[test]
    fn a_validation_error_is_a_422_naming_every_field() {
        use crate::domain::{CustomerFields, CustomerInput};
        let empty = CustomerInput {
            name: None,
            email: None,
        };
        let err = ApiError::from(CustomerFields::try_from(empty).unwrap_err());
        assert_eq!(err.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err.code(), "validation_failed");
        assert_eq!(err.message, "invalid value for: email, name");
        let required = "is required".to_owned();
        assert_eq!(
            err.fields(),
            &BTreeMap::from([
                ("email".to_owned(), required.clone()),
                ("name".to_owned(), required)
            ])
        );
    }
}
