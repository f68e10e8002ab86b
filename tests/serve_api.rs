//! `syncfn serve` end to end: a child process, the loopback CRM, a webhook receiver.

mod serve_support;

use std::time::Duration;

use serde_json::{Value, json};
use serve_support::{Receiver, SECRET_KEY, Serve, send, wait_for};
use sync_runtime::fake_crm::FakeCrm;

const TOKEN: &str = "crm-token-SECRET-7c1e9a";

fn connection(id: &str, crm: &FakeCrm, frequency: &str, auto_start: bool) -> Value {
    json!({
        "connection_id": id,
        "integration": "crm",
        "base_url": crm.base_url(),
        "credentials": {"type": "bearer", "token": TOKEN},
        "frequencies": {"contacts": frequency},
        "auto_start": auto_start,
    })
}

async fn successful_runs(serve: &Serve, conn: &str) -> Vec<Value> {
    serve
        .runs(conn)
        .await
        .into_iter()
        .filter(|r| r["sync"] == "contacts" && r["status"] == "SUCCESS")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_start_false_waits_for_start_then_webhooks_and_cursor_reads_agree() {
    let crm = FakeCrm::start(250).await.unwrap();
    let receiver = Receiver::start("127.0.0.1:0", 0).await;
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(&dir.path().join("serve.db"), Some(&receiver.url()));

    let (status, body) = serve
        .post("/connections", connection("acme", &crm, "1h", false))
        .await;
    assert_eq!(status, 201, "create connection: {body}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        crm.requests(),
        0,
        "a connection created with auto_start false ran"
    );
    assert!(
        serve.runs("acme").await.is_empty(),
        "runs exist before start"
    );
    let (_, status_body) = serve.get("/syncs/status?connection_id=acme").await;
    assert!(
        status_body["syncs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "PAUSED"),
        "syncs not paused: {status_body}"
    );

    let (status, body) = serve
        .post(
            "/syncs/start",
            json!({"connection_id": "acme", "syncs": ["contacts"]}),
        )
        .await;
    assert_eq!(status, 200, "start: {body}");
    let first = wait_for("the first webhook", Duration::from_secs(30), || async {
        receiver.accepted_for("Contact").first().cloned()
    })
    .await;
    assert!(first.verified, "signature did not verify: {first:?}");
    assert_eq!(first.body["type"], "sync");
    assert_eq!(first.body["connection_id"], "acme");
    assert_eq!(first.body["integration"], "crm");
    assert_eq!(first.body["sync"], "contacts");
    assert_eq!(
        (
            first.body["added"].as_u64(),
            first.body["updated"].as_u64(),
            first.body["deleted"].as_u64()
        ),
        (Some(250), Some(0), Some(0)),
        "first run counts: {}",
        first.body
    );
    assert!(
        first.body["checkpoints"]["from"].is_null(),
        "{}",
        first.body
    );
    assert!(
        first.body["checkpoints"]["to"]["updated_at"].is_string(),
        "{}",
        first.body
    );
    assert!(first.body["modified_after"].is_string(), "{}", first.body);

    let (records, cursor) = serve.records_after("acme", "Contact", None).await;
    assert_eq!(records.len(), 250, "records listed after the first run");
    assert!(
        records
            .iter()
            .all(|r| r["_metadata"]["last_action"] == "ADDED")
    );

    // Change the provider, trigger, and read exactly the counted changes from the cursor.
    crm.update(&[3, 4, 5, 6, 7]);
    crm.archive(&[10, 11]);
    let (status, body) = serve
        .post(
            "/syncs/trigger",
            json!({"connection_id": "acme", "syncs": ["contacts"]}),
        )
        .await;
    assert_eq!(status, 200, "trigger: {body}");
    let second = wait_for("the second webhook", Duration::from_secs(30), || async {
        receiver.accepted_for("Contact").get(1).cloned()
    })
    .await;
    assert!(second.verified, "signature did not verify: {second:?}");
    assert_ne!(second.id, first.id, "two runs share a webhook-id");
    let counted = ["added", "updated", "deleted"].map(|k| second.body[k].as_u64().unwrap());
    assert_eq!(counted, [0, 5, 2], "second run counts: {}", second.body);
    assert_eq!(
        second.body["checkpoints"]["from"],
        first.body["checkpoints"]["to"]
    );

    let (changes, _) = serve
        .records_after("acme", "Contact", cursor.as_deref())
        .await;
    let actions: Vec<(String, String)> = changes
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["_metadata"]["last_action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let updated = actions.iter().filter(|(_, a)| a == "UPDATED").count() as u64;
    let deleted = actions.iter().filter(|(_, a)| a == "DELETED").count() as u64;
    assert_eq!(
        (changes.len() as u64, updated, deleted),
        (counted.iter().sum::<u64>(), counted[1], counted[2]),
        "records after the stored cursor differ from the webhook's counts: {actions:?}"
    );
    // No webhook for a model that did not change, and nothing failed.
    assert!(
        receiver.all().iter().all(|r| r.body["success"] == true),
        "{:?}",
        receiver.all()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_stops_runs_trigger_twice_runs_once_reset_and_empty_cache() {
    let crm = FakeCrm::start(300).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(&dir.path().join("serve.db"), None);
    let (status, body) = serve
        .post("/connections", connection("beta", &crm, "700ms", false))
        .await;
    assert_eq!(status, 201, "{body}");
    serve
        .post(
            "/syncs/start",
            json!({"connection_id": "beta", "syncs": ["contacts"]}),
        )
        .await;
    wait_for("two scheduled runs", Duration::from_secs(30), || async {
        (successful_runs(&serve, "beta").await.len() >= 2).then_some(())
    })
    .await;

    // pause: no further runs.
    let (status, body) = serve
        .post(
            "/syncs/pause",
            json!({"connection_id": "beta", "syncs": ["contacts"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // A run in progress when the pause came may finish; then nothing more runs.
    wait_for(
        "the run in progress to finish",
        Duration::from_secs(30),
        || async {
            let (_, body) = serve.get("/syncs/status?connection_id=beta").await;
            body["syncs"]
                .as_array()?
                .iter()
                .any(|s| s["name"] == "contacts" && s["status"] == "PAUSED")
                .then_some(())
        },
    )
    .await;
    let paused_at = serve.runs("beta").await.len();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        serve.runs("beta").await.len(),
        paused_at,
        "a paused schedule kept running"
    );

    // trigger twice quickly: one run.
    crm.set_page_delay(Duration::from_millis(300));
    let trigger = json!({"connection_id": "beta", "syncs": ["contacts"]});
    let (s1, b1) = serve.post("/syncs/trigger", trigger.clone()).await;
    let (s2, b2) = serve.post("/syncs/trigger", trigger).await;
    assert_eq!((s1, s2), (200, 200), "{b1} {b2}");
    assert_eq!(
        b2["coalesced"],
        json!(["contacts"]),
        "second trigger was not coalesced: {b2}"
    );
    wait_for("the triggered run", Duration::from_secs(30), || async {
        (serve.runs("beta").await.len() > paused_at).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        serve.runs("beta").await.len(),
        paused_at + 1,
        "two quick triggers made more than one run"
    );
    crm.set_page_delay(Duration::ZERO);

    // reset: a full pass (every record fetched again, all unchanged).
    let (status, body) = serve
        .post(
            "/syncs/trigger",
            json!({"connection_id": "beta", "syncs": ["contacts"], "reset": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let reset_run = wait_for("the reset run", Duration::from_secs(30), || async {
        let runs = serve.runs("beta").await;
        (runs.len() == paused_at + 2 && runs[0]["status"] == "SUCCESS").then(|| runs[0].clone())
    })
    .await;
    assert_eq!(
        reset_run["counts"]["unchanged"], 300,
        "reset run was not a full pass: {reset_run}"
    );
    assert_eq!(reset_run["counts"]["added"], 0, "{reset_run}");

    // empty_cache: the model is emptied first, so the pass adds everything again.
    let (before, _) = serve.records_after("beta", "Contact", None).await;
    let (status, body) = serve
        .post(
            "/syncs/trigger",
            json!({"connection_id": "beta", "syncs": ["contacts"], "empty_cache": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let empty_run = wait_for("the empty_cache run", Duration::from_secs(30), || async {
        let runs = serve.runs("beta").await;
        (runs.len() == paused_at + 3 && runs[0]["status"] == "SUCCESS").then(|| runs[0].clone())
    })
    .await;
    assert_eq!(
        empty_run["counts"]["added"], 300,
        "empty_cache run did not re-add: {empty_run}"
    );
    let (after, _) = serve.records_after("beta", "Contact", None).await;
    assert_eq!(after.len(), 300);
    let max_before = before
        .iter()
        .filter_map(|r| r["_metadata"]["cursor"].as_str())
        .max()
        .unwrap()
        .to_string();
    assert!(
        after
            .iter()
            .all(|r| r["_metadata"]["cursor"].as_str().unwrap() > max_before.as_str()),
        "cursors went backwards after empty_cache"
    );
    let (_, status_body) = serve.get("/syncs/status?connection_id=beta").await;
    let contacts = status_body["syncs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "contacts")
        .unwrap()
        .clone();
    assert_eq!(contacts["status"], "PAUSED", "{contacts}");
    assert_eq!(contacts["record_count"]["Contact"], 300, "{contacts}");
    assert!(
        contacts["checkpoint"]["updated_at"].is_string(),
        "{contacts}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_requires_the_key_and_credentials_never_leak() {
    let crm = FakeCrm::start(20).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("serve.db");
    let serve = Serve::start(&db, None);
    let (status, body) = serve
        .post("/connections", connection("gamma", &crm, "1h", true))
        .await;
    assert_eq!(status, 201, "{body}");
    wait_for("a run", Duration::from_secs(30), || async {
        (!successful_runs(&serve, "gamma").await.is_empty()).then_some(())
    })
    .await;

    let client = reqwest::Client::new();
    let endpoints: [(reqwest::Method, &str); 14] = [
        (reqwest::Method::GET, "/openapi.json"),
        (reqwest::Method::POST, "/connections"),
        (reqwest::Method::GET, "/connections"),
        (reqwest::Method::GET, "/connections/gamma"),
        (reqwest::Method::DELETE, "/connections/gamma"),
        (reqwest::Method::PATCH, "/connections/gamma/metadata"),
        (reqwest::Method::PUT, "/connections/gamma/metadata"),
        (
            reqwest::Method::GET,
            "/records?connection_id=gamma&model=Contact",
        ),
        (reqwest::Method::GET, "/runs"),
        (reqwest::Method::POST, "/syncs/start"),
        (reqwest::Method::POST, "/syncs/pause"),
        (reqwest::Method::POST, "/syncs/trigger"),
        (reqwest::Method::GET, "/syncs/status?connection_id=gamma"),
        (reqwest::Method::POST, "/actions/crm/create-contact"),
    ];
    for (method, path) in &endpoints {
        for auth in [None, Some("wrong-key"), Some("sk-test-4f7d0c2a9")] {
            let mut req = client
                .request(method.clone(), serve.url(path))
                .json(&json!({}));
            if let Some(key) = auth {
                req = req.bearer_auth(key);
            }
            let (status, body) = send(req).await;
            assert_eq!(
                status, 401,
                "{method} {path} with key {auth:?} answered {status}: {body}"
            );
            assert_eq!(
                body["error"]["code"], "unauthorized",
                "{method} {path}: {body}"
            );
        }
    }
    let (status, _) = send(client.get(serve.url("/health"))).await;
    assert_eq!(status, 200, "/health needs no key");
    assert!(
        serve.get("/connections/gamma").await.0 == 200,
        "the connection was deleted without a key"
    );

    let mut seen = Vec::new();
    for path in [
        "/connections",
        "/connections/gamma",
        "/runs",
        "/syncs/status?connection_id=gamma",
        "/records?connection_id=gamma&model=Contact&limit=5",
    ] {
        let (status, body) = serve.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        seen.push(body.to_string());
    }
    let (status, body) = serve.get("/connections/gamma").await;
    assert_eq!(status, 200);
    assert_eq!(body["has_credentials"], true, "{body}");
    let (status, body) = send(
        serve
            .req(reqwest::Method::PATCH, "/connections/gamma/metadata")
            .json(&json!({"region": "eu"})),
    )
    .await;
    assert_eq!(
        status, 400,
        "metadata the crm syncs cannot read was accepted: {body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("metadata"),
        "{body}"
    );
    let (status, body) = serve.get("/openapi.json").await;
    assert_eq!(status, 200);
    for path in [
        "/connections",
        "/records",
        "/runs",
        "/syncs/trigger",
        "/syncs/status",
        "/actions/{integration}/{action}",
    ] {
        assert!(
            body["paths"].get(path).is_some(),
            "openapi.json lacks {path}"
        );
    }
    let (status, body) = serve
        .get("/records?connection_id=gamma&model=Contact&limit=10001")
        .await;
    assert_eq!(status, 400, "limit over the maximum: {body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("limit"),
        "{body}"
    );
    let (status, body) = serve
        .get("/records?connection_id=gamma&model=Contact&cursor=bogus")
        .await;
    assert_eq!(status, 400, "malformed cursor: {body}");
    let (status, body) = serve.get("/records?connection_id=gamma&model=Nope").await;
    assert_eq!(status, 400, "unknown model: {body}");

    let everything = seen.join("\n") + &serve.logs();
    assert!(
        !everything.contains(TOKEN),
        "the credential leaked into a response or log"
    );
    assert!(
        !everything.contains(SECRET_KEY),
        "the secret key leaked into a response or log"
    );
    let raw = std::fs::read(&db).unwrap();
    let wal = std::fs::read(dir.path().join("serve.db-wal")).unwrap_or_default();
    for bytes in [&raw, &wal] {
        assert!(
            !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
            "the credential is stored in plain text"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn action_reaches_the_provider_with_typed_output_and_bad_input_is_400() {
    let crm = FakeCrm::start(10).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(&dir.path().join("serve.db"), None);
    let (status, body) = serve
        .post("/connections", connection("delta", &crm, "1h", false))
        .await;
    assert_eq!(status, 201, "{body}");

    let (status, body) = serve
        .post(
            "/actions/crm/create-contact",
            json!({"connection_id": "delta", "input": {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"}}),
        )
        .await;
    assert_eq!(status, 200, "valid action call: {body}");
    let created = crm.created();
    assert_eq!(created.len(), 1, "the provider did not get the contact");
    let (id, contact) = created.iter().next().unwrap();
    assert_eq!(contact["email"], "ada@example.com");
    assert_eq!(body["output"]["id"], id.as_str(), "{body}");
    assert_eq!(
        body["output"]["updated_at"], contact["updated_at"],
        "{body}"
    );
    assert_eq!(body["triggered_syncs"], json!(["contacts"]), "{body}");
    // The triggered sync brings the new contact into the cache.
    wait_for(
        "the triggered sync to cache the new contact",
        Duration::from_secs(30),
        || async {
            let (_, b) = serve
                .get(&format!(
                    "/records?connection_id=delta&model=Contact&ids={id}"
                ))
                .await;
            (b["records"].as_array().is_some_and(|r| r.len() == 1)).then_some(())
        },
    )
    .await;

    let requests = crm.requests();
    let (status, body) = serve
        .post(
            "/actions/crm/create-contact",
            json!({"connection_id": "delta", "input": {"first_name": "Ada", "last_name": "Lovelace"}}),
        )
        .await;
    assert_eq!(status, 400, "missing field: {body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("email"),
        "the 400 does not name the field: {body}"
    );
    let (status, body) = serve
        .post(
            "/actions/crm/create-contact",
            json!({"connection_id": "delta", "input": {"email": 5, "first_name": "Ada", "last_name": "L"}}),
        )
        .await;
    assert_eq!(status, 400, "wrong type: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/email"),
        "{body}"
    );
    assert_eq!(
        crm.requests(),
        requests,
        "invalid input reached the provider"
    );
    let (status, body) = serve
        .post(
            "/actions/crm/nope",
            json!({"connection_id": "delta", "input": {}}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("create-contact"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_sends_its_error_and_waits_for_the_next_tick() {
    let crm = FakeCrm::start(150).await.unwrap();
    crm.fail_always_after(1, sync_runtime::fake_crm::Fault::BadRequest);
    let receiver = Receiver::start("127.0.0.1:0", 0).await;
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(&dir.path().join("serve.db"), Some(&receiver.url()));
    let (status, body) = serve
        .post("/connections", connection("eps", &crm, "1h", false))
        .await;
    assert_eq!(status, 201, "{body}");
    serve
        .post(
            "/syncs/start",
            json!({"connection_id": "eps", "syncs": ["contacts"]}),
        )
        .await;
    let failure = wait_for("the failure webhook", Duration::from_secs(30), || async {
        receiver
            .all()
            .into_iter()
            .find(|r| r.body["success"] == false)
    })
    .await;
    assert!(failure.verified, "{failure:?}");
    let message = failure.body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains("limit is not allowed"),
        "the provider's message is missing: {}",
        failure.body
    );
    assert_eq!(
        failure.body["added"], 100,
        "the committed first page is not counted: {}",
        failure.body
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let runs = serve.runs("eps").await;
    assert_eq!(
        runs.len(),
        1,
        "a failed run was retried before its next tick: {runs:?}"
    );
    assert_eq!(runs[0]["status"], "FAILED");
    let (_, status_body) = serve.get("/syncs/status?connection_id=eps").await;
    let contacts = status_body["syncs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "contacts")
        .unwrap()
        .clone();
    assert_eq!(contacts["status"], "ERROR", "{contacts}");
    assert!(
        contacts["last_run"]["error"]
            .as_str()
            .unwrap()
            .contains("limit is not allowed"),
        "{contacts}"
    );

    // The next trigger resumes the pass after the committed page; nothing is repeated.
    crm.clear_fault();
    serve
        .post(
            "/syncs/trigger",
            json!({"connection_id": "eps", "syncs": ["contacts"]}),
        )
        .await;
    let success = wait_for("the success webhook", Duration::from_secs(30), || async {
        receiver.accepted_for("Contact").first().cloned()
    })
    .await;
    assert_eq!(success.body["added"], 50, "{}", success.body);

    // Deleting the connection removes its records and schedules.
    let (status, _) = send(serve.req(reqwest::Method::DELETE, "/connections/eps")).await;
    assert_eq!(status, 204);
    let (status, body) = serve.get("/connections/eps").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    let (status, _) = serve.get("/records?connection_id=eps&model=Contact").await;
    assert_eq!(
        status, 404,
        "records of a deleted connection are still served"
    );
    let (status, _) = serve.get("/syncs/status?connection_id=eps").await;
    assert_eq!(status, 404, "schedules of a deleted connection remain");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_over_its_time_budget_stops_after_a_page_and_continues_at_once() {
    let crm = FakeCrm::start(1_200).await.unwrap();
    crm.set_page_delay(Duration::from_millis(250));
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start_with(
        &dir.path().join("serve.db"),
        None,
        &["--max-run-duration-secs", "1"],
    );
    let (status, body) = serve
        .post("/connections", connection("zeta", &crm, "1h", false))
        .await;
    assert_eq!(status, 201, "{body}");
    serve
        .post(
            "/syncs/start",
            json!({"connection_id": "zeta", "syncs": ["contacts"]}),
        )
        .await;
    let runs = wait_for("the pass to complete", Duration::from_secs(60), || async {
        let runs: Vec<Value> = serve
            .runs("zeta")
            .await
            .into_iter()
            .filter(|r| r["sync"] == "contacts")
            .collect();
        runs.first()
            .filter(|r| r["status"] == "SUCCESS")
            .map(|_| runs.clone())
    })
    .await;
    assert!(
        runs.len() >= 2,
        "the 3 s pass was not split by the 1 s budget: {runs:?}"
    );
    assert!(
        runs[1..].iter().all(|r| r["status"] == "STOPPED"),
        "earlier runs were not STOPPED: {runs:?}"
    );
    let added: u64 = runs
        .iter()
        .map(|r| r["counts"]["added"].as_u64().unwrap())
        .sum();
    assert_eq!(added, 1_200, "records lost or repeated across budget stops");
    // Continued at once: an hourly schedule finished its pass within the test.
    assert!(runs[0]["resumed"] == true, "{runs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declarative_files_in_syncs_dir_are_integrations_named_after_the_file() {
    let crm = FakeCrm::start(180).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let syncs = dir.path().join("syncs");
    std::fs::create_dir(&syncs).unwrap();
    std::fs::write(
        syncs.join("people.sync.toml"),
        format!(
            r#"name = "contacts"
model = "Person"
base_url = "{}"

[request]
path = "/contacts"

[records]
path = "results"
id = "id"

[pagination]
type = "cursor"
cursor_path_in_response = "next_cursor"
cursor_name_in_request = "cursor"
limit_name_in_request = "limit"
limit = 50
"#,
            crm.base_url()
        ),
    )
    .unwrap();
    let serve = Serve::start_with(
        &dir.path().join("serve.db"),
        None,
        &["--syncs", syncs.to_str().unwrap()],
    );
    let (status, body) = serve
        .post(
            "/connections",
            json!({"connection_id": "p1", "integration": "people", "auto_start": false}),
        )
        .await;
    assert_eq!(
        status, 201,
        "create a connection of the file's integration: {body}"
    );
    let (status, body) = serve
        .post(
            "/syncs/trigger",
            json!({"connection_id": "p1", "syncs": ["contacts"]}),
        )
        .await;
    assert_eq!(status, 200, "trigger: {body}");
    let run = wait_for("the declarative run", Duration::from_secs(30), || async {
        serve
            .runs("p1")
            .await
            .into_iter()
            .find(|r| r["status"] == "SUCCESS")
    })
    .await;
    assert_eq!(run["integration"], "people", "{run}");
    assert_eq!(run["counts"]["added"], 180, "{run}");
    let (status, page) = serve
        .get("/records?connection_id=p1&model=Person&limit=1000")
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        page["records"].as_array().unwrap().len(),
        180,
        "records of the file's model"
    );
}
