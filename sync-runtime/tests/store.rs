//! The SQLite records cache on a real database file: cursors, change detection, deletes and
//! listings, driven through the `Store` trait the driver uses.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sync_runtime::canonical::{canonical_bytes, hash};
use sync_runtime::store::{
    ChangeCounts, LastAction, MAX_LIST_LIMIT, PageEnd, PageWrite, PreparedRecord, RecordQuery,
    RequestStats, RunEnd, RunStart, RunStatus, SqliteStore, StartOptions, Store, StoreError,
    StoredRecord, SyncKey,
};
use sync_sdk::{DeletionStrategy, SyncKind};

const MODEL: &str = "Item";

struct Db {
    store: SqliteStore,
    _dir: tempfile::TempDir,
}

fn open() -> Db {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path().join("store.db")).expect("open store");
    Db { store, _dir: dir }
}

fn record(id: &str, version: i64) -> PreparedRecord {
    let value = json!({ "id": id, "version": version, "name": format!("item {id}") });
    let json = canonical_bytes(&value);
    PreparedRecord {
        id: id.into(),
        hash: hash(&json),
        json,
        tombstone: false,
    }
}

fn tombstone(id: &str, version: i64) -> PreparedRecord {
    PreparedRecord {
        tombstone: true,
        ..record(id, version)
    }
}

fn incremental() -> StartOptions {
    StartOptions {
        kind: SyncKind::Incremental,
        reset: false,
    }
}

fn full() -> StartOptions {
    StartOptions {
        kind: SyncKind::Full,
        reset: false,
    }
}

/// One page write; `next` = `None` ends the pass with `deletion`.
async fn commit(
    store: &SqliteStore,
    key: &SyncKey,
    start: &RunStart,
    records: Vec<PreparedRecord>,
    deleted_ids: &[&str],
    next: Option<&str>,
    deletion: DeletionStrategy,
) -> ChangeCounts {
    let full_refresh = deletion == DeletionStrategy::FullRefresh;
    store
        .commit_page(
            key,
            PageWrite {
                run_id: start.run_id,
                model: MODEL.into(),
                records,
                deleted_ids: deleted_ids.iter().map(|s| s.to_string()).collect(),
                next_cursor: next.map(str::to_string),
                checkpoint: Some(json!({ "page": next })),
                track_seen: full_refresh && start.filter.is_none(),
                requests: 1,
                end: match next {
                    Some(_) => PageEnd::More,
                    None => PageEnd::Last { deletion },
                },
            },
        )
        .await
        .expect("commit page")
}

fn counts(added: u64, updated: u64, deleted: u64, unchanged: u64) -> ChangeCounts {
    ChangeCounts {
        added,
        updated,
        deleted,
        unchanged,
    }
}

async fn list(store: &SqliteStore, connection: &str, cursor: Option<String>) -> Vec<StoredRecord> {
    let mut query = RecordQuery::new(connection, MODEL);
    query.cursor = cursor;
    query.limit = 3; // small, so listings cross several pages
    let mut all = Vec::new();
    loop {
        let page = store.list_records(&query).await.expect("list records");
        all.extend(page.records);
        match page.next_cursor {
            Some(next) => query.cursor = Some(next),
            None => return all,
        }
    }
}

fn ids(records: &[StoredRecord]) -> Vec<&str> {
    records.iter().map(|r| r.id.as_str()).collect()
}

fn by_id(records: &[StoredRecord]) -> BTreeMap<String, StoredRecord> {
    records.iter().map(|r| (r.id.clone(), r.clone())).collect()
}

fn assert_strictly_increasing(records: &[StoredRecord]) {
    for pair in records.windows(2) {
        assert!(
            pair[0].metadata.cursor < pair[1].metadata.cursor,
            "cursor of {} ({}) is not below cursor of {} ({})",
            pair[0].id,
            pair[0].metadata.cursor,
            pair[1].id,
            pair[1].metadata.cursor
        );
    }
}

#[tokio::test]
async fn cursors_strictly_increase_per_connection_and_model_across_pages_and_runs() {
    let db = open();
    let s = &db.store;
    let k1 = SyncKey::new("c1", "test", "items");
    let k2 = SyncKey::new("c2", "test", "items");
    let none = DeletionStrategy::None;

    let r1 = s.start_run(&k1, incremental()).await.unwrap();
    let other = s.start_run(&k2, incremental()).await.unwrap();
    commit(
        s,
        &k1,
        &r1,
        vec![record("a", 1), record("b", 1)],
        &[],
        Some("p2"),
        none,
    )
    .await;
    // Another connection commits between c1's pages: its own stream, no effect on c1's cursors.
    commit(s, &k2, &other, vec![record("x", 1)], &[], None, none).await;
    commit(s, &k1, &r1, vec![record("c", 1)], &[], None, none).await;
    let first = list(s, "c1", None).await;
    assert_eq!(ids(&first), ["a", "b", "c"], "c1 after run 1");
    let after_first = first.last().unwrap().metadata.cursor.clone();

    let r2 = s.start_run(&k1, incremental()).await.unwrap();
    assert!(!r2.resumed, "run 2 starts a new pass");
    assert_eq!(
        r2.filter,
        Some(json!({"page": null})),
        "run 2's filter is run 1's checkpoint"
    );
    let c = commit(
        s,
        &k1,
        &r2,
        vec![record("b", 2), record("d", 1)],
        &[],
        None,
        none,
    )
    .await;
    assert_eq!(c, counts(1, 1, 0, 0), "run 2 counts");

    let all = list(s, "c1", None).await;
    assert_eq!(ids(&all), ["a", "c", "b", "d"], "c1 in change order");
    assert_strictly_increasing(&all);
    let since = list(s, "c1", Some(after_first)).await;
    assert_eq!(ids(&since), ["b", "d"], "changes after run 1's last cursor");
    assert_eq!(ids(&list(s, "c2", None).await), ["x"], "c2's stream");
}

#[tokio::test]
async fn deleted_record_that_reappears_is_added_again() {
    let db = open();
    let s = &db.store;
    let key = SyncKey::new("c1", "test", "items");
    let none = DeletionStrategy::None;

    let run = s.start_run(&key, incremental()).await.unwrap();
    commit(s, &key, &run, vec![record("a", 1)], &[], None, none).await;
    let run = s.start_run(&key, incremental()).await.unwrap();
    let c = commit(s, &key, &run, vec![], &["a"], None, none).await;
    assert_eq!(c, counts(0, 0, 1, 0), "provider-reported delete");
    let deleted = list(s, "c1", None).await;
    assert_eq!(deleted[0].metadata.last_action, LastAction::Deleted);
    let first_seen = deleted[0].metadata.first_seen_at.clone();

    let run = s.start_run(&key, incremental()).await.unwrap();
    // Same content as before the delete: it is still a change (it came back).
    let c = commit(s, &key, &run, vec![record("a", 1)], &[], None, none).await;
    assert_eq!(
        c,
        counts(1, 0, 0, 0),
        "a reappearing record counts as added"
    );
    let back = list(s, "c1", None).await;
    assert_eq!(back.len(), 1);
    let m = &back[0].metadata;
    assert_eq!(
        m.last_action,
        LastAction::Added,
        "last_action after reappearing"
    );
    assert_eq!(m.deleted_at, None, "deleted_at after reappearing");
    assert_eq!(m.first_seen_at, first_seen, "first_seen_at is kept");
    assert!(
        m.cursor > deleted[0].metadata.cursor,
        "the re-add moves the record's cursor forward"
    );
}

#[tokio::test]
async fn provider_deleted_ids_and_tombstones_mark_deleted_at_once() {
    let db = open();
    let s = &db.store;
    let key = SyncKey::new("c1", "test", "items");
    let none = DeletionStrategy::None;

    let run = s.start_run(&key, incremental()).await.unwrap();
    let items = ["a", "b", "c", "d"].map(|id| record(id, 1)).to_vec();
    commit(s, &key, &run, items, &[], None, none).await;

    let run = s.start_run(&key, incremental()).await.unwrap();
    // A middle page of a pass: the deletes must not wait for the pass to end.
    let c = commit(
        s,
        &key,
        &run,
        vec![tombstone("b", 2), tombstone("never-seen", 1)],
        &["c", "unknown"],
        Some("next"),
        none,
    )
    .await;
    assert_eq!(c.deleted, 2, "deletes counted on the page: {c:?}");
    let now = by_id(&list(s, "c1", None).await);
    assert_eq!(
        now.len(),
        4,
        "an unseen tombstone or unknown id adds no row"
    );
    for (id, action) in [
        ("a", LastAction::Added),
        ("b", LastAction::Deleted),
        ("c", LastAction::Deleted),
        ("d", LastAction::Added),
    ] {
        assert_eq!(now[id].metadata.last_action, action, "record {id} mid-pass");
    }
    assert!(now["b"].metadata.deleted_at.is_some(), "deleted_at of b");

    // Deleting again is not a change.
    let c = commit(s, &key, &run, vec![tombstone("b", 3)], &["c"], None, none).await;
    assert_eq!(c.deleted, 0, "re-deleting counts nothing: {c:?}");
}

#[tokio::test]
async fn full_refresh_pass_spanning_a_crash_resumed_run_deletes_only_unseen_records() {
    let db = open();
    let s = &db.store;
    let key = SyncKey::new("c1", "test", "items");
    let fr = DeletionStrategy::FullRefresh;

    let run = s.start_run(&key, full()).await.unwrap();
    let items = ["a", "b", "c", "d", "e"].map(|id| record(id, 1)).to_vec();
    commit(s, &key, &run, items, &[], None, fr).await;

    // Pass 2, run 1 sees a and b, then the process dies (no end_run).
    let crashed = s.start_run(&key, full()).await.unwrap();
    assert!(crashed.filter.is_none(), "a full sync gets no filter");
    commit(
        s,
        &key,
        &crashed,
        vec![record("a", 1), record("b", 1)],
        &[],
        Some("p2"),
        fr,
    )
    .await;

    // Run 2 resumes the pass at page 2, sees d and finishes: only c and e were unseen.
    let resumed = s.start_run(&key, full()).await.unwrap();
    assert!(resumed.resumed, "run after the crash resumes");
    assert_eq!(resumed.pass_id, crashed.pass_id, "same pass");
    assert_eq!(resumed.cursor.as_deref(), Some("p2"), "resume cursor");
    assert_eq!(resumed.pages_done, 1, "pages done");
    let c = commit(s, &key, &resumed, vec![record("d", 1)], &[], None, fr).await;
    assert_eq!(c, counts(0, 0, 2, 1), "the completing page deletes c and e");

    let now = by_id(&list(s, "c1", None).await);
    let deleted: Vec<&str> = now
        .values()
        .filter(|r| r.metadata.last_action == LastAction::Deleted)
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(deleted, ["c", "e"], "deleted by the diff");

    let runs = s.list_runs(Some("c1"), 10).await.unwrap();
    let statuses: Vec<RunStatus> = runs.iter().rev().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            RunStatus::Success,
            RunStatus::Interrupted,
            RunStatus::Success
        ],
        "run history"
    );
    assert_eq!(
        runs[0].counts.deleted, 2,
        "deletes recorded on the completing run"
    );
}

#[tokio::test]
async fn failed_full_refresh_pass_deletes_nothing_until_a_resumed_run_completes_it() {
    let db = open();
    let s = &db.store;
    let key = SyncKey::new("c1", "test", "items");
    let fr = DeletionStrategy::FullRefresh;

    let run = s.start_run(&key, full()).await.unwrap();
    commit(
        s,
        &key,
        &run,
        vec![record("a", 1), record("b", 1), record("c", 1)],
        &[],
        None,
        fr,
    )
    .await;

    let failing = s.start_run(&key, full()).await.unwrap();
    commit(s, &key, &failing, vec![record("a", 1)], &[], Some("p2"), fr).await;
    s.end_run(
        &key,
        failing.run_id,
        RunEnd::Failed("provider error: page 2: 500".into()),
        RequestStats::default(),
    )
    .await
    .unwrap();
    let after_fail = list(s, "c1", None).await;
    assert!(
        after_fail
            .iter()
            .all(|r| r.metadata.last_action != LastAction::Deleted),
        "a failed pass deleted records"
    );

    let next = s.start_run(&key, full()).await.unwrap();
    assert!(next.resumed, "the failed pass resumes");
    let c = commit(s, &key, &next, vec![record("c", 1)], &[], None, fr).await;
    assert_eq!(c.deleted, 1, "only b was unseen in the pass: {c:?}");
    let now = by_id(&list(s, "c1", None).await);
    assert_eq!(now["b"].metadata.last_action, LastAction::Deleted, "b");
    assert_eq!(now["a"].metadata.last_action, LastAction::Added, "a");
}

#[tokio::test]
async fn unchanged_records_are_neither_written_nor_counted() {
    let db = open();
    let s = &db.store;
    let key = SyncKey::new("c1", "test", "items");
    let none = DeletionStrategy::None;

    let run = s.start_run(&key, incremental()).await.unwrap();
    commit(
        s,
        &key,
        &run,
        vec![record("a", 1), record("b", 1)],
        &[],
        None,
        none,
    )
    .await;
    let before = list(s, "c1", None).await;

    let run = s.start_run(&key, incremental()).await.unwrap();
    // Same content with keys in another order: canonical JSON makes it the same hash.
    let reordered: Value =
        serde_json::from_str(r#"{"name":"item a","version":1,"id":"a"}"#).unwrap();
    let json = canonical_bytes(&reordered);
    let a = PreparedRecord {
        id: "a".into(),
        hash: hash(&json),
        json,
        tombstone: false,
    };
    let c = commit(s, &key, &run, vec![a, record("b", 1)], &[], None, none).await;
    assert_eq!(c, counts(0, 0, 0, 2), "counts for unchanged records");
    assert_eq!(
        list(s, "c1", None).await,
        before,
        "records or their metadata changed"
    );
    let last = before.last().unwrap().metadata.cursor.clone();
    assert!(
        list(s, "c1", Some(last)).await.is_empty(),
        "unchanged records appeared after the last cursor"
    );
    let history = s.list_runs(Some("c1"), 1).await.unwrap();
    assert_eq!(history[0].counts, counts(0, 0, 0, 2), "run history counts");
}

#[tokio::test]
async fn list_records_filters_by_action_time_and_ids_and_rejects_bad_input() {
    let db = open();
    let s = &db.store;
    let key = SyncKey::new("c1", "test", "items");
    let none = DeletionStrategy::None;

    let run = s.start_run(&key, incremental()).await.unwrap();
    let items = ["a", "b", "c", "d", "e"].map(|id| record(id, 1)).to_vec();
    commit(s, &key, &run, items, &[], None, none).await;
    let run = s.start_run(&key, incremental()).await.unwrap();
    commit(s, &key, &run, vec![record("b", 2)], &["d"], None, none).await;

    let query = |f: &dyn Fn(&mut RecordQuery)| {
        let mut q = RecordQuery::new("c1", MODEL);
        q.limit = 100;
        f(&mut q);
        q
    };
    let ids_of = |page: Result<sync_runtime::store::RecordPage, StoreError>| -> Vec<String> {
        page.expect("listing")
            .records
            .into_iter()
            .map(|r| r.id)
            .collect()
    };

    let q = query(&|q| q.actions = vec![LastAction::Updated, LastAction::Deleted]);
    assert_eq!(
        ids_of(s.list_records(&q).await),
        ["b", "d"],
        "updated or deleted"
    );
    let q = query(&|q| q.actions = vec![LastAction::Added]);
    assert_eq!(ids_of(s.list_records(&q).await), ["a", "c", "e"], "added");
    let q = query(&|q| q.ids = vec!["e".into(), "a".into(), "zz".into()]);
    assert_eq!(ids_of(s.list_records(&q).await), ["a", "e"], "by ids");

    let q = query(&|q| q.modified_after = Some("2000-01-01T00:00:00.000000Z".into()));
    assert_eq!(
        ids_of(s.list_records(&q).await).len(),
        5,
        "modified after 2000"
    );
    let q = query(&|q| q.modified_after = Some("2999-01-01T00:00:00.000000Z".into()));
    assert!(
        ids_of(s.list_records(&q).await).is_empty(),
        "modified after 2999"
    );
    // Any RFC 3339 spelling means the same instant: an hour ago, written at UTC+2, reads as a
    // later wall-clock time than the stored UTC text but must still match every record.
    let hour_ago = (time::OffsetDateTime::now_utc() - time::Duration::hours(1))
        .to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap())
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let q = query(&|q| q.modified_after = Some(hour_ago.clone()));
    assert_eq!(
        ids_of(s.list_records(&q).await).len(),
        5,
        "modified after {hour_ago}"
    );
    let q = query(&|q| q.modified_after = Some("yesterday".into()));
    match s.list_records(&q).await {
        Err(StoreError::Invalid(m)) => assert!(m.contains("yesterday"), "message: {m}"),
        other => panic!("modified_after \"yesterday\" should be rejected, got {other:?}"),
    }

    // Paging: limit 2 gives a next cursor until the end, each record once.
    let mut q = query(&|q| q.limit = 2);
    let mut seen = Vec::new();
    loop {
        let page = s.list_records(&q).await.unwrap();
        assert!(page.records.len() <= 2, "page larger than limit");
        seen.extend(page.records.into_iter().map(|r| r.id));
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["a", "c", "e", "b", "d"],
        "paged listing in cursor order"
    );

    for limit in [0, MAX_LIST_LIMIT + 1] {
        let q = query(&|q| q.limit = limit);
        match s.list_records(&q).await {
            Err(StoreError::Invalid(m)) => {
                assert!(
                    m.contains(&limit.to_string()),
                    "message names the limit: {m}"
                )
            }
            other => panic!("limit {limit} should be rejected, got {other:?}"),
        }
    }
    let q = query(&|q| q.limit = MAX_LIST_LIMIT);
    assert_eq!(
        ids_of(s.list_records(&q).await).len(),
        5,
        "limit at the maximum"
    );

    for bad in ["nope", "zzzzzzzzzzzzzzzz", "-000000000000001"] {
        let q = query(&|q| q.cursor = Some(bad.into()));
        match s.list_records(&q).await {
            Err(StoreError::Invalid(m)) => {
                assert!(
                    m.contains("invalid cursor") && m.contains(bad),
                    "message: {m}"
                )
            }
            other => panic!("cursor {bad:?} should be rejected, got {other:?}"),
        }
    }

    let q = RecordQuery::new("nobody", MODEL);
    assert_eq!(
        ids_of(s.list_records(&q).await),
        Vec::<String>::new(),
        "unknown connection"
    );
}

#[tokio::test]
async fn a_run_whose_pass_was_taken_over_cannot_commit_into_a_later_pass() {
    let db = open();
    let s = &db.store;
    let key = SyncKey::new("c1", "test", "items");
    let fr = DeletionStrategy::FullRefresh;
    let all = ["a", "b", "c", "d", "e", "f"];

    let run = s.start_run(&key, full()).await.unwrap();
    commit(
        s,
        &key,
        &run,
        all.map(|id| record(id, 1)).to_vec(),
        &[],
        None,
        fr,
    )
    .await;

    // Run A starts pass 2 and stays alive; run B starts (overlapping) and takes the pass over.
    let a = s.start_run(&key, full()).await.unwrap();
    commit(
        s,
        &key,
        &a,
        vec![record("a", 1), record("b", 1)],
        &[],
        Some("p2"),
        fr,
    )
    .await;
    let b = s.start_run(&key, full()).await.unwrap();
    assert!(b.resumed && b.pass_id == a.pass_id, "B resumes A's pass");
    commit(
        s,
        &key,
        &b,
        vec![record("c", 1), record("d", 1)],
        &[],
        Some("p3"),
        fr,
    )
    .await;
    commit(
        s,
        &key,
        &b,
        vec![record("e", 1), record("f", 1)],
        &[],
        None,
        fr,
    )
    .await;
    // Run C starts pass 3 and reads page 1.
    let c = s.start_run(&key, full()).await.unwrap();
    commit(
        s,
        &key,
        &c,
        vec![record("a", 1), record("b", 1)],
        &[],
        Some("p2"),
        fr,
    )
    .await;

    // A, still running, goes on with its own pages: it must not write into pass 3.
    let stale = s
        .commit_page(
            &key,
            PageWrite {
                run_id: a.run_id,
                model: MODEL.into(),
                records: vec![record("e", 1), record("f", 1)],
                deleted_ids: vec![],
                next_cursor: None,
                checkpoint: None,
                track_seen: true,
                requests: 3,
                end: PageEnd::Last { deletion: fr },
            },
        )
        .await;
    match stale {
        Err(StoreError::Invalid(m)) => assert!(m.contains("no longer owns"), "message: {m}"),
        other => panic!("a superseded run committed into a later pass: {other:?}"),
    }

    commit(
        s,
        &key,
        &c,
        vec![record("c", 1), record("d", 1)],
        &[],
        Some("p3"),
        fr,
    )
    .await;
    let done = commit(
        s,
        &key,
        &c,
        vec![record("e", 1), record("f", 1)],
        &[],
        None,
        fr,
    )
    .await;
    assert_eq!(done.deleted, 0, "pass 3 saw every record: {done:?}");
    let now = list(s, "c1", None).await;
    assert!(
        now.iter()
            .all(|r| r.metadata.last_action != LastAction::Deleted),
        "false deletes: {:?}",
        now.iter()
            .filter(|r| r.metadata.last_action == LastAction::Deleted)
            .map(|r| &r.id)
            .collect::<Vec<_>>()
    );
}

/// The records tables of schema version 1, as an earlier syncfn created them.
const SCHEMA_V1: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta (key, value) VALUES ('schema_version', '1');
CREATE TABLE streams (
    stream_id     INTEGER PRIMARY KEY,
    connection_id TEXT NOT NULL,
    model         TEXT NOT NULL,
    last_cursor   INTEGER NOT NULL DEFAULT 0,
    UNIQUE (connection_id, model)
);
CREATE TABLE records (
    stream_id        INTEGER NOT NULL,
    id               TEXT NOT NULL,
    data             BLOB NOT NULL,
    hash             INTEGER NOT NULL,
    first_seen_at    TEXT NOT NULL,
    last_modified_at TEXT NOT NULL,
    last_action      TEXT NOT NULL,
    deleted_at       TEXT,
    cursor           INTEGER NOT NULL,
    PRIMARY KEY (stream_id, id)
);
CREATE UNIQUE INDEX records_by_cursor ON records (stream_id, cursor);
";

#[tokio::test]
async fn a_version_1_store_is_migrated_and_keeps_its_records_and_change_detection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(SCHEMA_V1).unwrap();
        conn.execute(
            "INSERT INTO streams (stream_id, connection_id, model, last_cursor) VALUES (1, 'c1', ?1, 2)",
            [MODEL],
        )
        .unwrap();
        let t = "2026-01-01T00:00:00.000000Z";
        for (i, (r, action, deleted_at)) in [
            (record("a", 1), "ADDED", None),
            (record("b", 1), "DELETED", Some(t)),
        ]
        .into_iter()
        .enumerate()
        {
            conn.execute(
                "INSERT INTO records VALUES (1, ?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7)",
                rusqlite::params![
                    r.id,
                    r.json,
                    r.hash as i64,
                    t,
                    action,
                    deleted_at,
                    i as i64 + 1
                ],
            )
            .unwrap();
        }
    }
    let store = SqliteStore::open(&path).expect("a version 1 store opens");
    let listed = list(&store, "c1", None).await;
    assert_eq!(ids(&listed), ["a", "b"], "records survive the migration");
    assert_eq!(listed[1].metadata.last_action, LastAction::Deleted);
    assert_eq!(store.count_records("c1", MODEL).await.unwrap(), 1);

    // The migrated keys drive change detection: "a" unchanged, "b" back (added), "c" new.
    let key = SyncKey::new("c1", "test", "items");
    let run = store.start_run(&key, incremental()).await.unwrap();
    let c = commit(
        &store,
        &key,
        &run,
        vec![record("a", 1), record("b", 1), record("c", 1)],
        &[],
        None,
        DeletionStrategy::None,
    )
    .await;
    assert_eq!(c, counts(2, 0, 0, 1));
    let after = list(
        &store,
        "c1",
        listed.last().map(|r| r.metadata.cursor.clone()),
    )
    .await;
    assert_eq!(
        ids(&after),
        ["b", "c"],
        "only the changes list after the old cursor"
    );
    drop(store);

    // Reopening a migrated store is a no-op; the uniqueness of (stream, id) still holds.
    let store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(list(&store, "c1", None).await.len(), 3);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: String = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, "2");
    let duplicate = conn.execute(
        "INSERT INTO record_keys (stream_id, id, hash, deleted, rid) VALUES (1, 'a', 0, 0, 99)",
        [],
    );
    assert!(
        duplicate.is_err(),
        "a second key for (stream, id) must be refused"
    );
}
