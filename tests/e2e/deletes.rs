//! Guarantee 3: only a successful full pass deletes; a pass that errors midway deletes nothing.

use std::collections::BTreeSet;

use sync_runtime::fake_crm::Fault;
use sync_runtime::store::{LastAction, RunStatus};

use crate::common::{Env, assert_cache_equals_provider, id_strings};

const CONTACTS: u64 = 3_000;

fn deleted_ids(records: &[sync_runtime::store::StoredRecord]) -> BTreeSet<String> {
    records
        .iter()
        .filter(|r| r.metadata.last_action == LastAction::Deleted)
        .map(|r| r.id.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_refresh_pass_that_fails_midway_deletes_nothing() {
    let env = Env::new(CONTACTS).await;
    let sync = "crm/contacts-full";
    env.run(sync, "c1").await.assert_success();

    // Removed ids on pages before and after the fault; archived ids only on pages after it
    // (a tombstone the failed run sees is a provider-reported delete and applies at once).
    let removed: Vec<u64> = (5..=CONTACTS).step_by(211).collect();
    let archived = [2_501, 2_750, 2_999];
    env.crm.remove(&removed);
    env.crm.archive(&archived);
    // Sticky, so a retrying HTTP client cannot paper over it.
    env.crm.fail_always_after(10, Fault::ServerError);

    let failed = env.run(sync, "c1").await;
    assert_eq!(
        failed.code,
        Some(1),
        "failed run exit code: {}",
        failed.text()
    );
    assert_eq!(failed.summary.status, "FAILED", "{}", failed.stdout);
    assert_eq!(failed.summary.deleted, 0, "the failed run reported deletes");
    assert_eq!(failed.summary.pages, 10, "pages committed before the fault");
    assert!(
        failed.text().contains("page 11"),
        "the error should name page 11: {}",
        failed.text()
    );
    let cache = env.cache("c1").await;
    assert_eq!(
        deleted_ids(&cache),
        BTreeSet::new(),
        "a failed full-refresh pass deleted records"
    );
    assert_eq!(cache.len() as u64, CONTACTS, "records in the cache");

    env.crm.clear_fault();
    let done = env.run(sync, "c1").await;
    done.assert_success();
    assert!(
        done.summary.resumed,
        "the pass should resume: {}",
        done.stdout
    );
    let mut expected = id_strings(&removed);
    expected.extend(id_strings(&archived));
    assert_eq!(
        done.summary.deleted,
        expected.len() as u64,
        "deleted reported by the completing run"
    );
    let cache = env.cache("c1").await;
    assert_eq!(
        deleted_ids(&cache),
        expected,
        "ids DELETED after the complete pass"
    );
    assert_cache_equals_provider(&cache, &env.crm.snapshot());

    let runs = env.runs("c1").await;
    let statuses: Vec<_> = runs.iter().map(|r| (r.status, r.counts.deleted)).collect();
    assert_eq!(
        statuses,
        vec![
            (RunStatus::Success, 0),
            (RunStatus::Failed, 0),
            (RunStatus::Success, expected.len() as u64)
        ],
        "run history (status, deleted)"
    );
}
