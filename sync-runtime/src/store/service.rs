//! What service mode keeps in the store besides records and runs: schedules, encrypted
//! credentials and the webhook outbox.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::SyncKey;

/// Milliseconds since the Unix epoch, now.
pub fn now_unix_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// A (connection, sync) schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// Which sync of which connection.
    pub key: SyncKey,
    /// Interval between runs, in milliseconds.
    pub frequency_ms: u64,
    /// A paused schedule runs only when triggered.
    pub paused: bool,
    /// When the next tick is due (Unix ms).
    pub next_run_at_ms: i64,
    /// A run was requested (`/syncs/trigger`) and has not started yet.
    pub pending_trigger: bool,
    /// The requested run forgets the checkpoint first.
    pub pending_reset: bool,
    /// The requested run also drops the cached records first.
    pub pending_empty_cache: bool,
}

/// What a claimed trigger asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClaimedTrigger {
    /// Forget the checkpoint.
    pub reset: bool,
    /// Drop the cached records.
    pub empty_cache: bool,
}

/// A webhook waiting in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    /// Row id.
    pub id: i64,
    /// Stable across retries (the `webhook-id` header).
    pub webhook_id: String,
    /// The JSON body.
    pub payload: Value,
    /// Delivery attempts so far.
    pub attempts: u32,
}

/// Build the `webhook-id` of a run's webhook for `model` (or the failure webhook).
pub(crate) fn webhook_id(run_id: i64, model: Option<&str>) -> String {
    match model {
        Some(model) => format!("msg_run{run_id}_{}", model.to_ascii_lowercase()),
        None => format!("msg_run{run_id}_failed"),
    }
}
