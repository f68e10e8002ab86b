//! Guarantee 5: bad provider input stops the run with an error naming the page and the record;
//! what was committed stays, and the next run resumes rather than starting over.

use std::collections::BTreeMap;

use serde_json::Value;
use sync_runtime::fake_crm::Fault;

use crate::common::{Env, assert_cache_equals_provider, assert_listing_well_formed};

const CONTACTS: u64 = 1_000;
const PAGES: u64 = CONTACTS / 100;
/// Normal pages before the fault: the fault is served as page 5.
const GOOD_PAGES: u64 = 4;

async fn bad_page_stops_the_run_and_the_next_run_resumes(fault: Fault, expect_in_error: &[&str]) {
    let env = Env::new(CONTACTS).await;
    let sync = "crm/contacts-full";
    env.crm.fail_always_after(GOOD_PAGES, fault);

    let failed = env.run(sync, "c1").await;
    assert_eq!(
        failed.code,
        Some(1),
        "{fault:?}: exit code of the failed run: {}",
        failed.text()
    );
    assert_eq!(
        failed.summary.status, "FAILED",
        "{fault:?}: {}",
        failed.stdout
    );
    assert_eq!(
        failed.summary.pages, GOOD_PAGES,
        "{fault:?}: pages committed"
    );
    let error = failed
        .stdout
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("{fault:?}: no error line in {}", failed.text()));
    for needle in expect_in_error {
        assert!(
            error.contains(needle),
            "{fault:?}: error should contain {needle:?}: {error}"
        );
    }
    let history = env.runs("c1").await;
    assert_eq!(
        history.last().and_then(|r| r.error.as_deref()),
        Some(error.trim_start_matches("error: ")),
        "{fault:?}: run history keeps the error"
    );

    // Everything committed before the bad page is intact: contacts 1..=400, as served.
    let snapshot = env.crm.snapshot();
    let committed: BTreeMap<String, Value> = snapshot
        .iter()
        .filter(|(id, _)| id.parse::<u64>().unwrap() <= GOOD_PAGES * 100)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_cache_equals_provider(&env.cache("c1").await, &committed);

    env.crm.clear_fault();
    let requests = env.crm.requests();
    let done = env.run(sync, "c1").await;
    done.assert_success();
    assert!(
        done.summary.resumed,
        "{fault:?}: did not resume: {}",
        done.stdout
    );
    assert_eq!(
        env.crm.requests() - requests,
        PAGES - GOOD_PAGES,
        "{fault:?}: the resumed run should fetch only the pages from the bad one on"
    );
    assert_eq!(
        done.summary.added,
        CONTACTS - GOOD_PAGES * 100,
        "{fault:?}: added"
    );
    let cache = env.cache("c1").await;
    assert_listing_well_formed(&cache);
    assert_eq!(cache.len() as u64, CONTACTS, "{fault:?}: records");
    assert_cache_equals_provider(&cache, &env.crm.snapshot());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_that_is_not_json_names_the_page_and_resumes() {
    bad_page_stops_the_run_and_the_next_run_resumes(
        Fault::NotJson,
        &["page 5", "not valid JSON", "/contacts"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_without_id_names_the_page_and_record_and_resumes() {
    // The third record of page 5 is contact 403, served without its id.
    bad_page_stops_the_run_and_the_next_run_resumes(
        Fault::MissingId,
        &["page 5", "record 2", "missing field `id`"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_violating_its_schema_names_page_record_and_id_and_resumes() {
    bad_page_stops_the_run_and_the_next_run_resumes(
        Fault::SchemaViolation,
        &[
            "page 5",
            "record 2",
            "\"403\"",
            "field \"email\"",
            "expected a string",
        ],
    )
    .await;
}
