//! The conformance suite over the checked-in fixtures (recorded from the loopback fake with
//! `syncfn dryrun --save-responses`), and over the live fake while its tickets change.
//!
//! Regenerate the fixtures after changing the sync or the fake:
//! `SYNCFN_UPDATE_FIXTURES=1 cargo test -p syncfn-zendesk --test conformance fixtures_match`.

mod fake;

use std::path::{Path, PathBuf};

use fake::{API_TOKEN, FakeZendesk, USER};
use serde_json::json;
use sync_runtime::connection::Credentials;
use sync_runtime::testing::conformance::{Check, Outcome};
use sync_runtime::testing::recording::fixtures_up_to_date;
use sync_runtime::testing::{Conformance, Fixtures, Source, serve_router};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tickets")
}

fn basic_auth() -> serde_json::Value {
    json!({"type": "basic", "username": USER, "password": API_TOKEN})
}

/// The API token the fixtures were recorded with: check 6 searches the fixtures for it.
fn recording_credentials() -> Credentials {
    serde_json::from_value(basic_auth()).expect("basic credentials")
}

/// 7 tickets over 3 export pages of 3, ticket 6 with `status: deleted` (a tombstone of a
/// ticket never cached: the tombstone path runs at every crash point). Deletes of cached
/// tickets are the live-fake test's changes.
async fn start_fake() -> (FakeZendesk, String) {
    let fake = FakeZendesk::new(7, 3);
    fake.set_status(6, "deleted");
    let base = serve_router(fake.router()).await.expect("bind the fake");
    (fake, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_conform_over_recorded_fixtures() {
    let report = Conformance::new(
        syncfn_zendesk::integration(),
        "tickets",
        Fixtures::dir(fixtures()),
    )
    .credentials(recording_credentials())
    .run()
    .await
    .unwrap_or_else(|failure| panic!("{failure}"));
    eprintln!("{report}");
    report.assert_complete_fixtures(3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_catch_up_with_status_changes_deletions_and_new_tickets() {
    let (fake, base) = start_fake().await;
    let changes = fake.clone();
    let report = Conformance::new(
        syncfn_zendesk::integration(),
        "tickets",
        Source::Upstream(base),
    )
    .credentials(recording_credentials())
    .changes(move || {
        changes.set_status(2, "open");
        changes.set_status(5, "solved");
        changes.set_status(3, "deleted");
        changes.create(2);
    })
    .run()
    .await
    .unwrap_or_else(|failure| panic!("{failure}"));
    assert!(
        matches!(report.outcome(Check::Incremental), Some(Outcome::Passed(w)) if w.contains("matches a full resync")),
        "the incremental run after the provider changes must be compared with a resync:\n{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixtures_match_what_the_fake_answers() {
    let (_fake, base) = start_fake().await;
    let connection = json!({
        "base_url": base,
        "credentials": basic_auth(),
        // The loopback fake need not be spared Zendesk's 10 export requests a minute.
        "rate_limit": {"requests": 1000, "per_ms": 1000, "burst": 100},
    });
    fixtures_up_to_date(
        syncfn_zendesk::integration(),
        "tickets",
        &connection,
        &fixtures(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}
