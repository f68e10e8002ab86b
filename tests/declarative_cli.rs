//! The `syncfn` binary with declarative `*.sync.toml` files: `check` on a table of malformed
//! files, `schema --declarative`, the bundled examples, and crash safety of `run` under SIGKILL.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use sync_runtime::fake_crm::FakeCrm;
use sync_runtime::store::{LastAction, RecordQuery, SqliteStore, Store};

const SYNCFN: &str = env!("CARGO_BIN_EXE_syncfn");

/// A valid file; each malformed case edits it.
const VALID: &str = r#"name = "contacts"
model = "Contact"
frequency = "every 1 hour"
base_url = "http://127.0.0.1:9"

[auth]
type = "bearer"
token = "${env:SYNCFN_DECL_TEST_TOKEN}"

[request]
method = "GET"
path = "/contacts"
params = { archived = "false" }

[records]
path = "results"
id = "id"

[pagination]
type = "cursor"
cursor_path_in_response = "next_cursor"
cursor_name_in_request = "cursor"
limit_name_in_request = "limit"
limit = 100

[incremental]
field = "updated_at"
param = "updated_after"
format = "rfc3339"
lookback = "5s"

[deletes]
strategy = "tombstone"
field = "archived"

[rate_limit]
requests = 50
per = "1s"
burst = 10
"#;

fn syncfn(args: &[&str]) -> Output {
    Command::new(SYNCFN)
        .args(args)
        .env("SYNCFN_DECL_TEST_TOKEN", "tok-SECRET-decl-7")
        .env_remove("SYNCFN_DB")
        .output()
        .expect("run syncfn")
}

fn edited(edits: &[(&str, &str)]) -> String {
    let mut text = VALID.to_string();
    for (from, to) in edits {
        assert!(text.contains(from), "fixture has no {from:?}");
        text = text.replacen(from, to, 1);
    }
    text
}

struct Case {
    name: &'static str,
    edits: &'static [(&'static str, &'static str)],
    /// `line:column: key` the first diagnostic must carry.
    at: &'static str,
    /// Words the message must contain (valid choices, the variable…).
    says: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "unknown top-level key",
        edits: &[("model = ", "modle = ")],
        at: "2:1: modle",
        says: &[
            "unknown key",
            "did you mean `model`",
            "valid keys: name, model",
        ],
    },
    Case {
        name: "unknown key in a table",
        edits: &[("cursor_path_in_response", "cursor_path")],
        at: "21:1: pagination.cursor_path",
        says: &[
            "did you mean `cursor_path_in_response`",
            "link_rel_in_response_header",
        ],
    },
    Case {
        name: "bad pagination type",
        edits: &[("type = \"cursor\"", "type = \"cursr\"")],
        at: "20:8: pagination.type",
        says: &[
            "did you mean `cursor`",
            "valid choices: none, cursor, link, offset",
        ],
    },
    Case {
        name: "missing records id",
        edits: &[("id = \"id\"", "")],
        at: "15:1: records.id",
        says: &["required key is missing"],
    },
    Case {
        name: "missing name",
        edits: &[("name = \"contacts\"\n", "")],
        at: "1:1: name",
        says: &["required key is missing"],
    },
    Case {
        name: "bad frequency",
        edits: &[("every 1 hour", "every blue moon")],
        at: "3:13: frequency",
        says: &["invalid duration \"every blue moon\"", "units"],
    },
    Case {
        name: "bad lookback duration",
        edits: &[("lookback = \"5s\"", "lookback = \"ten seconds\"")],
        at: "30:12: incremental.lookback",
        says: &["invalid duration \"ten seconds\""],
    },
    Case {
        name: "unset environment variable",
        edits: &[("SYNCFN_DECL_TEST_TOKEN", "SYNCFN_DECL_SURELY_UNSET")],
        at: "8:9: auth.token",
        says: &["environment variable SYNCFN_DECL_SURELY_UNSET is not set"],
    },
    Case {
        name: "wrong type",
        edits: &[("limit = 100", "limit = \"100\"")],
        at: "24:9: pagination.limit",
        says: &["invalid type: string \"100\""],
    },
    Case {
        name: "cursor pagination without the request name",
        edits: &[("cursor_name_in_request = \"cursor\"", "")],
        at: "19:1: pagination.cursor_name_in_request",
        says: &["required for type = \"cursor\""],
    },
    Case {
        name: "bad time format",
        edits: &[("format = \"rfc3339\"", "format = \"iso\"")],
        at: "29:10: incremental.format",
        says: &["valid choices: rfc3339, unix_seconds, unix_millis"],
    },
    Case {
        name: "tombstone without a field",
        edits: &[("field = \"archived\"", "")],
        at: "32:1: deletes.field",
        says: &["required for strategy = \"tombstone\""],
    },
    Case {
        name: "unsupported method",
        edits: &[("method = \"GET\"", "method = \"PUT\"")],
        at: "11:10: request.method",
        says: &["valid choices: GET, POST"],
    },
    Case {
        name: "zero rate limit window",
        edits: &[("per = \"1s\"", "per = \"0s\"")],
        at: "38:7: rate_limit.per",
        says: &["longer than zero"],
    },
    Case {
        name: "invalid TOML",
        edits: &[("path = \"/contacts\"", "path = \"/contacts")],
        at: "12:18: path",
        says: &["invalid TOML"],
    },
    Case {
        name: "bearer without a token",
        edits: &[("token = \"${env:SYNCFN_DECL_TEST_TOKEN}\"", "")],
        at: "6:1: auth.token",
        says: &["required for type = \"bearer\""],
    },
    Case {
        name: "base url without a scheme",
        edits: &[("http://127.0.0.1:9", "127.0.0.1:9")],
        at: "4:12: base_url",
        says: &["must start with http:// or https://"],
    },
    Case {
        name: "full refresh with incremental",
        edits: &[(
            "strategy = \"tombstone\"\nfield = \"archived\"",
            "strategy = \"full_refresh\"",
        )],
        at: "33:12: deletes.strategy",
        says: &["remove [incremental]"],
    },
    Case {
        name: "unknown delete strategy",
        edits: &[("strategy = \"tombstone\"", "strategy = \"soft\"")],
        at: "33:12: deletes.strategy",
        says: &["valid choices: none, full_refresh, tombstone"],
    },
    Case {
        name: "oauth2 not supported yet",
        edits: &[(
            "type = \"bearer\"\ntoken = \"${env:SYNCFN_DECL_TEST_TOKEN}\"",
            "type = \"oauth2\"",
        )],
        at: "7:8: auth.type",
        says: &["not supported", "bearer"],
    },
    Case {
        name: "key of another pagination type",
        edits: &[(
            "limit = 100",
            "limit = 100\noffset_name_in_request = \"offset\"",
        )],
        at: "25:26: pagination.offset_name_in_request",
        says: &["does not apply to type = \"cursor\""],
    },
    Case {
        name: "array as a parameter",
        edits: &[("archived = \"false\"", "archived = [\"a\"]")],
        at: "13:23: request.params.archived",
        says: &["string, number or boolean"],
    },
    Case {
        name: "misspelled table",
        edits: &[("[records]", "[record]")],
        at: "15:2: record",
        says: &["did you mean `records`"],
    },
    Case {
        name: "invalid sync name",
        edits: &[("name = \"contacts\"", "name = \"Contacts!\"")],
        at: "1:8: name",
        says: &["a-z, 0-9"],
    },
];

#[test]
fn every_malformed_file_gets_a_clear_error_with_file_line_and_key_and_exit_status_2() {
    assert!(CASES.len() >= 15);
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (i, case) in CASES.iter().enumerate() {
        let path = dir.path().join(format!("case{i}.sync.toml"));
        std::fs::write(&path, edited(case.edits)).unwrap();
        let out = syncfn(&["check", path.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let expected = format!("{}:{}", path.display(), case.at);
        let mut problems = Vec::new();
        if out.status.code() != Some(2) {
            problems.push(format!("exit status {:?}, expected 2", out.status.code()));
        }
        if !stderr.contains(&expected) {
            problems.push(format!("no {expected:?}"));
        }
        for word in case.says {
            if !stderr.contains(word) {
                problems.push(format!("message lacks {word:?}"));
            }
        }
        if stderr.contains("panicked") || stderr.contains("tok-SECRET") {
            problems.push("panicked or leaked the token".into());
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {}\n{stderr}", case.name, problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn check_reports_every_problem_of_a_file_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("multi.sync.toml");
    std::fs::write(
        &path,
        edited(&[
            ("every 1 hour", "sometimes"),
            ("cursor_path_in_response", "cursor_pth"),
            ("lookback = \"5s\"", "lookback = \"x\""),
            ("method = \"GET\"", "method = \"get\""),
        ]),
    )
    .unwrap();
    let out = syncfn(&["check", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for key in [
        ":3:13: frequency:",
        ":11:10: request.method:",
        ":21:1: pagination.cursor_pth:",
        ":30:12: incremental.lookback:",
    ] {
        assert!(stderr.contains(key), "missing {key:?} in:\n{stderr}");
    }
    assert!(stderr.contains("4 problems"), "{stderr}");
}

fn examples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".sync.toml"))
            .collect();
    files.sort();
    files
}

#[test]
fn the_examples_pass_check_and_the_valid_fixture_too() {
    let files = examples();
    assert!(
        files.len() >= 5,
        "one example per pagination style: {files:?}"
    );
    for file in files {
        let out = Command::new(SYNCFN)
            .args(["check", file.to_str().unwrap()])
            .env("CRM_URL", "http://127.0.0.1:8080")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("valid.sync.toml");
    std::fs::write(&path, VALID).unwrap();
    let out = syncfn(&["check", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn schema_declarative_prints_the_file_formats_json_schema() {
    let out = syncfn(&["schema", "--declarative"]);
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let required: BTreeSet<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        required,
        BTreeSet::from(["name", "model", "base_url", "request", "records"]),
        "required top-level keys"
    );
    assert_eq!(
        schema["additionalProperties"], false,
        "unknown keys are denied"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for key in [
        "cursor_path_in_response",
        "link_path_in_response_body",
        "offset_calculation_method",
        "by-response-size",
        "unix_millis",
        "full_refresh",
    ] {
        assert!(text.contains(key), "schema lacks {key}");
    }
}

/// Records cached for `connection`: id → last action, each listed once, cursors increasing.
async fn cached(db: &Path, connection: &str) -> Vec<(String, LastAction, serde_json::Value)> {
    let store = SqliteStore::open(db).unwrap();
    let mut query = RecordQuery::new(connection, "Contact");
    query.limit = 10_000;
    let mut out = Vec::new();
    loop {
        let page = store.list_records(&query).await.unwrap();
        for r in page.records {
            out.push((r.id, r.metadata.last_action, r.data));
        }
        match page.next_cursor {
            Some(c) => query.cursor = Some(c),
            None => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declarative_run_killed_mid_pass_resumes_with_exact_data_and_no_duplicates() {
    let crm = FakeCrm::start(600).await.unwrap();
    crm.set_page_delay(Duration::from_millis(40));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("crm.sync.toml");
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/crm-cursor.sync.toml"),
    )
    .unwrap()
    .replace("limit = 100", "limit = 10");
    std::fs::write(&file, text).unwrap();
    let db = dir.path().join("cache.db");
    let run = || {
        Command::new(SYNCFN)
            .args([
                "run",
                file.to_str().unwrap(),
                "--connection",
                "acme",
                "--db",
                db.to_str().unwrap(),
                "--quiet",
            ])
            .env("CRM_URL", crm.base_url())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };

    let mut kills = 0;
    for wait_ms in [600, 600, 600] {
        let mut child = run();
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        let _ = tokio::task::block_in_place(|| child.wait());
    }
    assert!(
        kills >= 2,
        "the runs should be killed mid-pass (killed {kills})"
    );
    let partial = cached(&db, "acme").await.len();
    assert!(
        partial > 0 && partial < 600,
        "killed runs should have committed part of the pass, got {partial}"
    );

    // The fake answers on this test's runtime, so wait for the child off its workers.
    let out = tokio::task::block_in_place(|| run().wait_with_output().unwrap());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("status=SUCCESS"),
        "final run: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let records = cached(&db, "acme").await;
    let ids: BTreeSet<&str> = records.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(ids.len(), records.len(), "a record was listed twice");
    let provider = crm.snapshot();
    assert_eq!(
        ids.len(),
        provider.len(),
        "cache and provider hold different counts"
    );
    for (id, action, data) in &records {
        assert_eq!(
            *action,
            LastAction::Added,
            "record {id} was reported as changed twice"
        );
        assert_eq!(
            Some(data),
            provider.get(id),
            "record {id} differs from the provider's"
        );
    }

    // Resumed, not restarted: the killed runs' pages are not fetched again.
    let store = SqliteStore::open(&db).unwrap();
    let runs = store.list_runs(Some("acme"), 10).await.unwrap();
    assert!(
        runs.iter().any(|r| r.resumed),
        "no run resumed the pass: {runs:?}"
    );
    assert!(
        crm.requests() <= 60 + 3 * 3,
        "{} requests for a 60-page pass: pages were fetched again after the kills",
        crm.requests()
    );
}
