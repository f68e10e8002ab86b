//! # sync-runtime: the syncfn engine
//!
//! - [`driver`]: the page loop (fetch → validate → hash → commit in one transaction).
//! - [`store`]: the records cache and run state behind the [`store::Store`] trait.
//! - [`http`]: the provider transport behind the SDK's `HttpClient`.
//! - [`registry`]: the integrations a binary knows.
//! - [`declarative`]: `*.sync.toml` syncs that run with no Rust code.
//! - [`cli`]: the `syncfn` command line.
//! - [`server`], [`scheduler`], [`webhooks`], [`crypto`]: service mode (`syncfn serve`).
//! - [`fake_crm`]: a loopback CRM provider for the demo, tests and benchmarks.
//! - [`testing`]: fixtures, record/replay, the test harness and the conformance suite
//!   (most of it behind the `testing` feature).

pub mod canonical;
pub mod cli;
pub mod connection;
pub mod crypto;
pub mod declarative;
pub mod driver;
pub mod fake_crm;
mod fake_dataset;
pub mod http;
pub mod registry;
pub mod scheduler;
pub mod server;
pub mod store;
pub mod testing;
pub mod validate;
pub mod webhooks;

pub use driver::{Driver, RunOptions, RunReport, SyncTarget};
pub use registry::Registry;
pub use store::{SqliteStore, Store};
