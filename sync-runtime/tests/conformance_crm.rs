//! The bundled `crm` example passes the conformance suite over fixtures recorded with
//! `syncfn dryrun --save-responses` — the workflow the tutorial teaches.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sync_runtime::Registry;
use sync_runtime::cli::dryrun::{DryRunArgs, dry_run};
use sync_runtime::fake_crm::FakeCrm;
use sync_runtime::testing::conformance::{Check, Conformance, Outcome};
use sync_runtime::testing::{Fixtures, conformance};

/// Record a full pass, the follow-up incremental run from its final checkpoint, and a run
/// from a checkpoint in the future, as the tutorial does.
async fn record(sync: &str, crm: &FakeCrm, dir: &Path) -> PathBuf {
    let fixtures = dir.join(sync);
    let config = dir.join("connection.json");
    std::fs::write(
        &config,
        json!({"base_url": crm.base_url(), "credentials": {"type": "bearer", "token": "tok-recording-only"}})
            .to_string(),
    )
    .unwrap();
    let registry = Registry::new().register(syncfn_example_contacts::integration());
    let mut args = DryRunArgs {
        sync: format!("crm/{sync}"),
        connection_config: config,
        metadata: None,
        checkpoint: None,
        max_pages: None,
        save_responses: Some(fixtures.clone()),
        connection: "dryrun".into(),
    };
    let mut out = Vec::new();
    let first = dry_run(&registry, &args, &mut out).await.expect("dry run");
    assert!(first.ok(), "{}", String::from_utf8_lossy(&out));
    let checkpoints: Vec<Option<Value>> = vec![
        first.summary.checkpoint.clone(),
        first
            .summary
            .checkpoint
            .as_ref()
            .and_then(conformance::future_checkpoint),
    ];
    for checkpoint in checkpoints.into_iter().flatten() {
        args.checkpoint = Some(checkpoint.to_string());
        let run = dry_run(&registry, &args, &mut out).await.expect("dry run");
        assert!(run.ok(), "{}", String::from_utf8_lossy(&out));
    }
    fixtures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crm_contacts_passes_conformance_over_recorded_fixtures() {
    let crm = FakeCrm::start(250).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = record("contacts", &crm, tmp.path()).await;
    let report = conformance::check(
        syncfn_example_contacts::integration(),
        "contacts",
        Fixtures::dir(&fixtures),
    )
    .await
    .unwrap_or_else(|failure| panic!("{failure}"));
    assert_eq!(report.pages, 3, "{report}");
    assert_eq!(report.records, 250, "{report}");
    match report.outcome(Check::Resume) {
        Some(Outcome::Passed(what)) => assert!(what.starts_with("5 crash points"), "{report}"),
        other => panic!("check 3 should pass with 2 clean stops and 3 kills: {other:?}"),
    }
    assert!(
        matches!(report.outcome(Check::Incremental), Some(Outcome::Passed(w)) if w.contains("yields 0 records")),
        "the future checkpoint must be exercised:\n{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crm_contacts_full_passes_conformance_and_deletes_fail_closed() {
    let crm = FakeCrm::start(250).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = record("contacts-full", &crm, tmp.path()).await;
    let report = conformance::check(
        syncfn_example_contacts::integration(),
        "contacts-full",
        Fixtures::dir(&fixtures),
    )
    .await
    .unwrap_or_else(|failure| panic!("{failure}"));
    assert!(
        matches!(
            report.outcome(Check::DeletesFailClosed),
            Some(Outcome::Passed(_))
        ),
        "a full-refresh sync must run check 5:\n{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_saved_fixtures_fail_check_6() {
    let crm = FakeCrm::start(120).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = record("contacts", &crm, tmp.path()).await;
    // Hand-edited fixtures that kept an auth header and a key in the query.
    let first = fixtures.join("0001.json");
    let mut exchange: Value =
        serde_json::from_str(&std::fs::read_to_string(&first).unwrap()).unwrap();
    exchange["response"]["headers"]["authorization"] = json!("Bearer tok-leaked");
    exchange["request"]["query"]
        .as_array_mut()
        .unwrap()
        .push(json!(["api_key", "k-123"]));
    std::fs::write(&first, exchange.to_string()).unwrap();
    let failure = Conformance::new(
        syncfn_example_contacts::integration(),
        "contacts",
        Fixtures::dir(&fixtures),
    )
    .run()
    .await
    .expect_err("credentials in fixtures must fail");
    let report = failure.report().expect("report");
    let Some(Outcome::Failed(problems)) = report.outcome(Check::Secrets) else {
        panic!("check 6 should fail:\n{report}");
    };
    let text = problems.join("\n");
    assert!(
        text.contains(
            "fixture 0001.json: request query parameter \"api_key\" carries a credential"
        ) && text.contains("fixture 0001.json: response header \"authorization\""),
        "{text}"
    );
}
