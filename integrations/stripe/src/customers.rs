//! The `customers` sync: the customers list on a full pass; customers created since the
//! checkpoint plus `customer.*` events on incremental runs.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sync_sdk::{HttpResponse, Page, PageRequest, SyncContext, SyncError, SyncFunction, SyncSpec};

use crate::models::{Event, List, StripeCustomer};

/// Objects per request (Stripe's maximum `limit`).
pub const PAGE_SIZE: u32 = 100;

/// What the next incremental run starts from.
///
/// ```
/// let cp = syncfn_stripe::CustomersCheckpoint { created: 1767225600, events_created: 1767229200 };
/// assert_eq!(serde_json::to_value(&cp).unwrap()["events_created"], 1767229200);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CustomersCheckpoint {
    /// Newest customer `created` seen (Unix seconds); the next run lists `created[gte]` it.
    pub created: i64,
    /// Newest event time covered (Unix seconds); the next run reads events `created[gte]` it.
    pub events_created: i64,
}

/// Where a pass is (stored as the page cursor, JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
enum Cursor {
    Customers { starting_after: Option<String> },
    Events { starting_after: Option<String> },
}

impl Cursor {
    fn encode(&self) -> String {
        serde_json::to_string(self).expect("cursor serializes")
    }

    fn decode(text: &str) -> Result<Self, SyncError> {
        serde_json::from_str(text).map_err(|e| {
            SyncError::config(format!(
                "page cursor {text:?} is not a stripe customers cursor (reset the sync to start over): {e}"
            ))
        })
    }
}

/// Stripe customers: full list first, then new customers by `created` plus updates and
/// deletions from the events API. See the [crate docs](crate).
///
/// The spec declares Stripe's test-mode read limit unless built with [`Customers::live_mode`].
///
/// ```
/// use sync_sdk::SyncFunction;
/// use syncfn_stripe::Customers;
/// assert_eq!(Customers::default().spec().rate_limit.unwrap().requests, 25);
/// assert_eq!(Customers::live_mode().spec().rate_limit.unwrap().requests, 100);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Customers {
    live_mode: bool,
}

impl Customers {
    /// The sync for a live-mode key: its spec declares the live read limit (100/s).
    pub fn live_mode() -> Self {
        Self { live_mode: true }
    }
}

fn parse_list(response: &HttpResponse) -> Result<(Vec<serde_json::Value>, bool), SyncError> {
    let list: List = response.json()?;
    match list.data {
        serde_json::Value::Array(items) => Ok((items, list.has_more)),
        other => Err(SyncError::data(format!(
            "{}: expected an array at \"data\", found {}",
            response.request,
            sync_sdk::json::type_name(&other)
        ))),
    }
}

fn customer(
    value: serde_json::Value,
    response: &HttpResponse,
) -> Result<StripeCustomer, SyncError> {
    let id = sync_sdk::json::id_at(&value, "id").unwrap_or_default();
    serde_json::from_value(value).map_err(|e| {
        SyncError::data(format!(
            "{}: customer {id:?} does not match the StripeCustomer model: {e}",
            response.request
        ))
    })
}

fn last_id(items: &[serde_json::Value]) -> Option<String> {
    items
        .last()
        .and_then(|item| sync_sdk::json::id_at(item, "id"))
}

impl Customers {
    async fn customers(
        cx: &SyncContext,
        since: Option<&CustomersCheckpoint>,
        starting_after: Option<String>,
    ) -> Result<Page<StripeCustomer>, SyncError> {
        let response = cx
            .http()
            .get("/v1/customers")
            .query("limit", PAGE_SIZE)
            .query_opt("created[gte]", since.map(|s| s.created))
            .query_opt("starting_after", starting_after)
            .send()
            .await?;
        let (items, has_more) = parse_list(&response)?;
        let next = match (has_more, last_id(&items)) {
            (true, Some(last)) => Some(Cursor::Customers {
                starting_after: Some(last),
            }),
            (true, None) => {
                return Err(SyncError::data(format!(
                    "{}: has_more is true but the page holds no customer id to continue after",
                    response.request
                )));
            }
            // A full pass ends here; an incremental one goes on to the events.
            (false, _) => since.map(|_| Cursor::Events {
                starting_after: None,
            }),
        };
        let records = items
            .into_iter()
            .map(|item| customer(item, &response))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::new(records).next_opt(next.map(|c| c.encode())))
    }

    async fn events(
        cx: &SyncContext,
        since: &CustomersCheckpoint,
        starting_after: Option<String>,
    ) -> Result<Page<StripeCustomer>, SyncError> {
        let response = cx
            .http()
            .get("/v1/events")
            .query("type", "customer.*")
            .query("limit", PAGE_SIZE)
            .query("created[gte]", since.events_created)
            .query_opt("starting_after", starting_after)
            .send()
            .await?;
        let (items, has_more) = parse_list(&response)?;
        let next = match (has_more, last_id(&items)) {
            (true, Some(last)) => Some(
                Cursor::Events {
                    starting_after: Some(last),
                }
                .encode(),
            ),
            (true, None) => {
                return Err(SyncError::data(format!(
                    "{}: has_more is true but the page holds no event id to continue after",
                    response.request
                )));
            }
            (false, _) => None,
        };
        let mut records = Vec::new();
        // Customer id → newest `customer.updated` time on this page.
        let mut updated: BTreeMap<String, i64> = BTreeMap::new();
        for (i, item) in items.into_iter().enumerate() {
            let event: Event = serde_json::from_value(item).map_err(|e| {
                SyncError::data(format!("{}: event {i} is malformed: {e}", response.request))
            })?;
            match event.kind.as_str() {
                "customer.deleted" => {
                    let mut gone = customer(event.data.object, &response)
                        .map_err(|e| e.context(format!("event {}", event.id)))?;
                    gone.deleted = true;
                    gone.event_created = Some(event.created);
                    updated.remove(&gone.id);
                    records.push(gone);
                }
                "customer.updated" => {
                    let id = sync_sdk::json::id_at(&event.data.object, "id").ok_or_else(|| {
                        SyncError::data(format!(
                            "{}: event {} has no data.object.id",
                            response.request, event.id
                        ))
                    })?;
                    if !records.iter().any(|r: &StripeCustomer| r.id == id) {
                        let at = updated.entry(id).or_insert(event.created);
                        *at = (*at).max(event.created);
                    }
                }
                // customer.created is covered by the customers list; subscription, source,
                // discount and tax id events do not change the customer record.
                _ => {}
            }
        }
        // Fetch each updated customer's current state, so an older event never overwrites a
        // newer one whatever page it arrives on (a deleted customer answers `deleted: true`).
        for (id, at) in updated {
            let response = cx.http().get(&format!("/v1/customers/{id}")).send().await?;
            let mut current = customer(response.json()?, &response)?;
            current.event_created = Some(at);
            records.push(current);
        }
        Ok(Page::new(records).next_opt(next))
    }
}

impl SyncFunction for Customers {
    type Record = StripeCustomer;
    type Checkpoint = CustomersCheckpoint;
    type Metadata = ();

    fn spec(&self) -> SyncSpec {
        SyncSpec::builder("customers")
            .description(
                "Stripe customers: full list, then new customers by created and changes from customer.* events",
            )
            .frequency("every 30 minutes")
            .incremental()
            .rate_limit(if self.live_mode {
                crate::live_mode_rate_limit()
            } else {
                crate::test_mode_rate_limit()
            })
            .build()
            .expect("static spec is valid")
    }

    async fn fetch_page(
        &self,
        cx: &SyncContext,
        request: PageRequest<'_, CustomersCheckpoint>,
    ) -> Result<Page<StripeCustomer>, SyncError> {
        let cursor = match request.cursor {
            Some(text) => Cursor::decode(text)?,
            None => Cursor::Customers {
                starting_after: None,
            },
        };
        match (cursor, request.checkpoint) {
            (Cursor::Customers { starting_after }, since) => {
                Self::customers(cx, since, starting_after).await
            }
            (Cursor::Events { starting_after }, Some(since)) => {
                Self::events(cx, since, starting_after).await
            }
            (Cursor::Events { .. }, None) => Err(SyncError::config(
                "page cursor is in the events phase but the pass has no checkpoint (reset the sync to start over)",
            )),
        }
    }

    fn advance_checkpoint(
        &self,
        checkpoint: Option<CustomersCheckpoint>,
        records: &[StripeCustomer],
    ) -> Option<CustomersCheckpoint> {
        let listed = records
            .iter()
            .filter(|r| r.event_created.is_none())
            .filter_map(|r| r.created)
            .max();
        let evented = records.iter().filter_map(|r| r.event_created).max();
        // Events are read from the newest listed customer's creation on: every change before
        // it is already in the listing.
        let events_floor = listed.max(evented);
        match (checkpoint, listed, events_floor) {
            (None, None, None) => None,
            (None, listed, floor) => Some(CustomersCheckpoint {
                created: listed.unwrap_or(0),
                events_created: floor.unwrap_or(0),
            }),
            (Some(cp), listed, floor) => Some(CustomersCheckpoint {
                created: cp.created.max(listed.unwrap_or(i64::MIN)),
                events_created: cp.events_created.max(floor.unwrap_or(i64::MIN)),
            }),
        }
    }

    fn is_deleted(&self, customer: &StripeCustomer) -> bool {
        customer.deleted
    }
}
