//! # syncfn-hubspot: HubSpot CRM contacts for syncfn
//!
//! One sync, `contacts` (model [`HubspotContact`]):
//! - **first run** (or full resync): every contact through
//!   `GET /crm/v3/objects/contacts?limit=100&properties=…`, paged with `paging.next.after`;
//! - **later runs**: only contacts changed since the checkpoint, through
//!   `POST /crm/v3/objects/contacts/search` filtering `lastmodifieddate GTE <checkpoint>`, sorted
//!   ascending. The search API returns at most 10,000 results per query: when the next page
//!   would pass that cap, the sync starts a new search from the last `lastmodifieddate` it saw
//!   instead of paging further;
//! - **deletes**: archived contacts (`GET /crm/v3/objects/contacts?archived=true`) are reported
//!   deleted; on incremental runs only those archived at or after the checkpoint.
//!
//! Authenticate with a private app's access token (`{"type": "bearer", "token": "${env:HUBSPOT_TOKEN}"}`
//! in the connection config).
//!
//! ```
//! let hubspot = syncfn_hubspot::integration();
//! assert_eq!(hubspot.name(), "hubspot");
//! assert!(hubspot.find_sync("contacts").is_some());
//! ```

mod contacts;
mod models;

use std::time::Duration;

use sync_sdk::{Integration, RateLimit};

pub use contacts::{
    CONTACT_PROPERTIES, Contacts, ContactsCheckpoint, PAGE_SIZE, SEARCH_RESULT_CAP,
};
pub use models::HubspotContact;

/// HubSpot's burst limit for private apps on Free and Starter accounts: 100 requests per
/// 10 seconds (Professional and Enterprise accounts get 190). Shared by every sync of a
/// connection.
///
/// ```
/// assert_eq!(syncfn_hubspot::rate_limit().requests, 100);
/// ```
pub fn rate_limit() -> RateLimit {
    RateLimit::new(100, Duration::from_secs(10)).with_burst(10)
}

/// The CRM search endpoints' own, lower limit: 4 requests per second per token.
/// The [`Contacts`] sync declares it, since its incremental runs go through search.
///
/// ```
/// assert_eq!(syncfn_hubspot::search_rate_limit().requests, 4);
/// ```
pub fn search_rate_limit() -> RateLimit {
    RateLimit::per_second(4)
}

/// The `hubspot` integration: base URL `https://api.hubapi.com`, HubSpot's rate limit, and
/// the [`Contacts`] sync.
pub fn integration() -> Integration {
    Integration::new("hubspot")
        .base_url("https://api.hubapi.com")
        .rate_limit(rate_limit())
        .sync(Contacts)
}
