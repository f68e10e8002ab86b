//! Local test tooling for integration authors.
//!
//! Always available (the CLI's `dryrun` uses them):
//! - [`fixture`]: the fixture format (one `NNNN.json` per recorded exchange);
//! - [`recorder`]: a recording transport writing fixtures, credentials scrubbed;
//! - [`pages`]: walk a sync page by page without a store, checking every record.
//!
//! Behind the `testing` feature (`sync-runtime = { features = ["testing"] }` as a
//! dev-dependency):
//! - [`replay`]: a provider on 127.0.0.1 serving fixtures, loud on unrecorded requests;
//! - [`harness`]: run a sync to the end into a temporary SQLite store;
//! - [`fake_provider`]: a loopback provider with mutable data for incremental and delete tests;
//! - [`conformance`]: the checks every integration's tests run with one call;
//! - [`recording`]: keep a checked-in fixture set regenerable from the integration's fake.

pub mod fixture;
pub mod pages;
pub mod recorder;

#[cfg(feature = "testing")]
pub mod conformance;
#[cfg(feature = "testing")]
pub mod fake_provider;
#[cfg(feature = "testing")]
pub mod harness;
#[cfg(feature = "testing")]
mod logs;
#[cfg(feature = "testing")]
pub mod recording;
#[cfg(feature = "testing")]
pub mod replay;

#[cfg(feature = "testing")]
pub use conformance::{Conformance, ConformanceFailure, ConformanceReport, Fixtures, Source};
#[cfg(feature = "testing")]
pub use fake_provider::{FakeProvider, FakeProviderBuilder, serve_router};
#[cfg(feature = "testing")]
pub use harness::{Harness, HarnessRun};
#[cfg(feature = "testing")]
pub use replay::ReplayProvider;

/// Failures setting up a test: fixtures, servers, stores.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestingError {
    /// Reading or writing fixtures failed.
    #[error(transparent)]
    Fixture(#[from] fixture::FixtureError),
    /// The records store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Something the test set up is wrong (unknown sync, unbindable port…).
    #[error("{0}")]
    Setup(String),
}
