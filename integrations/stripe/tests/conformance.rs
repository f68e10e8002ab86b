//! The conformance suite over the checked-in fixtures (recorded from the loopback fake with
//! `syncfn dryrun --save-responses`), and over the live fake while its customers change.
//!
//! Regenerate the fixtures after changing the sync or the fake:
//! `SYNCFN_UPDATE_FIXTURES=1 cargo test -p syncfn-stripe --test conformance fixtures_match`.

mod fake;

use std::path::{Path, PathBuf};

use fake::{FakeStripe, KEY};
use serde_json::json;
use sync_runtime::connection::Credentials;
use sync_runtime::testing::conformance::{Check, Outcome};
use sync_runtime::testing::recording::fixtures_up_to_date;
use sync_runtime::testing::{Conformance, Fixtures, Source, serve_router};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/customers")
}

/// The secret key the fixtures were recorded with: check 6 searches the fixtures for it.
fn recording_credentials() -> Credentials {
    serde_json::from_value(json!({"type": "bearer", "token": KEY})).expect("bearer credentials")
}

/// 7 customers over 3 pages of 3.
async fn start_fake() -> (FakeStripe, String) {
    let fake = FakeStripe::new(7, 3);
    let base = serve_router(fake.router()).await.expect("bind the fake");
    (fake, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_conform_over_recorded_fixtures() {
    let report = Conformance::new(
        syncfn_stripe::integration(),
        "customers",
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
async fn customers_catch_up_with_updates_deletions_and_new_customers() {
    let (fake, base) = start_fake().await;
    let changes = fake.clone();
    let report = Conformance::new(
        syncfn_stripe::integration(),
        "customers",
        Source::Upstream(base),
    )
    .credentials(recording_credentials())
    .changes(move || {
        changes.update("cus_TEST000002", "Renamed Two");
        changes.update("cus_TEST000006", "Renamed Six");
        changes.subscribe("cus_TEST000003");
        changes.delete("cus_TEST000005");
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
    let connection = json!({"base_url": base, "credentials": {"type": "bearer", "token": KEY}});
    fixtures_up_to_date(
        syncfn_stripe::integration(),
        "customers",
        &connection,
        &fixtures(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}
