//! # syncfn-zendesk: Zendesk Support tickets for syncfn
//!
//! One sync, `tickets` (model [`ZendeskTicket`]), over the cursor-based incremental export
//! `GET /api/v2/incremental/tickets/cursor.json`:
//! - the first page of a pass asks `start_time=<checkpoint>` (0 on a first run: everything);
//!   the following pages pass the previous page's `after_cursor` as `cursor`, until the
//!   provider answers `end_of_stream: true`;
//! - the checkpoint is the newest `generated_timestamp` seen, which is what Zendesk compares
//!   `start_time` with, so the next run asks only for tickets changed since;
//! - tickets with `status = "deleted"` are tombstones.
//!
//! Zendesk allows 10 requests per minute to the incremental exports (the integration declares
//! it; the runtime's client also honours `Retry-After` on a 429). Responses carry the
//! account-wide quota in `X-Rate-Limit` / `X-Rate-Limit-Remaining`.
//!
//! Zendesk has no shared API host: set the connection's `base_url` to
//! `https://<subdomain>.zendesk.com` and authenticate with an API token as basic auth
//! (`{"type": "basic", "username": "agent@example.com/token", "password": "${env:ZENDESK_API_TOKEN}"}`).
//!
//! ```
//! let zendesk = syncfn_zendesk::integration();
//! assert_eq!(zendesk.name(), "zendesk");
//! assert_eq!(zendesk.default_rate_limit().unwrap().requests, 10);
//! ```

mod models;
mod tickets;

use std::time::Duration;

use sync_sdk::{Integration, RateLimit};

pub use models::ZendeskTicket;
pub use tickets::{Tickets, TicketsCheckpoint};

/// Response headers Zendesk reports its quota in: the account's requests per minute, what is
/// left of them, and how many seconds to wait after a 429.
pub const RATE_LIMIT_HEADERS: [&str; 3] = ["x-rate-limit", "x-rate-limit-remaining", "retry-after"];

/// The incremental exports' limit: 10 requests per minute.
///
/// ```
/// let limit = syncfn_zendesk::incremental_export_rate_limit();
/// assert_eq!((limit.requests, limit.per.as_secs()), (10, 60));
/// ```
pub fn incremental_export_rate_limit() -> RateLimit {
    RateLimit::new(10, Duration::from_secs(60))
}

/// The `zendesk` integration: the incremental exports' rate limit and the [`Tickets`] sync.
/// It has no default base URL; each connection sets its own `https://<subdomain>.zendesk.com`.
pub fn integration() -> Integration {
    Integration::new("zendesk")
        .rate_limit(incremental_export_rate_limit())
        .sync(Tickets)
}
