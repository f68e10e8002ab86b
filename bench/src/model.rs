//! The benchmark record: a CRM contact with 25 fields, about 750 bytes of JSON.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sync_sdk::Model;

/// A synthetic CRM contact, shaped like the reference workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BenchContact {
    /// Contact id, `"1"` to `"N"`.
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
    /// Office phone.
    pub phone: String,
    /// Mobile phone.
    pub mobile_phone: String,
    /// Street address.
    pub street: String,
    /// City.
    pub city: String,
    /// State or region code.
    pub state: String,
    /// Postal code.
    pub postal_code: String,
    /// ISO country code.
    pub country: String,
    /// Company website.
    pub website: String,
    /// Funnel stage.
    pub lifecycle_stage: String,
    /// Lead status.
    pub lead_status: String,
    /// Where the contact came from.
    pub original_source: String,
    /// Owning user.
    pub owner_id: i64,
    /// Lead score, 0 to 99.
    pub lead_score: i64,
    /// Company revenue.
    pub annual_revenue: f64,
    /// Company head count.
    pub num_employees: i64,
    /// Newsletter opt-in.
    pub is_subscribed: bool,
    /// Free text, 18 words.
    pub notes: String,
    /// Creation time (RFC 3339, seconds).
    pub created_at: String,
    /// Last change (RFC 3339, seconds).
    pub updated_at: String,
}

impl Model for BenchContact {
    const NAME: &'static str = "BenchContact";
    fn id(&self) -> String {
        self.id.clone()
    }
}
