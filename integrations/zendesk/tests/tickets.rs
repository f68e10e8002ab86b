//! The `tickets` sync against a loopback Zendesk, through the real driver and SQLite store
//! (`sync_runtime::testing::Harness`), with a forwarding proxy logging what the sync asked for.

mod fake;

use fake::{API_TOKEN, FakeZendesk, USER};
use serde_json::json;
use sync_runtime::testing::fixture::RecordedRequest;
use sync_runtime::testing::harness::change_actions;
use sync_runtime::testing::{Harness, ReplayProvider};
use sync_sdk::ErrorKind;

/// Serve the fake on 127.0.0.1 behind a proxy that logs every request; returns the proxy.
async fn start(fake: &FakeZendesk) -> ReplayProvider {
    ReplayProvider::logging(fake.router())
        .await
        .expect("serve the fake behind a logging proxy")
}

fn harness(provider: &ReplayProvider, password: &str) -> Harness {
    Harness::new(
        &syncfn_zendesk::integration(),
        "tickets",
        &provider.base_url(),
    )
    .expect("the tickets sync exists")
    .with_credentials(
        serde_json::from_value(json!({"type": "basic", "username": USER, "password": password}))
            .expect("credentials"),
    )
}

fn query_names(requests: &[RecordedRequest]) -> Vec<String> {
    requests
        .iter()
        .map(|r| r.query.first().map(|(k, _)| k.clone()).unwrap_or_default())
        .collect()
}

fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Full export, provider changes (updates, a deleted ticket, new tickets), an incremental run
/// and a no-op run.
#[tokio::test]
async fn full_then_incremental_runs_report_exactly_the_provider_changes() {
    let fake = FakeZendesk::new(7, 3);
    let proxy = start(&fake).await;
    let h = harness(&proxy, API_TOKEN);

    // 1. First run: start_time=0, then after_cursor until end_of_stream.
    let first = h.run_ok().await.expect("the run completes").report;
    assert_eq!(first.pages, 3, "7 tickets at 3 per page");
    assert_eq!(
        (
            first.counts.added,
            first.counts.updated,
            first.counts.deleted
        ),
        (7, 0, 0)
    );
    assert_eq!(
        query_names(&proxy.received()),
        ["start_time", "cursor", "cursor"]
    );
    assert_eq!(proxy.received()[0].query, pairs(&[("start_time", "0")]));
    let records = h.records().await.expect("read the cache");
    assert_eq!(records.len(), 7);
    assert_eq!(records["4"].data["subject"], "Printer 4 is on fire");
    assert_eq!(records["4"].data["type"], "incident");
    let newest = records["7"].data["generated_timestamp"].as_i64().unwrap();
    assert_eq!(
        h.checkpoint().await.expect("read the checkpoint"),
        Some(json!({"start_time": newest}))
    );
    let after_first = h.last_cursor().await.expect("read the cache");

    // 2. Provider changes.
    fake.set_status(2, "open");
    fake.set_status(5, "solved");
    fake.set_status(3, "deleted");
    let added = fake.create(2);
    let served = proxy.received().len();
    let second = h.run_ok().await.expect("the run completes").report;
    assert_eq!(
        (
            second.counts.added,
            second.counts.updated,
            second.counts.deleted
        ),
        (2, 2, 1),
        "incremental run counts"
    );
    assert_eq!(
        proxy.received()[served].query,
        pairs(&[("start_time", &newest.to_string())]),
        "the incremental pass starts at the checkpoint"
    );
    let mut expected = vec![
        ("ADDED".to_string(), added[0].to_string()),
        ("ADDED".to_string(), added[1].to_string()),
        ("DELETED".to_string(), "3".to_string()),
        ("UPDATED".to_string(), "2".to_string()),
        ("UPDATED".to_string(), "5".to_string()),
    ];
    expected.sort();
    let changes = h
        .changes_after(after_first.as_deref())
        .await
        .expect("list the changes");
    assert_eq!(
        change_actions(&changes),
        expected,
        "changes listed after the first run's cursor"
    );

    // 3. Nothing changed: the run completes and reports nothing.
    let third = h.run_ok().await.expect("the run completes").report;
    assert_eq!(
        third.counts.changes(),
        0,
        "a run with no provider change reported {:?}",
        third.counts
    );
}

#[tokio::test]
async fn provider_error_description_surfaces_with_its_kind() {
    let fake = FakeZendesk::new(4, 2);
    let proxy = start(&fake).await;
    let h = harness(&proxy, API_TOKEN);
    h.run_ok().await.expect("the first run completes");
    fake.fail_next(
        422,
        json!({"error": "InvalidValue", "description": "Too recent start_time. Use a start_time older than 1 minute"}),
    );
    let run = h.run().await.expect("the store works");
    let report = run.report;
    assert_eq!(
        report.error_kind,
        Some(ErrorKind::Config),
        "{:?}",
        report.error
    );
    let message = report.error.unwrap_or_default();
    assert!(
        message.contains("GET /api/v2/incremental/tickets/cursor.json")
            && message.contains("422")
            && message.contains("InvalidValue: Too recent start_time"),
        "the error names the request, status, and Zendesk's error and description: {message}"
    );
}

#[tokio::test]
async fn rejected_credentials_fail_as_auth_without_leaking_the_token() {
    let fake = FakeZendesk::new(2, 10);
    let proxy = start(&fake).await;
    let h = harness(&proxy, "zd-wrong-token-9999");
    let run = h.run().await.expect("the store works");
    let report = run.report;
    assert_eq!(
        report.error_kind,
        Some(ErrorKind::Auth),
        "{:?}",
        report.error
    );
    let message = report.error.unwrap_or_default();
    assert!(message.contains("Couldn't authenticate you"), "{message}");
    assert!(
        !message.contains("zd-wrong-token-9999"),
        "the token leaked: {message}"
    );
    assert!(run.live.is_empty(), "a failed first page committed records");
}
