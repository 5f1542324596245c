//! `app seed`: deterministic ids 1..=N, repeatable, and later inserts do not collide.

use app::db::seed::SeedPlan;
use reqwest::StatusCode;
use serde_json::json;

on_every_backend! {
    async fn seeding_loads_ids_1_to_n_deterministically_and_reset_replaces_them(app: TestApp) {
        let plan = SeedPlan { customers: 30, disks: 2500, stock: 7, reset: false };
        app.db.seed(plan).await.expect("first seed");
        let first = app.get_disk(1).await.json;
        let last = app.get_disk(2500).await;
        assert_eq!(last.status, StatusCode::OK, "{}", last.text);
        assert_eq!(last.json["stock"], 7);
        assert_eq!(app.get_disk(2501).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.get_customer(30).await.json["email"], "customer30@example.com");
        assert_eq!(app.list_disks("?total=true").await.json["total"], 2500);

        let again = app.db.seed(plan).await;
        assert!(again.is_err(), "seeding a non-empty database needs --reset");

        let order = app.post_order(&json!({"customer_id": 1, "disk_id": 1, "quantity": 1})).await;
        assert_eq!(order.status, StatusCode::CREATED, "{}", order.text);
        app.db.seed(SeedPlan { reset: true, ..plan }).await.expect("reset seed");
        assert_eq!(app.get_disk(1).await.json, first, "reset restores the seeded row and its stock");
        assert_eq!(app.db.count_orders().await.unwrap(), 0, "reset removes orders");
        assert_eq!(app.get_disk(2500).await.json, last.json, "same data every time");

        let new_disk = app.disk("After seed", 100, 1).await;
        assert_eq!(new_disk, 2501, "new rows continue after the seeded ids");
        let new_customer = app.customer("After", "after@example.com").await;
        assert_eq!(new_customer, 31);
    }
}
