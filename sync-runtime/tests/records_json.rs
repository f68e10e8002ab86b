//! The fast records listing (`Store::list_records_json`, which splices `_metadata` into the
//! stored canonical bytes) against the parsed listing (`list_records` + `StoredRecord::to_json`)
//! on a real SQLite file: the bytes must be identical, page by page.

use serde_json::{Value, json};
use sync_runtime::canonical::{canonical_bytes, hash};
use sync_runtime::store::{
    LastAction, PageEnd, PageWrite, PreparedRecord, RecordQuery, SqliteStore, StartOptions, Store,
    SyncKey,
};
use sync_sdk::{DeletionStrategy, SyncKind};

const MODEL: &str = "Item";

fn prepared(id: &str, value: &Value, tombstone: bool) -> PreparedRecord {
    let json = canonical_bytes(value);
    PreparedRecord {
        id: id.into(),
        hash: hash(&json),
        json,
        tombstone,
    }
}

/// Records with nested objects, unicode, escapes, keys that sort around `_metadata`, a stored
/// `_metadata` field and values that are not objects.
fn tricky_records() -> Vec<(String, Value)> {
    let values = vec![
        json!({"id": "a", "name": "Zoë \"the\" \\ tester\n\t\u{1}", "nested": {"deep": [1, 2.5, -3e-7, {"k": null}]}}),
        json!({"id": "b", "emoji": "😀 日本語", "Upper": true, "_private": false, "9lives": 9}),
        json!({"id": "c", "_metadata": {"from": "the provider"}, "_z": [], "ZZ": {}}),
        json!({"Id": "d", "Z": "]}\"{["}),
        json!({}),
        json!(["e", {"not": "an object"}]),
        json!("f is a bare string with \"quotes\""),
        json!(42),
        json!(null),
        json!({"id": "j", "big": 18446744073709551615u64, "neg": -9223372036854775808i64, "f": 0.1}),
    ];
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| (format!("r{i}"), v))
        .collect()
}

async fn store_with(
    records: &[(String, Value)],
    tombstoned: &[&str],
) -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path().join("store.db")).expect("open store");
    let key = SyncKey::new("conn", "it", "items");
    let options = StartOptions {
        kind: SyncKind::Incremental,
        reset: false,
    };
    let page = |run_id, records: Vec<PreparedRecord>| PageWrite {
        run_id,
        model: MODEL.into(),
        records,
        deleted_ids: Vec::new(),
        next_cursor: None,
        checkpoint: Some(json!({"n": run_id})),
        track_seen: false,
        requests: 1,
        end: PageEnd::Last {
            deletion: DeletionStrategy::None,
        },
    };
    let start = store.start_run(&key, options).await.expect("start run 1");
    let first: Vec<PreparedRecord> = records
        .iter()
        .map(|(id, v)| prepared(id, v, false))
        .collect();
    store
        .commit_page(&key, page(start.run_id, first))
        .await
        .expect("commit run 1");
    // A second run updates one record and tombstones others, so the listing holds all three
    // actions and non-null deleted_at.
    let start = store.start_run(&key, options).await.expect("start run 2");
    let mut second = vec![prepared(
        &records[0].0,
        &json!({"id": "a", "name": "changed ✓"}),
        false,
    )];
    for id in tombstoned {
        let value = &records
            .iter()
            .find(|(i, _)| i == id)
            .expect("tombstoned id")
            .1;
        second.push(prepared(id, value, true));
    }
    store
        .commit_page(&key, page(start.run_id, second))
        .await
        .expect("commit run 2");
    (store, dir)
}

/// Every page of both listings, as bytes: (fast, parsed).
async fn both_listings(store: &SqliteStore, mut query: RecordQuery) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut pages = Vec::new();
    loop {
        let fast = store
            .list_records_json(&query, b',', b"[".to_vec())
            .await
            .expect("fast listing");
        let parsed = store.list_records(&query).await.expect("parsed listing");
        let old: Vec<Value> = parsed.records.iter().map(|r| r.to_json()).collect();
        let old_array = serde_json::to_vec(&old).expect("serialise old records");
        let mut fast_array = fast.json.clone();
        fast_array.push(b']');
        assert_eq!(
            fast.count,
            parsed.records.len(),
            "record count differs at cursor {:?}",
            query.cursor
        );
        assert_eq!(
            fast.next_cursor, parsed.next_cursor,
            "next_cursor differs at cursor {:?}",
            query.cursor
        );
        pages.push((fast_array, old_array));
        match fast.next_cursor {
            Some(next) => query.cursor = Some(next),
            None => return pages,
        }
    }
}

#[tokio::test]
async fn spliced_listing_equals_parsed_to_json_byte_for_byte() {
    let records = tricky_records();
    let (store, _dir) = store_with(&records, &["r1", "r5"]).await;
    for limit in [1, 3, 100] {
        let mut query = RecordQuery::new("conn", MODEL);
        query.limit = limit;
        let pages = both_listings(&store, query).await;
        let total: usize = pages
            .iter()
            .map(|(fast, _)| {
                serde_json::from_slice::<Vec<Value>>(fast)
                    .expect("fast page is JSON")
                    .len()
            })
            .sum();
        assert_eq!(total, records.len(), "limit {limit}: records listed");
        for (i, (fast, old)) in pages.iter().enumerate() {
            assert_eq!(
                String::from_utf8_lossy(fast),
                String::from_utf8_lossy(old),
                "limit {limit}, page {i}: spliced JSON differs from StoredRecord::to_json"
            );
        }
    }
}

#[tokio::test]
async fn spliced_listing_honours_filters_like_the_parsed_one() {
    let records = tricky_records();
    let (store, _dir) = store_with(&records, &["r2", "r7"]).await;
    let mut deleted = RecordQuery::new("conn", MODEL);
    deleted.actions = vec![LastAction::Deleted];
    let mut by_id = RecordQuery::new("conn", MODEL);
    by_id.ids = vec!["r0".into(), "r6".into(), "missing".into()];
    let mut recent = RecordQuery::new("conn", MODEL);
    recent.modified_after = Some("2000-01-01T00:00:00Z".into());
    for query in [deleted, by_id, recent] {
        for (i, (fast, old)) in both_listings(&store, query.clone())
            .await
            .iter()
            .enumerate()
        {
            assert_eq!(
                String::from_utf8_lossy(fast),
                String::from_utf8_lossy(old),
                "{query:?}, page {i}: spliced JSON differs from StoredRecord::to_json"
            );
        }
    }
    let mut deleted = RecordQuery::new("conn", MODEL);
    deleted.actions = vec![LastAction::Deleted];
    let listed = store
        .list_records_json(&deleted, b'\n', Vec::new())
        .await
        .expect("list deleted");
    assert_eq!(listed.count, 2, "two tombstoned records are DELETED");
    for line in listed.json.split(|b| *b == b'\n') {
        let record: Value = serde_json::from_slice(line).expect("each line is one JSON record");
        assert_eq!(
            record["_metadata"]["last_action"], "DELETED",
            "record {record} is listed as deleted"
        );
        assert!(
            record["_metadata"]["deleted_at"].is_string(),
            "record {record} has a deleted_at time"
        );
    }
}

#[tokio::test]
async fn spliced_listing_of_an_unknown_model_is_empty() {
    let (store, _dir) = store_with(&tricky_records(), &[]).await;
    let listed = store
        .list_records_json(&RecordQuery::new("conn", "Nope"), b',', b"[".to_vec())
        .await
        .expect("list unknown model");
    assert_eq!(
        (listed.json.as_slice(), listed.count, listed.next_cursor),
        (&b"["[..], 0, None),
        "an unknown model lists nothing and keeps the caller's prefix"
    );
}
