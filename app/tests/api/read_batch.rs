//! Reads of a disk by id answered together on Postgres (`db::read_batch`): each read of a shared
//! statement gets its own row, and a statement that fails costs no read its answer.
//!
//! The reads go through the app's own `Db` from one task: `join_all` polls every read once
//! before the drain task runs, so they wait in the queue together and the batches are certain.

use futures_util::future::join_all;

use crate::helpers::{metric, Backend, TestApp, TestDatabase};

async fn read_all(app: &TestApp, ids: &[i64]) -> Vec<Result<Option<(i64, String, i64)>, String>> {
    join_all(ids.iter().map(|&id| app.db.find_disk(id)))
        .await
        .into_iter()
        .map(|found| {
            found
                .map(|row| row.map(|d| (d.id, d.title, d.price_cents)))
                .map_err(|err| err.to_string())
        })
        .collect()
}

#[tokio::test]
async fn a_burst_of_reads_is_batched_and_each_gets_its_own_row() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let mut disks = Vec::new();
    for i in 0..5 {
        disks.push(app.disk(&format!("Read {i}"), 500 + i, 1).await);
    }
    // Every disk twice, interleaved, and ids no disk has.
    let mut ids: Vec<i64> = disks.iter().chain(disks.iter().rev()).copied().collect();
    ids.insert(3, disks[4] + 1000);
    ids.push(-1);
    let reads = read_all(&app, &ids).await;
    for (id, read) in ids.iter().zip(&reads) {
        let expected = disks
            .iter()
            .position(|d| d == id)
            .map(|i| (*id, format!("Read {i}"), 500 + i as i64));
        assert_eq!(read, &Ok(expected), "read of {id}");
    }
    let stats = app.db.snapshot().disk_read_batches;
    assert!(stats.batches_total >= 1, "{stats:?}");
    assert!(stats.batched_total >= 2 * stats.batches_total, "{stats:?}");
    assert!(stats.batched_total <= ids.len() as u64, "{stats:?}");
    let text = app.metrics().await.text;
    assert_eq!(metric(&text, "db_read_batches_total "), stats.batches_total);
    assert_eq!(
        metric(&text, "db_reads_batched_total "),
        stats.batched_total
    );
    // The same through HTTP: a found disk is 200 with its fields, a missing one 404.
    let reply = app.get_disk(disks[2]).await;
    assert_eq!(reply.json["title"], "Read 2");
    assert_eq!(app.get_disk(disks[4] + 1000).await.status.as_u16(), 404);
}

#[tokio::test]
async fn a_read_batched_after_a_write_sees_the_write() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let disk = app.disk("Before", 100, 1).await;
    let reply = app
        .put_disk(disk, &crate::helpers::disk_body("After", 250, 3))
        .await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text);
    let reads = read_all(&app, &[disk; 6]).await;
    assert!(
        reads
            .iter()
            .all(|r| r == &Ok(Some((disk, "After".to_owned(), 250)))),
        "{reads:?}"
    );
}

#[tokio::test]
async fn killed_connections_cost_a_batch_no_answer() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let disk = app.disk("Survivor", 100, 5).await;
    // Pooled connections open, then killed server-side: the next batch's statement fails on a
    // dead connection, and its reads run alone (on fresh connections) instead of failing.
    read_all(&app, &[disk; 16]).await;
    app.database.kill_connections().await;
    let mut failures = 0;
    for _ in 0..3 {
        let reads = read_all(&app, &[disk; 16]).await;
        for read in &reads {
            match read {
                Ok(Some((id, _, _))) => assert_eq!(*id, disk),
                Ok(None) => panic!("the disk vanished: {reads:?}"),
                Err(_) => failures += 1,
            }
        }
    }
    // A read that runs alone can still meet a dead pooled connection (answered 503, as an
    // unbatched read would be); what must not happen is a whole batch failing with its statement.
    assert!(failures < 16, "{failures} of 48 reads failed");
    let last = read_all(&app, &[disk; 8]).await;
    assert!(
        last.iter().all(|r| matches!(r, Ok(Some(_)))),
        "no recovery: {last:?}"
    );
}

#[tokio::test]
async fn a_closed_pool_fails_every_read_of_a_batch_at_once() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let disk = app.disk("Closed", 100, 5).await;
    app.db.close().await;
    let reads = read_all(&app, &[disk; 5]).await;
    assert!(reads.iter().all(Result::is_err), "{reads:?}");
}

#[tokio::test]
async fn a_maximum_of_one_reads_every_disk_alone() {
    let database = TestDatabase::create(Backend::Postgres).await;
    let app = TestApp::spawn_with(Backend::Postgres, database, |settings| {
        settings.database.read_batch_max = 1;
    })
    .await;
    let disk = app.disk("Alone", 700, 5).await;
    let reads = read_all(&app, &[disk; 8]).await;
    assert!(reads.iter().all(|r| matches!(r, Ok(Some(_)))), "{reads:?}");
    let stats = app.db.snapshot().disk_read_batches;
    assert_eq!((stats.batches_total, stats.batched_total), (0, 0));
}

#[tokio::test]
async fn other_backends_read_alone() {
    for backend in [Backend::Sqlite, Backend::Mysql] {
        let app = TestApp::spawn(backend).await;
        let disk = app.disk("Elsewhere", 700, 5).await;
        let reads = read_all(&app, &[disk; 8]).await;
        assert!(reads.iter().all(|r| matches!(r, Ok(Some(_)))), "{reads:?}");
        assert_eq!(app.db.snapshot().disk_read_batches.batches_total, 0);
    }
}
