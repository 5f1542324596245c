//! `POST /orders` with an `Idempotency-Key`, on every backend: a retry gets the first answer
//! and never a second order, a key names one body, a race between requests with one key places
//! one order, a rejected request records nothing, keys expire, and bad keys are 422.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{Backend, Reply, TestApp};

const REPLAYED: &str = "idempotent-replayed";

fn order(customer: i64, disk: i64, quantity: i64) -> Value {
    json!({"customer_id": customer, "disk_id": disk, "quantity": quantity})
}

/// A fresh order: 201 with its `Location`, and no replay header.
fn assert_placed(reply: &Reply) -> i64 {
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.header(REPLAYED), None, "a first answer is no replay");
    let id = reply.id();
    assert_eq!(
        reply.header("location"),
        Some(format!("/orders/{id}").as_str())
    );
    id
}

/// The first answer again: the same status, body and `Location`, saying it is a replay.
fn assert_replay_of(reply: &Reply, first: &Reply) {
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.header(REPLAYED), Some("true"), "{:?}", reply.headers);
    assert_eq!(reply.json, first.json, "the body of the first answer");
    assert_eq!(reply.header("location"), first.header("location"));
}

async fn stock(app: &TestApp, disk: i64) -> Value {
    app.get_disk(disk).await.json["stock"].clone()
}

on_every_backend! {
    async fn a_retry_with_the_same_key_and_body_gets_the_first_answer_and_places_nothing(app: TestApp) {
        let customer = app.customer("Lea", "lea@example.com").await;
        let disk = app.disk("Kind of Blue", 2990, 10).await;
        let body = order(customer, disk, 2);
        let first = app.post_order_with_key(&body, "order-1").await;
        let id = assert_placed(&first);
        for _ in 0..3 {
            let again = app.post_order_with_key(&body, "order-1").await;
            assert_replay_of(&again, &first);
        }
        assert_eq!(app.db.count_orders().await.unwrap(), 1, "no second order");
        assert_eq!(stock(&app, disk).await, 8, "no second stock decrement");
        assert_eq!(app.get_order(id).await.json, first.json);
        // A key is the customer's own: another customer's same key is another order.
        let other = app.customer("Max", "max@example.com").await;
        let theirs = app.post_order_with_key(&order(other, disk, 2), "order-1").await;
        assert_ne!(assert_placed(&theirs), id);
        // Keys compare byte for byte: another case is another key, on every backend.
        assert_placed(&app.post_order_with_key(&body, "ORDER-1").await);
        assert_eq!(app.db.count_orders().await.unwrap(), 3);
        assert_eq!(stock(&app, disk).await, 4);
    }

    async fn the_same_key_with_another_body_is_422_idempotency_key_reused_and_changes_nothing(app: TestApp) {
        let customer = app.customer("Lea", "lea@example.com").await;
        let disk = app.disk("Kind of Blue", 2990, 5).await;
        let other_disk = app.disk("Blue Train", 1990, 5).await;
        let first = app.post_order_with_key(&order(customer, disk, 1), "k-1").await;
        let id = assert_placed(&first);
        for body in [order(customer, disk, 2), order(customer, other_disk, 1)] {
            let reply = app.post_order_with_key(&body, "k-1").await;
            assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", reply.text);
            assert_eq!(reply.error_code(), "idempotency_key_reused");
            let message = reply.json["message"].as_str().unwrap();
            assert!(message.contains(&format!("order {id} for disk {disk}, quantity 1")), "{message}");
            assert_eq!(reply.header(REPLAYED), None);
        }
        assert_eq!(app.db.count_orders().await.unwrap(), 1);
        assert_eq!(stock(&app, disk).await, 4);
        assert_eq!(stock(&app, other_disk).await, 5);
        // The first body still gets its answer.
        assert_replay_of(&app.post_order_with_key(&order(customer, disk, 1), "k-1").await, &first);
    }

    async fn a_rejected_request_records_no_key_and_its_retry_is_judged_afresh(app: TestApp) {
        let customer = app.customer("Lea", "lea@example.com").await;
        let disk = app.disk("Rare", 1000, 1).await;
        let beyond = app.post_order_with_key(&order(customer, disk, 2), "k-409").await;
        assert_eq!(beyond.status, StatusCode::CONFLICT, "{}", beyond.text);
        assert_eq!(beyond.error_code(), "insufficient_stock");
        let unknown_disk = app.post_order_with_key(&order(customer, disk + 100, 1), "k-404").await;
        assert_eq!(unknown_disk.status, StatusCode::NOT_FOUND, "{}", unknown_disk.text);
        let unknown_customer = app.post_order_with_key(&order(customer + 100, disk, 1), "k-404").await;
        assert_eq!(unknown_customer.status, StatusCode::NOT_FOUND, "{}", unknown_customer.text);
        let invalid = app.post_order_with_key(&order(customer, disk, 0), "k-422").await;
        assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", invalid.text);
        assert_eq!(app.db.count_orders().await.unwrap(), 0);
        assert_eq!(stock(&app, disk).await, 1);
        // The stock comes back: the same request with the same key now goes through.
        let restocked = app.put_disk(disk, &crate::helpers::disk_body("Rare", 1000, 5)).await;
        assert_eq!(restocked.status, StatusCode::OK, "{}", restocked.text);
        let retried = app.post_order_with_key(&order(customer, disk, 2), "k-409").await;
        assert_placed(&retried);
        // Nothing was recorded for the others either: any body may use those keys.
        assert_placed(&app.post_order_with_key(&order(customer, disk, 1), "k-404").await);
        assert_placed(&app.post_order_with_key(&order(customer, disk, 1), "k-422").await);
        assert_eq!(app.db.count_orders().await.unwrap(), 3);
        assert_eq!(stock(&app, disk).await, 1);
    }

    async fn fifty_simultaneous_requests_with_one_key_place_one_order_and_take_stock_once(app: TestApp) {
        let customer = app.customer("Crowd", "crowd@example.com").await;
        let disk = app.disk("Release", 1500, 100).await;
        let body = order(customer, disk, 2);
        let replies = join_all((0..50).map(|_| app.post_order_with_key(&body, "one-key"))).await;
        let others: Vec<String> = replies.iter()
            .filter(|r| r.status != StatusCode::CREATED)
            .map(|r| format!("{} {}", r.status, r.text))
            .collect();
        assert!(others.is_empty(), "every answer is 201: {others:?}");
        let fresh: Vec<&Reply> = replies.iter().filter(|r| r.header(REPLAYED).is_none()).collect();
        assert_eq!(fresh.len(), 1, "one request placed the order, the others are replays");
        for reply in &replies {
            assert_replay_or_same(reply, fresh[0]);
        }
        assert_eq!(app.db.count_orders().await.unwrap(), 1);
        assert_eq!(stock(&app, disk).await, 98, "one stock decrement");
    }

    async fn simultaneous_requests_with_one_key_and_two_bodies_place_one_order_and_422_the_other_body(app: TestApp) {
        let customer = app.customer("Crowd", "crowd@example.com").await;
        let disk = app.disk("Release", 1500, 100).await;
        let bodies = [order(customer, disk, 1), order(customer, disk, 3)];
        let replies = join_all((0..20).map(|i| app.post_order_with_key(&bodies[i % 2], "shared"))).await;
        let created: Vec<&Reply> = replies.iter().filter(|r| r.status == StatusCode::CREATED).collect();
        let reused = replies.iter()
            .filter(|r| r.status == StatusCode::UNPROCESSABLE_ENTITY)
            .inspect(|r| assert_eq!(r.error_code(), "idempotency_key_reused"))
            .count();
        assert_eq!((created.len(), reused), (10, 10), "one body won, the other is refused: {replies:?}");
        let quantity = created[0].json["quantity"].as_i64().unwrap();
        assert_eq!(app.db.count_orders().await.unwrap(), 1);
        assert_eq!(stock(&app, disk).await, 100 - quantity);
    }

    async fn a_key_older_than_the_ttl_places_a_new_order(app: TestApp, settings: |s| {
        s.database.idempotency_ttl = Duration::from_secs(1);
    }) {
        let customer = app.customer("Lea", "lea@example.com").await;
        let disk = app.disk("Kind of Blue", 2990, 5).await;
        let body = order(customer, disk, 1);
        let first = app.post_order_with_key(&body, "daily").await;
        let first_id = assert_placed(&first);
        assert_replay_of(&app.post_order_with_key(&body, "daily").await, &first);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let later = app.post_order_with_key(&order(customer, disk, 2), "daily").await;
        let later_id = assert_placed(&later);
        assert_ne!(later_id, first_id);
        assert_replay_of(&app.post_order_with_key(&order(customer, disk, 2), "daily").await, &later);
        assert_eq!(app.db.count_orders().await.unwrap(), 2);
        assert_eq!(stock(&app, disk).await, 2);
        assert_eq!(app.get_order(first_id).await.json, first.json, "the expired order stays as it was");
    }

    async fn an_invalid_key_is_422_naming_the_header_and_nothing_is_stored(app: TestApp) {
        let customer = app.customer("Lea", "lea@example.com").await;
        let disk = app.disk("Blue", 100, 5).await;
        let body = order(customer, disk, 1);
        let long = "k".repeat(256);
        // HTTP itself carries no other control character than a tab in a header value.
        let bad: [(&str, &[u8]); 5] = [
            ("empty", b""),
            ("256 characters", long.as_bytes()),
            ("a space", b"two words"),
            ("a tab", b"tab\there"),
            ("non-ASCII", "clé".as_bytes()),
        ];
        for (what, key) in bad {
            let reply = app.post_order_with_key_values(&body, &[key]).await;
            assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {}", reply.text);
            assert_eq!(reply.error_code(), "validation_failed", "{what}");
            assert_eq!(reply.error_fields(), ["Idempotency-Key"], "{what}");
        }
        let twice = app.post_order_with_key_values(&body, &[b"a", b"b"]).await;
        assert_eq!(twice.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", twice.text);
        assert_eq!(twice.error_fields(), ["Idempotency-Key"]);
        // A bad body and a bad key: one answer names both.
        let both = app.post_order_with_key_values(&order(customer, disk, 0), &[b""]).await;
        assert_eq!(both.error_fields(), ["Idempotency-Key", "quantity"], "{}", both.text);
        assert_eq!(app.db.count_orders().await.unwrap(), 0);
        // Quotes and semicolons are visible ASCII: a valid key, bound like any value.
        let sql = r#"';DROP/**/TABLE/**/orders;--""#;
        assert_placed(&app.post_order_with_key(&body, sql).await);
        assert_eq!(
            app.post_order_with_key(&body, sql).await.header(REPLAYED),
            Some("true"),
            "stored and compared verbatim"
        );
        assert_placed(&app.post_order_with_key(&body, &"k".repeat(255)).await);
        assert_placed(&app.post_order_with_key(&body, "!~").await);
        assert_eq!(app.health().await.status, StatusCode::OK);
        assert_eq!(stock(&app, disk).await, 2);
    }

    async fn requests_without_a_key_behave_as_before_even_beside_keyed_ones(app: TestApp) {
        let customer = app.customer("Lea", "lea@example.com").await;
        let disk = app.disk("Kind of Blue", 2990, 10).await;
        let body = order(customer, disk, 1);
        let keyed = app.post_order_with_key(&body, "k").await;
        assert_placed(&keyed);
        // The same body without a key is a new order each time, never a replay.
        let mut ids = vec![keyed.id()];
        for _ in 0..3 {
            let reply = app.post_order(&body).await;
            ids.push(assert_placed(&reply));
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 4);
        assert_eq!(stock(&app, disk).await, 6);
        let beyond = app.post_order(&order(customer, disk, 7)).await;
        assert_eq!(beyond.status, StatusCode::CONFLICT);
        assert_eq!(app.customer_orders(customer, "?total=true").await.json["total"], 4);
    }
}

/// The fresh answer itself, or a replay of it.
fn assert_replay_or_same(reply: &Reply, fresh: &Reply) {
    if reply.header(REPLAYED).is_some() {
        assert_replay_of(reply, fresh);
    } else {
        assert_eq!(reply.json, fresh.json);
    }
}

/// On Postgres a keyed order never joins the order batch: the batch statement has no
/// per-order key, and one order's unique violation would refuse the whole batch.
#[tokio::test]
async fn keyed_orders_on_postgres_are_placed_alone_never_in_a_batch() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let customer = app.customer("Alone", "alone@example.com").await;
    let mut disks = Vec::new();
    for i in 0..16 {
        disks.push(app.disk(&format!("Alone {i}"), 700, 5).await);
    }
    let replies = join_all(disks.iter().enumerate().map(|(i, &disk)| {
        let body = order(customer, disk, 1);
        let app = &app;
        async move { app.post_order_with_key(&body, &format!("alone-{i}")).await }
    }))
    .await;
    for reply in &replies {
        assert_placed(reply);
    }
    let stats = app.db.snapshot().order_batches;
    assert_eq!((stats.batches_total, stats.batched_total), (0, 0));
    assert_eq!(app.db.count_orders().await.unwrap(), 16);
}

/// The contract says what the code does: an optional header of 1 to 255 visible ASCII
/// characters (a string, never null, for schema-driven clients and schemathesis), the replay
/// header on the 201, and the two 422s.
#[tokio::test]
async fn the_openapi_document_describes_the_key_the_replay_and_the_422s() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = app.openapi().await.json;
    let operation = &doc["paths"]["/orders"]["post"];
    let parameters = operation["parameters"].as_array().expect("parameters");
    let key = parameters
        .iter()
        .find(|p| p["name"] == "Idempotency-Key")
        .unwrap_or_else(|| panic!("no Idempotency-Key in {operation}"));
    assert_eq!(key["in"], "header");
    assert_eq!(key["required"], false);
    assert_eq!(
        key["schema"],
        json!({
            "type": "string",
            "minLength": 1,
            "maxLength": contract::orders::MAX_IDEMPOTENCY_KEY_CHARS,
            "pattern": format!("^[!-~]{{1,{}}}$", contract::orders::MAX_IDEMPOTENCY_KEY_CHARS),
        })
    );
    let created = &operation["responses"]["201"];
    assert!(
        created["headers"].get("Idempotent-Replayed").is_some(),
        "{created}"
    );
    let unprocessable = operation["responses"]["422"]["description"]
        .as_str()
        .unwrap();
    for code in ["validation_failed", "idempotency_key_reused"] {
        assert!(unprocessable.contains(code), "{unprocessable}");
    }
}
