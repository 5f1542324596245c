//! Bad input of every kind gets the one JSON error shape and the right status, never a 500.

use reqwest::{Method, StatusCode};
use serde_json::json;

on_every_backend! {
    async fn unknown_routes_are_a_json_404(app: TestApp) {
        for path in ["/nope", "/disks/1/tracks", "/customers/x/orders/1"] {
            let reply = app.get(path).await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(reply.error_code(), "not_found");
        }
    }

    async fn malformed_ids_are_a_json_404(app: TestApp) {
        for path in ["/disks/abc", "/disks/99999999999999999999999", "/customers/-1", "/orders/0", "/disks/1.5"] {
            let reply = app.get(path).await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}: {}", reply.text);
            assert_eq!(reply.error_code(), "not_found");
        }
    }

    async fn wrong_methods_are_a_json_405_with_allow(app: TestApp) {
        let reply = app.send(Method::PATCH, "/disks/1", None).await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(reply.error_code(), "method_not_allowed");
        assert_eq!(reply.header("allow"), Some("GET, PUT, DELETE"));
        let reply = app.send(Method::DELETE, "/orders", None).await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(reply.error_code(), "method_not_allowed");
        assert_eq!(app.send(Method::POST, "/health", None).await.status, StatusCode::METHOD_NOT_ALLOWED);
    }

    async fn broken_json_is_400_malformed_json(app: TestApp) {
        for body in [&b"{\"name\": "[..], b"not json", b"{\"name\": \"a\",}", b""] {
            let reply = app.send(Method::POST, "/customers", Some(("application/json", body.to_vec()))).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}: {}", String::from_utf8_lossy(body), reply.text);
            assert_eq!(reply.error_code(), "malformed_json");
        }
    }

    async fn invalid_utf8_is_400(app: TestApp) {
        let body = b"{\"name\": \"\xff\xfe\", \"email\": \"a@example.com\"}".to_vec();
        let reply = app.send(Method::POST, "/customers", Some(("application/json", body))).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
        assert_eq!(reply.error_code(), "malformed_json");
    }

    async fn a_2_mib_body_is_413(app: TestApp) {
        let huge = format!("{{\"name\": \"{}\", \"email\": \"a@example.com\"}}", "x".repeat(2 * 1024 * 1024));
        let reply = app.send(Method::POST, "/customers", Some(("application/json", huge.into_bytes()))).await;
        assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", reply.text);
        assert_eq!(reply.error_code(), "payload_too_large");
    }

    async fn a_non_json_content_type_is_415(app: TestApp) {
        let reply = app.send(Method::POST, "/orders", Some(("text/plain", b"{}".to_vec()))).await;
        assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(reply.error_code(), "unsupported_media_type");
        let reply = app.send(Method::POST, "/orders", None).await;
        assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", reply.text);
    }

    async fn unknown_json_fields_are_422_naming_the_field(app: TestApp) {
        let reply = app.post_customer(&json!({"name": "Lea", "email": "lea@example.com", "admin": true})).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.error_fields(), ["admin"]);
        let reply = app.post_order(&json!([1, 2, 3])).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "arrays are not objects: {}", reply.text);
        let duplicate = br#"{"name": "a", "name": "b", "email": "a@example.com"}"#.to_vec();
        let reply = app.send(Method::POST, "/customers", Some(("application/json", duplicate))).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "duplicate keys: {}", reply.text);
        assert_eq!(reply.error_code(), "validation_failed");
    }

    async fn nul_characters_and_oversized_text_are_422_not_500(app: TestApp) {
        let reply = app.post_customer(&json!({"name": "Le\u{0}a", "email": "lea@example.com"})).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.text);
        assert_eq!(reply.error_fields(), ["name"]);
        let reply = app.post_customer(&json!({"name": "x".repeat(201), "email": format!("{}@example.com", "y".repeat(250))})).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.error_fields(), ["email", "name"]);
        let ok = app.post_customer(&json!({"name": "ção 🎷".repeat(28), "email": "multi@example.com"})).await;
        assert_eq!(ok.status, StatusCode::CREATED, "200 characters of multi-byte text fit: {}", ok.text);
    }
}
