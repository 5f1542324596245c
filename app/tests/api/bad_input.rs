//! Hostile and broken input over HTTP, on every backend: what a fuzzer or an attacker sends.
//! Each answer is the one JSON error shape with the right status, nothing is stored, and the
//! service keeps serving afterwards. (`errors.rs` covers the everyday cases: broken JSON, a
//! 2 MiB body, unknown routes, wrong methods.)

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{disk_body, Reply, TestApp};

const SQL: &str = "'; DROP TABLE disks; --";

async fn post_raw(app: &TestApp, path: &str, body: impl Into<Vec<u8>>) -> Reply {
    app.send(Method::POST, path, Some(("application/json", body.into())))
        .await
}

/// After an attack the service still answers and the database still holds its tables.
async fn assert_still_serving(app: &TestApp) {
    assert_eq!(app.health().await.status, StatusCode::OK);
    let disks = app.list_disks("").await;
    assert_eq!(disks.status, StatusCode::OK, "{}", disks.text);
    let customers = app.list_customers("").await;
    assert_eq!(customers.status, StatusCode::OK, "{}", customers.text);
}

async fn total(app: &TestApp, list: &str) -> i64 {
    let reply = app.get(&format!("{list}?total=true")).await;
    reply.json["total"]
        .as_i64()
        .unwrap_or_else(|| panic!("no total in {}", reply.text))
}

/// `depth` nested arrays, e.g. depth 2: `[[]]`.
fn nested_arrays(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// Sends one raw HTTP/1.1 request and returns the status code and the body.
async fn raw_http(app: &TestApp, request: &[u8]) -> (u16, String) {
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connecting to the app");
    stream
        .write_all(request)
        .await
        .expect("writing the request");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await;
    assert!(read.is_ok(), "the app did not close the connection in 10 s");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

on_every_backend! {
    async fn ten_thousand_nested_arrays_are_rejected_without_overflowing_the_stack(app: TestApp) {
        let deep = nested_arrays(10_000);
        let as_body = post_raw(&app, "/customers", deep.clone()).await;
        assert_eq!(as_body.status, StatusCode::UNPROCESSABLE_ENTITY, "a body must be an object: {}", as_body.text);
        assert_eq!(as_body.error_code(), "validation_failed");
        let as_field = format!(r#"{{"name": {deep}, "email": "deep@example.com"}}"#);
        let reply = post_raw(&app, "/customers", as_field).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
        assert_eq!(reply.error_code(), "malformed_json");
        let objects = format!(r#"{{"quantity": {}1{}}}"#, r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
        let reply = post_raw(&app, "/orders", objects).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
        assert_eq!(reply.error_code(), "malformed_json");
        let too_deep_and_too_big = post_raw(&app, "/disks", nested_arrays(100_000)).await;
        assert_eq!(too_deep_and_too_big.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", too_deep_and_too_big.text);
        assert_still_serving(&app).await;
        assert_eq!(total(&app, "/customers").await, 0);
    }

    async fn every_wrong_json_type_is_422_naming_the_field(app: TestApp) {
        for wrong in [json!(42), json!(true), json!(["Lea"]), json!({"first": "Lea"}), json!(null)] {
            let reply = app.post_customer(&json!({"name": wrong, "email": "lea@example.com"})).await;
            assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "name {wrong}: {}", reply.text);
            assert_eq!(reply.error_fields(), ["name"], "name {wrong}");
        }
        let reply = app.post_disk(&json!({
            "title": ["t"], "artist": {"a": 1}, "genre": false, "year": "1959",
            "price_cents": "2990", "stock": [1]
        })).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.text);
        assert_eq!(reply.error_fields(), ["artist", "genre", "price_cents", "stock", "title", "year"]);
        let reply = app.post_order(&json!({"customer_id": "1", "disk_id": 1.0, "quantity": true})).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.text);
        assert_eq!(reply.error_fields(), ["customer_id", "disk_id", "quantity"]);
        for body in ["\"a string\"", "42", "null", "true"] {
            let reply = post_raw(&app, "/orders", body).await;
            assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", reply.text);
        }
        assert_eq!(total(&app, "/customers").await, 0);
        assert_eq!(total(&app, "/disks").await, 0);
    }

    async fn huge_numbers_in_any_field_are_422_and_never_reach_the_database(app: TestApp) {
        let customer = app.customer("Lea", "lea@example.com").await;
        let disk = app.disk("Blue", 100, 5).await;
        for huge in ["18446744073709551616", "-9223372036854775809", "1e400", "-1e400",
                     "123456789012345678901234567890", "9223372036854775807.5"] {
            let body = format!(r#"{{"customer_id": {customer}, "disk_id": {disk}, "quantity": {huge}}}"#);
            let reply = post_raw(&app, "/orders", body).await;
            assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "quantity {huge}: {}", reply.text);
            assert_eq!(reply.error_code(), "validation_failed");
            let body = format!(r#"{{"customer_id": {huge}, "disk_id": {disk}, "quantity": 1}}"#);
            let reply = post_raw(&app, "/orders", body).await;
            assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "customer_id {huge}: {}", reply.text);
        }
        // The largest id the API accepts is a valid request for a customer that does not exist.
        let reply = app.post_order(&json!({"customer_id": i64::MAX, "disk_id": disk, "quantity": 1})).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text);
        let mut body = disk_body("Big", 1, 1);
        body["year"] = json!(i64::MIN);
        body["price_cents"] = json!(i64::MAX);
        let reply = app.post_disk(&body).await;
        assert_eq!(reply.error_fields(), ["price_cents", "year"], "{}", reply.text);
        assert_eq!(app.get_disk(disk).await.json["stock"], 5, "no order went through");
    }

    async fn a_60_kb_name_is_422_over_the_documented_200_characters_and_nothing_is_stored(app: TestApp) {
        let name = "n".repeat(60 * 1024);
        let reply = app.post_customer(&json!({"name": name, "email": "long@example.com"})).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.text);
        assert_eq!(reply.error_fields(), ["name"]);
        assert!(reply.json["fields"]["name"].as_str().unwrap_or_default().contains("200"), "{}", reply.text);
        let title = "é".repeat(30 * 1024);
        let reply = app.post_disk(&disk_body(&title, 1, 1)).await;
        assert_eq!(reply.error_fields(), ["title"], "{}", reply.text);
        let artist = "a".repeat(10 * 1024);
        let reply = app.list_disks(&format!("?artist={artist}")).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.text);
        assert_eq!(reply.error_fields(), ["artist"]);
        assert_eq!(total(&app, "/customers").await, 0);
        assert_eq!(total(&app, "/disks").await, 0);
    }

    async fn sql_looking_strings_are_stored_and_returned_verbatim_everywhere(app: TestApp) {
        let reply = app.post_customer(&json!({"name": SQL, "email": "o'brien--@example.com"})).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        let customer = reply.id();
        let read = app.get_customer(customer).await;
        assert_eq!(read.json["name"], SQL);
        assert_eq!(read.json["email"], "o'brien--@example.com");
        let mut body = disk_body(SQL, 100, 3);
        body["artist"] = json!("Robert\"); DELETE FROM customers WHERE (\"1\"=\"1");
        body["genre"] = json!("1 OR 1=1");
        let reply = app.post_disk(&body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        let disk = reply.id();
        let read = app.get_disk(disk).await;
        for field in ["title", "artist", "genre"] {
            assert_eq!(read.json[field], body[field], "{field}");
        }
        // As search terms they match only themselves.
        let found = app.list_disks("?title=%27%3B%20DROP%20TABLE%20disks%3B%20--&total=true").await;
        assert_eq!(found.json["total"], 1, "{}", found.text);
        let none = app.list_disks("?artist=%27%20OR%20%271%27%3D%271&genre=x%27%20OR%20%271&total=true").await;
        assert_eq!(none.status, StatusCode::OK, "{}", none.text);
        assert_eq!(none.json["total"], 0, "{}", none.text);
        let reply = app.put_customer(customer, &json!({"name": "x'); DROP TABLE orders; --", "email": "lea@example.com"})).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let order = app.post_order(&json!({"customer_id": customer, "disk_id": disk, "quantity": 1})).await;
        assert_eq!(order.status, StatusCode::CREATED, "every table is still there: {}", order.text);
        assert_still_serving(&app).await;
    }

    async fn zero_and_negative_quantities_stock_and_prices_are_422(app: TestApp) {
        let customer = app.customer("Lea", "lea@example.com").await;
        let disk = app.disk("Blue", 100, 5).await;
        for quantity in [0, -1, -100, i64::MIN] {
            let reply = app.post_order(&json!({"customer_id": customer, "disk_id": disk, "quantity": quantity})).await;
            assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "quantity {quantity}: {}", reply.text);
            assert_eq!(reply.error_fields(), ["quantity"]);
        }
        for id in [0, -1] {
            let reply = app.post_order(&json!({"customer_id": id, "disk_id": id, "quantity": 1})).await;
            assert_eq!(reply.error_fields(), ["customer_id", "disk_id"], "id {id}: {}", reply.text);
        }
        let reply = app.put_disk(disk, &disk_body("Blue", -1, -5)).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.text);
        assert_eq!(reply.error_fields(), ["price_cents", "stock"]);
        assert_eq!(app.get_disk(disk).await.json["stock"], 5, "nothing changed");
        assert_eq!(total(&app, &format!("/customers/{customer}/orders")).await, 0);
    }

    async fn unknown_fields_are_422_on_every_body_and_nothing_is_stored(app: TestApp) {
        let customer = app.customer("Lea", "lea@example.com").await;
        let disk = app.disk("Blue", 100, 5).await;
        let mut with_id = disk_body("Other", 1, 1);
        with_id["id"] = json!(disk);
        let reply = app.post_disk(&with_id).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.text);
        assert_eq!(reply.error_fields(), ["id"], "a client cannot choose ids");
        let mut sneaky = disk_body("Blue", 100, 5);
        sneaky["Stock"] = json!(999);
        assert_eq!(app.put_disk(disk, &sneaky).await.error_fields(), ["Stock"], "names are case-sensitive");
        let reply = app.put_customer(customer, &json!({"name": "Lea", "email": "lea@example.com", "is_admin": true})).await;
        assert_eq!(reply.error_fields(), ["is_admin"], "{}", reply.text);
        let reply = app.post_order(&json!({"customer_id": customer, "disk_id": disk, "quantity": 1, "unit_price_cents": 0})).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.text);
        assert_eq!(reply.error_fields(), ["unit_price_cents"]);
        assert_eq!(total(&app, "/disks").await, 1);
        assert_eq!(total(&app, &format!("/customers/{customer}/orders")).await, 0);
    }

    async fn invalid_utf8_and_lone_surrogates_are_400_in_any_position(app: TestApp) {
        let bodies: [&[u8]; 4] = [
            b"{\"title\xc3\x28\": 1}",
            b"{\"customer_id\": 1, \"disk_id\": 1, \"quantity\": \"\xed\xa0\x80\"}",
            br#"{"name": "\ud800", "email": "a@example.com"}"#,
            b"\xef\xbb\xbf{\"name\": \"bom\", \"email\": \"a@example.com\"}",
        ];
        for (path, body) in ["/disks", "/orders", "/customers", "/customers"].into_iter().zip(bodies) {
            let reply = post_raw(&app, path, body.to_vec()).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path} {:?}: {}", String::from_utf8_lossy(body), reply.text);
            assert_eq!(reply.error_code(), "malformed_json");
        }
        // Percent-encoded invalid UTF-8 in a query or a path is not JSON: never a 500.
        let query = app.list_disks("?artist=%FF%FE").await;
        assert!(query.status == StatusCode::OK || query.status == StatusCode::UNPROCESSABLE_ENTITY, "{}", query.text);
        let path = app.get("/disks/%FF").await;
        assert_eq!(path.status, StatusCode::NOT_FOUND, "{}", path.text);
        assert_eq!(total(&app, "/customers").await, 0);
    }

    async fn bodies_one_byte_over_the_limit_are_413_with_or_without_content_length(app: TestApp) {
        let limit = app::config::DEFAULT_BODY_LIMIT_BYTES;
        let padding = " ".repeat(limit + 1 - r#"{"name":"x","email":"a@example.com"}"#.len());
        let body = format!(r#"{{"name":"x","email":"a@example.com"{padding}}}"#);
        assert_eq!(body.len(), limit + 1);
        let reply = post_raw(&app, "/customers", body.clone()).await;
        assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", reply.text);
        assert_eq!(reply.error_code(), "payload_too_large");
        // Chunked: no Content-Length to reject up front, the limit applies while reading.
        let mut request = format!(
            "POST /customers HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n", body.len()
        ).into_bytes();
        request.extend_from_slice(body.as_bytes());
        request.extend_from_slice(b"\r\n0\r\n\r\n");
        let (status, answer) = raw_http(&app, &request).await;
        assert_eq!(status, 413, "{answer}");
        assert!(answer.contains("payload_too_large"), "{answer}");
        // Exactly at the limit is accepted.
        let fits = &body[..limit - 1];
        let reply = post_raw(&app, "/customers", format!("{fits}}}")).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        assert_eq!(total(&app, "/customers").await, 1);
    }
}

/// Every operation that takes a JSON body documents every status the body parser can give, so a
/// schema-driven client (or schemathesis' status_code_conformance) meets no undocumented code.
/// schemathesis found `PUT /customers/{id}` and `PUT /disks/{id}` answering an undocumented 415.
#[tokio::test]
async fn every_json_body_operation_documents_400_413_415_and_422() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    let doc = app.openapi().await.json;
    let paths = doc["paths"].as_object().expect("paths");
    let mut checked = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("path item") {
            if operation.get("requestBody").is_none() {
                continue;
            }
            checked += 1;
            let responses = &operation["responses"];
            for status in ["400", "413", "415", "422"] {
                assert!(
                    responses.get(status).is_some(),
                    "{method} {path} does not document {status}"
                );
            }
        }
    }
    assert_eq!(
        checked, 6,
        "POST and PUT customers and disks, POST orders, POST /start"
    );
}

/// The stress endpoints declare the bearer scheme (STRESS_TOKEN) and document its 401.
#[tokio::test]
async fn stress_endpoints_declare_the_bearer_token_and_its_401() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    let doc: Value = app.openapi().await.json;
    let scheme = &doc["components"]["securitySchemes"]["stress_token"];
    assert_eq!(scheme["type"], "http", "{scheme}");
    assert_eq!(scheme["scheme"], "bearer", "{scheme}");
    for (path, method) in [
        ("/start", "post"),
        ("/stop", "post"),
        ("/clear", "post"),
        ("/status", "get"),
        ("/logs", "get"),
    ] {
        let operation = &doc["paths"][path][method];
        assert_eq!(
            operation["security"],
            json!([{"stress_token": []}]),
            "{method} {path}"
        );
        assert!(
            operation["responses"].get("401").is_some(),
            "{method} {path} lacks 401"
        );
    }
    assert!(
        doc["paths"]["/disks"]["get"].get("security").is_none(),
        "the shop API is open"
    );
}
