//! The `customers` sync against a loopback Stripe, through the real driver and SQLite store
//! (`sync_runtime::testing::Harness`), with a forwarding proxy logging what the sync asked for.

mod fake;

use fake::{FakeStripe, KEY};
use serde_json::json;
use sync_runtime::testing::fixture::RecordedRequest;
use sync_runtime::testing::harness::change_actions;
use sync_runtime::testing::{Harness, ReplayProvider};
use sync_sdk::ErrorKind;

/// Serve the fake on 127.0.0.1 behind a proxy that logs every request; returns the proxy.
async fn start(fake: &FakeStripe) -> ReplayProvider {
    ReplayProvider::logging(fake.router())
        .await
        .expect("serve the fake behind a logging proxy")
}

fn harness(provider: &ReplayProvider, key: &str) -> Harness {
    Harness::new(
        &syncfn_stripe::integration(),
        "customers",
        &provider.base_url(),
    )
    .expect("the customers sync exists")
    .with_credentials(
        serde_json::from_value(json!({"type": "bearer", "token": key})).expect("credentials"),
    )
}

fn requests(requests: &[RecordedRequest]) -> Vec<String> {
    requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// Full list, provider changes (updates, a delete, new customers, an unrelated customer.*
/// event), an incremental run and a no-op run.
#[tokio::test]
async fn full_then_incremental_runs_report_exactly_the_provider_changes() {
    let fake = FakeStripe::new(7, 3);
    let proxy = start(&fake).await;
    let h = harness(&proxy, KEY);

    // 1. First run: seven customers over three pages (newest first), no events.
    let first = h.run_ok().await.expect("the run completes").report;
    assert_eq!(first.pages, 3, "7 customers at 3 per page");
    assert_eq!(
        (
            first.counts.added,
            first.counts.updated,
            first.counts.deleted
        ),
        (7, 0, 0)
    );
    let records = h.records().await.expect("read the cache");
    let mut expected = fake.customer("cus_TEST000004");
    expected.as_object_mut().unwrap().remove("object");
    expected["deleted"] = json!(false);
    assert_eq!(
        records["cus_TEST000004"].data, expected,
        "customer 4 as cached differs from the provider's"
    );
    let newest = fake.customer("cus_TEST000007")["created"].as_i64().unwrap();
    assert_eq!(
        h.checkpoint().await.expect("read the checkpoint"),
        Some(json!({"created": newest, "events_created": newest})),
        "the checkpoint starts both windows at the newest customer"
    );
    assert!(
        requests(&proxy.received())
            .iter()
            .all(|r| r == "GET /v1/customers"),
        "a first run only lists customers: {:?}",
        requests(&proxy.received())
    );
    let after_first = h.last_cursor().await.expect("read the cache");

    // 2. Provider changes.
    fake.update("cus_TEST000002", "Renamed Two");
    fake.update("cus_TEST000006", "Renamed Six");
    fake.update("cus_TEST000002", "Renamed Two Again");
    fake.subscribe("cus_TEST000003");
    fake.delete("cus_TEST000005");
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
    let mut expected = vec![
        ("ADDED".to_string(), added[0].clone()),
        ("ADDED".to_string(), added[1].clone()),
        ("DELETED".to_string(), "cus_TEST000005".to_string()),
        ("UPDATED".to_string(), "cus_TEST000002".to_string()),
        ("UPDATED".to_string(), "cus_TEST000006".to_string()),
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
    assert_eq!(
        h.records().await.expect("read the cache")["cus_TEST000002"].data["name"],
        "Renamed Two Again",
        "the newest update wins whatever order the events came in"
    );
    let second_requests = requests(&proxy.received()[served..]);
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
    let third = h.run_ok().await.expect("the run completes").report;
    assert_eq!(
        third.counts.changes(),
        0,
        "a run with no provider change reported {:?}",
        third.counts
    );
}

#[tokio::test]
async fn provider_error_message_surfaces_with_its_kind() {
    let fake = FakeStripe::new(2, 10);
    let proxy = start(&fake).await;
    let wrong = "sk_test_51WRONGwrongWRONGwrong9999";
    let h = harness(&proxy, wrong);
    let run = h.run().await.expect("the store works");
    let report = run.report;
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
    assert!(run.live.is_empty(), "a failed first page committed records");
}
