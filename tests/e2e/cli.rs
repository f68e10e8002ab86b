//! The rest of the command line: stopping and resuming, the loop guard, `records`, `runs`,
//! config errors, secrets, and the demo's temporary files.

use std::collections::HashSet;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sync_runtime::fake_crm::Fault;

use crate::common::{Env, assert_cache_equals_provider};

fn syncfn(args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_syncfn"));
    cmd.args(args)
        .env_remove("SYNCFN_DB")
        .env_remove("SYNCFN_LOG")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_run_with_max_pages_resumes_where_it_stopped() {
    let env = Env::new(1_000).await;
    let out = env
        .run_command("crm/contacts-full", "c1")
        .args(["--max-pages", "3"])
        .output()
        .await
        .expect("spawn syncfn");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a stopped run exits 0: {}",
        text(&out)
    );
    assert!(
        stdout.contains("status=STOPPED") && stdout.contains("pages=3 added=300 "),
        "stopped run summary: {stdout}"
    );
    let requests = env.crm.requests();
    let done = env.run("crm/contacts-full", "c1").await;
    done.assert_success();
    assert!(done.summary.resumed, "did not resume: {}", done.stdout);
    assert_eq!(done.summary.added, 700, "added by the resumed run");
    assert_eq!(
        env.crm.requests() - requests,
        7,
        "requests of the resumed run"
    );
    assert_cache_equals_provider(&env.cache("c1").await, &env.crm.snapshot());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_repeating_a_cursor_fails_instead_of_looping() {
    let env = Env::new(1_000).await;
    env.crm.fail_always_after(4, Fault::RepeatCursor);
    let began = Instant::now();
    let out = env.run("crm/contacts-full", "c1").await;
    assert!(
        began.elapsed() < Duration::from_secs(30),
        "a looping provider took {:?}",
        began.elapsed()
    );
    assert_eq!(out.code, Some(1), "exit code: {}", out.text());
    assert!(
        out.stdout.contains("page 5") && out.stdout.contains("second time"),
        "error should name the page and the repeated cursor: {}",
        out.stdout
    );
    assert_eq!(out.summary.pages, 4, "pages committed before the loop");
    env.crm.clear_fault();
    let done = env.run("crm/contacts-full", "c1").await;
    done.assert_success();
    assert!(done.summary.resumed, "did not resume: {}", done.stdout);
    assert_cache_equals_provider(&env.cache("c1").await, &env.crm.snapshot());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_and_runs_commands_print_json_lines_and_reject_bad_arguments() {
    let env = Env::new(250).await;
    env.run("crm/contacts", "c1").await.assert_success();
    let db = env.db.to_str().expect("utf-8 path");

    let out = syncfn(&[
        "records",
        "--connection",
        "c1",
        "--model",
        "Contact",
        "--all",
        "--limit",
        "100",
        "--db",
        db,
    ])
    .output()
    .await
    .expect("spawn");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 250, "records --all lines");
    let ids: HashSet<&str> = lines.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 250, "ids unique");
    let cursors: Vec<&str> = lines
        .iter()
        .map(|r| r["_metadata"]["cursor"].as_str().expect("_metadata.cursor"))
        .collect();
    assert!(
        cursors.windows(2).all(|w| w[0] < w[1]),
        "cursors not increasing"
    );
    assert!(
        lines
            .iter()
            .all(|r| r["_metadata"]["last_action"] == "ADDED"),
        "last_action"
    );

    for (args, needle) in [
        (vec!["--cursor", "nope"], "invalid cursor"),
        (vec!["--limit", "0"], "--limit 0"),
        (vec!["--limit", "10001"], "--limit 10001"),
        (vec!["--modified-after", "yesterday"], "yesterday"),
        (vec!["--filter", "changed"], "changed"),
    ] {
        let mut all = vec![
            "records",
            "--connection",
            "c1",
            "--model",
            "Contact",
            "--db",
            db,
        ];
        all.extend(&args);
        let out = syncfn(&all).output().await.expect("spawn");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: exit code: {}",
            text(&out)
        );
        assert!(
            stderr.contains(needle),
            "{args:?}: error should name {needle:?}: {stderr}"
        );
    }

    let out = syncfn(&["runs", "--json", "--connection", "c1", "--db", db])
        .output()
        .await
        .expect("spawn");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let runs: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(runs.len(), 1, "runs");
    assert_eq!(runs[0]["status"], "SUCCESS");
    assert_eq!(runs[0]["counts"]["added"], 250);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_connection_config_or_sync_name_is_a_usage_error_naming_it() {
    let env = Env::new(10).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"base_url\": ").unwrap();
    let unknown = dir.path().join("unknown.json");
    std::fs::write(
        &unknown,
        r#"{"base_url": "http://127.0.0.1:1", "baseurl": "x"}"#,
    )
    .unwrap();
    let db = dir.path().join("x.db");
    let db = db.to_str().unwrap();

    for (config, needle) in [
        (broken.to_str().unwrap(), "not valid JSON"),
        (unknown.to_str().unwrap(), "baseurl"),
        (
            dir.path().join("missing.json").to_str().unwrap(),
            "missing.json",
        ),
    ] {
        let out = syncfn(&[
            "run",
            "crm/contacts",
            "--connection",
            "c1",
            "--quiet",
            "--config",
            config,
            "--db",
            db,
        ])
        .output()
        .await
        .expect("spawn");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{config}: {}", text(&out));
        assert!(
            stderr.contains(config) || stderr.contains(needle),
            "{config}: error should name the file: {stderr}"
        );
        assert!(
            stderr.contains(needle),
            "{config}: error should say {needle:?}: {stderr}"
        );
    }

    let out = syncfn(&["run", "crm/nope", "--connection", "c1", "--db", db])
        .output()
        .await
        .expect("spawn");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stderr.contains("nope") && stderr.contains("contacts-full"),
        "unknown sync error should list the choices: {stderr}"
    );
    drop(env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_reach_output_or_the_database() {
    const SECRET: &str = "sekret-token-5f1e2d";
    let env = Env::new(300).await;
    std::fs::write(
        &env.config,
        serde_json::json!({
            "base_url": env.crm.base_url(),
            "credentials": {"type": "bearer", "token": "${env:SYNCFN_TEST_TOKEN}"},
        })
        .to_string(),
    )
    .unwrap();
    // A successful run and a failing one (the error path prints the request).
    let mut outputs = Vec::new();
    for fault in [None, Some(Fault::BadRequest)] {
        if let Some(f) = fault {
            env.crm.update(&[1]);
            env.crm.fail_always_after(0, f);
        }
        let out = env
            .run_command("crm/contacts", "c1")
            .env("SYNCFN_TEST_TOKEN", SECRET)
            .env("SYNCFN_LOG", "debug")
            .output()
            .await
            .expect("spawn");
        outputs.push(text(&out));
    }
    assert!(
        outputs[1].contains("limit is not allowed"),
        "second run should fail: {}",
        outputs[1]
    );
    for (i, o) in outputs.iter().enumerate() {
        assert!(!o.contains(SECRET), "run {i} printed the token: {o}");
    }
    for entry in std::fs::read_dir(env.db.parent().unwrap()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()) || path == env.config,
            "{} contains the token",
            path.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_without_db_leaves_no_files_behind() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = syncfn(&["demo", "--records", "300"])
        .env("TMPDIR", tmp.path())
        .output()
        .await
        .expect("spawn");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "the demo left files in TMPDIR: {left:?}");
}
