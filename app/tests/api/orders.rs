//! `/orders`: the happy path and every rejection, each of which must change nothing.

use reqwest::StatusCode;
use serde_json::json;

on_every_backend! {
    async fn an_order_takes_stock_and_records_price_and_total_in_cents(app: TestApp) {
        let customer = app.customer("Lea", "lea@example.com").await;
        let disk = app.disk("Kind of Blue", 2990, 5).await;
        let reply = app.post_order(&json!({"customer_id": customer, "disk_id": disk, "quantity": 2})).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        let order = &reply.json;
        assert_eq!(order["customer_id"], customer);
        assert_eq!(order["disk_id"], disk);
        assert_eq!(order["quantity"], 2);
        assert_eq!(order["unit_price_cents"], 2990);
        assert_eq!(order["total_cents"], 5980);
        assert!(order["created_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{order}");
        let id = reply.id();
        assert_eq!(reply.header("location"), Some(format!("/orders/{id}").as_str()));
        assert_eq!(app.get_disk(disk).await.json["stock"], 3);
        let read = app.get_order(id).await;
        assert_eq!(read.status, StatusCode::OK);
        assert_eq!(read.json, reply.json, "what was answered is what was stored");
    }

    async fn an_order_beyond_stock_returns_409_and_changes_nothing(app: TestApp) {
        let customer = app.customer("Lea", "lea@example.com").await;
        let disk = app.disk("Rare", 1000, 2).await;
        let reply = app.post_order(&json!({"customer_id": customer, "disk_id": disk, "quantity": 3})).await;
        assert_eq!(reply.status, StatusCode::CONFLICT);
        assert_eq!(reply.error_code(), "insufficient_stock");
        assert_eq!(app.get_disk(disk).await.json["stock"], 2);
        assert_eq!(app.db.count_orders().await.unwrap(), 0);
        let exact = app.post_order(&json!({"customer_id": customer, "disk_id": disk, "quantity": 2})).await;
        assert_eq!(exact.status, StatusCode::CREATED, "the last units can be bought");
        assert_eq!(app.get_disk(disk).await.json["stock"], 0);
    }

    async fn an_order_for_an_unknown_customer_or_disk_is_404_and_changes_nothing(app: TestApp) {
        let customer = app.customer("Lea", "lea@example.com").await;
        let disk = app.disk("Kind of Blue", 2990, 5).await;
        let no_customer = app.post_order(&json!({"customer_id": customer + 100, "disk_id": disk, "quantity": 1})).await;
        assert_eq!(no_customer.status, StatusCode::NOT_FOUND);
        assert_eq!(no_customer.error_code(), "not_found");
        assert!(no_customer.json["message"].as_str().unwrap().contains("customer"));
        let no_disk = app.post_order(&json!({"customer_id": customer, "disk_id": disk + 100, "quantity": 1})).await;
        assert_eq!(no_disk.status, StatusCode::NOT_FOUND);
        assert!(no_disk.json["message"].as_str().unwrap().contains("disk"));
        assert_eq!(app.get_disk(disk).await.json["stock"], 5, "stock taken for a bad order is given back");
        assert_eq!(app.db.count_orders().await.unwrap(), 0);
    }

    async fn a_quantity_outside_1_to_100_is_422(app: TestApp) {
        let customer = app.customer("Lea", "lea@example.com").await;
        let disk = app.disk("Kind of Blue", 2990, 500).await;
        for quantity in [json!(0), json!(-1), json!(101), json!(1.5), json!("2"), json!(null)] {
            let reply = app.post_order(&json!({"customer_id": customer, "disk_id": disk, "quantity": quantity})).await;
            assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{quantity}: {}", reply.text);
            assert_eq!(reply.error_fields(), ["quantity"]);
        }
        let max = app.post_order(&json!({"customer_id": customer, "disk_id": disk, "quantity": 100})).await;
        assert_eq!(max.status, StatusCode::CREATED);
        let all_bad = app.post_order(&json!({"customer_id": 0, "disk_id": "x"})).await;
        assert_eq!(all_bad.error_fields(), ["customer_id", "disk_id", "quantity"]);
        assert_eq!(app.get_order(999_999).await.status, StatusCode::NOT_FOUND);
    }
}
