//! # sync-sdk: write a sync function
//!
//! A *sync function* keeps a copy of a provider's data (contacts, issues, tickets…) fresh in
//! your application. You write how to fetch **one page**; the syncfn runtime drives the loop,
//! validates every record against its JSON Schema, stores it in the records cache, commits the
//! page, its cursor and the checkpoint in one transaction, respects the provider's rate limit,
//! and tells your application what changed.
//!
//! ## A complete sync
//!
//! A CRM exposes `GET /contacts?cursor=…&updated_after=…` answering
//! `{"results": [...], "next_cursor": "…" | null}`. The sync below fetches one page, passes the
//! cursor along, remembers the newest `updated_at` it has seen so the next run only asks for
//! what changed, and treats archived contacts as deleted:
//!
//! ```
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//! use sync_sdk::{
//!     Integration, Model, Page, PageRequest, SyncContext, SyncError, SyncFunction, SyncSpec,
//! };
//!
//! // 1. The record type: serde + JSON Schema, a model name and a string id.
//! #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
//! pub struct Contact {
//!     pub id: String,
//!     pub email: String,
//!     pub updated_at: String,
//!     #[serde(default)]
//!     pub archived: bool,
//! }
//!
//! impl Model for Contact {
//!     const NAME: &'static str = "Contact";
//!     fn id(&self) -> String { self.id.clone() }
//! }
//!
//! // 2. The checkpoint carried from one run to the next.
//! #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
//! pub struct Since { pub updated_at: String }
//!
//! #[derive(Deserialize)]
//! struct ContactsPage { results: Vec<Contact>, next_cursor: Option<String> }
//!
//! // 3. The sync: a spec and three hooks.
//! pub struct Contacts;
//!
//! impl SyncFunction for Contacts {
//!     type Record = Contact;
//!     type Checkpoint = Since;
//!     type Metadata = ();
//!
//!     fn spec(&self) -> SyncSpec {
//!         SyncSpec::builder("contacts")
//!             .description("CRM contacts, incrementally by updated_at")
//!             .frequency("every 30 minutes")
//!             .incremental()
//!             .build()
//!             .expect("valid spec")
//!     }
//!
//!     // paginate: ONE page per call; the runtime owns the loop and the resume point.
//!     async fn fetch_page(
//!         &self,
//!         cx: &SyncContext,
//!         request: PageRequest<'_, Since>,
//!     ) -> Result<Page<Contact>, SyncError> {
//!         let body: ContactsPage = cx
//!             .http()
//!             .get("/contacts")
//!             .query("limit", 100)
//!             .query_opt("cursor", request.cursor)
//!             .query_opt("updated_after", request.checkpoint.map(|c| &c.updated_at))
//!             .send()
//!             .await?
//!             .json()?;
//!         Ok(Page::new(body.results).next_opt(body.next_cursor))
//!     }
//!
//!     // incremental filter: the newest updated_at seen so far (RFC 3339 sorts as text).
//!     fn advance_checkpoint(&self, since: Option<Since>, records: &[Contact]) -> Option<Since> {
//!         let newest = records.iter().map(|c| c.updated_at.as_str()).max();
//!         match (since, newest) {
//!             (Some(s), Some(n)) if s.updated_at.as_str() >= n => Some(s),
//!             (_, Some(n)) => Some(Since { updated_at: n.to_string() }),
//!             (s, None) => s,
//!         }
//!     }
//!
//!     // deletion: archived contacts are tombstones.
//!     fn is_deleted(&self, contact: &Contact) -> bool { contact.archived }
//! }
//!
//! // 4. Export the integration; the `syncfn` binary registers it in one line.
//! pub fn integration() -> Integration {
//!     Integration::new("crm").base_url("https://crm.example.com/api").sync(Contacts)
//! }
//! # assert_eq!(integration().syncs().len(), 1);
//! ```
//!
//! Run it with `syncfn run crm/contacts --connection acme --config acme.json`; list what
//! changed with `syncfn records --connection acme --model Contact --cursor <last cursor>`.
//!
//! ## What the runtime guarantees
//! - Records, page cursor and checkpoint commit in one transaction: a crash loses only pages
//!   fetched but not yet committed, and the next run resumes there, reporting no change twice.
//! - An unchanged record (same canonical JSON) is neither written nor reported.
//! - With [`DeletionStrategy::FullRefresh`] only a *completed* full pass deletes records.
//! - Memory is bounded by a few pages, whatever the dataset size.

#![warn(missing_docs)]

mod action;
mod context;
mod erased;
mod error;
mod frequency;
mod http;
mod integration;
pub mod json;
mod model;
mod pagination;
mod spec;
mod sync;

pub use action::{Action, ActionSpec, ErasedAction};
pub use context::{Connection, Logger, SyncContext};
pub use erased::{
    ContextParts, ErasedPage, ErasedRecord, ErasedRequest, ErasedSync, FetchedPage, RecordJson,
    SyncRunner,
};
pub use error::{ErrorKind, SyncError, SyncResult};
pub use frequency::{Frequency, MIN_FREQUENCY, parse_duration_text};
pub use http::{
    HttpClient, HttpRequest, HttpResponse, Method, RequestBuilder, Transport, parse_link_header,
    provider_message, status_error,
};
pub use integration::Integration;
pub use model::{Model, schema};
pub use pagination::{OffsetCalculation, Pagination, PaginationType, RawPage};
pub use spec::{
    DeletionStrategy, ModelSpec, RateLimit, RateLimitHeaders, ResetFormat, SyncKind, SyncSpec,
    SyncSpecBuilder,
};
pub use sync::{Page, PageRequest, SyncFunction};

/// Re-exports authors need in derives, so an integration pins the same versions.
pub use schemars;
pub use serde_json;
