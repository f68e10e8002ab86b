//! `syncfn dryrun`: run a sync page by page WITHOUT a records cache — print each page, check
//! every record against its schema, and optionally save every exchange as replay fixtures.
//!
//! Nothing is written to any store: the sync's runner is driven directly (no `Driver`), so a
//! dry run never touches `--db`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use sync_sdk::{Connection, ContextParts, ErasedSync, HttpClient, Logger, Transport};

use crate::connection::{ConnectionConfig, Credentials};
use crate::http::{
    Authenticator, MemoryCredentialSink, ProviderLimiter, ReqwestTransport, RunCounters,
};
use crate::registry::Registry;
use crate::testing::pages::{WalkEnd, WalkOptions, WalkSummary, WalkedPage, walk};
use crate::testing::recorder::RecordingTransport;

/// The connection id a dry run uses when none is given.
pub const DEFAULT_CONNECTION_ID: &str = "dryrun";

/// `syncfn dryrun` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct DryRunArgs {
    /// `<integration>/<sync>`, e.g. `crm/contacts`.
    pub sync: String,
    /// Connection config JSON (base_url, params, credentials, metadata).
    #[arg(long)]
    pub connection_config: PathBuf,
    /// Connection metadata as JSON, or `@file`; overrides the config's `metadata`.
    #[arg(long)]
    pub metadata: Option<String>,
    /// Start from this checkpoint (JSON or `@file`), as an incremental run would.
    #[arg(long)]
    pub checkpoint: Option<String>,
    /// Stop after this many pages.
    #[arg(long)]
    pub max_pages: Option<u64>,
    /// Save every request and response as fixtures (`NNNN.json`) in this directory,
    /// credentials scrubbed; numbering continues after files already there.
    #[arg(long)]
    pub save_responses: Option<PathBuf>,
    /// Connection id the sync sees.
    #[arg(long, default_value = DEFAULT_CONNECTION_ID)]
    pub connection: String,
}

/// A dry run that could not run or found problems.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DryRunError {
    /// Bad arguments or configuration (exit status 2).
    #[error("{0}")]
    Usage(String),
    /// The sync failed or returned invalid records (exit status 1).
    #[error("{0}")]
    Failed(String),
}

/// What a dry run saw.
#[derive(Debug)]
pub struct DryRunOutcome {
    /// Pages, records, problems, final checkpoint and how it ended.
    pub summary: WalkSummary,
    /// Requests sent.
    pub requests: u64,
    /// Fixture files written (`--save-responses`).
    pub saved: u32,
}

impl DryRunOutcome {
    /// Whether the sync reached its last page (or `--max-pages`) with every record valid.
    pub fn ok(&self) -> bool {
        self.summary.problems.is_empty()
            && matches!(self.summary.end, WalkEnd::Completed | WalkEnd::MaxPages)
    }
}

/// A JSON argument given inline or as `@file`.
fn json_arg(flag: &str, text: &str) -> Result<Value, DryRunError> {
    let (origin, text) = match text.strip_prefix('@') {
        Some(path) => (
            path.to_string(),
            std::fs::read_to_string(path)
                .map_err(|e| DryRunError::Usage(format!("{flag} @{path}: cannot read: {e}")))?,
        ),
        None => (flag.to_string(), text.to_string()),
    };
    serde_json::from_str(&text)
        .map_err(|e| DryRunError::Usage(format!("{origin}: not valid JSON: {e}")))
}

/// Hook for declarative `*.sync.toml` files: resolves to an erased sync once the declarative
/// module exists. Until then it names the limitation.
/// A declarative sync file: its integration name (the file stem), base URL, credentials
/// from its `[auth]`, and the sync.
fn load_declarative_sync(path: &Path) -> Result<DeclarativeParts, DryRunError> {
    let sync = crate::declarative::load(path).map_err(|d| DryRunError::Usage(d.to_string()))?;
    let credentials = sync
        .credentials()
        .map_err(|e| DryRunError::Usage(format!("{}: {e}", path.display())))?;
    Ok(DeclarativeParts {
        integration: crate::declarative::integration_name(path),
        base_url: sync.base_url().to_string(),
        credentials,
        sync: Arc::new(sync),
    })
}

struct DeclarativeParts {
    integration: String,
    base_url: String,
    credentials: Credentials,
    sync: Arc<dyn ErasedSync>,
}

fn text_or_null(v: Option<&Value>) -> String {
    v.map_or_else(|| "null".to_string(), Value::to_string)
}

/// Run the dry run, writing the page lines and the summary to `out`.
///
/// # Errors
/// [`DryRunError::Usage`] for unknown syncs or unreadable config, metadata or checkpoint;
/// [`DryRunError::Failed`] when the sync cannot start.
pub async fn dry_run(
    registry: &Registry,
    args: &DryRunArgs,
    out: &mut (dyn Write + Send),
) -> Result<DryRunOutcome, DryRunError> {
    let mut config = ConnectionConfig::load(&args.connection_config).map_err(DryRunError::Usage)?;
    let (integration_name, default_base_url, integration_quota, sync) =
        if args.sync.ends_with(".sync.toml") {
            let parts = load_declarative_sync(Path::new(&args.sync))?;
            if matches!(config.credentials, Credentials::None) {
                config.credentials = parts.credentials;
            }
            (parts.integration, Some(parts.base_url), None, parts.sync)
        } else {
            let (integration, sync) = registry.resolve(&args.sync).map_err(DryRunError::Usage)?;
            (
                integration.name().to_string(),
                integration.default_base_url().map(str::to_string),
                integration.default_rate_limit(),
                sync,
            )
        };
    let spec = sync.spec();
    let metadata = match &args.metadata {
        Some(text) => json_arg("--metadata", text)?,
        None => config.metadata.clone(),
    };
    let filter = args
        .checkpoint
        .as_deref()
        .map(|text| json_arg("--checkpoint", text))
        .transpose()?;
    let base_url = config
        .base_url
        .clone()
        .or(default_base_url)
        .ok_or_else(|| {
            DryRunError::Usage(format!(
                "integration {integration_name:?} has no default base URL: set base_url in {}",
                args.connection_config.display()
            ))
        })?;
    let client = crate::http::build_client().map_err(|e| DryRunError::Failed(e.to_string()))?;
    let counters = Arc::new(RunCounters::default());
    // A dry run talks to the real provider: it respects the same quota as a run would.
    let quota = config
        .rate_limit
        .map(|r| r.to_rate_limit())
        .or(integration_quota)
        .or(spec.rate_limit);
    let limiter = Arc::new(ProviderLimiter::new(quota).map_err(DryRunError::Usage)?);
    let auth = Authenticator::new(
        client.clone(),
        config.credentials.clone(),
        Arc::new(MemoryCredentialSink::default()),
        &integration_name,
        &args.connection,
    );
    let mut transport: Arc<dyn Transport> = Arc::new(ReqwestTransport::new(
        client,
        auth,
        limiter,
        counters.clone(),
    ));
    let mut recorder = None;
    if let Some(dir) = &args.save_responses {
        let recording = Arc::new(
            RecordingTransport::new(transport, dir, &base_url, &config.credentials)
                .map_err(|e| DryRunError::Usage(e.to_string()))?,
        );
        transport = recording.clone();
        recorder = Some(recording);
    }
    let mut connection = Connection::new(&args.connection, &integration_name);
    connection.params = config.params.clone();
    let parts = ContextParts::new(
        HttpClient::new(transport, base_url.clone()),
        Arc::new(connection),
        metadata,
        Logger::new(&args.connection, &integration_name, &spec.name),
    );
    let _ = writeln!(
        out,
        "dry run of {integration_name}/{} against {base_url} (nothing is written to the records cache)",
        spec.name
    );
    let options = WalkOptions {
        filter,
        max_pages: args.max_pages,
    };
    let mut on_page = |p: &WalkedPage| {
        let tombstones = p.page.records.iter().filter(|r| r.deleted).count();
        let _ = writeln!(
            out,
            "page {}: {} records ({} tombstones, {} deleted ids), next cursor {}, checkpoint {}",
            p.number,
            p.page.records.len(),
            tombstones,
            p.page.deleted_ids.len(),
            p.page
                .next_cursor
                .as_deref()
                .map_or_else(|| "none".to_string(), |c| format!("{c:?}")),
            text_or_null(p.page.checkpoint.as_ref()),
        );
        for problem in p.problems.iter().take(5) {
            let _ = writeln!(out, "  invalid: {problem}");
        }
        if p.problems.len() > 5 {
            let _ = writeln!(out, "  … and {} more invalid records", p.problems.len() - 5);
        }
    };
    let summary = walk(sync, parts, &options, &mut on_page)
        .await
        .map_err(|e| DryRunError::Failed(e.to_string()))?;
    let outcome = DryRunOutcome {
        requests: counters.snapshot().requests,
        saved: recorder.as_ref().map_or(0, |r| r.recorded()),
        summary,
    };
    let s = &outcome.summary;
    let ended = match &s.end {
        WalkEnd::Completed => "completed".to_string(),
        WalkEnd::MaxPages => format!("stopped after --max-pages {}", s.pages),
        WalkEnd::Looped { page, cursor } => format!(
            "stopped: page {page} returned cursor {cursor:?} a second time (the sync would loop)"
        ),
        WalkEnd::Failed(e) => format!("failed: {e}"),
        #[allow(unreachable_patterns)]
        _ => "ended".to_string(),
    };
    let _ = writeln!(
        out,
        "summary: {} pages, {} records ({} tombstones), {} deleted ids, {} invalid records, {} requests; {ended}",
        s.pages,
        s.records,
        s.tombstones,
        s.deleted_ids,
        s.problems.len(),
        outcome.requests
    );
    let _ = writeln!(
        out,
        "final checkpoint: {}",
        text_or_null(s.checkpoint.as_ref())
    );
    if let Some(dir) = &args.save_responses {
        let _ = writeln!(
            out,
            "saved {} responses to {}",
            outcome.saved,
            dir.display()
        );
    }
    Ok(outcome)
}

/// The CLI entry: run, print to stdout, map the outcome to an exit status.
pub(crate) async fn run(
    registry: &Registry,
    args: DryRunArgs,
) -> Result<std::process::ExitCode, super::CliError> {
    let mut stdout = std::io::stdout();
    match dry_run(registry, &args, &mut stdout).await {
        Ok(outcome) if outcome.ok() => Ok(std::process::ExitCode::SUCCESS),
        Ok(_) => Ok(std::process::ExitCode::from(super::EXIT_RUN_FAILED)),
        Err(DryRunError::Usage(m)) => Err(super::CliError::Usage(m)),
        Err(DryRunError::Failed(m)) => Err(super::CliError::Failed(m)),
    }
}
