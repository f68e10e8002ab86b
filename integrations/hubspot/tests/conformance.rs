//! The conformance suite over the checked-in fixtures (recorded from the loopback fake with
//! `syncfn dryrun --save-responses`), and over the live fake while its contacts change.
//!
//! Regenerate the fixtures after changing the sync or the fake:
//! `SYNCFN_UPDATE_FIXTURES=1 cargo test -p syncfn-hubspot --test conformance fixtures_match`.

mod fake;

use std::path::{Path, PathBuf};

use fake::{FakeHubspot, TOKEN};
use serde_json::json;
use sync_runtime::connection::Credentials;
use sync_runtime::testing::conformance::{Check, Outcome};
use sync_runtime::testing::recording::fixtures_up_to_date;
use sync_runtime::testing::{Conformance, Fixtures, Source, serve_router};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/contacts")
}

/// The token the fixtures were recorded with: check 6 searches the fixtures for it.
fn recording_credentials() -> Credentials {
    serde_json::from_value(json!({"type": "bearer", "token": TOKEN})).expect("bearer credentials")
}

/// 8 contacts, one archived: 7 over 3 list pages of 3, then the archived listing reports the
/// eighth (never cached, so it deletes nothing, but the deleted-ids path runs at every crash
/// point). Deletes of cached contacts are the live-fake test's changes.
async fn start_fake() -> (FakeHubspot, String) {
    let fake = FakeHubspot::new(8, 3);
    fake.archive(105);
    let base = serve_router(fake.router()).await.expect("bind the fake");
    (fake, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_conform_over_recorded_fixtures() {
    let report = Conformance::new(
        syncfn_hubspot::integration(),
        "contacts",
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
async fn contacts_catch_up_with_updates_archives_and_new_contacts() {
    let (fake, base) = start_fake().await;
    let changes = fake.clone();
    let report = Conformance::new(
        syncfn_hubspot::integration(),
        "contacts",
        Source::Upstream(base),
    )
    .credentials(recording_credentials())
    .changes(move || {
        changes.update(102);
        changes.update(106);
        changes.archive(104);
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
    let connection = json!({"base_url": base, "credentials": {"type": "bearer", "token": TOKEN}});
    fixtures_up_to_date(
        syncfn_hubspot::integration(),
        "contacts",
        &connection,
        &fixtures(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}
