//! `syncfn serve` across crashes and shutdowns: the outbox outlives the process, and a
//! graceful stop commits the page in flight and resumes at startup.

mod serve_support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use serve_support::{Receiver, Serve, free_port, wait_for};
use sync_runtime::fake_crm::FakeCrm;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_arrives_once_per_model_run_after_receiver_outage_and_server_kill() {
    let crm = FakeCrm::start(120).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("serve.db");
    let port = free_port();
    let hook_url = format!("http://127.0.0.1:{port}/hooks");

    // Receiver down: the run's webhook waits in the outbox while attempts fail.
    let mut serve = Serve::start(&db, Some(&hook_url));
    let (status, body) = serve
        .post(
            "/connections",
            json!({"connection_id": "acme", "integration": "crm", "base_url": crm.base_url(),
                   "frequencies": {"contacts": "1h"}, "auto_start": false}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    serve
        .post(
            "/syncs/start",
            json!({"connection_id": "acme", "syncs": ["contacts"]}),
        )
        .await;
    wait_for("the run to succeed", Duration::from_secs(30), || async {
        serve
            .runs("acme")
            .await
            .first()
            .filter(|r| r["status"] == "SUCCESS")
            .map(|_| ())
    })
    .await;
    wait_for(
        "a failed delivery attempt",
        Duration::from_secs(15),
        || async {
            serve
                .logs()
                .contains("webhook delivery failed")
                .then_some(())
        },
    )
    .await;
    serve.kill();

    // Receiver up (failing its first answer, so one retry happens), server restarted.
    let receiver = Receiver::start(&format!("127.0.0.1:{port}"), 1).await;
    let serve = Serve::start(&db, Some(&hook_url));
    let delivered = wait_for(
        "the webhook after restart",
        Duration::from_secs(60),
        || async { receiver.accepted_for("Contact").first().cloned() },
    )
    .await;
    // Give a duplicate time to show up.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all = receiver.all();
    assert!(
        all.len() >= 2,
        "the failed first answer was not retried: {all:?}"
    );
    assert!(
        all.iter().all(|r| r.verified),
        "a signature did not verify: {all:?}"
    );
    assert!(
        all.iter().all(|r| r.id == delivered.id),
        "retries used different webhook-ids: {:?}",
        all.iter().map(|r| &r.id).collect::<Vec<_>>()
    );
    let accepted = all.iter().filter(|r| r.accepted).count();
    assert_eq!(accepted, 1, "the webhook was delivered {accepted} times");
    assert_eq!(delivered.body["added"], 120, "{}", delivered.body);
    let runs = serve.runs("acme").await;
    assert_eq!(runs.len(), 1, "the restart ran the sync again: {runs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_commits_the_page_in_flight_and_startup_resumes_the_pass() {
    let crm = FakeCrm::start(2_000).await.unwrap();
    crm.set_page_delay(Duration::from_millis(150));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("serve.db");
    let mut serve = Serve::start(&db, None);
    let (status, body) = serve
        .post(
            "/connections",
            json!({"connection_id": "acme", "integration": "crm", "base_url": crm.base_url(),
                   "frequencies": {"contacts": "1h"}, "auto_start": false}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    serve
        .post(
            "/syncs/start",
            json!({"connection_id": "acme", "syncs": ["contacts"]}),
        )
        .await;
    wait_for("a few committed pages", Duration::from_secs(30), || async {
        let runs = serve.runs("acme").await;
        runs.first()
            .filter(|r| r["pages"].as_u64() >= Some(3))
            .map(|_| ())
    })
    .await;
    let exit = serve.terminate(Duration::from_secs(15));
    assert!(exit.success(), "serve exited with {exit:?} after SIGTERM");
    let before = sync_runtime::SqliteStore::open(&db).unwrap();
    let runs = sync_runtime::Store::list_runs(&before, Some("acme"), 10)
        .await
        .unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0].status.as_str(),
        "STOPPED",
        "the run was not stopped cleanly: {:?}",
        runs[0]
    );
    assert!(
        runs[0].pages < 20,
        "the run finished before the signal; make pages slower"
    );
    drop(before);

    crm.set_page_delay(Duration::ZERO);
    let serve = Serve::start(&db, None);
    let runs = wait_for(
        "the resumed run to complete",
        Duration::from_secs(60),
        || async {
            let runs = serve.runs("acme").await;
            runs.first()
                .filter(|r| r["status"] == "SUCCESS")
                .map(|_| runs.clone())
        },
    )
    .await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(
        runs[0]["resumed"], true,
        "startup did not resume the pass: {runs:?}"
    );
    let added: u64 = runs
        .iter()
        .map(|r| r["counts"]["added"].as_u64().unwrap())
        .sum();
    assert_eq!(added, 2_000, "records lost or repeated across the shutdown");
    let (records, _) = serve.records_after("acme", "Contact", None).await;
    let ids: BTreeMap<String, ()> = records
        .iter()
        .map(|r| (r["id"].as_str().unwrap().to_string(), ()))
        .collect();
    assert_eq!((records.len(), ids.len()), (2_000, 2_000));
}
