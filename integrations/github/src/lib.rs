//! GitHub integration (placeholder until the issues sync lands).
pub fn integration() -> sync_sdk::Integration {
    sync_sdk::Integration::new("github").base_url("https://api.github.com")
}
