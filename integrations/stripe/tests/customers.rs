//! The `customers` sync against a loopback Stripe, through the real driver and SQLite store.

mod fake;
mod support;

use std::path::Path;

use fake::{FakeStripe, KEY};
use serde_json::json;
use support::{Exchanges, Harness, actions, check_fixtures, credentials, serve};
use sync_sdk::ErrorKind;

const MODEL: &str = "StripeCustomer";

async fn start(fake: &FakeStripe) -> (String, Exchanges) {
    let exchanges = Exchanges::default();
    let base = serve(fake.router(), exchanges.clone()).await;
    (base, exchanges)
}

fn harness(base: &str, key: &str) -> Harness {
    Harness::new(
        &syncfn_stripe::integration(),
        "customers",
        base,
        credentials(json!({"type": "bearer", "token": key})),
    )
}

fn requests(exchanges: &[serde_json::Value]) -> Vec<String> {
    exchanges
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["request"]["method"].as_str().unwrap(),
                e["request"]["path"].as_str().unwrap()
            )
        })
        .collect()
}

/// Full list, provider changes (updates, a delete, new customers, an unrelated customer.*
/// event), an incremental run and a no-op run; the exchanges are the replay fixtures in
/// `tests/fixtures/customers/`.
#[tokio::test]
async fn full_then_incremental_runs_report_exactly_the_provider_changes() {
    let fake = FakeStripe::new(7, 3);
    let (base, exchanges) = start(&fake).await;
    let h = harness(&base, KEY);

    // 1. First run: seven customers over three pages (newest first), no events.
    let first = h.run_ok().await;
    assert_eq!(first.pages, 3, "7 customers at 3 per page");
    assert_eq!(
        (
            first.counts.added,
            first.counts.updated,
            first.counts.deleted
        ),
        (7, 0, 0)
    );
    let records = h.records(MODEL).await;
    let mut expected = fake.customer("cus_TEST000004");
    expected.as_object_mut().unwrap().remove("object");
    expected["deleted"] = json!(false);
    assert_eq!(
        records["cus_TEST000004"].data, expected,
        "customer 4 as cached differs from the provider's"
    );
    let newest = fake.customer("cus_TEST000007")["created"].as_i64().unwrap();
    assert_eq!(
        h.checkpoint().await,
        Some(json!({"created": newest, "events_created": newest})),
        "the checkpoint starts both windows at the newest customer"
    );
    assert!(
        requests(&exchanges.all())
            .iter()
            .all(|r| r == "GET /v1/customers"),
        "a first run only lists customers: {:?}",
        requests(&exchanges.all())
    );
    let after_first = h.last_cursor(MODEL).await;

    // 2. Provider changes.
    fake.update("cus_TEST000002", "Renamed Two");
    fake.update("cus_TEST000006", "Renamed Six");
    fake.update("cus_TEST000002", "Renamed Two Again");
    fake.subscribe("cus_TEST000003");
    fake.delete("cus_TEST000005");
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
    let mut expected = vec![
        ("ADDED".to_string(), added[0].clone()),
        ("ADDED".to_string(), added[1].clone()),
        ("DELETED".to_string(), "cus_TEST000005".to_string()),
        ("UPDATED".to_string(), "cus_TEST000002".to_string()),
        ("UPDATED".to_string(), "cus_TEST000006".to_string()),
    ];
    expected.sort();
    let changes = h.changes_after(MODEL, after_first.clone()).await;
    assert_eq!(
        actions(&changes),
        expected,
        "changes listed after the first run's cursor"
    );
    assert_eq!(
        h.records(MODEL).await["cus_TEST000002"].data["name"],
        "Renamed Two Again",
        "the newest update wins whatever order the events came in"
    );
    let second_requests = requests(&exchanges.all()[served..]);
    assert!(
        second_requests.contains(&"GET /v1/events".to_string()),
        "an incremental run reads events: {second_requests:?}"
    );
    assert!(
        second.pages >= 3,
        "the events span several pages: {} pages",
        second.pages
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
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/customers"),
        &exchanges.all(),
        &base,
    );
}

#[tokio::test]
async fn provider_error_message_surfaces_with_its_kind() {
    let fake = FakeStripe::new(2, 10);
    let (base, _exchanges) = start(&fake).await;
    let wrong = "sk_test_51WRONGwrongWRONGwrong9999";
    let h = harness(&base, wrong);
    let report = h.run().await;
    assert_eq!(
        report.error_kind,
        Some(ErrorKind::Auth),
        "{:?}",
        report.error
    );
    let message = report.error.unwrap_or_default();
    assert!(
        message.contains("GET /v1/customers")
            && message.contains("401")
            && message.contains("Invalid API Key provided"),
        "the error names the request, status and Stripe's message: {message}"
    );
    assert!(
        !message.contains(wrong),
        "the key leaked into the error: {message}"
    );
    assert!(
        h.live_ids(MODEL).await.is_empty(),
        "a failed first page committed records"
    );
}

/// The fixture set replays, under the fixture contract, to the same three runs.
#[tokio::test]
async fn recorded_fixtures_replay_to_the_same_three_runs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/customers");
    let (base, replay) = support::replay(&dir).await;
    let h = harness(&base, KEY);
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
