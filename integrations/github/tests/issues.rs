//! The `github/issues` sync end to end: the real driver, a real SQLite file, and a loopback
//! fake of GitHub's issues endpoint.

mod support;

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;
use sync_runtime::store::{LastAction, RunStatus};
use sync_sdk::{Connection, ErrorKind};
use tempfile::TempDir;

use support::{FakeGithub, Harness};

const OWNER: &str = "octo-org";
const REPO: &str = "hello.world";

/// Fill the fake: `issues` issues with a pull request after every `pr_every`-th one; close
/// every 4th issue.
fn seed(fake: &FakeGithub, issues: u64, pr_every: u64) {
    for n in 1..=issues {
        let number = fake.add_issue(&format!("Issue {n}"));
        if n.is_multiple_of(4) {
            fake.close(number);
        }
        if n.is_multiple_of(pr_every) {
            fake.add_pull_request(&format!("Fix for issue {n}"));
        }
    }
}

fn assert_cache_matches(stored: &HashMap<String, Value>, expected: &HashMap<String, Value>) {
    let stored_ids: BTreeSet<&String> = stored.keys().collect();
    let expected_ids: BTreeSet<&String> = expected.keys().collect();
    assert_eq!(
        stored_ids, expected_ids,
        "cached issue ids differ from the provider's issues"
    );
    for (id, want) in expected {
        assert_eq!(
            &stored[id], want,
            "cached issue {id} differs from the provider's"
        );
    }
}

#[tokio::test]
async fn full_run_pages_by_since_and_stores_exactly_the_issues() {
    let fake = FakeGithub::start(OWNER, REPO).await;
    seed(&fake, 250, 6);
    let pulls = fake.pull_request_numbers();
    assert_eq!(pulls.len(), 41, "seeding made the expected number of PRs");
    let dir = TempDir::new().unwrap();
    let harness = Harness::for_repo(&dir.path().join("cache.db"), &fake, OWNER, REPO);

    let report = harness.run().await;

    assert_eq!(
        report.status,
        RunStatus::Success,
        "run failed: {:?}",
        report.error
    );
    // 291 items: 100, then since=<100th> serves it again with 99 new ones, then the last 93.
    assert_eq!(report.pages, 3, "pages of 100 items, overlapping by one");
    assert_eq!(
        report.counts.added, 250,
        "every issue added, no pull request"
    );
    let stored = harness.stored().await;
    assert_cache_matches(&stored, &fake.expected_issues());
    for number in pulls {
        assert!(
            !stored.contains_key(&fake.id_of(number)),
            "pull request #{number} was stored"
        );
    }
    assert_eq!(
        harness.checkpoint().await,
        Some(fake.newest_update()),
        "the checkpoint is the newest updated_at over issues and PRs"
    );

    let requests = fake.requests();
    assert_eq!(requests.len(), 3, "one request per page");
    let first = &requests[0];
    assert_eq!(first.path, format!("/repos/{OWNER}/{REPO}/issues"));
    for (name, value) in [
        ("state", "all"),
        ("sort", "updated"),
        ("direction", "asc"),
        ("per_page", "100"),
    ] {
        assert_eq!(
            first.query.get(name).map(String::as_str),
            Some(value),
            "first request's {name}"
        );
    }
    assert!(
        !first.query.contains_key("since"),
        "a first run sends no since"
    );
    for (i, request) in requests.iter().enumerate() {
        assert_eq!(
            request.accept.as_deref(),
            Some("application/vnd.github+json"),
            "request {i} Accept"
        );
        assert_eq!(
            request.api_version.as_deref(),
            Some("2022-11-28"),
            "request {i} X-GitHub-Api-Version"
        );
    }
    let order = fake.updated_at_in_list_order();
    for (i, last_of_previous) in [(1, 99), (2, 198)] {
        let request = &requests[i];
        assert_eq!(
            request.path,
            format!("/repos/{OWNER}/{REPO}/issues"),
            "page {} is a fresh query, not the Link URL",
            i + 1
        );
        assert_eq!(
            request.query.get("since"),
            Some(&order[last_of_previous]),
            "page {} asks from the previous page's newest updated_at",
            i + 1
        );
        assert_eq!(request.query.get("page"), None, "page {} keyset", i + 1);
        assert_eq!(
            request.query.get("per_page").map(String::as_str),
            Some("100")
        );
    }
}

#[tokio::test]
async fn incremental_run_reports_exactly_the_changed_issues_and_sends_since() {
    let fake = FakeGithub::start(OWNER, REPO).await;
    seed(&fake, 240, 5); // 288 items: the first run takes three pages
    let dir = TempDir::new().unwrap();
    let harness = Harness::for_repo(&dir.path().join("cache.db"), &fake, OWNER, REPO);
    let first = harness.run().await;
    assert_eq!(
        first.status,
        RunStatus::Success,
        "first run: {:?}",
        first.error
    );
    let checkpoint = harness
        .checkpoint()
        .await
        .expect("a checkpoint after the first run");
    let after_first = harness.last_cursor().await;

    let issues = fake.issue_numbers();
    let pulls = fake.pull_request_numbers();
    let commented = [issues[2], issues[10], issues[30]];
    for &n in &commented {
        fake.comment(n);
    }
    let closed = issues[5];
    fake.close(closed);
    let new_issues = [fake.add_issue("New bug"), fake.add_issue("New idea")];
    fake.add_pull_request("New feature");
    fake.comment(pulls[1]);
    fake.clear_requests();

    let second = harness.run().await;

    assert_eq!(
        second.status,
        RunStatus::Success,
        "second run: {:?}",
        second.error
    );
    assert_eq!(
        (
            second.counts.added,
            second.counts.updated,
            second.counts.deleted
        ),
        (2, 4, 0),
        "added/updated/deleted of the incremental run"
    );
    let requests = fake.requests();
    assert_eq!(
        requests[0].query.get("since"),
        Some(&checkpoint),
        "since must equal the previous run's checkpoint"
    );
    let changed: BTreeSet<String> = harness
        .changes_after(after_first)
        .await
        .into_iter()
        .map(|r| r.id)
        .collect();
    let want: BTreeSet<String> = commented
        .iter()
        .chain([closed].iter())
        .chain(new_issues.iter())
        .map(|&n| fake.id_of(n))
        .collect();
    assert_eq!(
        changed, want,
        "changes listed after the first run's last cursor"
    );
    assert_cache_matches(&harness.stored().await, &fake.expected_issues());
    assert_eq!(harness.checkpoint().await, Some(fake.newest_update()));
}

#[tokio::test]
async fn run_where_only_pull_requests_changed_still_advances_the_checkpoint() {
    let fake = FakeGithub::start(OWNER, REPO).await;
    seed(&fake, 12, 3);
    let dir = TempDir::new().unwrap();
    let harness = Harness::for_repo(&dir.path().join("cache.db"), &fake, OWNER, REPO);
    assert_eq!(harness.run().await.status, RunStatus::Success);
    let before = harness.checkpoint().await.unwrap();

    let pulls = fake.pull_request_numbers();
    fake.comment(pulls[0]);
    fake.comment(pulls[2]);
    let newest = fake.newest_update();
    assert!(
        newest > before,
        "the PR changes are newer than the checkpoint"
    );

    let report = harness.run().await;
    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(
        report.counts.changes(),
        0,
        "no issue changed: {:?}",
        report.counts
    );
    assert_eq!(
        harness.checkpoint().await,
        Some(newest.clone()),
        "the checkpoint moves past the changed pull requests"
    );

    fake.clear_requests();
    assert_eq!(harness.run().await.status, RunStatus::Success);
    assert_eq!(
        fake.requests()[0].query.get("since"),
        Some(&newest),
        "the next run asks from the newest PR change"
    );
}

#[tokio::test]
async fn page_of_only_pull_requests_is_handled() {
    let fake = FakeGithub::start(OWNER, REPO).await;
    for n in 1..=100 {
        fake.add_issue(&format!("Issue {n}"));
    }
    for n in 1..=100 {
        fake.add_pull_request(&format!("PR {n}"));
    }
    for n in 101..=120 {
        fake.add_issue(&format!("Issue {n}"));
    }
    let dir = TempDir::new().unwrap();
    let harness = Harness::for_repo(&dir.path().join("cache.db"), &fake, OWNER, REPO);

    let report = harness.run().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    // Page 2 (since = issue 100's second) serves issue 100 again, then 99 PRs: nothing new
    // to store on it.
    assert_eq!(report.pages, 3, "issues, PRs only, issues");
    assert_eq!(report.counts.added, 120);
    assert_cache_matches(&harness.stored().await, &fake.expected_issues());
    assert_eq!(harness.checkpoint().await, Some(fake.newest_update()));

    // Only PRs changed: the run's single page holds nothing to store.
    let pulls = fake.pull_request_numbers();
    fake.comment(pulls[3]);
    let again = harness.run().await;
    assert_eq!(again.status, RunStatus::Success, "{:?}", again.error);
    assert_eq!(again.counts.changes(), 0);
    assert_eq!(harness.checkpoint().await, Some(fake.newest_update()));
}

#[tokio::test]
async fn closed_issues_are_kept_with_state_closed() {
    let fake = FakeGithub::start(OWNER, REPO).await;
    let open = fake.add_issue("Stays open");
    let to_close = fake.add_issue("Gets fixed");
    let dir = TempDir::new().unwrap();
    let harness = Harness::for_repo(&dir.path().join("cache.db"), &fake, OWNER, REPO);
    assert_eq!(harness.run().await.status, RunStatus::Success);

    fake.close(to_close);
    let report = harness.run().await;
    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(
        (report.counts.updated, report.counts.deleted),
        (1, 0),
        "closing is an update, never a delete"
    );
    let records = harness.changes_after(None).await;
    let closed = records
        .iter()
        .find(|r| r.id == fake.id_of(to_close))
        .expect("the closed issue is still cached");
    assert_eq!(closed.metadata.last_action, LastAction::Updated);
    assert_eq!(closed.data["state"], "closed");
    assert_eq!(closed.data["state_reason"], "completed");
    assert!(
        closed.data["closed_at"].is_string(),
        "closed_at set: {}",
        closed.data
    );
    let still_open = records.iter().find(|r| r.id == fake.id_of(open)).unwrap();
    assert_eq!(still_open.data["state"], "open");
    assert_eq!(still_open.data["closed_at"], Value::Null);
}

#[tokio::test]
async fn missing_owner_fails_with_a_config_error_naming_it() {
    let fake = FakeGithub::start(OWNER, REPO).await;
    fake.add_issue("Anything");
    let dir = TempDir::new().unwrap();
    let connection = Connection::new("acme", "github").with_param("repo", REPO);
    let harness = Harness::new(&dir.path().join("cache.db"), fake.base_url(), connection);

    let report = harness.run().await;

    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(report.error_kind, Some(ErrorKind::Config));
    let error = report.error.unwrap_or_default();
    assert!(
        error.contains("\"owner\"") && error.contains("\"acme\""),
        "the error names the parameter and the connection: {error}"
    );
    assert!(fake.requests().is_empty(), "nothing was sent to GitHub");
}

#[tokio::test]
async fn unknown_repository_fails_at_once_with_githubs_message() {
    let fake = FakeGithub::start(OWNER, REPO).await;
    fake.add_issue("Anything");
    let dir = TempDir::new().unwrap();
    let harness = Harness::for_repo(&dir.path().join("cache.db"), &fake, OWNER, "no-such-repo");

    let report = harness.run().await;

    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(
        report.error_kind,
        Some(ErrorKind::Config),
        "a 404 is not retryable"
    );
    let error = report.error.unwrap_or_default();
    assert!(
        error.contains("404") && error.contains("Not Found"),
        "the error carries GitHub's status and message: {error}"
    );
    assert!(
        error.contains("/repos/octo-org/no-such-repo/issues"),
        "the error names the request: {error}"
    );
    assert_eq!(fake.requests().len(), 1, "failed after exactly one request");
    assert!(harness.stored().await.is_empty());
}

#[tokio::test]
async fn fake_rejects_listing_without_state_sort_and_direction() {
    // Guards the fake itself: if it accepted a bare request, the tests above would not prove
    // the sync sends these parameters.
    let fake = FakeGithub::start(OWNER, REPO).await;
    let url = format!(
        "{}/repos/{OWNER}/{REPO}/issues?state=all&sort=updated",
        fake.base_url()
    );
    let (status, body) = raw_get(&url).await;
    assert_eq!(status, 422, "missing direction: {body}");
    assert!(body.contains("\"direction\""), "names the field: {body}");
    let url = format!(
        "{}/repos/{OWNER}/{REPO}/issues?state=all&sort=updated&direction=asc",
        fake.base_url()
    );
    assert_eq!(raw_get(&url).await.0, 200);
}

/// A GET over a plain TCP socket (the crate has no HTTP client dev-dependency).
async fn raw_get(url: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn exhausted_rate_limit_is_a_rate_limit_error_not_an_auth_error() {
    let fake = FakeGithub::start(OWNER, REPO).await;
    fake.add_issue("Anything");
    fake.exhaust_rate_limit();
    let dir = TempDir::new().unwrap();
    let harness = Harness::for_repo(&dir.path().join("cache.db"), &fake, OWNER, REPO);

    let report = harness.run().await;

    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(
        report.error_kind,
        Some(ErrorKind::RateLimit),
        "GitHub's 403 with x-ratelimit-remaining: 0 is a rate limit: {:?}",
        report.error
    );
    let error = report.error.unwrap_or_default();
    assert!(
        error.contains("API rate limit exceeded"),
        "GitHub's message kept: {error}"
    );
    assert!(
        !error.contains("auth error"),
        "not reported as auth: {error}"
    );
}

/// Pages were numbered over a list sorted by `updated_at`: an issue on page 1 edited after
/// page 1 was served moved to the end, shifted every later item one place left, and the item
/// at the page boundary was never served while the checkpoint moved past it. Keyset paging
/// on `since` serves every issue in the same run.
#[tokio::test]
async fn issue_edited_mid_pass_does_not_hide_another_issue() {
    let fake = FakeGithub::start(OWNER, REPO).await;
    for n in 1..=250 {
        fake.add_issue(&format!("Issue {n}"));
    }
    let issues = fake.issue_numbers();
    // After page 1 is served, someone comments on the first issue of page 1.
    fake.comment_after_requests(1, issues[0]);
    let dir = TempDir::new().unwrap();
    let harness = Harness::for_repo(&dir.path().join("cache.db"), &fake, OWNER, REPO);

    let report = harness.run().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_cache_matches(&harness.stored().await, &fake.expected_issues());
    assert_eq!(report.counts.added, 250, "every issue added in the one run");
    assert_eq!(harness.checkpoint().await, Some(fake.newest_update()));
    let again = harness.run().await;
    assert_eq!(again.status, RunStatus::Success, "{:?}", again.error);
    assert_eq!(
        again.counts.changes(),
        0,
        "the next run finds nothing the first one missed: {:?}",
        again.counts
    );
}

/// A deleted issue leaves the list and shifts later items left, like an edit does.
#[tokio::test]
async fn issue_deleted_mid_pass_does_not_hide_another_issue() {
    let fake = FakeGithub::start(OWNER, REPO).await;
    for n in 1..=250 {
        fake.add_issue(&format!("Issue {n}"));
    }
    let issues = fake.issue_numbers();
    let deleted = issues[10];
    fake.delete_after_requests(1, deleted);
    let dir = TempDir::new().unwrap();
    let harness = Harness::for_repo(&dir.path().join("cache.db"), &fake, OWNER, REPO);

    let report = harness.run().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    let mut stored = harness.stored().await;
    // The deleted issue was served on page 1; an incremental sync cannot learn of deletes
    // from this endpoint, so it stays cached.
    assert!(
        stored.remove(&fake.id_of(deleted)).is_some(),
        "the issue served before its deletion is cached"
    );
    assert_cache_matches(&stored, &fake.expected_issues());
    assert_eq!(report.counts.added, 250);
}

/// `since` has one-second precision: 250 issues updated in one second fill whole pages of
/// one second, where `since` cannot move forward. The sync pages by number within that
/// second, then returns to keyset paging.
#[tokio::test]
async fn more_than_a_page_of_issues_in_one_second_are_all_synced() {
    let fake = FakeGithub::start(OWNER, REPO).await;
    let bulk = fake.add_issues_in_one_second(250);
    for n in 1..=30 {
        fake.add_issue(&format!("After the import {n}"));
    }
    fake.add_pull_request("Tidy the import");
    let bulk_second = fake.updated_at_in_list_order()[0].clone();
    let dir = TempDir::new().unwrap();
    let harness = Harness::for_repo(&dir.path().join("cache.db"), &fake, OWNER, REPO);

    let report = harness.run().await;

    assert_eq!(report.status, RunStatus::Success, "{:?}", report.error);
    assert_eq!(report.counts.added, 280, "250 imported + 30 later issues");
    assert_cache_matches(&harness.stored().await, &fake.expected_issues());
    assert_eq!(harness.checkpoint().await, Some(fake.newest_update()));
    let requests = fake.requests();
    let asked: Vec<(Option<&str>, Option<&str>)> = requests
        .iter()
        .map(|r| {
            (
                r.query.get("since").map(String::as_str),
                r.query.get("page").map(String::as_str),
            )
        })
        .collect();
    assert_eq!(
        asked,
        [
            (None, None),
            (Some(bulk_second.as_str()), Some("2")),
            (Some(bulk_second.as_str()), Some("3")),
        ],
        "(since, page) of each request: page numbers only within the one second of {} issues",
        bulk.len()
    );

    // Later issues, then another block of 120 in one second reached from a keyset page.
    for n in 1..=50 {
        fake.add_issue(&format!("Later {n}"));
    }
    fake.add_issues_in_one_second(120);
    fake.add_issue("Last");
    let again = harness.run().await;
    assert_eq!(again.status, RunStatus::Success, "{:?}", again.error);
    assert_eq!(again.counts.added, 171);
    assert_cache_matches(&harness.stored().await, &fake.expected_issues());
}

/// A pass stopped after a committed page (as after a crash) resumes from the committed
/// `since` cursor, here inside the one-second block, after a restart of the process.
#[tokio::test]
async fn interrupted_pass_resumes_at_the_committed_since_cursor() {
    let fake = FakeGithub::start(OWNER, REPO).await;
    for n in 1..=20 {
        fake.add_issue(&format!("Before {n}"));
    }
    fake.add_issues_in_one_second(250);
    for n in 1..=80 {
        fake.add_issue(&format!("After {n}"));
    }
    let bulk_second = fake.updated_at_in_list_order()[20].clone();
    let dir = TempDir::new().unwrap();
    let db = dir.path().join("cache.db");
    let stopped = {
        let harness = Harness::for_repo(&db, &fake, OWNER, REPO);
        let options = sync_runtime::RunOptions {
            max_pages: Some(3),
            ..Default::default()
        };
        harness.driver.run(&harness.target, options).await.unwrap()
    };
    assert_eq!(stopped.status, RunStatus::Stopped, "{:?}", stopped.error);
    // While no sync runs, an issue served on page 1 is edited (it moves to the end).
    let issues = fake.issue_numbers();
    fake.comment(issues[3]);
    fake.clear_requests();

    let harness = Harness::for_repo(&db, &fake, OWNER, REPO);
    assert_eq!(
        harness.checkpoint().await,
        None,
        "an unfinished pass promotes nothing"
    );
    let resumed = harness.run().await;

    assert_eq!(resumed.status, RunStatus::Success, "{:?}", resumed.error);
    assert!(resumed.resumed, "the run continues the interrupted pass");
    let first = &fake.requests()[0];
    assert_eq!(
        (
            first.query.get("since").map(String::as_str),
            first.query.get("page").map(String::as_str)
        ),
        (Some(bulk_second.as_str()), Some("3")),
        "the resumed pass starts at the committed cursor: page 3 of the one-second block"
    );
    assert_cache_matches(&harness.stored().await, &fake.expected_issues());
    assert_eq!(
        stopped.counts.added + resumed.counts.added,
        350,
        "every issue added exactly once across the two runs"
    );
    assert_eq!(harness.checkpoint().await, Some(fake.newest_update()));
}

/// A run killed while a page is in flight (its task aborted, no cleanup) loses only that
/// page: the next run resumes at the committed `since` cursor and nothing is skipped or added
/// twice.
#[tokio::test]
async fn resumes_after_a_kill_with_a_page_in_flight() {
    let fake = FakeGithub::start(OWNER, REPO).await;
    for n in 1..=20 {
        fake.add_issue(&format!("Before {n}"));
    }
    fake.add_issues_in_one_second(250);
    for n in 1..=80 {
        fake.add_issue(&format!("After {n}"));
    }
    let bulk_second = fake.updated_at_in_list_order()[20].clone();
    fake.stall_request(4);
    let dir = TempDir::new().unwrap();
    let db = dir.path().join("cache.db");
    let killed = Harness::for_repo(&db, &fake, OWNER, REPO);
    let run = {
        let (driver, target) = (killed.driver.clone(), killed.target.clone());
        tokio::spawn(async move { driver.run(&target, Default::default()).await })
    };
    // Pages 1-3 hold 220 distinct issues; page 4 never arrives. The fetch of page 4 may start
    // a moment after page 3 commits: wait for both.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while killed.stored().await.len() < 220 || fake.requests().len() < 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "pages 1-3 were not committed, or page 4 not requested, in time"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(fake.requests().len(), 4, "page 4 is in flight");
    run.abort();
    assert!(run.await.unwrap_err().is_cancelled(), "the run was killed");
    fake.comment(fake.issue_numbers()[5]);
    fake.clear_requests();

    let harness = Harness::for_repo(&db, &fake, OWNER, REPO);
    let resumed = harness.run().await;

    assert_eq!(resumed.status, RunStatus::Success, "{:?}", resumed.error);
    assert!(resumed.resumed, "the run continues the killed pass");
    let first = &fake.requests()[0];
    assert_eq!(
        (
            first.query.get("since").map(String::as_str),
            first.query.get("page").map(String::as_str)
        ),
        (Some(bulk_second.as_str()), Some("3")),
        "the resumed pass asks again for the page that was in flight"
    );
    assert_cache_matches(&harness.stored().await, &fake.expected_issues());
    assert_eq!(
        resumed.counts.added,
        350 - 220,
        "the resumed run adds exactly the issues not committed before the kill"
    );
    assert_eq!(harness.checkpoint().await, Some(fake.newest_update()));
}
