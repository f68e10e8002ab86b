//! Webhooks: the outbox rows a run's end wrote, delivered with Standard Webhooks signatures,
//! retried with backoff, and still delivered after a restart.

pub mod delivery;
pub mod signing;

pub use delivery::{WebhookConfig, run as run_delivery};
pub use signing::{WebhookSecret, sign};
