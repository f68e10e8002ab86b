//! Tutorial integration: contacts of the bundled loopback CRM (`syncfn demo` runs it).
//!
//! Two syncs over `GET /contacts`:
//! - `contacts`: incremental on `updated_at` (the `updated_after` parameter), archived contacts
//!   as tombstones;
//! - `contacts-full`: a full pass every run with the runtime's full-refresh diff, so contacts
//!   removed at the provider are marked deleted once a pass completes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sync_sdk::{
    Action, ActionSpec, DeletionStrategy, Integration, Model, Page, PageRequest, RateLimit,
    SyncContext, SyncError, SyncFunction, SyncSpec,
};

/// A CRM contact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Contact {
    /// Contact id.
    pub id: String,
    /// Email address.
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Employer.
    pub company: String,
    /// Role.
    pub job_title: String,
    /// Phone number.
    pub phone: String,
    /// City.
    pub city: String,
    /// State or region code.
    pub state: String,
    /// ISO country code.
    pub country: String,
    /// Company website.
    pub website: String,
    /// Funnel stage.
    pub lifecycle_stage: String,
    /// Owning user.
    pub owner_id: i64,
    /// Lead score.
    pub score: i64,
    /// Company revenue.
    pub annual_revenue: f64,
    /// Newsletter opt-in.
    pub subscribed: bool,
    /// Free text.
    pub notes: String,
    /// Provider-side revision counter.
    pub revision: u64,
    /// Archived contacts are deleted for the application.
    #[serde(default)]
    pub archived: bool,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

impl Model for Contact {
    const NAME: &'static str = "Contact";
    fn id(&self) -> String {
        self.id.clone()
    }
}

/// The incremental checkpoint: the newest `updated_at` seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Since {
    /// RFC 3339 timestamp; the next run asks for contacts updated at or after it.
    pub updated_at: String,
}

#[derive(Deserialize)]
struct ContactsPage {
    results: serde_json::Value,
    next_cursor: Option<String>,
}

/// The filter of a first incremental pass: every contact, oldest change first.
const BEGINNING: &str = "1970-01-01T00:00:00Z";

async fn fetch(
    cx: &SyncContext,
    cursor: Option<&str>,
    updated_after: Option<&str>,
) -> Result<Page<Contact>, SyncError> {
    let response = cx
        .http()
        .get("/contacts")
        .query("limit", 100)
        .query_opt("cursor", cursor)
        .query_opt("updated_after", updated_after)
        .send()
        .await?;
    // Parse the envelope loosely, then each record on its own, so a bad record is named by
    // its index, id and field.
    let page: ContactsPage = response.json()?;
    let body = serde_json::json!({ "results": page.results });
    let records =
        sync_sdk::json::records_at(&body, "results").map_err(|e| e.context(&response.request))?;
    Ok(Page::new(records).next_opt(page.next_cursor))
}

/// Contacts, incrementally by `updated_at`; archived contacts are tombstones.
#[derive(Debug, Clone, Copy, Default)]
pub struct Contacts;

impl SyncFunction for Contacts {
    type Record = Contact;
    type Checkpoint = Since;
    type Metadata = ();

    fn spec(&self) -> SyncSpec {
        SyncSpec::builder("contacts")
            .description("CRM contacts, incrementally by updated_at; archived contacts are deleted")
            .frequency("every 30 minutes")
            .incremental()
            .build()
            .expect("static spec is valid")
    }

    async fn fetch_page(
        &self,
        cx: &SyncContext,
        request: PageRequest<'_, Since>,
    ) -> Result<Page<Contact>, SyncError> {
        // Even the first pass asks in change order: "newest updated_at seen" is a safe
        // checkpoint only if pages come oldest change first. In id order, a contact updated
        // mid-pass after its page was read would be older than the checkpoint and never synced.
        let since = request
            .checkpoint
            .map_or(BEGINNING, |s| s.updated_at.as_str());
        fetch(cx, request.cursor, Some(since)).await
    }

    fn advance_checkpoint(&self, since: Option<Since>, records: &[Contact]) -> Option<Since> {
        let newest = records.iter().map(|c| c.updated_at.as_str()).max();
        match (since, newest) {
            (Some(s), Some(n)) if s.updated_at.as_str() >= n => Some(s),
            (_, Some(n)) => Some(Since {
                updated_at: n.to_string(),
            }),
            (s, None) => s,
        }
    }

    fn is_deleted(&self, contact: &Contact) -> bool {
        contact.archived
    }
}

/// Contacts, a full pass every run; contacts missing from a completed pass are deleted.
#[derive(Debug, Clone, Copy, Default)]
pub struct ContactsFull;

impl SyncFunction for ContactsFull {
    type Record = Contact;
    type Checkpoint = ();
    type Metadata = ();

    fn spec(&self) -> SyncSpec {
        SyncSpec::builder("contacts-full")
            .description("CRM contacts, full pass every run with the full-refresh delete diff")
            .frequency("every 1 hour")
            .deletion(DeletionStrategy::FullRefresh)
            .build()
            .expect("static spec is valid")
    }

    async fn fetch_page(
        &self,
        cx: &SyncContext,
        request: PageRequest<'_, ()>,
    ) -> Result<Page<Contact>, SyncError> {
        fetch(cx, request.cursor, None).await
    }

    fn is_deleted(&self, contact: &Contact) -> bool {
        contact.archived
    }
}

/// Input of `create-contact`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContact {
    /// Email address.
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Employer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
}

/// Output of `create-contact`: the id the CRM assigned and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CreatedContact {
    /// The new contact's id.
    pub id: String,
    /// Its creation time at the CRM (RFC 3339).
    pub updated_at: String,
}

/// Create a contact with `POST /contacts`, then trigger the `contacts` sync so the cache has it.
#[derive(Debug, Clone, Copy, Default)]
pub struct CreateContact;

impl Action for CreateContact {
    type Input = NewContact;
    type Output = CreatedContact;
    type Metadata = ();

    fn spec(&self) -> ActionSpec {
        ActionSpec::new("create-contact")
            .description("Create a CRM contact; the contacts sync runs afterwards")
            .triggers_sync("contacts")
    }

    async fn run(&self, cx: &SyncContext, input: NewContact) -> Result<CreatedContact, SyncError> {
        let created: Contact = cx
            .http()
            .post("/contacts")
            .json(&input)
            .send()
            .await?
            .json()?;
        Ok(CreatedContact {
            id: created.id,
            updated_at: created.updated_at,
        })
    }
}

/// The `crm` integration (point a connection's `base_url` at the loopback CRM).
pub fn integration() -> Integration {
    Integration::new("crm")
        .base_url("http://127.0.0.1:8080")
        .rate_limit(RateLimit::per_second(1000))
        .sync(Contacts)
        .sync(ContactsFull)
        .action(CreateContact)
}
