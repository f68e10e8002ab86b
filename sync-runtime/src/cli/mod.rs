//! The `syncfn` command line.

mod demo;
pub mod dryrun;
mod output;
mod serve;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use sync_sdk::Connection;

use crate::connection::{ConnectionConfig, Credentials};
use crate::driver::{Driver, RunOptions, SyncTarget};
use crate::registry::Registry;
use crate::store::{
    LastAction, MAX_LIST_LIMIT, RecordQuery, RunStatus, SqliteStore, Store, StoredConnection,
    SyncKey, parse_timestamp,
};

/// Exit status for bad usage or configuration.
pub const EXIT_USAGE: u8 = 2;
/// Exit status for a run that failed.
pub const EXIT_RUN_FAILED: u8 = 1;

#[derive(Debug, Parser)]
#[command(
    name = "syncfn",
    version,
    about = "Keep a copy of third-party API data fresh: run sync functions"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Args)]
struct DbArg {
    /// SQLite database file of the records cache.
    #[arg(long, default_value = "syncfn.db", env = "SYNCFN_DB")]
    db: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a loopback CRM, sync it, change it, sync again and show what changed.
    Demo {
        /// Contacts in the fake CRM.
        #[arg(long, default_value_t = 5_000)]
        records: u64,
        /// Keep the cache in this file (default: a temporary file removed at the end).
        #[arg(long)]
        db: Option<PathBuf>,
    },
    /// Run one sync for one connection until its pass completes (or fails).
    Run {
        /// `<integration>/<sync>`, e.g. `github/issues`, or a declarative sync file
        /// `path/to/name.sync.toml` (its integration name is the file stem).
        sync: String,
        /// Connection id.
        #[arg(long)]
        connection: String,
        /// Connection config JSON (base_url, params, credentials, metadata); saved without
        /// credentials for later runs.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Forget the checkpoint and run a full pass from the first page.
        #[arg(long)]
        reset: bool,
        /// Stop cleanly after this many pages (the pass resumes on the next run).
        #[arg(long)]
        max_pages: Option<u64>,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
        #[command(flatten)]
        db: DbArg,
    },
    /// Print cached records after a cursor, as JSON lines in cursor order.
    Records {
        /// Connection id.
        #[arg(long)]
        connection: String,
        /// Model name.
        #[arg(long)]
        model: String,
        /// Only changes after this cursor.
        #[arg(long)]
        cursor: Option<String>,
        /// At most this many records (1 to 10,000).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Only these last actions: comma-separated added, updated, deleted.
        #[arg(long)]
        filter: Option<String>,
        /// Only records modified at or after this RFC 3339 time.
        #[arg(long)]
        modified_after: Option<String>,
        /// Only these ids (comma-separated).
        #[arg(long)]
        ids: Option<String>,
        /// Follow next_cursor until everything after the cursor is printed.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        db: DbArg,
    },
    /// Show run history, newest first.
    Runs {
        /// Only this connection.
        #[arg(long)]
        connection: Option<String>,
        /// How many runs.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArg,
    },
    /// List the integrations and syncs this binary knows.
    List,
    /// Run a sync without writing to the records cache: print each page, validate every
    /// record, optionally save the responses as replay fixtures.
    Dryrun(dryrun::DryRunArgs),
    /// Serve the API: connections, schedules, records, webhooks and actions.
    Serve(serve::ServeArgs),
    /// Print the JSON Schemas of a sync's models, checkpoint and metadata.
    Schema {
        /// `<integration>/<sync>`, or a `*.sync.toml` file.
        #[arg(required_unless_present = "declarative")]
        sync: Option<String>,
        /// Print the JSON Schema of the `*.sync.toml` file format instead.
        #[arg(long, conflicts_with = "sync")]
        declarative: bool,
    },
    /// Serve the bundled loopback CRM until interrupted (for the `examples/*.sync.toml` files).
    FakeCrm {
        /// Address to listen on (loopback).
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: std::net::SocketAddr,
        /// Contacts in the fake CRM.
        #[arg(long, default_value_t = 1_000)]
        records: u64,
    },
    /// Validate a declarative `*.sync.toml` file without network; exit status 2 on any error.
    Check {
        /// The file.
        file: PathBuf,
    },
}

/// Parse the command line and run it; the binary's `main` calls this.
pub fn main(registry: Registry) -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_RUN_FAILED);
        }
    };
    match runtime.block_on(dispatch(cli.command, registry)) {
        Ok(code) => code,
        Err(CliError::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(CliError::Failed(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_RUN_FAILED)
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SYNCFN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// A CLI failure: bad input (exit 2) or a failed operation (exit 1).
#[derive(Debug)]
pub(crate) enum CliError {
    Usage(String),
    Failed(String),
}

impl From<crate::store::StoreError> for CliError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Invalid(m) => CliError::Usage(m),
            other => CliError::Failed(other.to_string()),
        }
    }
}

async fn dispatch(command: Command, registry: Registry) -> Result<ExitCode, CliError> {
    match command {
        Command::Demo { records, db } => demo::run(&registry, records, db).await,
        Command::Dryrun(args) => dryrun::run(&registry, args).await,
        Command::Serve(args) => serve::run(args, registry).await,
        Command::Run {
            sync,
            connection,
            config,
            reset,
            max_pages,
            quiet,
            db,
        } => {
            let store = open_store(&db.db)?;
            let target = if crate::declarative::is_declarative(&sync) {
                if config.is_some() {
                    return Err(CliError::Usage(format!(
                        "--config does not apply to a declarative sync: put base_url and [auth] in {sync}"
                    )));
                }
                declarative_target(Path::new(&sync), &connection)?
            } else {
                resolve_target(&registry, &store, &sync, &connection, config.as_deref()).await?
            };
            let driver = Driver::new(
                store,
                crate::http::build_client().map_err(|e| CliError::Failed(e.to_string()))?,
            );
            let bar = (!quiet).then(output::ProgressBar::new);
            let options = RunOptions {
                reset,
                max_pages,
                progress: bar
                    .clone()
                    .map(|b| Arc::new(b) as Arc<dyn crate::driver::Progress>),
                ..RunOptions::default()
            };
            let report = driver.run(&target, options).await?;
            if let Some(bar) = bar {
                bar.finish();
            }
            println!("{}", output::report_line(&target.key, &report));
            Ok(match report.status {
                RunStatus::Success | RunStatus::Stopped => ExitCode::SUCCESS,
                _ => ExitCode::from(EXIT_RUN_FAILED),
            })
        }
        Command::Records {
            connection,
            model,
            cursor,
            limit,
            filter,
            modified_after,
            ids,
            all,
            db,
        } => {
            if limit == 0 || limit > MAX_LIST_LIMIT {
                return Err(CliError::Usage(format!(
                    "--limit {limit} is out of range: use 1 to {MAX_LIST_LIMIT}"
                )));
            }
            let store = open_store(&db.db)?;
            let mut query = RecordQuery::new(&connection, &model);
            query.cursor = cursor;
            query.limit = limit;
            query.actions = parse_actions(filter.as_deref())?;
            query.modified_after = modified_after
                .as_deref()
                .map(parse_timestamp)
                .transpose()
                .map_err(CliError::Usage)?;
            query.ids = ids
                .map(|s| {
                    s.split(',')
                        .map(|x| x.trim().to_string())
                        .filter(|x| !x.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            // One buffer reused page after page: memory stays bounded by --limit.
            let mut buffer = Vec::new();
            loop {
                use std::io::Write;
                let mut page = store.list_records_json(&query, b'\n', buffer).await?;
                if page.count > 0 {
                    page.json.push(b'\n');
                    let _ = out.write_all(&page.json);
                }
                page.json.clear();
                buffer = page.json;
                match (all, page.next_cursor) {
                    (true, Some(next)) => query.cursor = Some(next),
                    _ => break,
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Runs {
            connection,
            limit,
            json,
            db,
        } => {
            let store = open_store(&db.db)?;
            let runs = store.list_runs(connection.as_deref(), limit).await?;
            if json {
                for run in &runs {
                    println!("{}", serde_json::to_string(run).unwrap_or_default());
                }
            } else {
                print!("{}", output::runs_table(&runs));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::List => {
            for integration in registry.integrations() {
                for sync in integration.syncs() {
                    let spec = sync.spec();
                    println!(
                        "{}/{}\t{:?}\t{}\t{}",
                        integration.name(),
                        spec.name,
                        spec.kind,
                        spec.frequency,
                        spec.description
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::FakeCrm { addr, records } => {
            let crm = crate::fake_crm::FakeCrm::start_on(addr, records)
                .await
                .map_err(|e| CliError::Failed(format!("cannot listen on {addr}: {e}")))?;
            println!("loopback CRM with {records} contacts at {}", crm.base_url());
            println!(
                "run an example with: CRM_URL={} syncfn run examples/crm-cursor.sync.toml --connection demo",
                crm.base_url()
            );
            let _ = tokio::signal::ctrl_c().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { file } => {
            let sync = crate::declarative::load(&file).map_err(diagnostics_error)?;
            let spec = sync_sdk::ErasedSync::spec(&sync);
            println!(
                "{}: ok (sync {:?}, model {:?}, {:?})",
                file.display(),
                spec.name,
                sync.file().model,
                spec.kind
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema {
            declarative: true, ..
        } => {
            let schema = crate::declarative::schema();
            println!(
                "{}",
                serde_json::to_string_pretty(&schema).unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema { sync, .. } => {
            let sync = sync.unwrap_or_default();
            let sync: Arc<dyn sync_sdk::ErasedSync> = if crate::declarative::is_declarative(&sync) {
                Arc::new(crate::declarative::load(Path::new(&sync)).map_err(diagnostics_error)?)
            } else {
                registry.resolve(&sync).map_err(CliError::Usage)?.1
            };
            let spec = sync.spec();
            let models: serde_json::Map<String, Value> = spec
                .models
                .iter()
                .map(|m| (m.name.clone(), m.schema.clone()))
                .collect();
            let doc = json!({
                "sync": spec.name,
                "models": models,
                "checkpoint": spec.checkpoint_schema,
                "metadata": spec.metadata_schema,
            });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn parse_actions(filter: Option<&str>) -> Result<Vec<LastAction>, CliError> {
    let Some(filter) = filter else {
        return Ok(Vec::new());
    };
    filter
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            LastAction::parse(s).ok_or_else(|| {
                CliError::Usage(format!(
                    "--filter {s:?} is not one of added, updated, deleted"
                ))
            })
        })
        .collect()
}

pub(crate) fn open_store(path: &Path) -> Result<Arc<dyn Store>, CliError> {
    Ok(Arc::new(
        SqliteStore::open(path).map_err(|e| CliError::Failed(e.to_string()))?,
    ))
}

/// Build the run target for `reference` and `connection_id`: the config file when given (and
/// save its non-secret part), else the saved connection, else the integration's defaults.
pub(crate) async fn resolve_target(
    registry: &Registry,
    store: &Arc<dyn Store>,
    reference: &str,
    connection_id: &str,
    config: Option<&Path>,
) -> Result<SyncTarget, CliError> {
    let (integration, sync) = registry.resolve(reference).map_err(CliError::Usage)?;
    let (config, credentials) = match config {
        Some(path) => {
            let config = ConnectionConfig::load(path).map_err(CliError::Usage)?;
            store
                .put_connection(&StoredConnection {
                    connection_id: connection_id.into(),
                    integration: integration.name().into(),
                    config: config.public_json(),
                    metadata: config.metadata.clone(),
                })
                .await?;
            let credentials = config.credentials.clone();
            (config, credentials)
        }
        None => match store.get_connection(connection_id).await? {
            Some(saved) => {
                if saved.integration != integration.name() {
                    return Err(CliError::Usage(format!(
                        "connection {connection_id:?} belongs to integration {:?}, not {:?}",
                        saved.integration,
                        integration.name()
                    )));
                }
                let mut config: ConnectionConfig =
                    serde_json::from_value(saved.config).map_err(|e| {
                        CliError::Failed(format!(
                            "saved config of connection {connection_id:?} is unreadable: {e}"
                        ))
                    })?;
                config.metadata = saved.metadata;
                (config, Credentials::None)
            }
            None => (ConnectionConfig::default(), Credentials::None),
        },
    };
    let base_url = config
        .base_url
        .clone()
        .or_else(|| integration.default_base_url().map(str::to_string))
        .ok_or_else(|| {
            CliError::Usage(format!(
                "integration {:?} has no default base URL: set base_url in the connection config",
                integration.name()
            ))
        })?;
    let mut connection = Connection::new(connection_id, integration.name());
    connection.params = config.params.clone();
    Ok(SyncTarget {
        key: SyncKey::new(connection_id, integration.name(), &sync.spec().name),
        sync,
        connection: Arc::new(connection),
        base_url,
        credentials,
        metadata: config.metadata,
        http: crate::http::HttpOptions {
            rate_limit: config
                .rate_limit
                .map(|r| r.to_rate_limit())
                .or(integration.default_rate_limit()),
            rate_limit_headers: integration.declared_rate_limit_headers().cloned(),
            ..Default::default()
        },
    })
}

/// Every diagnostic on its own line, as a usage error (exit status 2).
fn diagnostics_error(d: crate::declarative::Diagnostics) -> CliError {
    let count = d.0.len();
    CliError::Usage(format!(
        "{count} problem{} in the declarative sync:\n{d}",
        if count == 1 { "" } else { "s" }
    ))
}

/// The run target of a declarative sync file: integration = file stem, base URL and
/// credentials from the file.
fn declarative_target(path: &Path, connection_id: &str) -> Result<SyncTarget, CliError> {
    let sync = crate::declarative::load(path).map_err(diagnostics_error)?;
    let integration = crate::declarative::integration_name(path);
    let credentials = sync
        .credentials()
        .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
    let base_url = sync.base_url().to_string();
    let sync: Arc<dyn sync_sdk::ErasedSync> = Arc::new(sync);
    Ok(SyncTarget {
        key: SyncKey::new(connection_id, &integration, &sync.spec().name),
        sync,
        connection: Arc::new(Connection::new(connection_id, &integration)),
        base_url,
        credentials,
        metadata: Value::Null,
        // The file's [rate_limit] is the sync spec's quota, which applies when no
        // connection-level override is given.
        http: crate::http::HttpOptions::default(),
    })
}
