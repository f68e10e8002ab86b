//! The record type and the incremental export's page shape.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sync_sdk::Model;

/// A Zendesk Support ticket as the incremental export returns it.
///
/// ```
/// use sync_sdk::Model;
/// let t: syncfn_zendesk::ZendeskTicket = serde_json::from_value(serde_json::json!({
///     "id": 35436, "subject": "Help, my printer is on fire!", "status": "open",
///     "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:10:00Z",
///     "generated_timestamp": 1767226200
/// })).unwrap();
/// assert_eq!(t.id(), "35436");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ZendeskTicket {
    /// Ticket id, e.g. `35436`.
    pub id: u64,
    /// API URL of the ticket.
    #[serde(default)]
    pub url: Option<String>,
    /// Subject line.
    #[serde(default)]
    pub subject: Option<String>,
    /// The first comment's text.
    #[serde(default)]
    pub description: Option<String>,
    /// `new`, `open`, `pending`, `hold`, `solved`, `closed`, or `deleted` (a tombstone).
    pub status: String,
    /// `urgent`, `high`, `normal` or `low`.
    #[serde(default)]
    pub priority: Option<String>,
    /// `problem`, `incident`, `question` or `task`.
    #[serde(default, rename = "type")]
    pub ticket_type: Option<String>,
    /// The requester's user id.
    #[serde(default)]
    pub requester_id: Option<u64>,
    /// The assigned agent's user id.
    #[serde(default)]
    pub assignee_id: Option<u64>,
    /// The requester's organization id.
    #[serde(default)]
    pub organization_id: Option<u64>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Creation time, RFC 3339, e.g. `"2026-01-01T00:00:00Z"`.
    pub created_at: String,
    /// Last update, RFC 3339.
    pub updated_at: String,
    /// Unix seconds of the ticket's last change as the export sees it; `start_time` is
    /// compared with it.
    pub generated_timestamp: i64,
}

impl Model for ZendeskTicket {
    const NAME: &'static str = "ZendeskTicket";
    fn id(&self) -> String {
        self.id.to_string()
    }
}

/// `{"tickets": [...], "after_cursor": "…", "after_url": "…", "end_of_stream": bool}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ExportPage {
    pub tickets: serde_json::Value,
    #[serde(default)]
    pub after_cursor: Option<String>,
    pub end_of_stream: bool,
}
