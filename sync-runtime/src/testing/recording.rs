//! Keep a checked-in fixture set regenerable from the integration's own loopback fake: record
//! the three runs the conformance suite replays (a clean pass, the follow-up run from its final
//! checkpoint, a run from a checkpoint in the future) exactly as `syncfn dryrun
//! --save-responses` would, then compare them with the checked-in set — or rewrite it when
//! `SYNCFN_UPDATE_FIXTURES` is set.
//!
//! ```no_run
//! # async fn f(fake_base_url: String) -> Result<(), sync_runtime::testing::TestingError> {
//! use sync_runtime::testing::recording::fixtures_up_to_date;
//! let connection = serde_json::json!({
//!     "base_url": fake_base_url,
//!     "credentials": {"type": "bearer", "token": "tok-recording"},
//! });
//! let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/contacts");
//! fixtures_up_to_date(syncfn_example_contacts::integration(), "contacts", &connection, dir.as_ref())
//!     .await?;
//! # Ok(()) }
//! ```

use std::path::Path;

use serde_json::Value;
use sync_sdk::Integration;

use super::TestingError;
use super::conformance::future_checkpoint;
use super::fixture;
use crate::cli::dryrun::{DEFAULT_CONNECTION_ID, DryRunArgs, dry_run};
use crate::registry::Registry;

/// The environment variable that makes [`fixtures_up_to_date`] rewrite the fixture set.
pub const UPDATE_FIXTURES_VAR: &str = "SYNCFN_UPDATE_FIXTURES";

/// Record the conformance runs of `integration`'s sync `sync` into `dir` (which should be
/// empty) with the connection config `connection` (`base_url`, `params`, `credentials`, as in
/// a connection config file): a clean pass, a run from its final checkpoint and, when the
/// checkpoint holds a time, one from that time moved to the future. Returns the number of
/// files written.
///
/// # Errors
/// A dry run could not run, or found invalid records or a pass that did not complete (the
/// error carries the dry run's output).
pub async fn record_conformance_runs(
    integration: Integration,
    sync: &str,
    connection: &Value,
    dir: &Path,
) -> Result<u32, TestingError> {
    let tmp = tempfile::tempdir()
        .map_err(|e| TestingError::Setup(format!("cannot create a temporary dir: {e}")))?;
    let config = tmp.path().join("connection.json");
    std::fs::write(&config, connection.to_string())
        .map_err(|e| TestingError::Setup(format!("cannot write {}: {e}", config.display())))?;
    let name = format!("{}/{sync}", integration.name());
    let registry = Registry::new().register(integration);
    let mut args = DryRunArgs {
        sync: name.clone(),
        connection_config: config,
        metadata: None,
        checkpoint: None,
        max_pages: None,
        save_responses: Some(dir.to_path_buf()),
        connection: DEFAULT_CONNECTION_ID.into(),
    };
    let mut saved = 0;
    let mut checkpoints: Vec<Option<Value>> = vec![None];
    let mut i = 0;
    while i < checkpoints.len() {
        args.checkpoint = checkpoints[i].as_ref().map(Value::to_string);
        let mut out = Vec::new();
        let outcome = dry_run(&registry, &args, &mut out).await.map_err(|e| {
            TestingError::Setup(format!("dry run of {name} failed: {e}\n{}", lossy(&out)))
        })?;
        if !outcome.ok() {
            return Err(TestingError::Setup(format!(
                "dry run of {name} from checkpoint {} did not pass:\n{}",
                args.checkpoint.as_deref().unwrap_or("null"),
                lossy(&out)
            )));
        }
        saved += outcome.saved;
        if i == 0
            && let Some(last) = outcome.summary.checkpoint.clone()
        {
            let future = future_checkpoint(&last);
            checkpoints.push(Some(last));
            checkpoints.extend(future.map(Some));
        }
        i += 1;
    }
    Ok(saved)
}

fn lossy(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// Record the conformance runs (see [`record_conformance_runs`]) and require them to equal the
/// fixture set in `dir`, file by file; with `SYNCFN_UPDATE_FIXTURES` set, replace the set's
/// `NNNN.json` files with the new recording instead.
///
/// # Errors
/// The recording failed, or a file differs, is missing or is extra (the error names it and
/// says how to regenerate).
pub async fn fixtures_up_to_date(
    integration: Integration,
    sync: &str,
    connection: &Value,
    dir: &Path,
) -> Result<(), TestingError> {
    let tmp = tempfile::tempdir()
        .map_err(|e| TestingError::Setup(format!("cannot create a temporary dir: {e}")))?;
    record_conformance_runs(integration, sync, connection, tmp.path()).await?;
    let fresh = fixture::fixture_files(tmp.path())?;
    let io = |path: &Path, e: std::io::Error| {
        TestingError::Setup(format!("fixtures {}: {e}", path.display()))
    };
    if std::env::var_os(UPDATE_FIXTURES_VAR).is_some() {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        for old in fixture::fixture_files(dir)? {
            std::fs::remove_file(&old).map_err(|e| io(&old, e))?;
        }
        for file in &fresh {
            let target = dir.join(file.file_name().unwrap_or_default());
            std::fs::copy(file, &target).map_err(|e| io(&target, e))?;
        }
        return Ok(());
    }
    let regenerate = format!(
        "rerun with {UPDATE_FIXTURES_VAR}=1 if the change to the sync or the fake is intended"
    );
    let stored = if dir.exists() {
        fixture::fixture_files(dir)?
    } else {
        Vec::new()
    };
    if stored.len() != fresh.len() {
        return Err(TestingError::Setup(format!(
            "{} holds {} fixtures but recording from the fake wrote {}; {regenerate}",
            dir.display(),
            stored.len(),
            fresh.len()
        )));
    }
    for (old, new) in stored.iter().zip(&fresh) {
        let old_text = std::fs::read_to_string(old).map_err(|e| io(old, e))?;
        let new_text = std::fs::read_to_string(new).map_err(|e| io(new, e))?;
        if old.file_name() != new.file_name() || old_text != new_text {
            return Err(TestingError::Setup(format!(
                "fixture {} differs from what the fake answers now:\n--- checked in\n{old_text}\n\
                 --- recorded\n{new_text}\n{regenerate}",
                old.display()
            )));
        }
    }
    Ok(())
}
