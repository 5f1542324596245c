//! `/customers`.

use reqwest::StatusCode;
use serde_json::{json, Value};

on_every_backend! {
    async fn creating_a_customer_returns_201_with_its_id_and_location(app: TestApp) {
        let reply = app.post_customer(&json!({"name": "Lea Santos", "email": "Lea@Example.com"})).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        let id = reply.id();
        assert_eq!(reply.header("location"), Some(format!("/customers/{id}").as_str()));
        assert_eq!(reply.json["email"], "lea@example.com", "emails are stored lower-cased");
        let read = app.get_customer(id).await;
        assert_eq!(read.status, StatusCode::OK);
        assert_eq!(read.json, reply.json);
    }

    async fn a_duplicate_email_in_any_case_is_409_email_taken(app: TestApp) {
        app.customer("Lea", "lea@example.com").await;
        let reply = app.post_customer(&json!({"name": "Other", "email": "LEA@example.com"})).await;
        assert_eq!(reply.status, StatusCode::CONFLICT);
        assert_eq!(reply.error_code(), "email_taken");
    }

    async fn invalid_customer_fields_are_all_named_in_one_422(app: TestApp) {
        let reply = app.post_customer(&json!({"name": "  ", "email": "not-an-email"})).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.error_code(), "validation_failed");
        assert_eq!(reply.error_fields(), ["email", "name"]);
        let reply = app.post_customer(&json!({})).await;
        assert_eq!(reply.error_fields(), ["email", "name"]);
    }

    async fn replacing_a_customer_changes_it_and_unknown_ids_are_404(app: TestApp) {
        let id = app.customer("Lea", "lea@example.com").await;
        let reply = app.put_customer(id, &json!({"name": "Lea S.", "email": "lea.s@example.com"})).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(app.get_customer(id).await.json["name"], "Lea S.");
        let same = app.put_customer(id, &json!({"name": "Lea S.", "email": "lea.s@example.com"})).await;
        assert_eq!(same.status, StatusCode::OK, "an unchanged row still exists");
        let missing = app.put_customer(id + 999, &json!({"name": "X", "email": "x@example.com"})).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert_eq!(missing.error_code(), "not_found");
    }

    async fn replacing_with_another_customers_email_is_409(app: TestApp) {
        app.customer("A", "a@example.com").await;
        let b = app.customer("B", "b@example.com").await;
        let reply = app.put_customer(b, &json!({"name": "B", "email": "a@example.com"})).await;
        assert_eq!(reply.status, StatusCode::CONFLICT);
        assert_eq!(reply.error_code(), "email_taken");
    }

    async fn deleting_a_customer_without_orders_is_204_then_404(app: TestApp) {
        let id = app.customer("Lea", "lea@example.com").await;
        let reply = app.delete_customer(id).await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT);
        assert_eq!(app.get_customer(id).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.delete_customer(id).await.status, StatusCode::NOT_FOUND);
    }

    async fn deleting_a_customer_with_orders_is_409_has_orders(app: TestApp) {
        let customer = app.customer("Lea", "lea@example.com").await;
        let disk = app.disk("Kind of Blue", 2990, 5).await;
        let order = app.post_order(&json!({"customer_id": customer, "disk_id": disk, "quantity": 1})).await;
        assert_eq!(order.status, StatusCode::CREATED, "{}", order.text);
        let reply = app.delete_customer(customer).await;
        assert_eq!(reply.status, StatusCode::CONFLICT);
        assert_eq!(reply.error_code(), "has_orders");
        assert_eq!(app.get_customer(customer).await.status, StatusCode::OK);
    }

    async fn customers_are_listed_by_id_in_pages_with_a_total(app: TestApp) {
        for i in 0..5 {
            app.customer(&format!("C{i}"), &format!("c{i}@example.com")).await;
        }
        let reply = app.list_customers("?limit=2&offset=1&total=true").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.json["total"], 5);
        assert_eq!(reply.json["limit"], 2);
        assert_eq!(reply.json["offset"], 1);
        let names: Vec<&str> = reply.json["items"].as_array().unwrap().iter()
            .map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["C1", "C2"]);
        let default = app.list_customers("").await;
        assert_eq!(default.json["limit"], 20);
        assert_eq!(default.json["items"].as_array().unwrap().len(), 5);
    }

    async fn a_customers_orders_are_listed_and_unknown_customers_are_404(app: TestApp) {
        let customer = app.customer("Lea", "lea@example.com").await;
        let other = app.customer("Ana", "ana@example.com").await;
        let disk = app.disk("Kind of Blue", 2990, 10).await;
        for (who, quantity) in [(customer, 1), (other, 2), (customer, 3)] {
            let reply = app.post_order(&json!({"customer_id": who, "disk_id": disk, "quantity": quantity})).await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        }
        let reply = app.customer_orders(customer, "?total=true").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.json["total"], 2);
        let quantities: Vec<i64> = reply.json["items"].as_array().unwrap().iter()
            .map(|o| o["quantity"].as_i64().unwrap()).collect();
        assert_eq!(quantities, [1, 3]);
        assert_eq!(app.customer_orders(customer + 999, "").await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.customer_orders(customer + 999, "?after=1").await.status, StatusCode::NOT_FOUND);
        let empty_page = app.customer_orders(customer, "?after=999999").await;
        assert_eq!(empty_page.status, StatusCode::OK, "a known customer past the end: {}", empty_page.text);
        assert_eq!(empty_page.json["items"], json!([]));
        assert_eq!(empty_page.json["next_after"], Value::Null);
        assert_eq!(app.customer_orders(customer, "?limit=101").await.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
}
