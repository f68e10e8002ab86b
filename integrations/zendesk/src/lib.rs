//! placeholder
pub fn integration() -> sync_sdk::Integration { sync_sdk::Integration::new("zendesk") }
