//! # syncfn-stripe: Stripe customers for syncfn
//!
//! One sync, `customers` (model [`StripeCustomer`]):
//! - **first run** (or full resync): every customer through `GET /v1/customers?limit=100`,
//!   paged with `starting_after` (the last id of a page) while `has_more` is true;
//! - **later runs**: customers created since the checkpoint (`created[gte]`), then the events
//!   API (`GET /v1/events?type=customer.*&created[gte]=…`): each `customer.updated` event's
//!   customer is fetched again (`GET /v1/customers/{id}`, so the cache holds its current state
//!   whatever order events arrive in), and each `customer.deleted` event's customer is a
//!   tombstone. Stripe keeps events for 30 days: a connection idle for longer needs a full
//!   resync.
//!
//! Authenticate with a secret or restricted key as a bearer token
//! (`{"type": "bearer", "token": "${env:STRIPE_SECRET_KEY}"}`).
//!
//! ```
//! let stripe = syncfn_stripe::integration();
//! assert_eq!(stripe.name(), "stripe");
//! // Live-mode keys may use the higher live limit:
//! let live = syncfn_stripe::live_mode_integration();
//! assert_eq!(live.default_rate_limit().unwrap().requests, 100);
//! ```

mod customers;
mod models;

use sync_sdk::{Integration, RateLimit};

pub use customers::{Customers, CustomersCheckpoint, PAGE_SIZE};
pub use models::StripeCustomer;

/// Stripe's read limit in live mode: 100 requests per second.
///
/// ```
/// assert_eq!(syncfn_stripe::live_mode_rate_limit().requests, 100);
/// ```
pub fn live_mode_rate_limit() -> RateLimit {
    RateLimit::per_second(100).with_burst(20)
}

/// Stripe's read limit in test mode: 25 requests per second. [`integration`] declares it,
/// since it is safe for both modes; [`live_mode_integration`] declares the live one.
///
/// ```
/// assert_eq!(syncfn_stripe::test_mode_rate_limit().requests, 25);
/// ```
pub fn test_mode_rate_limit() -> RateLimit {
    RateLimit::per_second(25).with_burst(5)
}

/// The `stripe` integration: base URL `https://api.stripe.com`, the test-mode rate limit
/// (safe for any key) and the [`Customers`] sync.
pub fn integration() -> Integration {
    Integration::new("stripe")
        .base_url("https://api.stripe.com")
        .rate_limit(test_mode_rate_limit())
        .sync(Customers::default())
}

/// The `stripe` integration for live-mode keys: the same sync, declaring the live read limit.
pub fn live_mode_integration() -> Integration {
    Integration::new("stripe")
        .base_url("https://api.stripe.com")
        .rate_limit(live_mode_rate_limit())
        .sync(Customers::live_mode())
}
