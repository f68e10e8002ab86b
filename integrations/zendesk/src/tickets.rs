//! The `tickets` sync: the cursor-based incremental ticket export.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sync_sdk::{HttpResponse, Page, PageRequest, SyncContext, SyncError, SyncFunction, SyncSpec};

use crate::models::{ExportPage, ZendeskTicket};

const EXPORT_PATH: &str = "/api/v2/incremental/tickets/cursor.json";

/// What the next run starts from.
///
/// ```
/// let cp = syncfn_zendesk::TicketsCheckpoint { start_time: 1767226200 };
/// assert_eq!(serde_json::to_value(&cp).unwrap()["start_time"], 1767226200);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TicketsCheckpoint {
    /// Unix seconds: the newest `generated_timestamp` seen; the next pass exports tickets
    /// changed at or after it.
    pub start_time: i64,
}

/// Zendesk tickets through the incremental export; deleted tickets are tombstones. See the
/// [crate docs](crate).
#[derive(Debug, Clone, Copy, Default)]
pub struct Tickets;

/// A non-2xx answer as a classified error carrying Zendesk's own words: its bodies are
/// `{"error": "InvalidValue", "description": "…"}` (or `{"error": {"title", "message"}}`),
/// and a 429 says how long to wait in `Retry-After`.
fn zendesk_error(response: &HttpResponse) -> SyncError {
    let base = sync_sdk::status_error(response);
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let text = |v: &Value| v.as_str().map(str::to_string);
    let (error, detail) = match &body["error"] {
        Value::String(e) => (Some(e.clone()), text(&body["description"])),
        Value::Object(_) => (
            text(&body["error"]["title"]),
            text(&body["error"]["message"]),
        ),
        _ => (None, None),
    };
    let mut message = match (error, detail) {
        (Some(e), Some(d)) => format!(
            "{} answered HTTP {}: {e}: {d}",
            response.request, response.status
        ),
        _ => base.message().to_string(),
    };
    if response.status == 429
        && let Some(wait) = response.header("retry-after")
    {
        message.push_str(&format!(" (retry after {wait} s)"));
    }
    SyncError::new(base.kind(), message).with_status(response.status)
}

impl SyncFunction for Tickets {
    type Record = ZendeskTicket;
    type Checkpoint = TicketsCheckpoint;
    type Metadata = ();

    fn spec(&self) -> SyncSpec {
        SyncSpec::builder("tickets")
            .description(
                "Zendesk tickets through the incremental export; deleted tickets are deleted",
            )
            .frequency("every 30 minutes")
            .incremental()
            .rate_limit(crate::incremental_export_rate_limit())
            .build()
            .expect("static spec is valid")
    }

    async fn fetch_page(
        &self,
        cx: &SyncContext,
        request: PageRequest<'_, TicketsCheckpoint>,
    ) -> Result<Page<ZendeskTicket>, SyncError> {
        let builder = cx.http().get(EXPORT_PATH);
        let builder = match request.cursor {
            Some(cursor) => builder.query("cursor", cursor),
            None => builder.query(
                "start_time",
                request.checkpoint.map(|c| c.start_time).unwrap_or(0),
            ),
        };
        let response = builder.send_raw().await?;
        if !(200..300).contains(&response.status) {
            return Err(zendesk_error(&response));
        }
        let page: ExportPage = response.json()?;
        let tickets = sync_sdk::json::records_at(&page.tickets, "")
            .map_err(|e| e.context(format!("{} \"tickets\"", response.request)))?;
        let next = if page.end_of_stream {
            None
        } else {
            match page.after_cursor {
                Some(cursor) if !cursor.is_empty() => Some(cursor),
                _ => {
                    return Err(SyncError::data(format!(
                        "{}: end_of_stream is false but the page has no after_cursor",
                        response.request
                    )));
                }
            }
        };
        Ok(Page::new(tickets).next_opt(next))
    }

    fn advance_checkpoint(
        &self,
        checkpoint: Option<TicketsCheckpoint>,
        records: &[ZendeskTicket],
    ) -> Option<TicketsCheckpoint> {
        let newest = records.iter().map(|t| t.generated_timestamp).max();
        match (checkpoint, newest) {
            (Some(cp), Some(n)) => Some(TicketsCheckpoint {
                start_time: cp.start_time.max(n),
            }),
            (None, Some(n)) => Some(TicketsCheckpoint { start_time: n }),
            (cp, None) => cp,
        }
    }

    fn is_deleted(&self, ticket: &ZendeskTicket) -> bool {
        ticket.status == "deleted"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_sdk::ErrorKind;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        HttpResponse::new(
            status,
            headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body.as_bytes().to_vec().into(),
            format!("GET {EXPORT_PATH}"),
        )
    }

    #[test]
    fn rate_limited_answer_is_a_rate_limit_error_naming_retry_after() {
        let r = response(
            429,
            &[("retry-after", "37"), ("x-rate-limit-remaining", "0")],
            r#"{"error": "APIRateLimitExceeded", "description": "Number of allowed incremental export API requests per minute exceeded"}"#,
        );
        let e = zendesk_error(&r);
        assert_eq!(e.kind(), ErrorKind::RateLimit);
        assert_eq!(e.status(), Some(429));
        assert_eq!(
            e.message(),
            "GET /api/v2/incremental/tickets/cursor.json answered HTTP 429: APIRateLimitExceeded: \
             Number of allowed incremental export API requests per minute exceeded (retry after 37 s)"
        );
    }

    #[test]
    fn error_objects_with_title_and_message_are_read_too() {
        let r = response(
            403,
            &[],
            r#"{"error": {"title": "Forbidden", "message": "You do not have access to this page"}}"#,
        );
        let e = zendesk_error(&r);
        assert_eq!(e.kind(), ErrorKind::Auth);
        assert!(
            e.message()
                .ends_with("HTTP 403: Forbidden: You do not have access to this page"),
            "{}",
            e.message()
        );
    }
}
