//! `/disks`.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::disk_body;

fn titles(reply: &crate::helpers::Reply) -> Vec<String> {
    reply.json["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {}", reply.text))
        .iter()
        .map(|d| d["title"].as_str().unwrap_or_default().to_owned())
        .collect()
}

on_every_backend! {
    async fn creating_a_disk_returns_it_with_integer_cents(app: TestApp) {
        let reply = app.post_disk(&disk_body("Kind of Blue", 2990, 7)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        assert_eq!(reply.json["price_cents"], 2990);
        assert_eq!(reply.json["stock"], 7);
        assert_eq!(reply.json["year"], 1959);
        let id = reply.id();
        assert_eq!(reply.header("location"), Some(format!("/disks/{id}").as_str()));
        assert_eq!(app.get_disk(id).await.json, reply.json);
    }

    async fn sql_looking_and_unicode_text_is_stored_verbatim(app: TestApp) {
        let title = "Robert'); DROP TABLE disks;-- \"quoted\" 50% off_ ção 🎷";
        let reply = app.post_disk(&disk_body(title, 100, 1)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        assert_eq!(app.get_disk(reply.id()).await.json["title"], title);
        let found = app.list_disks("?title=50%25%20OFF_").await;
        assert_eq!(titles(&found), [title], "LIKE wildcards in the filter match literally");
        let none = app.list_disks("?title=50%25%25&total=true").await;
        assert_eq!(none.json["total"], 0);
    }

    async fn invalid_disk_fields_are_all_named_in_one_422(app: TestApp) {
        let reply = app.post_disk(&json!({
            "title": "", "artist": 42, "genre": "jazz", "year": 3000,
            "price_cents": 19.99, "stock": -1
        })).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.error_code(), "validation_failed");
        assert_eq!(reply.error_fields(), ["artist", "price_cents", "stock", "title", "year"]);
        let missing = app.post_disk(&json!({"title": "Only a title"})).await;
        assert_eq!(missing.error_fields(), ["artist", "genre", "price_cents", "stock", "year"]);
    }

    async fn huge_numbers_are_422_not_500(app: TestApp) {
        let mut body = disk_body("Big", 1, 1);
        body["price_cents"] = json!(u64::MAX);
        body["stock"] = json!(1e300);
        let reply = app.post_disk(&body).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.text);
        assert_eq!(reply.error_fields(), ["price_cents", "stock"]);
        let raw = br#"{"title":"t","artist":"a","genre":"g","year":1999,"price_cents":1e400,"stock":1}"#;
        let reply = app.send(reqwest::Method::POST, "/disks", Some(("application/json", raw.to_vec()))).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.text);
    }

    async fn replacing_a_disk_changes_every_field_and_unknown_ids_are_404(app: TestApp) {
        let id = app.disk("Old", 100, 1).await;
        let reply = app.put_disk(id, &disk_body("New", 250, 9)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let read = app.get_disk(id).await;
        assert_eq!(read.json["title"], "New");
        assert_eq!(read.json["price_cents"], 250);
        assert_eq!(read.json["stock"], 9);
        assert_eq!(app.put_disk(id + 999, &disk_body("X", 1, 1)).await.status, StatusCode::NOT_FOUND);
        let invalid = app.put_disk(id, &json!({"title": "New"})).await;
        assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    }

    async fn deleting_a_disk_is_204_unless_it_has_orders(app: TestApp) {
        let free = app.disk("Free", 100, 1).await;
        assert_eq!(app.delete_disk(free).await.status, StatusCode::NO_CONTENT);
        assert_eq!(app.get_disk(free).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.delete_disk(free).await.status, StatusCode::NOT_FOUND);
        let sold = app.disk("Sold", 100, 5).await;
        let customer = app.customer("Lea", "lea@example.com").await;
        let order = app.post_order(&json!({"customer_id": customer, "disk_id": sold, "quantity": 1})).await;
        assert_eq!(order.status, StatusCode::CREATED, "{}", order.text);
        let reply = app.delete_disk(sold).await;
        assert_eq!(reply.status, StatusCode::CONFLICT);
        assert_eq!(reply.error_code(), "has_orders");
    }

    async fn the_disk_list_filters_by_artist_title_genre_price_and_stock(app: TestApp) {
        let disks = [
            ("Kind of Blue", "Miles Davis", "Jazz", 2990, 3),
            ("Bitches Brew", "Miles Davis", "jazz", 3500, 0),
            ("Elis & Tom", "Elis Regina", "MPB", 1990, 8),
            ("Blue Train", "John Coltrane", "jazz", 2500, 1),
        ];
        for (title, artist, genre, price, stock) in disks {
            let reply = app.post_disk(&json!({
                "title": title, "artist": artist, "genre": genre, "year": 1970,
                "price_cents": price, "stock": stock
            })).await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        }
        assert_eq!(titles(&app.list_disks("?artist=miles").await), ["Kind of Blue", "Bitches Brew"]);
        assert_eq!(titles(&app.list_disks("?title=BLUE").await), ["Kind of Blue", "Blue Train"]);
        assert_eq!(titles(&app.list_disks("?genre=JAZZ").await), ["Kind of Blue", "Bitches Brew", "Blue Train"]);
        assert_eq!(titles(&app.list_disks("?genre=jaz").await), Vec::<String>::new(), "genre is exact");
        assert_eq!(titles(&app.list_disks("?min_price_cents=2500&max_price_cents=2990").await), ["Kind of Blue", "Blue Train"]);
        assert_eq!(titles(&app.list_disks("?in_stock=false").await), ["Bitches Brew"]);
        let combined = app.list_disks("?artist=miles&in_stock=true&genre=jazz&total=true").await;
        assert_eq!(titles(&combined), ["Kind of Blue"]);
        assert_eq!(combined.json["total"], 1);
        let bad = app.list_disks("?min_price_cents=5&max_price_cents=1&in_stock=maybe").await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(bad.error_fields(), ["in_stock", "min_price_cents"]);
    }

    async fn pagination_is_bounded_and_reports_the_total(app: TestApp) {
        for i in 0..25 {
            app.disk(&format!("D{i:02}"), 100, 1).await;
        }
        let first = app.list_disks("?total=true").await;
        assert_eq!(first.json["limit"], 20);
        assert_eq!(first.json["offset"], 0);
        assert_eq!(first.json["total"], 25);
        assert_eq!(titles(&first).len(), 20);
        let last = app.list_disks("?limit=10&offset=20").await;
        assert_eq!(titles(&last), ["D20", "D21", "D22", "D23", "D24"]);
        let max = app.list_disks("?limit=100").await;
        assert_eq!(max.status, StatusCode::OK);
        let past_end = app.list_disks("?offset=1000&total=true").await;
        assert_eq!(past_end.status, StatusCode::OK);
        assert_eq!(titles(&past_end).len(), 0);
        assert_eq!(past_end.json["total"], 25);
        for query in ["?limit=0", "?limit=101", "?limit=-1", "?limit=abc", "?offset=-1",
                      "?limit=99999999999999999999999", "?offset=1.5"] {
            let reply = app.list_disks(query).await;
            assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {}", reply.text);
            assert_eq!(reply.error_code(), "validation_failed");
            assert_eq!(reply.error_fields().len(), 1, "{query}: {}", reply.text);
        }
        let unknown = app.list_disks("?colour=blue").await;
        assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(unknown.error_fields(), ["colour"]);
    }

    async fn keyset_pages_walk_every_match_once_and_count_only_when_asked(app: TestApp) {
        for i in 0..25 {
            let genre = if i % 3 == 0 { "Jazz" } else { "rock" };
            let reply = app.post_disk(&json!({
                "title": format!("D{i:02}"), "artist": "A", "genre": genre, "year": 1970,
                "price_cents": 100, "stock": 1
            })).await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        }
        for (filter, expected) in [("", 25), ("genre=jazz&", 9)] {
            let mut seen = Vec::new();
            let mut path = format!("?{filter}limit=4");
            let mut pages = 0;
            loop {
                let page = app.list_disks(&path).await;
                assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.text);
                assert!(page.json.get("total").is_none(), "no count unless asked: {}", page.text);
                seen.extend(titles(&page));
                pages += 1;
                match page.json["next_after"].as_i64() {
                    Some(cursor) => {
                        assert_eq!(page.json["items"][3]["id"], cursor, "the cursor is the last id");
                        path = format!("?{filter}limit=4&after={cursor}");
                        assert!(page.json.get("offset").is_some() || pages > 1);
                    }
                    None => break,
                }
            }
            assert_eq!(seen.len(), expected, "{filter}: {seen:?}");
            let mut sorted = seen.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted, seen, "{filter}: in id order, each once");
            assert_eq!(pages, expected.div_ceil(4), "{filter}");
        }
        let keyset = app.list_disks("?after=20&total=true").await;
        assert_eq!(titles(&keyset), ["D20", "D21", "D22", "D23", "D24"]);
        assert_eq!(keyset.json["after"], 20);
        assert!(keyset.json.get("offset").is_none(), "{}", keyset.text);
        assert_eq!(keyset.json["total"], 25, "the total counts every match, not the rest");
        assert_eq!(keyset.json["next_after"], serde_json::Value::Null);
        let both = app.list_disks("?after=1&offset=1").await;
        assert_eq!(both.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", both.text);
        assert_eq!(both.error_fields(), ["after"]);
        for query in ["?after=-1", "?after=x", "?total=maybe"] {
            let reply = app.list_disks(query).await;
            assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {}", reply.text);
            assert_eq!(reply.error_fields().len(), 1, "{query}: {}", reply.text);
        }
        let customers = app.list_customers("?after=0&limit=1").await;
        assert_eq!(customers.status, StatusCode::OK, "{}", customers.text);
        assert_eq!(customers.json["next_after"], serde_json::Value::Null);
    }

    async fn explain_prints_a_plan_for_every_list_shape(app: TestApp) {
        app.db.seed(app::db::seed::SeedPlan { customers: 20, disks: 300, stock: 5, reset: false })
            .await
            .expect("seed");
        let plans = app.db.explain(300, 20).await.expect("explain");
        let shapes = app::db::explain::shapes(app.db.backend(), 300, 20).unwrap();
        for shape in &shapes {
            assert!(plans.contains(&format!("## `{}`", shape.request)), "{plans}");
        }
        let blocks = plans.matches("```sql").count();
        let counted = shapes.iter().filter(|s| s.query.count.is_some()).count();
        assert_eq!(blocks, shapes.len() + counted, "{plans}");
        if app.db.backend() == crate::helpers::Backend::Postgres {
            // The keyset page seeks through the primary key and reads one page (plus one row).
            let keyset = plans.split("## `GET /disks?limit=50&after=255`").nth(1).unwrap();
            let keyset = &keyset[..keyset.find("## ").unwrap()];
            assert!(keyset.contains("Index Scan using disks_pkey"), "{keyset}");
            assert!(keyset.contains("Index Cond: (id > "), "{keyset}");
            assert!(keyset.contains("actual rows=45 "), "{keyset}");
        }
    }
}
