//! Orders placed together on Postgres (`db::order_batch`): each order of a shared statement
//! gets its own, right answer, and a refused statement loses none of them.
//!
//! The orders are placed through the app's own `Db` from one task: `join_all` polls every
//! order once before the drain task runs, so they all wait in the queue together and the
//! batches are certain, not a matter of timing.

use app::db::rows::{OrderRejected, OrderRow};
use app::domain::{NewOrder, OrderInput};
use futures_util::future::join_all;
use sqlx::Connection;

use crate::helpers::{metric, Backend, TestApp, TestDatabase};

fn order(customer: i64, disk: i64, quantity: i64) -> NewOrder {
    NewOrder::try_from(OrderInput {
        customer_id: Some(customer.into()),
        disk_id: Some(disk.into()),
        quantity: Some(quantity.into()),
    })
    .expect("a valid order")
}

type Outcome = Result<Result<OrderRow, OrderRejected>, sqlx::Error>;

async fn place_all(app: &TestApp, orders: Vec<NewOrder>) -> Vec<Outcome> {
    join_all(orders.into_iter().map(|new| app.db.place_order(new))).await
}

#[tokio::test]
async fn a_burst_of_mixed_orders_is_batched_and_each_gets_its_own_answer() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let customer = app.customer("Batch", "batch@example.com").await;
    // Four disks of 3 units, priced apart so a mixed-up answer would show.
    let mut disks = Vec::new();
    for i in 0..4 {
        disks.push(app.disk(&format!("Batch {i}"), 1000 + i, 3).await);
    }
    // Per disk: three orders of one unit (placed) and a fourth (out of stock), interleaved
    // across disks so each batch holds several disks and several orders wait for a later one.
    let mut orders = Vec::new();
    for _ in 0..4 {
        for &disk in &disks {
            orders.push(order(customer, disk, 1));
        }
    }
    orders.push(order(customer + 1000, disks[0], 1)); // unknown customer
    orders.push(order(customer, disks[3] + 1000, 1)); // unknown disk
    let outcomes = place_all(&app, orders).await;

    let (mut placed, mut short, mut other) = (Vec::new(), 0, Vec::new());
    for (i, outcome) in outcomes.into_iter().enumerate() {
        match outcome {
            Ok(Ok(row)) => placed.push(row),
            Ok(Err(OrderRejected::InsufficientStock { available })) => {
                assert_eq!(available, 0, "order {i}");
                short += 1;
            }
            Ok(Err(rejected)) => other.push((i, rejected)),
            Err(err) => panic!("order {i} failed: {err}"),
        }
    }
    assert_eq!(placed.len(), 12, "three units of each of four disks");
    assert_eq!(short, 4, "the fourth order of each disk");
    assert_eq!(
        other,
        [
            (16, OrderRejected::UnknownCustomer),
            (17, OrderRejected::UnknownDisk)
        ]
    );
    for (i, &disk) in disks.iter().enumerate() {
        assert_eq!(placed.iter().filter(|row| row.disk_id == disk).count(), 3);
        assert_eq!(app.get_disk(disk).await.json["stock"], 0, "disk {disk}");
        for row in placed.iter().filter(|row| row.disk_id == disk) {
            assert_eq!(row.unit_price_cents, 1000 + i as i64);
        }
    }
    // What each caller was told is what the table holds.
    for row in &placed {
        let stored = app
            .db
            .find_order(row.id)
            .await
            .unwrap()
            .expect("placed order stored");
        assert_eq!(
            (stored.customer_id, stored.disk_id, stored.quantity),
            (row.customer_id, row.disk_id, row.quantity)
        );
        assert_eq!(stored.unit_price_cents, row.unit_price_cents);
        assert_eq!(stored.total_cents, row.total_cents);
        assert_eq!(stored.created_at, row.created_at);
    }
    assert_eq!(app.db.count_orders().await.unwrap(), 12);

    let stats = app.db.snapshot().order_batches;
    assert!(stats.batches_total >= 1, "{stats:?}");
    assert!(stats.batched_total >= 2 * stats.batches_total, "{stats:?}");
    let text = app.metrics().await.text;
    assert_eq!(
        metric(&text, "db_order_batches_total "),
        stats.batches_total
    );
    assert_eq!(
        metric(&text, "db_orders_batched_total "),
        stats.batched_total
    );
}

#[tokio::test]
async fn a_refused_batch_is_placed_again_order_by_order_and_loses_nothing() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let good = app.customer("Good", "good@example.com").await;
    let poisoned = app.customer("Poisoned", "poisoned@example.com").await;
    let mut disks = Vec::new();
    for i in 0..5 {
        disks.push(app.disk(&format!("Refused {i}"), 500, 10).await);
    }
    // The server refuses any statement that inserts an order of `poisoned`: the batch holding
    // it fails as a whole, as it would on a deadlock or a customer deleted in between.
    let mut conn = sqlx::PgConnection::connect(&app.database.url)
        .await
        .unwrap();
    sqlx::raw_sql(&format!(
        "CREATE FUNCTION refuse_poisoned() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         IF NEW.customer_id = {poisoned} THEN RAISE EXCEPTION 'refused by the test'; END IF; \
         RETURN NEW; END $$; \
         CREATE TRIGGER refuse_poisoned BEFORE INSERT ON orders \
         FOR EACH ROW EXECUTE FUNCTION refuse_poisoned();"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    // The poisoned order has a disk of its own, so it shares the first batch with the others.
    let lone = app.disk("Refused alone", 500, 10).await;
    let mut orders: Vec<NewOrder> = disks.iter().map(|&disk| order(good, disk, 2)).collect();
    orders.insert(2, order(poisoned, lone, 1));
    let outcomes = place_all(&app, orders).await;

    for (i, outcome) in outcomes.iter().enumerate() {
        match (i, outcome) {
            (2, Err(sqlx::Error::Database(err))) => {
                assert!(err.message().contains("refused by the test"), "{err}")
            }
            (2, other) => panic!("the poisoned order was not refused: {other:?}"),
            (_, Ok(Ok(row))) => assert_eq!((row.customer_id, row.quantity), (good, 2)),
            (_, other) => panic!("order {i} was lost with the refused batch: {other:?}"),
        }
    }
    for &disk in &disks {
        assert_eq!(
            app.get_disk(disk).await.json["stock"],
            8,
            "disk {disk}: only the good order"
        );
    }
    assert_eq!(
        app.get_disk(lone).await.json["stock"],
        10,
        "the refused order took nothing"
    );
    assert_eq!(app.db.count_orders().await.unwrap(), 5);
    // The batch was tried (and refused) before its orders went one by one: no batch counted.
    assert_eq!(app.db.snapshot().order_batches.batches_total, 0);
}

#[tokio::test]
async fn a_maximum_of_one_places_every_order_alone() {
    let database = TestDatabase::create(Backend::Postgres).await;
    let app = TestApp::spawn_with(Backend::Postgres, database, |settings| {
        settings.database.order_batch_max = 1;
    })
    .await;
    let customer = app.customer("Alone", "alone@example.com").await;
    let disk = app.disk("Alone", 700, 5).await;
    let other = app.disk("Alone too", 800, 5).await;
    let orders = (0..8).map(|i| order(customer, if i % 2 == 0 { disk } else { other }, 1));
    let outcomes = place_all(&app, orders.collect()).await;
    assert!(
        outcomes.iter().all(|o| matches!(o, Ok(Ok(_)))),
        "{outcomes:?}"
    );
    let stats = app.db.snapshot().order_batches;
    assert_eq!((stats.batches_total, stats.batched_total), (0, 0));
}
