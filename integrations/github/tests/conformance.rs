//! The conformance suite over the checked-in fixtures (recorded from the loopback fake with
//! `syncfn dryrun --save-responses`), and over the live fake while its issues change.
//!
//! Regenerate the fixtures after changing the sync or the fake:
//! `SYNCFN_UPDATE_FIXTURES=1 cargo test -p syncfn-github --test conformance fixtures_match`.

#[path = "support/fake_github.rs"]
mod fake_github;

use std::path::{Path, PathBuf};

use fake_github::FakeGithub;
use serde_json::{Map, Value, json};
use sync_runtime::connection::Credentials;
use sync_runtime::testing::conformance::{Check, Outcome};
use sync_runtime::testing::recording::fixtures_up_to_date;
use sync_runtime::testing::{Conformance, Fixtures, Source};

const OWNER: &str = "octo-org";
const REPO: &str = "hello.world";
/// Made up; the fake does not check it, check 6 searches records, logs and fixtures for it.
const TOKEN: &str = "ghp_recordingSECRETrecordingSECRET0001";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/issues")
}

fn params() -> Map<String, Value> {
    let Value::Object(params) = json!({"owner": OWNER, "repo": REPO}) else {
        unreachable!("an object literal")
    };
    params
}

fn credentials() -> Value {
    json!({"type": "bearer", "token": TOKEN})
}

/// 205 issues and 20 pull requests, every 4th issue closed: three pages of 100 by `since`.
async fn start_fake() -> FakeGithub {
    let fake = FakeGithub::start(OWNER, REPO).await;
    for n in 1..=205u64 {
        let number = fake.add_issue(&format!("Issue {n}"));
        if n.is_multiple_of(4) {
            fake.close(number);
        }
        if n.is_multiple_of(10) {
            fake.add_pull_request(&format!("Fix for issue {n}"));
        }
    }
    fake
}

fn conformance(source: impl Into<Source>) -> Conformance {
    let credentials: Credentials = serde_json::from_value(credentials()).expect("bearer");
    Conformance::new(syncfn_github::integration(), "issues", source)
        .params(params())
        .credentials(credentials)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issues_conform_over_recorded_fixtures() {
    let report = conformance(Fixtures::dir(fixtures()))
        .run()
        .await
        .unwrap_or_else(|failure| panic!("{failure}"));
    eprintln!("{report}");
    report.assert_complete_fixtures(3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issues_catch_up_with_comments_closes_and_new_issues() {
    let fake = start_fake().await;
    let changes = fake.clone();
    let report = conformance(Source::Upstream(fake.base_url()))
        .changes(move || {
            changes.comment(3);
            changes.close(7);
            changes.add_issue("Issue filed after the first run");
            changes.add_pull_request("A pull request filed after the first run");
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
    let fake = start_fake().await;
    let connection =
        json!({"base_url": fake.base_url(), "params": params(), "credentials": credentials()});
    fixtures_up_to_date(
        syncfn_github::integration(),
        "issues",
        &connection,
        &fixtures(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}
