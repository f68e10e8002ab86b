//! Guarantee 1: SIGKILL at any instant loses at most the page in flight; the next run resumes
//! and the cache ends up exactly equal to the provider, every change counted once.

use std::collections::BTreeSet;
use std::time::Duration;

use sync_runtime::store::{LastAction, RunStatus};

use crate::common::{Env, assert_cache_equals_provider, id_strings, last_cursor, list_all};

const CONTACTS: u64 = 20_000;
/// Pages of 100 contacts in a full pass.
const FULL_PAGES: u64 = CONTACTS / 100;

/// Assert the runs of the pass that just completed: the kills left INTERRUPTED runs, the last
/// run resumed the same pass and succeeded; returns the pass's runs.
async fn assert_interrupted_then_resumed(
    env: &Env,
    connection: &str,
    kills: usize,
) -> Vec<sync_runtime::store::RunRecord> {
    let runs = env.runs(connection).await;
    let last = runs.last().expect("a run");
    assert_eq!(last.status, RunStatus::Success, "last run: {last:?}");
    assert!(
        last.resumed,
        "the run after the kills did not resume the pass: {last:?}"
    );
    let pass: Vec<_> = runs
        .iter()
        .filter(|r| r.pass_id == last.pass_id)
        .cloned()
        .collect();
    let interrupted = pass
        .iter()
        .filter(|r| r.status == RunStatus::Interrupted)
        .count();
    assert_eq!(
        interrupted, kills,
        "expected {kills} INTERRUPTED runs in the pass, run history: {pass:#?}"
    );
    pass
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_refresh_resumes_after_sigkill_mid_page() {
    let env = Env::new(CONTACTS).await;
    env.crm.set_page_delay(Duration::from_millis(3));
    let sync = "crm/contacts-full";

    // Three kills at different points of the pass, then a run to the end.
    let mut committed = 0;
    for (more, offset_ms) in [(23, 0), (41, 7), (37, 13)] {
        let now = env
            .kill_after_pages(sync, "c1", more, Duration::from_millis(offset_ms))
            .await;
        assert!(now > committed, "no progress between kills");
        committed = now;
    }
    assert!(
        (committed as u64) < FULL_PAGES,
        "the kills came after the pass ended ({committed} pages)"
    );
    let requests_before_last = env.crm.requests();
    let out = env.run(sync, "c1").await;
    out.assert_success();
    assert!(
        out.summary.resumed,
        "final run did not resume: {}",
        out.stdout
    );
    assert_eq!(
        env.crm.requests() - requests_before_last,
        FULL_PAGES - committed as u64,
        "the final run should fetch only the pages not committed before the last kill"
    );

    let cache = env.cache("c1").await;
    assert_eq!(cache.len() as u64, CONTACTS, "records listed by cursor");
    assert_cache_equals_provider(&cache, &env.crm.snapshot());

    // Every record was reported ADDED exactly once across the killed and the final runs.
    let pass = assert_interrupted_then_resumed(&env, "c1", 3).await;
    let added: u64 = pass.iter().map(|r| r.counts.added).sum();
    assert_eq!(added, CONTACTS, "ADDED counted across the pass's runs");
    let pages: u64 = pass.iter().map(|r| r.pages).sum();
    assert_eq!(pages, FULL_PAGES, "pages committed across the pass's runs");
    assert!(
        env.crm.requests() <= FULL_PAGES + 3 * 3,
        "{} provider requests for a {FULL_PAGES}-page pass killed 3 times: the runs started over",
        env.crm.requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_resumes_after_sigkill_mid_page() {
    let env = Env::new(CONTACTS).await;
    let sync = "crm/contacts";
    env.run(sync, "c1").await.assert_success();
    let before = last_cursor(&env.db, "c1").await;

    // 5,000 updates (50+ pages of changes), plus archives and new contacts.
    let updated: Vec<u64> = (1..=CONTACTS).step_by(4).collect();
    let archived: Vec<u64> = (2..=CONTACTS).step_by(1000).collect();
    env.crm.update(&updated);
    env.crm.archive(&archived);
    let added = env.crm.add(30);
    env.crm.set_page_delay(Duration::from_millis(3));

    for (more, offset_ms) in [(7, 11), (13, 0), (11, 5)] {
        env.kill_after_pages(sync, "c1", more, Duration::from_millis(offset_ms))
            .await;
    }
    let out = env.run(sync, "c1").await;
    out.assert_success();
    assert!(
        out.summary.resumed,
        "final run did not resume: {}",
        out.stdout
    );

    let cache = env.cache("c1").await;
    assert_cache_equals_provider(&cache, &env.crm.snapshot());

    let pass = assert_interrupted_then_resumed(&env, "c1", 3).await;
    let (a, u, d) = pass.iter().fold((0, 0, 0), |(a, u, d), r| {
        (
            a + r.counts.added,
            u + r.counts.updated,
            d + r.counts.deleted,
        )
    });
    assert_eq!(
        (a, u, d),
        (
            added.len() as u64,
            updated.len() as u64,
            archived.len() as u64
        ),
        "(added, updated, deleted) summed over the incremental pass's runs"
    );

    // Listing after the cursor of the first run's last change gives exactly the changes, once.
    let changes = list_all(&env.db, "c1", before).await;
    let listed: BTreeSet<String> = changes.iter().map(|r| r.id.clone()).collect();
    assert_eq!(listed.len(), changes.len(), "a change listed twice");
    let mut expected = id_strings(&updated);
    expected.extend(id_strings(&archived));
    expected.extend(id_strings(&added));
    assert_eq!(
        listed, expected,
        "ids listed after the previous run's last cursor"
    );
    for r in &changes {
        let want = if archived.contains(&r.id.parse().unwrap()) {
            LastAction::Deleted
        } else if added.contains(&r.id.parse().unwrap()) {
            LastAction::Added
        } else {
            LastAction::Updated
        };
        assert_eq!(
            r.metadata.last_action, want,
            "last_action of record {}",
            r.id
        );
    }
}
