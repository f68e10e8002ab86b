//! `syncfn serve`: the API, the scheduler and webhook delivery in one process.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::connection::Credentials;
use crate::crypto::CredentialCipher;
use crate::driver::Driver;
use crate::registry::Registry;
use crate::scheduler::{self, SchedulerHandle};
use crate::server::context::{Service, min_frequency_from_env};
use crate::server::{self, SecretKey};
use crate::webhooks::{self, WebhookConfig, WebhookSecret};

use super::{CliError, open_store};

/// `syncfn serve` options.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// SQLite database file of the records cache.
    #[arg(long, default_value = "syncfn.db", env = "SYNCFN_DB")]
    db: PathBuf,
    /// Address to listen on (port 0 picks a free port; the address is printed on stdout).
    #[arg(long, default_value = "127.0.0.1:3003")]
    listen: SocketAddr,
    /// Load every `*.sync.toml` in this directory as an integration named after the file stem.
    #[arg(long)]
    syncs: Option<PathBuf>,
    /// Where run webhooks are POSTed (signed with SYNCFN_WEBHOOK_SECRET).
    #[arg(long, env = "SYNCFN_WEBHOOK_URL")]
    webhook_url: Option<String>,
    /// A run longer than this stops after a committed page and continues at once.
    #[arg(long, default_value_t = 3600)]
    max_run_duration_secs: u64,
    /// Most runs going at once; more due schedules wait for a free slot.
    #[arg(long, default_value_t = 8)]
    max_concurrent_runs: usize,
}

/// The hook that loads declarative syncs from `--syncs DIR` into the registry.
///
/// Declarative syncs land in their own module; until it is wired here, `--syncs` is refused
/// rather than ignored.
fn load_declarative_syncs(
    dir: &Path,
    mut registry: Registry,
) -> Result<(Registry, HashMap<String, Credentials>), CliError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| CliError::Usage(format!("--syncs {}: {e}", dir.display())))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| crate::declarative::is_declarative(&p.to_string_lossy()))
        .collect();
    files.sort();
    let mut credentials = HashMap::new();
    for path in files {
        let sync = crate::declarative::load(&path).map_err(|d| CliError::Usage(d.to_string()))?;
        let name = crate::declarative::integration_name(&path);
        if registry.integration(&name).is_ok() {
            return Err(CliError::Usage(format!(
                "{}: integration {name:?} is already built into this binary; rename the file",
                path.display()
            )));
        }
        let auth = sync
            .credentials()
            .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
        credentials.insert(name.clone(), auth);
        let integration = sync_sdk::Integration::new(&name)
            .base_url(sync.base_url())
            .erased_sync(Arc::new(sync));
        tracing::info!(integration = %name, file = %path.display(), "loaded declarative sync");
        registry = registry.register(integration);
    }
    Ok((registry, credentials))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

pub(crate) async fn run(args: ServeArgs, registry: Registry) -> Result<ExitCode, CliError> {
    let key = SecretKey::from_env().map_err(CliError::Usage)?;
    let cipher = CredentialCipher::from_env().map_err(|e| CliError::Usage(e.to_string()))?;
    let min_frequency = min_frequency_from_env().map_err(CliError::Usage)?;
    let webhook = match &args.webhook_url {
        None => None,
        Some(url) => {
            reqwest::Url::parse(url)
                .map_err(|e| CliError::Usage(format!("--webhook-url {url:?}: {e}")))?;
            let secret = WebhookSecret::from_env().map_err(CliError::Usage)?;
            Some(WebhookConfig::new(url.clone(), secret))
        }
    };
    // Declarative files bring their own [auth]: a connection without stored credentials uses it.
    let (registry, file_credentials) = match &args.syncs {
        Some(dir) => load_declarative_syncs(dir, registry)?,
        None => (registry, HashMap::new()),
    };
    let store = open_store(&args.db)?;
    store.set_webhooks_enabled(webhook.is_some());
    let client = crate::http::build_client().map_err(|e| CliError::Failed(e.to_string()))?;
    let limits = Arc::new(crate::http::ProviderLimits::new());
    let sink: Arc<dyn crate::http::CredentialSink> = Arc::new(
        crate::server::credential_sink::StoreCredentialSink::new(store.clone(), cipher.clone()),
    );
    let service = Arc::new(Service {
        store: store.clone(),
        registry,
        cipher,
        limits: limits.clone(),
        file_credentials,
        sink: sink.clone(),
        client: client.clone(),
        min_frequency,
        max_run_duration: Some(Duration::from_secs(args.max_run_duration_secs.max(1))),
        scheduler: SchedulerHandle::new(),
        webhooks_wake: Arc::new(tokio::sync::Notify::new()),
    });
    let resumed = scheduler::resume_unfinished(&service).await?;
    if resumed > 0 {
        tracing::info!(resumed, "resuming syncs whose last run did not finish");
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| CliError::Failed(format!("cannot listen on {}: {e}", args.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::Failed(format!("cannot read the listening address: {e}")))?;

    let driver = Driver::new(store.clone(), client.clone())
        .with_limits(limits)
        .with_credential_sink(sink);
    let scheduler_task = tokio::spawn(scheduler::run(
        service.clone(),
        driver,
        args.max_concurrent_runs,
    ));
    let (stop_webhooks, webhooks_stopped) = tokio::sync::oneshot::channel::<()>();
    let webhook_task = webhook.map(|config| {
        tokio::spawn(webhooks::run_delivery(
            store.clone(),
            config,
            client.clone(),
            service.webhooks_wake.clone(),
            async move {
                let _ = webhooks_stopped.await;
            },
        ))
    });

    println!("listening on http://{addr}");
    tracing::info!(%addr, "syncfn serve listening");
    let app = server::router(service.clone(), key);
    let handle = service.scheduler.clone();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutting down: runs stop after their page in flight commits");
            handle.stop();
        })
        .await;
    service.scheduler.stop();
    let _ = scheduler_task.await;
    let _ = stop_webhooks.send(());
    if let Some(task) = webhook_task {
        let _ = task.await;
    }
    served.map_err(|e| CliError::Failed(format!("the server failed: {e}")))?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}
