//! `syncfn dryrun --save-responses` against the loopback CRM writes fixtures that the replay
//! provider serves back, reproducing the identical records offline.

use std::path::Path;

use serde_json::{Value, json};
use sync_runtime::Registry;
use sync_runtime::cli::dryrun::{DryRunArgs, dry_run};
use sync_runtime::fake_crm::FakeCrm;
use sync_runtime::testing::fixture;
use sync_runtime::testing::{Harness, ReplayProvider};

const TOKEN: &str = "tok-dryrun-SECRET-4242";

fn registry() -> Registry {
    Registry::new().register(syncfn_example_contacts::integration())
}

fn write_config(dir: &Path, base_url: &str) -> std::path::PathBuf {
    let path = dir.join("connection.json");
    let config = json!({
        "base_url": base_url,
        "credentials": {"type": "bearer", "token": TOKEN},
    });
    std::fs::write(&path, config.to_string()).expect("write config");
    path
}

fn args(sync: &str, config: &Path, save: &Path) -> DryRunArgs {
    DryRunArgs {
        sync: sync.into(),
        connection_config: config.to_path_buf(),
        metadata: None,
        checkpoint: None,
        max_pages: None,
        save_responses: Some(save.to_path_buf()),
        connection: "dryrun".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dryrun_fixtures_replay_to_identical_records() {
    let crm = FakeCrm::start(250).await.expect("crm");
    let tmp = tempfile::tempdir().expect("tempdir");
    let fixtures = tmp.path().join("fixtures");
    let config = write_config(tmp.path(), &crm.base_url());
    let mut out = Vec::new();
    let outcome = dry_run(
        &registry(),
        &args("crm/contacts", &config, &fixtures),
        &mut out,
    )
    .await
    .expect("dry run");
    let printed = String::from_utf8_lossy(&out).into_owned();
    assert!(outcome.ok(), "the dry run found problems:\n{printed}");
    assert_eq!(
        outcome.summary.pages, 3,
        "250 contacts at 100 per page:\n{printed}"
    );
    assert_eq!(outcome.summary.records, 250, "{printed}");
    assert_eq!(outcome.saved, 3, "one fixture per request:\n{printed}");
    assert!(
        printed.contains("page 1: 100 records")
            && printed.contains("next cursor")
            && printed.contains("summary: 3 pages, 250 records"),
        "each page and a summary should be printed:\n{printed}"
    );

    // The fixture files follow the shared format and hold no credential.
    let files = fixture::fixture_files(&fixtures).expect("list fixtures");
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["0001.json", "0002.json", "0003.json"]);
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(
            !text.contains(TOKEN),
            "{} contains the bearer token",
            file.display()
        );
        assert!(
            !text.contains(&crm.base_url()),
            "{} contains the live base URL instead of {{{{base_url}}}}",
            file.display()
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["request"]["method"], "GET", "{}", file.display());
        assert_eq!(v["request"]["path"], "/contacts", "{}", file.display());
        assert!(v["request"]["body"].is_null(), "{}", file.display());
        let query = v["request"]["query"].as_array().expect("query pairs");
        let mut sorted = query.clone();
        sorted.sort_by_key(|p| p.to_string());
        assert_eq!(
            query,
            &sorted,
            "query pairs of {} are not sorted",
            file.display()
        );
        assert_eq!(v["response"]["status"], 200);
    }
    let second: Value = serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    assert!(
        second["response"]["headers"]["link"]
            .as_str()
            .is_some_and(|l| l.starts_with("<{{base_url}}/contacts?")),
        "the next link should use the base URL placeholder: {}",
        second["response"]["headers"]
    );

    // The same sync over the live CRM and over the replay leaves identical caches.
    let integration = syncfn_example_contacts::integration();
    let live = Harness::new(&integration, "contacts", &crm.base_url())
        .unwrap()
        .run()
        .await
        .unwrap();
    let replay = ReplayProvider::serve_dir(&fixtures).await.expect("replay");
    let replayed = Harness::new(&integration, "contacts", &replay.base_url())
        .unwrap()
        .run()
        .await
        .unwrap();
    assert!(
        replay.misses().is_empty(),
        "unrecorded requests: {:?}",
        replay.misses()
    );
    assert_eq!(replayed.report.pages, 3);
    assert_eq!(replayed.live.len(), 250);
    assert!(
        replayed.live == live.live,
        "replayed records differ from the live run's"
    );
    assert_eq!(replayed.checkpoint, live.checkpoint, "checkpoints differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_answers_unrecorded_requests_with_599_and_keeps_the_miss() {
    let crm = FakeCrm::start(30).await.expect("crm");
    let tmp = tempfile::tempdir().expect("tempdir");
    let fixtures = tmp.path().join("fixtures");
    let config = write_config(tmp.path(), &crm.base_url());
    let mut out = Vec::new();
    dry_run(
        &registry(),
        &args("crm/contacts", &config, &fixtures),
        &mut out,
    )
    .await
    .expect("dry run");
    let replay = ReplayProvider::serve_dir(&fixtures).await.expect("replay");
    let response = reqwest::get(format!("{}/contacts?limit=7", replay.base_url()))
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 599);
    let body: Value =
        serde_json::from_slice(&response.bytes().await.expect("body")).expect("json body");
    assert_eq!(body["error"], "unrecorded request");
    assert_eq!(body["request"]["query"], json!([["limit", "7"]]), "{body}");
    assert_eq!(
        replay.misses().len(),
        1,
        "the miss must be kept for the test to fail on"
    );

    // A sync run that hits an unrecorded request fails and names it.
    let mut since = Harness::new(
        &syncfn_example_contacts::integration(),
        "contacts",
        &replay.base_url(),
    )
    .unwrap();
    since = since.with_metadata(Value::Null);
    let first = since.run().await.unwrap();
    assert_eq!(first.report.status.as_str(), "SUCCESS");
    let second = since.run().await.unwrap();
    assert_eq!(
        second.report.status.as_str(),
        "FAILED",
        "an incremental request was never recorded"
    );
    assert!(
        second
            .report
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("unrecorded request"),
        "{:?}",
        second.report.error
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dryrun_numbering_continues_and_max_pages_stops_early() {
    let crm = FakeCrm::start(250).await.expect("crm");
    let tmp = tempfile::tempdir().expect("tempdir");
    let fixtures = tmp.path().join("fixtures");
    let config = write_config(tmp.path(), &crm.base_url());
    let mut a = args("crm/contacts", &config, &fixtures);
    a.max_pages = Some(1);
    let mut out = Vec::new();
    let outcome = dry_run(&registry(), &a, &mut out).await.expect("dry run");
    assert_eq!(outcome.summary.pages, 1);
    assert!(String::from_utf8_lossy(&out).contains("stopped after --max-pages 1"));
    a.max_pages = None;
    a.checkpoint = Some(r#"{"updated_at":"2999-01-01T00:00:00Z"}"#.into());
    let outcome = dry_run(&registry(), &a, &mut out).await.expect("dry run");
    assert_eq!(
        outcome.summary.records, 0,
        "nothing is newer than the year 2999"
    );
    let names: Vec<_> = fixture::fixture_files(&fixtures)
        .unwrap()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["0001.json", "0002.json"],
        "numbering continues across dry runs"
    );

    let mut bad = args("crm/nope", &config, &fixtures);
    bad.save_responses = None;
    let err = dry_run(&registry(), &bad, &mut out).await.unwrap_err();
    assert!(
        err.to_string().contains("unknown sync \"nope\"")
            && err.to_string().contains("contacts-full"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorder_scrubs_echoed_tokens_and_credential_query_parameters() {
    use sync_runtime::testing::FakeProvider;
    // A provider that echoes the bearer token inside every record.
    let fake = FakeProvider::builder()
        .path("/contacts")
        .echo_credential_as("owner_token")
        .start()
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = tmp.path().join("fixtures");
    let config = write_config(tmp.path(), &fake.base_url());
    let mut out = Vec::new();
    // The crm sync rejects these records (no email…); what matters is what was saved.
    let _ = dry_run(
        &registry(),
        &args("crm/contacts", &config, &fixtures),
        &mut out,
    )
    .await;
    let text = std::fs::read_to_string(fixtures.join("0001.json")).expect("a fixture was written");
    assert!(!text.contains(TOKEN), "the echoed token was saved: {text}");
    assert!(
        text.contains("\"owner_token\": \"[redacted]\""),
        "the echoed token should read [redacted]: {text}"
    );

    // An API key sent in the query is not part of the recorded identity, and the replay
    // provider ignores it when matching.
    let crm = FakeCrm::start(30).await.unwrap();
    let keyed = tmp.path().join("keyed");
    let config = tmp.path().join("keyed.json");
    std::fs::write(
        &config,
        json!({"base_url": crm.base_url(),
               "credentials": {"type": "api_key", "key": "k-SECRET-77", "query": "apikey_param"}})
        .to_string(),
    )
    .unwrap();
    let outcome = dry_run(
        &registry(),
        &args("crm/contacts", &config, &keyed),
        &mut out,
    )
    .await
    .expect("dry run");
    assert!(outcome.ok());
    let text = std::fs::read_to_string(keyed.join("0001.json")).unwrap();
    assert!(
        !text.contains("k-SECRET-77") && !text.contains("apikey_param"),
        "the query credential was saved: {text}"
    );
    let replay = ReplayProvider::serve_dir(&keyed).await.unwrap();
    replay.ignore_query("apikey_param");
    let response = reqwest::get(format!(
        // The first page of crm/contacts asks for every change since the epoch.
        "{}/contacts?limit=100&updated_after=1970-01-01T00%3A00%3A00Z&apikey_param=k-SECRET-77",
        replay.base_url()
    ))
    .await
    .unwrap();
    assert_eq!(
        response.status().as_u16(),
        200,
        "misses: {:?}",
        replay.misses()
    );
}
