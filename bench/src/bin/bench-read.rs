//! `bench-read`: page through `GET /records` of a running `syncfn serve` and count the records.
//!
//! ```text
//! SYNCFN_SECRET_KEY=sk-bench bench-read --url http://127.0.0.1:3003 \
//!     --connection bench --model BenchContact --limit 1000
//! ```
//! One keep-alive connection, one request at a time, following `next_cursor` until it is `null`.
//! Prints `records=<n> pages=<k> wall_s=<s> records_per_s=<r>` on stdout. The records are not
//! parsed into values (serde's `IgnoredAny` only checks the JSON), so the client stays cheap
//! next to the server it measures.

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use serde::Deserialize;
use serde::de::IgnoredAny;

#[derive(Debug, Parser)]
#[command(
    name = "bench-read",
    about = "Read every record back through the records API"
)]
struct Args {
    /// Base URL of `syncfn serve`.
    #[arg(long)]
    url: String,
    /// Connection id.
    #[arg(long, default_value = "bench")]
    connection: String,
    /// Model name.
    #[arg(long, default_value = "BenchContact")]
    model: String,
    /// Records per request (1 to 10,000).
    #[arg(long, default_value_t = 1000)]
    limit: usize,
}

#[derive(Deserialize)]
struct Page {
    records: Vec<IgnoredAny>,
    next_cursor: Option<String>,
}

#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("SYNCFN_SECRET_KEY is not set: it is the bearer key of the server")]
    NoKey,
    #[error("cannot build the HTTP client: {0}")]
    Client(reqwest::Error),
    #[error("GET {url} failed: {error}")]
    Request { url: String, error: reqwest::Error },
    #[error("GET {url} answered {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("GET {url}: the body is not a records page: {error}")]
    Body {
        url: String,
        error: serde_json::Error,
    },
}

async fn read_all(args: &Args, key: &str) -> Result<(u64, u64), ReadError> {
    let client = reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(1)
        .build()
        .map_err(ReadError::Client)?;
    let base = format!(
        "{}/records?connection_id={}&model={}&limit={}",
        args.url.trim_end_matches('/'),
        args.connection,
        args.model,
        args.limit
    );
    let (mut records, mut pages) = (0u64, 0u64);
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{base}&cursor={c}"),
            None => base.clone(),
        };
        let response = client
            .get(&url)
            .bearer_auth(key)
            .send()
            .await
            .map_err(|error| ReadError::Request {
                url: url.clone(),
                error,
            })?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|error| ReadError::Request {
            url: url.clone(),
            error,
        })?;
        if status != 200 {
            return Err(ReadError::Status {
                url,
                status,
                body: String::from_utf8_lossy(&body).chars().take(300).collect(),
            });
        }
        let page: Page =
            serde_json::from_slice(&body).map_err(|error| ReadError::Body { url, error })?;
        records += page.records.len() as u64;
        pages += 1;
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok((records, pages)),
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let Ok(key) = std::env::var("SYNCFN_SECRET_KEY") else {
        eprintln!("error: {}", ReadError::NoKey);
        return ExitCode::FAILURE;
    };
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
    let started = Instant::now();
    match runtime.block_on(read_all(&args, &key)) {
        Ok((records, pages)) => {
            let wall = started.elapsed().as_secs_f64();
            println!(
                "records={records} pages={pages} wall_s={wall:.3} records_per_s={:.0}",
                records as f64 / wall.max(1e-9)
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
