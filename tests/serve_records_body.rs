//! `GET /records` of a real `syncfn serve` sends, byte for byte, the body the parsed listing
//! gives (`{"records":[StoredRecord::to_json…],"next_cursor":…}`), page after page, for records
//! with nested objects, unicode, escapes and stored values that are not objects.

mod serve_support;

use serde_json::{Value, json};
use serve_support::Serve;
use sync_runtime::canonical::{canonical_bytes, hash};
use sync_runtime::store::{
    PageEnd, PageWrite, PreparedRecord, RecordQuery, SqliteStore, StartOptions, Store,
    StoredConnection, SyncKey,
};
use sync_sdk::{DeletionStrategy, SyncKind};

async fn seed(store: &SqliteStore) -> usize {
    store
        .put_connection(&StoredConnection {
            connection_id: "raw".into(),
            integration: "crm".into(),
            config: json!({}),
            metadata: json!({}),
        })
        .await
        .expect("save connection");
    let values = [
        json!({"id": "1", "name": "Zoë \"Q\" \\ 😀\n", "address": {"city": "Zürich", "lines": ["a", {"b": null}]}}),
        json!({"id": "2", "_metadata": "stored by the provider", "Upper": 1.5, "_x": []}),
        json!({}),
        json!(["an", "array"]),
        json!("a string"),
        json!({"id": "6", "n": -12, "big": 12345678901234567890u64}),
    ];
    let key = SyncKey::new("raw", "crm", "contacts");
    let start = store
        .start_run(
            &key,
            StartOptions {
                kind: SyncKind::Incremental,
                reset: false,
            },
        )
        .await
        .expect("start run");
    let records = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let json = canonical_bytes(v);
            PreparedRecord {
                id: format!("r{i}"),
                hash: hash(&json),
                json,
                tombstone: false,
            }
        })
        .collect();
    store
        .commit_page(
            &key,
            PageWrite {
                run_id: start.run_id,
                model: "Contact".into(),
                records,
                deleted_ids: Vec::new(),
                next_cursor: None,
                checkpoint: None,
                track_seen: false,
                requests: 1,
                end: PageEnd::Last {
                    deletion: DeletionStrategy::None,
                },
            },
        )
        .await
        .expect("commit records");
    values.len()
}

#[tokio::test]
async fn records_api_body_is_the_parsed_listing_byte_for_byte() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("syncfn.db");
    let store = SqliteStore::open(&db).expect("open store");
    let total = seed(&store).await;
    let serve = Serve::start(&db, None);
    let mut cursor: Option<String> = None;
    let mut listed = 0;
    loop {
        let mut path = "/records?connection_id=raw&model=Contact&limit=4".to_string();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let response = serve
            .req(reqwest::Method::GET, &path)
            .send()
            .await
            .expect("GET /records");
        assert_eq!(response.status().as_u16(), 200, "GET {path}");
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/json"),
            "content type of GET {path}"
        );
        let body = response.bytes().await.expect("read body");

        let mut query = RecordQuery::new("raw", "Contact");
        query.limit = 4;
        query.cursor = cursor.clone();
        let page = store.list_records(&query).await.expect("parsed listing");
        let expected = serde_json::to_string(&json!({
            "records": page.records.iter().map(|r| r.to_json()).collect::<Vec<Value>>(),
            "next_cursor": page.next_cursor,
        }))
        .expect("serialise expected body");
        // serde_json's map is sorted, so "next_cursor" would come first in `expected`; the
        // response struct writes "records" first. Compare the two parts separately.
        let records_json = serde_json::to_string(
            &page
                .records
                .iter()
                .map(|r| r.to_json())
                .collect::<Vec<Value>>(),
        )
        .expect("serialise records");
        let cursor_json = serde_json::to_string(&page.next_cursor).expect("serialise cursor");
        let wanted = format!("{{\"records\":{records_json},\"next_cursor\":{cursor_json}}}");
        assert_eq!(
            String::from_utf8_lossy(&body),
            wanted,
            "GET {path}: body differs from the parsed listing"
        );
        let parsed: Value = serde_json::from_slice(&body).expect("body is JSON");
        assert_eq!(
            parsed,
            serde_json::from_str::<Value>(&expected).expect("expected is JSON"),
            "GET {path}: body differs as JSON"
        );
        listed += page.records.len();
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(listed, total, "records listed through the API");
}
