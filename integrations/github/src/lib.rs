//! GitHub integration for syncfn.
//!
//! One sync, [`Issues`] (`github/issues`): every issue of a repository, incrementally by
//! `updated_at`, pull requests skipped. The connection names the repository:
//!
//! ```json
//! {
//!   "params": { "owner": "rust-lang", "repo": "rust" },
//!   "credentials": { "type": "bearer", "token": "${env:GITHUB_TOKEN}" }
//! }
//! ```
//!
//! Pages are fetched by keyset on `updated_at` (`since=<newest second served>`, skipping ids
//! already served at that second), not by following GitHub's numbered `rel="next"` links: an
//! issue edited or deleted while a pass is in flight shifts numbered pages and would hide
//! another issue from the pass. Only when more than 100 items share one second does the sync
//! page by number, within that second. [`Issues`] gives the details and the page cursor's
//! format, which survives a crash and resume.
//!
//! GitHub's primary rate limit for an authenticated user is 5,000 requests per hour, declared
//! on the integration; GitHub reports it in `x-ratelimit-limit`, `x-ratelimit-remaining`,
//! `x-ratelimit-used` and `x-ratelimit-reset` (epoch seconds), and answers 403 or 429 with
//! `retry-after` for secondary limits. The sync classifies those answers as rate-limit errors
//! rather than auth errors.
//!
//! ```
//! let github = syncfn_github::integration();
//! assert_eq!(github.default_base_url(), Some("https://api.github.com"));
//! assert!(github.find_sync("issues").is_some());
//! ```

mod issues;
mod models;

pub use issues::{ACCEPT, API_VERSION, Issues, PER_PAGE, Since};
pub use models::Issue;

use sync_sdk::{Integration, RateLimit};

/// GitHub's REST API root.
pub const BASE_URL: &str = "https://api.github.com";

/// The `github` integration: base URL `https://api.github.com`, 5,000 requests per hour, and
/// the [`Issues`] sync.
pub fn integration() -> Integration {
    Integration::new("github")
        .base_url(BASE_URL)
        .rate_limit(RateLimit::per_hour(5000))
        .sync(Issues)
}
