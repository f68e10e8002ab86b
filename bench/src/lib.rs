//! The syncfn benchmark: a synthetic contacts workload, a loopback provider that serves it from
//! pre-rendered pages, and the `bench` integration that syncs it.
//!
//! - [`workload`]: N deterministic ~750-byte contacts (25 fields), and which of them change at
//!   a later revision;
//! - [`provider`]: an axum server over pre-rendered page bodies (`GET /contacts`), counting
//!   requests so a run can be checked against `ceil(N / P)`;
//! - [`contacts`]: the `bench/contacts` sync (cursor pagination, incremental on `updated_at`).
//!
//! `bench/run.sh` drives the `syncfn` binary and dlt against the provider; see `bench/README.md`.

pub mod contacts;
pub mod model;
pub mod provider;
pub mod timestamp;
pub mod workload;

pub use contacts::{Contacts, Since};
pub use model::BenchContact;

use sync_sdk::Integration;

/// The `bench` integration: point a connection's `base_url` at `bench-provider` and set the
/// `page_size` param to one of the page sizes it serves.
pub fn integration() -> Integration {
    Integration::new("bench")
        .base_url("http://127.0.0.1:8089")
        .sync(Contacts)
}
