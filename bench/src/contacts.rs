//! The `bench/contacts` sync: cursor pagination on the body's `next_cursor`, incremental on
//! `updated_at` through the `updated_after` query parameter.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sync_sdk::{Page, PageRequest, SyncContext, SyncError, SyncFunction, SyncSpec};

use crate::model::BenchContact;

/// Page size when the connection sets no `page_size` param.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// The incremental checkpoint: the newest `updated_at` seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Since {
    /// RFC 3339 timestamp; the next run asks for contacts updated at or after it.
    pub updated_at: String,
}

/// One page of `GET /contacts`.
#[derive(Debug, Deserialize)]
struct ContactsPage {
    results: Vec<BenchContact>,
    next_cursor: Option<String>,
}

/// Contacts of the benchmark provider, incrementally by `updated_at`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Contacts;

/// The `page_size` connection param (a string or a number), 1 to 10,000.
fn page_size(cx: &SyncContext) -> Result<u32, SyncError> {
    let Some(value) = cx.connection().params.get("page_size") else {
        return Ok(DEFAULT_PAGE_SIZE);
    };
    let parsed = match value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    parsed
        .filter(|n| (1..=10_000).contains(n))
        .map(|n| n as u32)
        .ok_or_else(|| {
            SyncError::config(format!(
                "connection param page_size {value} is not a whole number from 1 to 10000"
            ))
        })
}

impl SyncFunction for Contacts {
    type Record = BenchContact;
    type Checkpoint = Since;
    type Metadata = ();

    fn spec(&self) -> SyncSpec {
        SyncSpec::builder("contacts")
            .description("benchmark contacts, cursor-paginated, incrementally by updated_at")
            .frequency("every 30 minutes")
            .incremental()
            .build()
            .expect("static spec is valid")
    }

    async fn fetch_page(
        &self,
        cx: &SyncContext,
        request: PageRequest<'_, Since>,
    ) -> Result<Page<BenchContact>, SyncError> {
        let response = cx
            .http()
            .get("/contacts")
            .query("limit", page_size(cx)?)
            .query_opt("cursor", request.cursor)
            .query_opt(
                "updated_after",
                request.checkpoint.map(|s| s.updated_at.as_str()),
            )
            .send()
            .await?;
        let page: ContactsPage = response.json()?;
        Ok(Page::new(page.results).next_opt(page.next_cursor))
    }

    fn advance_checkpoint(&self, since: Option<Since>, records: &[BenchContact]) -> Option<Since> {
        // Same-format UTC timestamps order as strings.
        let newest = records.iter().map(|c| c.updated_at.as_str()).max();
        match (since, newest) {
            (Some(s), Some(n)) if s.updated_at.as_str() >= n => Some(s),
            (_, Some(n)) => Some(Since {
                updated_at: n.to_string(),
            }),
            (s, None) => s,
        }
    }
}
