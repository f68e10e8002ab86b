//! Declarative syncs run through the real driver against the loopback CRM and a real SQLite
//! file: every pagination style, full and incremental, tombstones and full-refresh deletes.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use sync_runtime::declarative;
use sync_runtime::driver::{Driver, RunOptions, RunReport, SyncTarget};
use sync_runtime::fake_crm::FakeCrm;
use sync_runtime::store::{
    ChangeCounts, LastAction, RecordQuery, RunStatus, SqliteStore, Store, SyncKey,
};
use sync_sdk::{Connection, ErasedSync};

/// How one style is written in a file; `{base}` is replaced with the fake's URL.
struct Style {
    name: &'static str,
    body: &'static str,
}

const INCREMENTAL: &str = r#"
[incremental]
field = "updated_at"
param = "updated_after"
"#;

const TOMBSTONE: &str = r#"
[deletes]
strategy = "tombstone"
field = "archived"
"#;

fn styles() -> Vec<Style> {
    vec![
        Style {
            name: "cursor in body",
            body: r#"
[request]
path = "/contacts"
[records]
path = "results"
id = "id"
[pagination]
type = "cursor"
cursor_path_in_response = "next_cursor"
cursor_name_in_request = "cursor"
limit_name_in_request = "limit"
limit = 40
"#,
        },
        Style {
            name: "link header",
            body: r#"
[request]
path = "/contacts"
params = { limit = 40 }
[records]
path = "results"
id = "id"
[pagination]
type = "link"
link_rel_in_response_header = "next"
"#,
        },
        Style {
            name: "next link in body",
            body: r#"
[request]
path = "/v2/contacts/link-body"
params = { limit = 40 }
[records]
path = "data"
id = "id"
[pagination]
type = "link"
link_path_in_response_body = "links.next"
"#,
        },
        Style {
            name: "offset by response size",
            body: r#"
[request]
path = "/v2/contacts/offset"
[records]
path = "items"
id = "id"
[pagination]
type = "offset"
offset_name_in_request = "offset"
offset_calculation_method = "by-response-size"
limit_name_in_request = "limit"
limit = 40
"#,
        },
        Style {
            name: "page numbers",
            body: r#"
[request]
path = "/v2/contacts/pages"
[records]
id = "id"
[pagination]
type = "offset"
offset_name_in_request = "page"
offset_start_value = 1
offset_calculation_method = "per-page"
limit_name_in_request = "per_page"
limit = 40
"#,
        },
    ]
}

struct Harness {
    _dir: tempfile::TempDir,
    driver: Driver,
    store: Arc<dyn Store>,
}

impl Harness {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(dir.path().join("cache.db")).unwrap());
        let driver = Driver::new(store.clone(), sync_runtime::http::build_client().unwrap());
        Self {
            _dir: dir,
            driver,
            store,
        }
    }

    async fn run(&self, target: &SyncTarget) -> RunReport {
        let report = self
            .driver
            .run(target, RunOptions::default())
            .await
            .unwrap();
        assert_eq!(
            report.status,
            RunStatus::Success,
            "run of {} failed: {:?}",
            target.key,
            report.error
        );
        report
    }

    /// id → (data, last action) of everything cached for `connection`.
    async fn cache(&self, connection: &str) -> BTreeMap<String, (Value, LastAction)> {
        let mut query = RecordQuery::new(connection, "Contact");
        query.limit = 10_000;
        let mut out = BTreeMap::new();
        loop {
            let page = self.store.list_records(&query).await.unwrap();
            for r in page.records {
                assert!(
                    out.insert(r.id.clone(), (r.data, r.metadata.last_action))
                        .is_none(),
                    "record {} listed twice",
                    r.id
                );
            }
            match page.next_cursor {
                Some(c) => query.cursor = Some(c),
                None => break,
            }
        }
        out
    }
}

fn target(text: &str, connection: &str) -> SyncTarget {
    let sync = declarative::from_text(text, "test.sync.toml").unwrap_or_else(|e| panic!("{e}"));
    let base_url = sync.base_url().to_string();
    let credentials = sync.credentials().unwrap();
    let sync: Arc<dyn ErasedSync> = Arc::new(sync);
    SyncTarget {
        key: SyncKey::new(connection, "crm", &sync.spec().name),
        sync,
        connection: Arc::new(Connection::new(connection, "crm")),
        base_url,
        credentials,
        metadata: Value::Null,
        http: Default::default(),
    }
}

fn file(base: &str, style: &Style, extra: &str) -> String {
    format!(
        "name = \"contacts\"\nmodel = \"Contact\"\nbase_url = \"{base}\"\n{}{extra}",
        style.body
    )
}

/// The cache's live records must equal the provider's live data exactly.
fn assert_live_equal(
    cache: &BTreeMap<String, (Value, LastAction)>,
    provider: &BTreeMap<String, Value>,
    what: &str,
) {
    let live: BTreeMap<&String, &Value> = cache
        .iter()
        .filter(|(_, (_, a))| *a != LastAction::Deleted)
        .map(|(id, (v, _))| (id, v))
        .collect();
    let expected: BTreeMap<&String, &Value> = provider
        .iter()
        .filter(|(_, v)| v["archived"] != Value::Bool(true))
        .collect();
    let missing: Vec<_> = expected.keys().filter(|k| !live.contains_key(*k)).collect();
    let extra: Vec<_> = live.keys().filter(|k| !expected.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: cache differs from provider: missing {missing:?}, extra {extra:?}"
    );
    for (id, v) in &expected {
        assert_eq!(
            live[id], *v,
            "{what}: record {id} differs from the provider's"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pagination_style_syncs_exactly_the_providers_data_full_and_incremental() {
    for style in styles() {
        let crm = FakeCrm::start(203).await.unwrap();
        let h = Harness::new();

        // Full every run.
        let full = target(&file(&crm.base_url(), &style, ""), "full");
        let first = h.run(&full).await;
        assert!(
            first.pages >= 5,
            "{}: expected several pages, got {}",
            style.name,
            first.pages
        );
        assert_eq!(first.counts.added, 203, "{}: first full run", style.name);
        assert_live_equal(&h.cache("full").await, &crm.snapshot(), style.name);

        // Incremental with tombstones.
        let extra = format!("{INCREMENTAL}{TOMBSTONE}");
        let inc = target(&file(&crm.base_url(), &style, &extra), "inc");
        let first = h.run(&inc).await;
        assert_eq!(
            first.counts.added, 203,
            "{}: first incremental run",
            style.name
        );
        crm.update(&[3, 50, 120]);
        crm.archive(&[7, 99]);
        let added = crm.add(45);
        let second = h.run(&inc).await;
        assert_eq!(
            (
                second.counts.added,
                second.counts.updated,
                second.counts.deleted
            ),
            (45, 3, 2),
            "{}: second incremental run should report exactly the provider's changes ({:?})",
            style.name,
            second.counts
        );
        assert!(
            second.pages >= 2,
            "{}: the changes span several pages, got {}",
            style.name,
            second.pages
        );
        let cache = h.cache("inc").await;
        assert_live_equal(&cache, &crm.snapshot(), style.name);
        for id in ["7", "99"] {
            assert_eq!(
                cache[id].1,
                LastAction::Deleted,
                "{}: archived {id} is a tombstone",
                style.name
            );
        }
        assert!(cache.contains_key(&added[44].to_string()));

        // Nothing changed: boundary duplicates are unchanged, so nothing is reported.
        let third = h.run(&inc).await;
        assert_eq!(
            (
                third.counts.added,
                third.counts.updated,
                third.counts.deleted
            ),
            (0, 0, 0),
            "{}: a run with no provider changes reports none ({:?})",
            style.name,
            third.counts
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_refresh_deletes_exactly_the_removed_records_after_a_complete_pass() {
    let crm = FakeCrm::start(160).await.unwrap();
    let h = Harness::new();
    let style = &styles()[3];
    let extra = "\n[deletes]\nstrategy = \"full_refresh\"\n";
    let t = target(&file(&crm.base_url(), style, extra), "fr");
    assert_eq!(h.run(&t).await.counts.added, 160);

    crm.update(&[1, 2, 3]);
    crm.remove(&[10, 11, 12, 13]);
    let added = crm.add(5);
    let report = h.run(&t).await;
    assert_eq!(
        report.counts,
        ChangeCounts {
            added: 5,
            updated: 3,
            deleted: 4,
            unchanged: 160 - 3 - 4,
        },
        "second full-refresh run"
    );
    let cache = h.cache("fr").await;
    for id in [10, 11, 12, 13] {
        assert_eq!(
            cache[&id.to_string()].1,
            LastAction::Deleted,
            "removed {id} should be DELETED"
        );
    }
    assert_live_equal(&cache, &crm.snapshot(), "full refresh");
    assert!(cache.contains_key(&added[0].to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_without_an_id_fails_the_run_naming_page_and_record() {
    let crm = FakeCrm::start(100).await.unwrap();
    let h = Harness::new();
    let t = target(&file(&crm.base_url(), &styles()[0], ""), "noid");
    crm.fail_after(1, sync_runtime::fake_crm::Fault::MissingId);
    let report = h.driver.run(&t, RunOptions::default()).await.unwrap();
    assert_eq!(report.status, RunStatus::Failed);
    let error = report.error.unwrap_or_default();
    assert!(
        error.contains("page 2") && error.contains("record 2") && error.contains("\"id\""),
        "error should name page 2, record 2 and the id path: {error}"
    );
    assert_eq!(
        report.error_kind,
        Some(sync_sdk::ErrorKind::Data),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookback_refetches_the_boundary_without_reporting_it_again() {
    let crm = FakeCrm::start(30).await.unwrap();
    let h = Harness::new();
    let extra = "\n[incremental]\nfield = \"updated_at\"\nparam = \"updated_after\"\nformat = \"rfc3339\"\nlookback = \"10s\"\n";
    let t = target(&file(&crm.base_url(), &styles()[0], extra), "lb");
    h.run(&t).await;
    // Records the second run must fetch again: updated within 10 s of the newest one.
    let secs = |v: &Value| {
        time::OffsetDateTime::parse(
            v["updated_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
        .unix_timestamp()
    };
    let before = crm.snapshot();
    let newest = before.values().map(secs).max().unwrap();
    let in_window = before
        .iter()
        .filter(|(id, v)| *id != "5" && secs(v) >= newest - 10)
        .count() as u64;
    assert!(
        in_window > 1,
        "the fixture should put several records in the window"
    );
    crm.update(&[5]);
    let second = h.run(&t).await;
    assert_eq!(
        second.counts.updated, 1,
        "lookback re-fetches the boundary but reports only the change"
    );
    assert_eq!(second.counts.added, 0);
    assert_eq!(
        second.counts.unchanged, in_window,
        "the 10 s lookback should fetch exactly the records of the last 10 s again, unreported ({:?})",
        second.counts
    );
}

#[test]
fn the_file_maps_onto_the_spec_the_driver_and_scheduler_read() {
    let text = r#"
name = "deals"
model = "Deal"
frequency = "every 30 minutes"
base_url = "http://127.0.0.1:9"
[request]
path = "/deals"
[records]
id = "properties.hs_object_id"
[incremental]
field = "updatedAt"
param = "since"
format = "unix_millis"
[deletes]
strategy = "tombstone"
field = "archived"
[rate_limit]
requests = 100
per = "10s"
burst = 5
"#;
    let sync = declarative::from_text(text, "deals.sync.toml").unwrap_or_else(|e| panic!("{e}"));
    let spec = ErasedSync::spec(&sync);
    assert_eq!(spec.name, "deals");
    assert_eq!(spec.kind, sync_sdk::SyncKind::Incremental);
    assert_eq!(spec.deletion, sync_sdk::DeletionStrategy::None);
    assert_eq!(spec.frequency.duration().as_secs(), 1800);
    assert_eq!(
        spec.rate_limit,
        Some(sync_sdk::RateLimit::new(100, std::time::Duration::from_secs(10)).with_burst(5))
    );
    assert_eq!(spec.models.len(), 1);
    assert_eq!(spec.models[0].name, "Deal");
    assert_eq!(
        spec.models[0].schema["required"],
        serde_json::json!(["properties"]),
        "the model requires the id path's top field"
    );
    assert!(spec.checkpoint_schema.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_requests_carry_params_cursor_and_limit_in_the_json_body() {
    use axum::routing::post;
    use std::sync::Mutex;
    let bodies: Arc<Mutex<Vec<Value>>> = Arc::default();
    let seen = bodies.clone();
    let app = axum::Router::new().route(
        "/search",
        post(move |axum::Json(body): axum::Json<Value>| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(body.clone());
                let after: u64 = body["after"].as_str().map_or(0, |a| a.parse().unwrap());
                let limit = body["limit"].as_u64().unwrap_or(100);
                let ids: Vec<u64> = (after + 1..=(after + limit).min(5)).collect();
                let next = (ids.last().copied().unwrap_or(5) < 5).then(|| ids.last().unwrap().to_string());
                axum::Json(serde_json::json!({
                    "results": ids.iter().map(|i| serde_json::json!({"id": i, "n": i * 10})).collect::<Vec<_>>(),
                    "paging": {"next": {"after": next}},
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let text = format!(
        r#"
name = "search"
model = "Contact"
base_url = "http://{addr}"
[request]
method = "POST"
path = "/search"
params = {{ archived = "false" }}
[records]
path = "results"
id = "id"
[pagination]
type = "cursor"
cursor_path_in_response = "paging.next.after"
cursor_name_in_request = "after"
limit_name_in_request = "limit"
limit = 2
"#
    );
    let h = Harness::new();
    let report = h.run(&target(&text, "post")).await;
    assert_eq!((report.pages, report.counts.added), (3, 5));
    let bodies = bodies.lock().unwrap().clone();
    assert_eq!(
        bodies,
        vec![
            serde_json::json!({"archived": "false", "limit": 2}),
            serde_json::json!({"archived": "false", "limit": 2, "after": "2"}),
            serde_json::json!({"archived": "false", "limit": 2, "after": "4"}),
        ],
        "request bodies"
    );
    let cache = h.cache("post").await;
    assert_eq!(cache["3"].0, serde_json::json!({"id": 3, "n": 30}));
}
