//! The `bench/contacts` sync run by the real driver into a real SQLite file against the
//! benchmark provider on 127.0.0.1: what the benchmark measures must also be correct.

use std::net::SocketAddr;
use std::sync::Arc;

use sync_runtime::store::RecordQuery;
use sync_runtime::{Driver, Registry, RunOptions, RunReport, SqliteStore, Store, SyncTarget};
use sync_sdk::Connection;
use syncfn_bench::provider::{self, ProviderConfig, RunningProvider};
use syncfn_bench::workload::Workload;

const N: u64 = 2_345;
const PAGE: usize = 100;

async fn provider(workload: Workload) -> RunningProvider {
    provider::start(ProviderConfig {
        workload,
        page_sizes: vec![PAGE, 1000],
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
    })
    .await
    .expect("provider starts")
}

fn target(base_url: String, page_size: usize) -> SyncTarget {
    let registry = Registry::new().register(syncfn_bench::integration());
    let (_, sync) = registry
        .resolve("bench/contacts")
        .expect("bench/contacts is registered");
    SyncTarget::new(
        sync,
        Connection::new("bench", "bench").with_param("page_size", page_size.to_string()),
        base_url,
    )
}

async fn run(store: &Arc<dyn Store>, target: &SyncTarget, reset: bool) -> RunReport {
    let driver = Driver::new(store.clone(), sync_runtime::http::build_client().unwrap());
    let report = driver
        .run(
            target,
            RunOptions {
                reset,
                ..RunOptions::default()
            },
        )
        .await
        .expect("run completes");
    assert!(report.error.is_none(), "run failed: {:?}", report.error);
    report
}

async fn stored_count(store: &Arc<dyn Store>) -> usize {
    let mut query = RecordQuery::new("bench", "BenchContact");
    query.limit = 1000;
    let mut count = 0;
    loop {
        let page = store.list_records(&query).await.unwrap();
        count += page.records.len();
        match page.next_cursor {
            Some(next) if !page.records.is_empty() => query.cursor = Some(next),
            _ => return count,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_sync_stores_every_contact_with_exactly_ceil_n_over_p_requests() {
    for page_size in [PAGE, 1000] {
        let crm = provider(Workload::new(N, 7)).await;
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("c.db")).unwrap());
        let report = run(&store, &target(crm.base_url(), page_size), false).await;
        let expected_requests = N.div_ceil(page_size as u64);
        assert_eq!(report.counts.added, N, "added at page size {page_size}");
        assert_eq!(
            crm.stats().requests,
            expected_requests,
            "provider requests at page size {page_size}"
        );
        assert_eq!(
            crm.stats().records,
            N,
            "records served at page size {page_size}"
        );
        assert_eq!(
            report.stats.requests, expected_requests,
            "requests the runtime counted"
        );
        assert_eq!(
            stored_count(&store).await,
            N as usize,
            "records in the cache"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resync_with_nothing_changed_fetches_everything_and_writes_nothing() {
    let crm = provider(Workload::new(N, 7)).await;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("c.db")).unwrap());
    let target = target(crm.base_url(), PAGE);
    run(&store, &target, false).await;
    let again = run(&store, &target, true).await;
    assert_eq!(
        (
            again.counts.added,
            again.counts.updated,
            again.counts.deleted
        ),
        (0, 0, 0),
        "a full re-sync of unchanged data wrote changes"
    );
    assert_eq!(
        again.counts.unchanged, N,
        "unchanged records seen by the re-sync"
    );
    assert_eq!(crm.stats().requests, 2 * N.div_ceil(PAGE as u64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_after_a_revision_fetches_only_the_changed_contacts() {
    let first = Workload::new(N, 7);
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("c.db")).unwrap());
    {
        let crm = provider(first).await;
        run(&store, &target(crm.base_url(), PAGE), false).await;
    }
    let second = first.at_revision(2, 5.0);
    let crm = provider(second).await;
    let changed = crm.info().changed;
    assert!(
        changed > 50,
        "only {changed} contacts changed at 5 % of {N}"
    );
    let report = run(&store, &target(crm.base_url(), PAGE), false).await;
    assert_eq!(
        report.counts.updated, changed,
        "updated by the incremental run"
    );
    assert_eq!(report.counts.added, 0, "added by the incremental run");
    // The filter is inclusive, so the newest revision-1 contact may come back unchanged.
    assert!(
        crm.stats().records <= changed + 1,
        "incremental run fetched {} records for {changed} changes",
        crm.stats().records
    );
    assert_eq!(
        crm.stats().requests,
        (crm.stats().records).div_ceil(PAGE as u64)
    );
}

#[tokio::test]
async fn run_fails_naming_a_page_size_the_provider_did_not_render() {
    let crm = provider(Workload::new(10, 1)).await;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("c.db")).unwrap());
    let driver = Driver::new(store, sync_runtime::http::build_client().unwrap());
    let report = driver
        .run(&target(crm.base_url(), 250), RunOptions::default())
        .await
        .expect("a failed run still reports");
    let error = report
        .error
        .expect("limit 250 is not pre-rendered, the run must fail");
    assert!(
        error.contains("limit") && error.contains("250"),
        "error does not name the unserved limit: {error}"
    );
}
