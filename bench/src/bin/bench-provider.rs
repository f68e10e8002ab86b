//! `bench-provider`: serve the benchmark workload on loopback until killed.
//!
//! ```text
//! bench-provider --records 100000 --page-sizes 100,1000 --ready-file /tmp/provider.json
//! bench-provider --records 100000 --page-sizes 100 --revision 2 --changed-pct 1
//! ```
//! Once every page is rendered it writes one JSON line (url, pages, changed…) to stdout and,
//! atomically, to `--ready-file`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use syncfn_bench::provider::{self, ProviderConfig};
use syncfn_bench::workload::Workload;

#[derive(Debug, Parser)]
#[command(
    name = "bench-provider",
    about = "Serve synthetic contacts from pre-rendered pages"
)]
struct Args {
    /// Number of contacts (ids "1".."N").
    #[arg(long, short = 'n')]
    records: u64,
    /// Page sizes to pre-render, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "100")]
    page_sizes: Vec<usize>,
    /// Seed of the generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Revision of the data: 1 is the initial data, each later one changes --changed-pct %.
    #[arg(long, default_value_t = 1)]
    revision: u32,
    /// Percentage of contacts changed at each revision after the first.
    #[arg(long, default_value_t = 1.0)]
    changed_pct: f64,
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Write the ready line to this file once serving.
    #[arg(long)]
    ready_file: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> Result<(), String> {
    let workload =
        Workload::new(args.records, args.seed).at_revision(args.revision, args.changed_pct);
    let running = provider::start(ProviderConfig {
        workload,
        page_sizes: args.page_sizes,
        addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), args.port),
    })
    .await?;
    let line = serde_json::to_string(running.info())
        .map_err(|e| format!("cannot serialize the ready line: {e}"))?;
    if let Some(path) = &args.ready_file {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, format!("{line}\n"))
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| format!("cannot write ready file {}: {e}", path.display()))?;
    }
    println!("{line}");
    running
        .wait()
        .await
        .map_err(|e| format!("server stopped: {e}"))
}
