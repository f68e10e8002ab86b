//! The record type, and the shapes of HubSpot's CRM object responses it is built from.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sync_sdk::Model;

/// A HubSpot contact, flattened from the CRM object's `properties`.
///
/// ```
/// use sync_sdk::Model;
/// let contact: syncfn_hubspot::HubspotContact = serde_json::from_value(serde_json::json!({
///     "id": "51", "email": "ada@example.com", "first_name": "Ada", "last_name": null,
///     "company": null, "phone": null, "lifecycle_stage": "lead",
///     "created_at": "2026-01-05T10:00:00.000Z", "last_modified_at": "2026-01-05T10:00:00.000Z"
/// })).unwrap();
/// assert_eq!(contact.id(), "51");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HubspotContact {
    /// HubSpot's record id (`hs_object_id`), e.g. `"51"`.
    pub id: String,
    /// Primary email address (`email`).
    pub email: Option<String>,
    /// Given name (`firstname`).
    pub first_name: Option<String>,
    /// Family name (`lastname`).
    pub last_name: Option<String>,
    /// Company name as typed on the contact (`company`).
    pub company: Option<String>,
    /// Phone number (`phone`).
    pub phone: Option<String>,
    /// Funnel stage (`lifecyclestage`), e.g. `"lead"`, `"customer"`.
    pub lifecycle_stage: Option<String>,
    /// Creation time, RFC 3339 UTC with milliseconds (`createdate`), e.g. `"2026-01-05T10:00:00.000Z"`.
    pub created_at: Option<String>,
    /// Last change, RFC 3339 UTC with milliseconds (`lastmodifieddate`); the incremental cursor.
    pub last_modified_at: String,
}

impl Model for HubspotContact {
    const NAME: &'static str = "HubspotContact";
    fn id(&self) -> String {
        self.id.clone()
    }
}

/// A CRM object as the list and search endpoints return it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CrmObject {
    pub id: String,
    #[serde(default)]
    pub properties: BTreeMap<String, Option<String>>,
    pub updated_at: Option<String>,
    #[serde(default)]
    pub archived_at: Option<String>,
}

impl CrmObject {
    fn property(&self, name: &str) -> Option<String> {
        self.properties.get(name).cloned().flatten()
    }

    /// The contact; `lastmodifieddate` falls back to the object's `updatedAt`.
    pub fn into_contact(self) -> Result<HubspotContact, sync_sdk::SyncError> {
        let last_modified_at = self
            .property("lastmodifieddate")
            .or_else(|| self.updated_at.clone())
            .ok_or_else(|| {
                sync_sdk::SyncError::data(format!(
                    "contact {:?} has neither a lastmodifieddate property nor updatedAt",
                    self.id
                ))
            })?;
        Ok(HubspotContact {
            email: self.property("email"),
            first_name: self.property("firstname"),
            last_name: self.property("lastname"),
            company: self.property("company"),
            phone: self.property("phone"),
            lifecycle_stage: self.property("lifecyclestage"),
            created_at: self.property("createdate"),
            last_modified_at,
            id: self.id,
        })
    }
}

/// `{"results": [...], "paging": {"next": {"after": "…"}}}` (list and search).
#[derive(Debug, Deserialize)]
pub(crate) struct CrmPage {
    pub results: serde_json::Value,
    #[serde(default)]
    pub paging: Option<Paging>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Paging {
    pub next: Option<NextPage>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct NextPage {
    pub after: String,
}

impl CrmPage {
    pub fn next_after(&self) -> Option<String> {
        self.paging
            .as_ref()
            .and_then(|p| p.next.as_ref())
            .map(|n| n.after.clone())
    }
}
