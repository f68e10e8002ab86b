//! The runtime's provider transport behind the SDK's `HttpClient`: one job per module.
//!
//! - [`transport`]: sends a request, retrying and honouring rate-limit hints.
//! - [`rate_limit`]: per-connection GCRA quota and provider-imposed pauses.
//! - [`retry`]: what is retried and the backoff (backon; `backoff` is unmaintained).
//! - [`headers`]: `Retry-After`, `X-RateLimit-*`, `RateLimit-*` and declared headers.
//! - [`auth`]: credentials injection and OAuth2 refresh.
//! - [`counters`]: per-run request statistics.

pub mod auth;
pub mod counters;
pub mod headers;
pub mod rate_limit;
pub mod retry;
pub mod transport;

pub use auth::{Authenticator, CredentialSink, MemoryCredentialSink, OAuthTokens};
pub use counters::RunCounters;
pub use rate_limit::{ProviderLimiter, ProviderLimits};
pub use retry::RetryPolicy;
pub use transport::{ReqwestTransport, build_client};

/// How a target's requests are limited and retried, resolved from the integration, the sync
/// spec and the connection config.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// The connection's quota: the connection config's override, else the integration's
    /// declared quota. When `None` the sync spec's quota applies, else no proactive limit.
    pub rate_limit: Option<sync_sdk::RateLimit>,
    /// Provider-specific rate-limit headers the integration declares.
    pub rate_limit_headers: Option<sync_sdk::RateLimitHeaders>,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Ignore every declared quota: for tests against loopback fakes and replayed fixtures,
    /// where a provider's real quota (Zendesk's 10 requests a minute) would only slow them.
    pub unlimited: bool,
}
