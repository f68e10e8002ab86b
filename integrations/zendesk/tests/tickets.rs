//! The `tickets` sync against a loopback Zendesk, through the real driver and SQLite store.

mod fake;
mod support;

use std::path::Path;

use fake::{API_TOKEN, FakeZendesk, USER};
use serde_json::json;
use support::{Exchanges, Harness, actions, check_fixtures, credentials, serve};
use sync_sdk::ErrorKind;

const MODEL: &str = "ZendeskTicket";

async fn start(fake: &FakeZendesk) -> (String, Exchanges) {
    let exchanges = Exchanges::default();
    let base = serve(fake.router(), exchanges.clone()).await;
    (base, exchanges)
}

fn harness(base: &str, password: &str) -> Harness {
    Harness::new(
        &syncfn_zendesk::integration(),
        "tickets",
        base,
        credentials(json!({"type": "basic", "username": USER, "password": password})),
    )
}

fn query_names(exchanges: &[serde_json::Value]) -> Vec<String> {
    exchanges
        .iter()
        .map(|e| {
            e["request"]["query"][0][0]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// Full export, provider changes (updates, a deleted ticket, new tickets), an incremental run
/// and a no-op run; the exchanges are the replay fixtures in `tests/fixtures/tickets/`.
#[tokio::test]
async fn full_then_incremental_runs_report_exactly_the_provider_changes() {
    let fake = FakeZendesk::new(7, 3);
    let (base, exchanges) = start(&fake).await;
    let h = harness(&base, API_TOKEN);

    // 1. First run: start_time=0, then after_cursor until end_of_stream.
    let first = h.run_ok().await;
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
        query_names(&exchanges.all()),
        ["start_time", "cursor", "cursor"]
    );
    assert_eq!(
        exchanges.all()[0]["request"]["query"],
        json!([["start_time", "0"]])
    );
    let records = h.records(MODEL).await;
    assert_eq!(records.len(), 7);
    assert_eq!(records["4"].data["subject"], "Printer 4 is on fire");
    assert_eq!(records["4"].data["type"], "incident");
    let newest = records["7"].data["generated_timestamp"].as_i64().unwrap();
    assert_eq!(h.checkpoint().await, Some(json!({"start_time": newest})));
    let after_first = h.last_cursor(MODEL).await;

    // 2. Provider changes.
    fake.set_status(2, "open");
    fake.set_status(5, "solved");
    fake.set_status(3, "deleted");
    let added = fake.create(2);
    let served = exchanges.len();
    let second = h.run_ok().await;
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
        exchanges.all()[served]["request"]["query"],
        json!([["start_time", newest.to_string()]]),
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
    let changes = h.changes_after(MODEL, after_first).await;
    assert_eq!(
        actions(&changes),
        expected,
        "changes listed after the first run's cursor"
    );

    // 3. Nothing changed: the run completes and reports nothing.
    let third = h.run_ok().await;
    assert_eq!(
        third.counts.changes(),
        0,
        "a run with no provider change reported {:?}",
        third.counts
    );

    check_fixtures(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tickets"),
        &exchanges.all(),
        &base,
    );
}

#[tokio::test]
async fn provider_error_description_surfaces_with_its_kind() {
    let fake = FakeZendesk::new(4, 2);
    let (base, _exchanges) = start(&fake).await;
    let h = harness(&base, API_TOKEN);
    h.run_ok().await;
    fake.fail_next(
        422,
        json!({"error": "InvalidValue", "description": "Too recent start_time. Use a start_time older than 1 minute"}),
    );
    let report = h.run().await;
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
    let (base, _exchanges) = start(&fake).await;
    let h = harness(&base, "zd-wrong-token-9999");
    let report = h.run().await;
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
    assert!(
        h.live_ids(MODEL).await.is_empty(),
        "a failed first page committed records"
    );
}

/// The fixture set replays, under the fixture contract, to the same three runs.
#[tokio::test]
async fn recorded_fixtures_replay_to_the_same_three_runs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tickets");
    let (base, replay) = support::replay(&dir).await;
    let h = harness(&base, API_TOKEN);
    let mut counts = Vec::new();
    for _ in 0..3 {
        let r = h.run_ok().await;
        counts.push((r.counts.added, r.counts.updated, r.counts.deleted));
    }
    assert_eq!(
        counts,
        [(7, 0, 0), (2, 2, 1), (0, 0, 0)],
        "(added, updated, deleted) per run"
    );
    assert!(
        replay.misses().is_empty(),
        "unrecorded requests: {:?}",
        replay.misses()
    );
}
