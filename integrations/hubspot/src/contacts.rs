//! The `contacts` sync: the list endpoint on a full pass, the search endpoint on incremental
//! runs (restarting past its 10,000-result cap), then archived contacts as deletes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sync_sdk::{HttpResponse, Page, PageRequest, SyncContext, SyncError, SyncFunction, SyncSpec};

use crate::models::{CrmObject, CrmPage, HubspotContact};

const CONTACTS_PATH: &str = "/crm/v3/objects/contacts";
const SEARCH_PATH: &str = "/crm/v3/objects/contacts/search";

/// Contacts per request (the list and search endpoints accept at most 100).
pub const PAGE_SIZE: u64 = 100;

/// The most results one search query can page through; past it HubSpot answers 400.
pub const SEARCH_RESULT_CAP: u64 = 10_000;

/// The contact properties requested (`properties=` on the list endpoint, `properties` in a
/// search body).
pub const CONTACT_PROPERTIES: &[&str] = &[
    "email",
    "firstname",
    "lastname",
    "company",
    "phone",
    "lifecyclestage",
    "createdate",
    "lastmodifieddate",
];

/// What the next incremental run starts from: the newest `lastmodifieddate` seen.
///
/// ```
/// let cp = syncfn_hubspot::ContactsCheckpoint { last_modified_at: "2026-01-05T10:00:00.000Z".into() };
/// assert_eq!(serde_json::to_value(&cp).unwrap()["last_modified_at"], "2026-01-05T10:00:00.000Z");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContactsCheckpoint {
    /// RFC 3339 UTC timestamp with milliseconds, as HubSpot formats `lastmodifieddate`
    /// (fixed width, so it orders as text). The next run searches `lastmodifieddate GTE` it.
    pub last_modified_at: String,
}

/// Where a pass is: the page cursor the runtime stores between pages (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
enum Cursor {
    /// Full pass over the list endpoint.
    List { after: Option<String> },
    /// Incremental pass: one search window starting at `since`.
    Search {
        since: String,
        after: Option<String>,
    },
    /// Archived contacts, reported deleted.
    Archived { after: Option<String> },
}

impl Cursor {
    fn encode(&self) -> String {
        serde_json::to_string(self).expect("cursor serializes")
    }

    fn decode(text: &str) -> Result<Self, SyncError> {
        serde_json::from_str(text).map_err(|e| {
            SyncError::config(format!(
                "page cursor {text:?} is not a hubspot contacts cursor (reset the sync to start over): {e}"
            ))
        })
    }
}

/// HubSpot contacts: full list first, then incremental through search on `lastmodifieddate`;
/// archived contacts are deleted. See the [crate docs](crate).
#[derive(Debug, Clone, Copy, Default)]
pub struct Contacts;

fn parse_page(response: &HttpResponse) -> Result<(Vec<CrmObject>, Option<String>), SyncError> {
    let page: CrmPage = response.json()?;
    let objects = sync_sdk::json::records_at::<CrmObject>(&page.results, "")
        .map_err(|e| e.context(format!("{} \"results\"", response.request)))?;
    Ok((objects, page.next_after()))
}

fn contacts(
    objects: Vec<CrmObject>,
    response: &HttpResponse,
) -> Result<Vec<HubspotContact>, SyncError> {
    objects
        .into_iter()
        .map(|o| o.into_contact().map_err(|e| e.context(&response.request)))
        .collect()
}

fn search_body(since: &str, after: Option<&str>) -> serde_json::Value {
    let mut body = json!({
        "filterGroups": [{
            "filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": since}]
        }],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "properties": CONTACT_PROPERTIES,
        "limit": PAGE_SIZE,
    });
    if let Some(after) = after {
        body["after"] = json!(after);
    }
    body
}

impl Contacts {
    async fn list(
        cx: &SyncContext,
        after: Option<String>,
    ) -> Result<Page<HubspotContact>, SyncError> {
        let response = cx
            .http()
            .get(CONTACTS_PATH)
            .query("limit", PAGE_SIZE)
            .query("properties", CONTACT_PROPERTIES.join(","))
            .query_opt("after", after)
            .send()
            .await?;
        let (objects, next) = parse_page(&response)?;
        let next = match next {
            Some(after) => Cursor::List { after: Some(after) },
            None => Cursor::Archived { after: None },
        };
        Ok(Page::new(contacts(objects, &response)?).next(next.encode()))
    }

    async fn search(
        cx: &SyncContext,
        since: String,
        after: Option<String>,
    ) -> Result<Page<HubspotContact>, SyncError> {
        let response = cx
            .http()
            .post(SEARCH_PATH)
            .json(&search_body(&since, after.as_deref()))
            .send()
            .await?;
        let (objects, next) = parse_page(&response)?;
        let records = contacts(objects, &response)?;
        let next = match next {
            None => Cursor::Archived { after: None },
            Some(next_after) => {
                let offset: u64 = next_after.parse().map_err(|_| {
                    SyncError::data(format!(
                        "{}: paging.next.after {next_after:?} is not a result offset",
                        response.request
                    ))
                })?;
                if offset + PAGE_SIZE <= SEARCH_RESULT_CAP {
                    Cursor::Search {
                        since,
                        after: Some(next_after),
                    }
                } else {
                    // The next page would pass the 10,000-result cap: search again from the
                    // newest timestamp seen (results are sorted ascending by it).
                    let newest = records.iter().map(|c| c.last_modified_at.as_str()).max();
                    match newest {
                        Some(newest) if newest > since.as_str() => Cursor::Search {
                            since: newest.to_string(),
                            after: None,
                        },
                        _ => {
                            return Err(SyncError::data(format!(
                                "{}: more than {SEARCH_RESULT_CAP} contacts have lastmodifieddate {since}; \
                                 the search API cannot page past them",
                                response.request
                            )));
                        }
                    }
                }
            }
        };
        Ok(Page::new(records).next(next.encode()))
    }

    async fn archived(
        cx: &SyncContext,
        since: Option<&ContactsCheckpoint>,
        after: Option<String>,
    ) -> Result<Page<HubspotContact>, SyncError> {
        let response = cx
            .http()
            .get(CONTACTS_PATH)
            .query("archived", true)
            .query("limit", PAGE_SIZE)
            .query_opt("after", after)
            .send()
            .await?;
        let (objects, next) = parse_page(&response)?;
        // An incremental run reports only contacts archived since its checkpoint; a full pass
        // reports them all (ids the cache does not hold are ignored).
        let deleted = objects
            .into_iter()
            .filter(|o| match (since, &o.archived_at) {
                (Some(since), Some(at)) => at.as_str() >= since.last_modified_at.as_str(),
                _ => true,
            })
            .map(|o| o.id)
            .collect();
        let next = next.map(|after| Cursor::Archived { after: Some(after) }.encode());
        Ok(Page::new(Vec::new()).deleted(deleted).next_opt(next))
    }
}

impl SyncFunction for Contacts {
    type Record = HubspotContact;
    type Checkpoint = ContactsCheckpoint;
    type Metadata = ();

    fn spec(&self) -> SyncSpec {
        SyncSpec::builder("contacts")
            .description(
                "HubSpot contacts: full list, then changes by lastmodifieddate through search; archived contacts are deleted",
            )
            .frequency("every 30 minutes")
            .incremental()
            .rate_limit(crate::search_rate_limit())
            .build()
            .expect("static spec is valid")
    }

    async fn fetch_page(
        &self,
        cx: &SyncContext,
        request: PageRequest<'_, ContactsCheckpoint>,
    ) -> Result<Page<HubspotContact>, SyncError> {
        let cursor = match request.cursor {
            Some(text) => Cursor::decode(text)?,
            None => match request.checkpoint {
                None => Cursor::List { after: None },
                Some(checkpoint) => Cursor::Search {
                    since: checkpoint.last_modified_at.clone(),
                    after: None,
                },
            },
        };
        match cursor {
            Cursor::List { after } => Self::list(cx, after).await,
            Cursor::Search { since, after } => Self::search(cx, since, after).await,
            Cursor::Archived { after } => Self::archived(cx, request.checkpoint, after).await,
        }
    }

    fn advance_checkpoint(
        &self,
        checkpoint: Option<ContactsCheckpoint>,
        records: &[HubspotContact],
    ) -> Option<ContactsCheckpoint> {
        let newest = records.iter().map(|c| c.last_modified_at.as_str()).max();
        match (checkpoint, newest) {
            (Some(cp), Some(n)) if cp.last_modified_at.as_str() >= n => Some(cp),
            (_, Some(n)) => Some(ContactsCheckpoint {
                last_modified_at: n.to_string(),
            }),
            (cp, None) => cp,
        }
    }
}
