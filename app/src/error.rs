//! One error type for the whole API.
//!
//! Every failure a client can see is an [`ApiError`]: a status code, a stable machine-readable
//! `error` code, a human `message` and, for validation failures, every offending field in
//! `fields`. Internal failures are logged with their context here, once, and answered with a
//! generic message so that no SQL, path or stack trace ever reaches a client.

use std::collections::BTreeMap;
use std::fmt;

use actix_web::error::JsonPayloadError;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;

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
}
