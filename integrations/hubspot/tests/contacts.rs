//! The `contacts` sync against a loopback HubSpot, through the real driver and SQLite store.

mod fake;
mod support;

use std::path::Path;

use fake::{FakeHubspot, TOKEN, timestamp};
use serde_json::json;
use support::{Exchanges, Harness, actions, check_fixtures, credentials, serve};
use sync_sdk::ErrorKind;

const MODEL: &str = "HubspotContact";

async fn start(fake: &FakeHubspot) -> (String, Exchanges) {
    let exchanges = Exchanges::default();
    let base = serve(fake.router(), exchanges.clone()).await;
    (base, exchanges)
}

fn harness(base: &str, token: &str) -> Harness {
    Harness::new(
        &syncfn_hubspot::integration(),
        "contacts",
        base,
        credentials(json!({"type": "bearer", "token": token})),
    )
}

fn paths(exchanges: &[serde_json::Value]) -> Vec<String> {
    exchanges
        .iter()
        .map(|e| {
            let archived = e["request"]["query"]
                .as_array()
                .is_some_and(|q| q.contains(&json!(["archived", "true"])));
            format!(
                "{} {}{}",
                e["request"]["method"].as_str().unwrap(),
                e["request"]["path"].as_str().unwrap(),
                if archived { "?archived" } else { "" }
            )
        })
        .collect()
}

/// Full list, provider changes, incremental search, and a no-op run; the exchanges are the
/// replay fixtures in `tests/fixtures/contacts/`.
#[tokio::test]
async fn full_then_incremental_runs_report_exactly_the_provider_changes() {
    let fake = FakeHubspot::new(7, 3);
    let (base, exchanges) = start(&fake).await;
    let h = harness(&base, TOKEN);

    // 1. First run: every contact over three list pages, then the (empty) archived listing.
    let first = h.run_ok().await;
    assert_eq!(first.pages, 4, "3 list pages + 1 archived page");
    assert_eq!(
        (
            first.counts.added,
            first.counts.updated,
            first.counts.deleted
        ),
        (7, 0, 0)
    );
    let records = h.records(MODEL).await;
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
        h.checkpoint().await,
        Some(json!({"last_modified_at": timestamp(fake.contact(107).modified)})),
        "the checkpoint is the newest lastmodifieddate"
    );
    assert_eq!(
        paths(&exchanges.all()),
        [
            "GET /crm/v3/objects/contacts",
            "GET /crm/v3/objects/contacts",
            "GET /crm/v3/objects/contacts",
            "GET /crm/v3/objects/contacts?archived"
        ]
    );
    let after_first = h.last_cursor(MODEL).await;

    // 2. The provider changes: two updates, one archive, two new contacts.
    fake.update(102);
    fake.update(106);
    fake.archive(104);
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
    let changes = h.changes_after(MODEL, after_first).await;
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
        actions(&changes),
        expected,
        "changes listed after the first run's cursor"
    );
    let second_paths = paths(&exchanges.all()[served..]);
    assert!(
        second_paths
            .iter()
            .all(|p| p != "GET /crm/v3/objects/contacts"),
        "an incremental run must search, not list: {second_paths:?}"
    );
    assert!(second_paths.contains(&"POST /crm/v3/objects/contacts/search".to_string()));

    // 3. Nothing changed: the run completes and reports nothing.
    let third = h.run_ok().await;
    assert_eq!(
        third.counts.changes(),
        0,
        "a run with no provider change reported {:?}",
        third.counts
    );

    check_fixtures(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/contacts"),
        &exchanges.all(),
        &base,
    );
}

#[tokio::test]
async fn search_restarts_from_the_last_timestamp_instead_of_paging_past_10000_results() {
    let fake = FakeHubspot::new(1, 100);
    let (base, _exchanges) = start(&fake).await;
    let h = harness(&base, TOKEN);
    h.run_ok().await;

    fake.create(10_150);
    let report = h.run_ok().await;
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
    assert_eq!(h.live_ids(MODEL).await.len(), 10_151);
    let again = h.run_ok().await;
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
    let (base, _exchanges) = start(&fake).await;
    let h = harness(&base, TOKEN);
    h.run_ok().await;

    fake.create_at_one_instant(10_001);
    let report = h.run().await;
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
    let (base, _exchanges) = start(&fake).await;
    let h = harness(&base, "pat-na1-wrong-token");
    let report = h.run().await;
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
    assert!(
        h.live_ids(MODEL).await.is_empty(),
        "a failed first page committed records"
    );
}

/// The fixture set replays, under the fixture contract, to the same three runs.
#[tokio::test]
async fn recorded_fixtures_replay_to_the_same_three_runs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/contacts");
    let (base, replay) = support::replay(&dir).await;
    let h = harness(&base, TOKEN);
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
