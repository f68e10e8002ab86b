//! The record type, and the shapes of Stripe's list and event responses.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sync_sdk::Model;

/// A Stripe customer.
///
/// ```
/// use sync_sdk::Model;
/// let c: syncfn_stripe::StripeCustomer = serde_json::from_value(serde_json::json!({
///     "id": "cus_NffrFeUfNV2Hib", "object": "customer", "email": "jenny@example.com",
///     "created": 1767225600, "livemode": false, "metadata": {"plan": "pro"}
/// })).unwrap();
/// assert_eq!(c.id(), "cus_NffrFeUfNV2Hib");
/// assert!(!c.deleted);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StripeCustomer {
    /// Customer id, e.g. `"cus_NffrFeUfNV2Hib"`.
    pub id: String,
    /// Email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Full name or business name.
    #[serde(default)]
    pub name: Option<String>,
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// Phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// Three-letter ISO currency code the customer is billed in, e.g. `"usd"`.
    #[serde(default)]
    pub currency: Option<String>,
    /// Balance in the smallest currency unit (cents); negative is a credit.
    #[serde(default)]
    pub balance: Option<i64>,
    /// Whether the latest invoice is past due.
    #[serde(default)]
    pub delinquent: Option<bool>,
    /// Creation time, Unix seconds, e.g. `1767225600`.
    #[serde(default)]
    pub created: Option<i64>,
    /// Whether the customer lives in live mode (`false` for test mode).
    #[serde(default)]
    pub livemode: Option<bool>,
    /// Your key-value pairs attached to the customer.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// `true` once the customer is deleted (the record is then a tombstone).
    #[serde(default)]
    pub deleted: bool,
    /// When the record came from an event: the event's `created` (Unix seconds). Not stored;
    /// it advances the checkpoint.
    #[serde(skip)]
    pub event_created: Option<i64>,
}

impl Model for StripeCustomer {
    const NAME: &'static str = "StripeCustomer";
    fn id(&self) -> String {
        self.id.clone()
    }
}

/// `{"object": "list", "data": [...], "has_more": bool, "url": "/v1/…"}`.
#[derive(Debug, Deserialize)]
pub(crate) struct List {
    pub data: serde_json::Value,
    pub has_more: bool,
}

/// An event: `{"id": "evt_…", "type": "customer.updated", "created": 1767225600,
/// "data": {"object": {...}}}`.
#[derive(Debug, Deserialize)]
pub(crate) struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created: i64,
    pub data: EventData,
}

#[derive(Debug, Deserialize)]
pub(crate) struct EventData {
    pub object: serde_json::Value,
}
