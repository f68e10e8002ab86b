//! The `contacts` sync against a loopback HubSpot, through the real driver and SQLite store
//! (`sync_runtime::testing::Harness`), with a forwarding proxy logging what the sync asked for.

mod fake;

use fake::{FakeHubspot, TOKEN, timestamp};
use serde_json::json;
use sync_runtime::testing::fixture::RecordedRequest;
use sync_runtime::testing::harness::change_actions;
use sync_runtime::testing::{Harness, ReplayProvider};
use sync_sdk::ErrorKind;

/// Serve the fake on 127.0.0.1 behind a proxy that logs every request; returns the proxy.
async fn start(fake: &FakeHubspot) -> ReplayProvider {
    ReplayProvider::logging(fake.router())
        .await
        .expect("serve the fake behind a logging proxy")
}

fn harness(provider: &ReplayProvider, token: &str) -> Harness {
    Harness::new(
        &syncfn_hubspot::integration(),
        "contacts",
        &provider.base_url(),
    )
    .expect("the contacts sync exists")
    .with_credentials(
        serde_json::from_value(json!({"type": "bearer", "token": token})).expect("credentials"),
    )
}

fn paths(requests: &[RecordedRequest]) -> Vec<String> {
    requests
        .iter()
        .map(|r| {
            let archived = r.query.contains(&("archived".into(), "true".into()));
            format!(
                "{} {}{}",
                r.method,
                r.path,
                if archived { "?archived" } else { "" }
            )
        })
        .collect()
}

/// Full list, provider changes, incremental search, and a no-op run.
#[tokio::test]
async fn full_then_incremental_runs_report_exactly_the_provider_changes() {
    let fake = FakeHubspot::new(7, 3);
    let proxy = start(&fake).await;
    let h = harness(&proxy, TOKEN);

    // 1. First run: every contact over three list pages, then the (empty) archived listing.
    let first = h.run_ok().await.expect("the run completes").report;
    assert_eq!(first.pages, 4, "3 list pages + 1 archived page");
    assert_eq!(
        (
            first.counts.added,
            first.counts.updated,
            first.counts.deleted
        ),
        (7, 0, 0)
    );
    let records = h.records().await.expect("read the cache");
    assert_eq!(
        records.len(),
        7,
        "cached ids: {:?}",
        records.keys().collect::<Vec<_>>()
    );
    let c = fake.contact(103);
    assert_eq!(
        records["103"].data,
        json!({
            "id": "103", "email": c.email, "first_name": c.first_name, "last_name": c.last_name,
            "company": null, "phone": null, "lifecycle_stage": "lead",
            "created_at": timestamp(c.created), "last_modified_at": timestamp(c.modified),
        }),
        "contact 103 as cached differs from the provider's"
    );
    assert_eq!(
        h.checkpoint().await.expect("read the checkpoint"),
        Some(json!({"last_modified_at": timestamp(fake.contact(107).modified)})),
        "the checkpoint is the newest lastmodifieddate"
    );
    assert_eq!(
        paths(&proxy.received()),
        [
            "GET /crm/v3/objects/contacts",
            "GET /crm/v3/objects/contacts",
            "GET /crm/v3/objects/contacts",
            "GET /crm/v3/objects/contacts?archived"
        ]
    );
    let after_first = h.last_cursor().await.expect("read the cache");

    // 2. The provider changes: two updates, one archive, two new contacts.
    fake.update(102);
    fake.update(106);
    fake.archive(104);
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
    let changes = h
        .changes_after(after_first.as_deref())
        .await
        .expect("list the changes");
    let expected: Vec<(String, String)> = vec![
        ("ADDED".into(), added[0].to_string()),
        ("ADDED".into(), added[1].to_string()),
        ("DELETED".into(), "104".into()),
        ("UPDATED".into(), "102".into()),
        ("UPDATED".into(), "106".into()),
    ];
    let mut expected = expected;
    expected.sort();
    assert_eq!(
        change_actions(&changes),
        expected,
        "changes listed after the first run's cursor"
    );
    let second_paths = paths(&proxy.received()[served..]);
    assert!(
        second_paths
            .iter()
            .all(|p| p != "GET /crm/v3/objects/contacts"),
        "an incremental run must search, not list: {second_paths:?}"
    );
    assert!(second_paths.contains(&"POST /crm/v3/objects/contacts/search".to_string()));

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
async fn search_restarts_from_the_last_timestamp_instead_of_paging_past_10000_results() {
    let fake = FakeHubspot::new(1, 100);
    let proxy = start(&fake).await;
    let h = harness(&proxy, TOKEN);
    h.run_ok().await.expect("the first run completes");

    fake.create(10_150);
    let run = h.run_ok().await.expect("the run completes");
    let report = &run.report;
    assert_eq!(
        fake.rejected_searches(),
        0,
        "the sync paged past the 10,000-result cap"
    );
    assert_eq!(
        report.counts.added, 10_150,
        "every new contact arrives: {:?}",
        report.counts
    );
    assert_eq!(run.live.len(), 10_151, "live contacts after the catch-up");
    let again = h.run_ok().await.expect("the run completes").report;
    assert_eq!(
        again.counts.changes(),
        0,
        "a repeat run reported {:?}",
        again.counts
    );
}

#[tokio::test]
async fn more_than_10000_contacts_at_one_timestamp_fail_with_a_clear_error_instead_of_looping() {
    let fake = FakeHubspot::new(1, 100);
    let proxy = start(&fake).await;
    let h = harness(&proxy, TOKEN);
    h.run_ok().await.expect("the first run completes");

    fake.create_at_one_instant(10_001);
    let run = h.run().await.expect("the store works");
    let report = run.report;
    assert_eq!(
        report.error_kind,
        Some(ErrorKind::Data),
        "{:?}",
        report.error
    );
    let message = report.error.unwrap_or_default();
    assert!(
        message.contains("more than 10000 contacts have lastmodifieddate")
            && message.contains("POST /crm/v3/objects/contacts/search"),
        "the error names the search and the timestamp: {message}"
    );
    assert_eq!(fake.rejected_searches(), 0, "the sync paged past the cap");
}

#[tokio::test]
async fn provider_error_message_surfaces_with_its_kind() {
    let fake = FakeHubspot::new(2, 10);
    let proxy = start(&fake).await;
    let h = harness(&proxy, "pat-na1-wrong-token");
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
        message.contains("GET /crm/v3/objects/contacts")
            && message.contains("401")
            && message.contains("Authentication credentials not found"),
        "the error names the request, status and HubSpot's message: {message}"
    );
    assert!(
        !message.contains("wrong-token"),
        "the token leaked into the error: {message}"
    );
    assert!(run.live.is_empty(), "a failed first page committed records");
}
