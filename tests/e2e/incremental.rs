//! Change detection: a run reports exactly what changed at the provider, listing after the
//! previous cursor returns exactly those records, and a run with nothing changed writes nothing.

use std::collections::BTreeSet;
use std::path::Path;

use sync_runtime::store::LastAction;

use crate::common::{Env, assert_cache_equals_provider, id_strings, last_cursor, list_all};

const CONTACTS: u64 = 2_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_run_reports_exactly_the_k_updated_records() {
    let env = Env::new(CONTACTS).await;
    // Both syncs over the same provider, one connection each: the incremental one asks only for
    // changes, the full-refresh one re-reads everything and must find the same k by hash.
    for (sync, connection) in [("crm/contacts", "inc"), ("crm/contacts-full", "full")] {
        let first = env.run(sync, connection).await;
        first.assert_success();
        assert_eq!(first.summary.added, CONTACTS, "{sync}: first run added");
    }
    let cursors = [
        last_cursor(&env.db, "inc").await,
        last_cursor(&env.db, "full").await,
    ];

    let k: Vec<u64> = (7..=CONTACTS).step_by(53).collect();
    env.crm.update(&k);

    for ((sync, connection), before) in [("crm/contacts", "inc"), ("crm/contacts-full", "full")]
        .into_iter()
        .zip(cursors)
    {
        let out = env.run(sync, connection).await;
        out.assert_success();
        let s = &out.summary;
        assert_eq!(
            (s.added, s.updated, s.deleted),
            (0, k.len() as u64, 0),
            "{sync}: (added, updated, deleted) reported after {} updates: {}",
            k.len(),
            out.stdout
        );
        let history = env.runs(connection).await;
        let last = history.last().expect("run history");
        assert_eq!(
            last.counts.updated,
            k.len() as u64,
            "{sync}: updated in run history"
        );

        let changes = list_all(&env.db, connection, before).await;
        let ids: BTreeSet<String> = changes.iter().map(|r| r.id.clone()).collect();
        assert_eq!(changes.len(), ids.len(), "{sync}: a change listed twice");
        assert_eq!(
            ids,
            id_strings(&k),
            "{sync}: ids listed after the previous run's last cursor"
        );
        assert!(
            changes
                .iter()
                .all(|r| r.metadata.last_action == LastAction::Updated),
            "{sync}: every listed change should be UPDATED"
        );
        assert_cache_equals_provider(&env.cache(connection).await, &env.crm.snapshot());
    }
}

/// Counts every write to the records table (insert, update, delete) through triggers the
/// child process fires, so even a rewrite of identical values is seen.
fn install_write_counter(db: &Path) {
    let conn = rusqlite::Connection::open(db).expect("open the cache");
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS test_record_writes (n INTEGER NOT NULL);
         DELETE FROM test_record_writes;
         INSERT INTO test_record_writes VALUES (0);
         CREATE TRIGGER IF NOT EXISTS test_count_insert AFTER INSERT ON records
           BEGIN UPDATE test_record_writes SET n = n + 1; END;
         CREATE TRIGGER IF NOT EXISTS test_count_update AFTER UPDATE ON records
           BEGIN UPDATE test_record_writes SET n = n + 1; END;
         CREATE TRIGGER IF NOT EXISTS test_count_delete AFTER DELETE ON records
           BEGIN UPDATE test_record_writes SET n = n + 1; END;",
    )
    .expect("install write-counting triggers");
}

fn record_writes(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("open the cache");
    conn.query_row("SELECT n FROM test_record_writes", [], |r| r.get(0))
        .expect("read the write counter")
}

type RowState = Vec<(String, i64, String, String, i64)>;

/// Every record row's (id, hash, last_modified_at, last_action, cursor) and the streams' counters.
fn table_state(db: &Path) -> (RowState, Vec<i64>) {
    let conn = rusqlite::Connection::open(db).expect("open the cache");
    let mut stmt = conn
        .prepare(
            "SELECT id, hash, last_modified_at, last_action, cursor FROM records
             ORDER BY stream_id, id",
        )
        .expect("prepare");
    let rows = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let mut stmt = conn
        .prepare("SELECT last_cursor FROM streams ORDER BY stream_id")
        .expect("prepare");
    let streams = stmt
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    (rows, streams)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_with_nothing_changed_reports_nothing_and_writes_no_record_rows() {
    let env = Env::new(CONTACTS).await;
    // Some history first: a tombstone and an update, so the cache holds every kind of row.
    for (sync, connection) in [("crm/contacts", "inc"), ("crm/contacts-full", "full")] {
        env.run(sync, connection).await.assert_success();
    }
    env.crm.update(&[10, 20, 30]);
    env.crm.archive(&[40]);
    for (sync, connection) in [("crm/contacts", "inc"), ("crm/contacts-full", "full")] {
        env.run(sync, connection).await.assert_success();
    }

    install_write_counter(&env.db);
    let before = table_state(&env.db);
    for (sync, connection) in [("crm/contacts", "inc"), ("crm/contacts-full", "full")] {
        let out = env.run(sync, connection).await;
        out.assert_success();
        let s = &out.summary;
        assert_eq!(
            (s.added, s.updated, s.deleted),
            (0, 0, 0),
            "{sync}: a run with nothing changed reported changes: {}",
            out.stdout
        );
        assert_eq!(
            record_writes(&env.db),
            0,
            "{sync}: a run with nothing changed wrote record rows"
        );
        let last = env.runs(connection).await.pop().expect("run history");
        assert_eq!(
            last.counts.changes(),
            0,
            "{sync}: run history counts {last:?}"
        );
    }
    assert_eq!(
        table_state(&env.db),
        before,
        "record rows or stream cursors changed in runs with nothing to change"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_made_during_the_first_incremental_pass_are_not_lost() {
    // The first pass of an incremental sync has no filter. If it reads contacts in id order, a
    // contact updated after its page was read is older than a contact updated later and read
    // on a later page; a checkpoint of "newest updated_at seen" then skips the first update
    // forever.
    let env = Env::new(CONTACTS).await;
    env.crm.set_page_delay(std::time::Duration::from_millis(20));
    let mut child = env.spawn("crm/contacts", "c1");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while env.pass_pages("c1", "contacts") < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first pass did not commit 3 pages"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the first pass ended before 3 pages were seen"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // Contact 5 is on page 1 (already read), contact 1_950 on page 20 (not read yet).
    env.crm.update(&[5]);
    env.crm.update(&[1_950]);
    let status = child.wait().await.expect("wait for the first run");
    assert!(status.success(), "first run failed: {status}");
    env.crm.set_page_delay(std::time::Duration::ZERO);

    let second = env.run("crm/contacts", "c1").await;
    second.assert_success();
    assert_cache_equals_provider(&env.cache("c1").await, &env.crm.snapshot());
}
