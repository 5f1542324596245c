//! The invariant the whole lab relies on: stock is never oversold, on every backend.

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

on_every_backend! {
    async fn two_hundred_simultaneous_orders_for_fifty_units_create_exactly_fifty(app: TestApp) {
        let customer = app.customer("Crowd", "crowd@example.com").await;
        // Five disks of ten units each: 50 in total.
        let mut disks = Vec::new();
        for i in 0..5 {
            disks.push(app.disk(&format!("Release {i}"), 1500, 10).await);
        }
        let orders = (0..200).map(|i| {
            let body = json!({"customer_id": customer, "disk_id": disks[i % disks.len()], "quantity": 1});
            let app = &app;
            async move { app.post_order(&body).await }
        });
        let replies = join_all(orders).await;

        let created = replies.iter().filter(|r| r.status == StatusCode::CREATED).count();
        let conflicts = replies.iter().filter(|r| r.status == StatusCode::CONFLICT).count();
        let others: Vec<String> = replies.iter()
            .filter(|r| r.status != StatusCode::CREATED && r.status != StatusCode::CONFLICT)
            .map(|r| format!("{} {}", r.status, r.text))
            .collect();
        assert!(others.is_empty(), "unexpected answers: {others:?}");
        assert_eq!(created, 50);
        assert_eq!(conflicts, 150);
        assert!(replies.iter().filter(|r| r.status == StatusCode::CONFLICT)
            .all(|r| r.error_code() == "insufficient_stock"));
        let mut ids: Vec<i64> = replies.iter().filter(|r| r.status == StatusCode::CREATED).map(|r| r.id()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 50, "order ids are unique");
        for disk in disks {
            assert_eq!(app.get_disk(disk).await.json["stock"], 0, "disk {disk}");
        }
        assert_eq!(app.db.count_orders().await.unwrap(), 50);
        assert_eq!(app.customer_orders(customer, "?total=true").await.json["total"], 50);
    }
}
