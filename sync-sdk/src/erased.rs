//! The type-erased twin of [`SyncFunction`] that the runtime stores and drives.
//!
//! Authors never implement or see these types: a blanket impl turns every [`SyncFunction`]
//! into an [`ErasedSync`]. Declarative syncs implement [`ErasedSync`] directly.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use crate::{
    Connection, HttpClient, Logger, Model, ModelSpec, PageRequest, SyncContext, SyncError,
    SyncFunction, SyncSpec, schema,
};

/// What the runtime hands to [`ErasedSync::start`] to build a run's context.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ContextParts {
    /// Provider client for this run.
    pub http: HttpClient,
    /// The connection.
    pub connection: Arc<Connection>,
    /// The connection's metadata as JSON (`null` when none).
    pub metadata: Value,
    /// Logger.
    pub log: Logger,
}

impl ContextParts {
    /// Parts for a run.
    pub fn new(
        http: HttpClient,
        connection: Arc<Connection>,
        metadata: Value,
        log: Logger,
    ) -> Self {
        Self {
            http,
            connection,
            metadata,
            log,
        }
    }
}

/// A page request in JSON form.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ErasedRequest<'a> {
    /// Checkpoint of the last completed run (the incremental filter).
    pub filter: Option<&'a Value>,
    /// Opaque page cursor; `None` for the first page.
    pub cursor: Option<&'a str>,
    /// The checkpoint so far in this pass, to advance with this page's records.
    pub checkpoint: Option<&'a Value>,
    /// 0-based page number within the pass.
    pub page_number: u64,
}

impl<'a> ErasedRequest<'a> {
    /// A request.
    pub fn new(
        filter: Option<&'a Value>,
        cursor: Option<&'a str>,
        checkpoint: Option<&'a Value>,
        page_number: u64,
    ) -> Self {
        Self {
            filter,
            cursor,
            checkpoint,
            page_number,
        }
    }
}

/// A record's JSON: a value (dynamic records) or the serde serialization of a typed record.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordJson {
    /// A JSON value (declarative and other dynamic records).
    Value(Value),
    /// `serde_json::to_vec` of a typed record: fields in declaration order, deterministic for
    /// its type, so the runtime can store and hash it without building a value tree.
    Serialized(Vec<u8>),
}

/// A record in JSON form with its id and tombstone flag.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ErasedRecord {
    /// The record id (may be empty if the sync produced an empty one; the runtime rejects it).
    pub id: String,
    /// The record.
    pub json: RecordJson,
    /// Whether it is a tombstone.
    pub deleted: bool,
}

impl ErasedRecord {
    /// A dynamic record.
    pub fn new(id: String, value: Value, deleted: bool) -> Self {
        Self {
            id,
            json: RecordJson::Value(value),
            deleted,
        }
    }

    /// A typed record already serialized with `serde_json::to_vec`.
    pub fn serialized(id: String, json: Vec<u8>, deleted: bool) -> Self {
        Self {
            id,
            json: RecordJson::Serialized(json),
            deleted,
        }
    }

    /// The record as a JSON value (parsing serialized records).
    ///
    /// # Errors
    /// A serialized record is not valid JSON (a bug in its `Serialize` impl).
    pub fn to_value(&self) -> Result<Value, SyncError> {
        match &self.json {
            RecordJson::Value(v) => Ok(v.clone()),
            RecordJson::Serialized(bytes) => serde_json::from_slice(bytes).map_err(|e| {
                SyncError::internal(format!(
                    "record {:?} serialized to invalid JSON: {e}",
                    self.id
                ))
            }),
        }
    }

    /// The value of a dynamic record, without copying.
    pub fn value(&self) -> Option<&Value> {
        match &self.json {
            RecordJson::Value(v) => Some(v),
            RecordJson::Serialized(_) => None,
        }
    }
}

/// A page in JSON form, with the checkpoint after it.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ErasedPage {
    /// Records.
    pub records: Vec<ErasedRecord>,
    /// Ids reported deleted.
    pub deleted_ids: Vec<String>,
    /// Next cursor (`None` = last page).
    pub next_cursor: Option<String>,
    /// The checkpoint after this page.
    pub checkpoint: Option<Value>,
}

/// A fetched page whose records may still be in the sync's own type.
///
/// The cursor and checkpoint are known as soon as the response is parsed, so the next request
/// can go out; turning the records into JSON ([`FetchedPage::into_page`]) is left to the
/// runtime, which does it on another task while the next page is fetched.
///
/// ```
/// use sync_sdk::{ErasedPage, FetchedPage};
///
/// let fetched = FetchedPage::ready(ErasedPage::default());
/// assert_eq!(fetched.len(), 0);
/// assert_eq!(fetched.next_cursor(), None);
/// assert!(fetched.into_page().unwrap().records.is_empty());
/// ```
pub struct FetchedPage {
    len: usize,
    next_cursor: Option<String>,
    checkpoint: Option<Value>,
    records: PageRecords,
}

/// Records of a [`FetchedPage`]: in JSON form already, or a job that serializes them.
type SerializeJob = Box<dyn FnOnce() -> Result<Vec<ErasedRecord>, SyncError> + Send>;

enum PageRecords {
    Ready(Vec<ErasedRecord>, Vec<String>),
    Deferred(SerializeJob, Vec<String>),
}

impl std::fmt::Debug for FetchedPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchedPage")
            .field("len", &self.len)
            .field("next_cursor", &self.next_cursor)
            .field("checkpoint", &self.checkpoint)
            .finish_non_exhaustive()
    }
}

impl FetchedPage {
    /// A page whose records are in JSON form already.
    pub fn ready(page: ErasedPage) -> Self {
        Self {
            len: page.records.len(),
            next_cursor: page.next_cursor,
            checkpoint: page.checkpoint,
            records: PageRecords::Ready(page.records, page.deleted_ids),
        }
    }

    /// A page of `len` records that `serialize` turns into JSON form when the runtime asks.
    pub fn deferred(
        len: usize,
        deleted_ids: Vec<String>,
        next_cursor: Option<String>,
        checkpoint: Option<Value>,
        serialize: impl FnOnce() -> Result<Vec<ErasedRecord>, SyncError> + Send + 'static,
    ) -> Self {
        Self {
            len,
            next_cursor,
            checkpoint,
            records: PageRecords::Deferred(Box::new(serialize), deleted_ids),
        }
    }

    /// Records on the page.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the page has no records.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The cursor of the next page (`None` = this is the last page).
    pub fn next_cursor(&self) -> Option<&str> {
        self.next_cursor.as_deref()
    }

    /// The checkpoint after this page.
    pub fn checkpoint(&self) -> Option<&Value> {
        self.checkpoint.as_ref()
    }

    /// The page in JSON form, serializing its records if that was left for later.
    ///
    /// # Errors
    /// A record cannot be serialized.
    pub fn into_page(self) -> Result<ErasedPage, SyncError> {
        let (records, deleted_ids) = match self.records {
            PageRecords::Ready(records, deleted) => (records, deleted),
            PageRecords::Deferred(serialize, deleted) => (serialize()?, deleted),
        };
        Ok(ErasedPage {
            records,
            deleted_ids,
            next_cursor: self.next_cursor,
            checkpoint: self.checkpoint,
        })
    }
}

/// A sync the runtime can store in a registry and drive without knowing its types.
pub trait ErasedSync: Send + Sync + 'static {
    /// The complete spec: models, checkpoint and metadata schemas filled in.
    fn spec(&self) -> SyncSpec;

    /// Prepare a run: deserialize the metadata and build the typed context once.
    ///
    /// # Errors
    /// A config error when the metadata does not match the sync's metadata type.
    fn start(self: Arc<Self>, parts: ContextParts) -> Result<Box<dyn SyncRunner>, SyncError>;
}

impl std::fmt::Debug for dyn ErasedSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ErasedSync({})", self.spec().name)
    }
}

/// One run of a sync, fetching pages in JSON form.
pub trait SyncRunner: Send + Sync {
    /// Fetch a page and advance the checkpoint over it.
    fn fetch_page<'a>(
        &'a self,
        request: ErasedRequest<'a>,
    ) -> BoxFuture<'a, Result<ErasedPage, SyncError>>;

    /// Fetch a page and advance the checkpoint over it, possibly leaving its records to be
    /// serialized later ([`FetchedPage::into_page`]). The default fetches a whole page.
    fn fetch<'a>(
        &'a self,
        request: ErasedRequest<'a>,
    ) -> BoxFuture<'a, Result<FetchedPage, SyncError>> {
        let page = self.fetch_page(request);
        Box::pin(async move { page.await.map(FetchedPage::ready) })
    }
}

impl<S: SyncFunction> ErasedSync for S {
    fn spec(&self) -> SyncSpec {
        let mut spec = SyncFunction::spec(self);
        spec.models = vec![ModelSpec::new(S::Record::NAME, schema::<S::Record>())];
        let checkpoint = schema::<S::Checkpoint>();
        if checkpoint.get("type") != Some(&Value::String("null".into())) {
            spec.checkpoint_schema = Some(checkpoint);
        }
        let metadata = schema::<S::Metadata>();
        if metadata.get("type") != Some(&Value::String("null".into())) {
            spec.metadata_schema = Some(metadata);
        }
        spec
    }

    fn start(self: Arc<Self>, parts: ContextParts) -> Result<Box<dyn SyncRunner>, SyncError> {
        let metadata: S::Metadata = serde_json::from_value(parts.metadata).map_err(|e| {
            SyncError::config(format!(
                "connection {:?}: metadata does not match the sync's metadata schema: {e}",
                parts.connection.id
            ))
        })?;
        let cx = SyncContext::new(parts.http, parts.connection, metadata, parts.log);
        Ok(Box::new(TypedRunner { sync: self, cx }))
    }
}

struct TypedRunner<S: SyncFunction> {
    sync: Arc<S>,
    cx: SyncContext<S::Metadata>,
}

fn decode_checkpoint<C: serde::de::DeserializeOwned>(
    value: Option<&Value>,
    what: &str,
) -> Result<Option<C>, SyncError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone()).map(Some).map_err(|e| {
            SyncError::config(format!(
                "stored {what} does not match the sync's checkpoint type (reset the sync to start over): {e}"
            ))
        }),
    }
}

impl<S: SyncFunction> SyncRunner for TypedRunner<S> {
    fn fetch_page<'a>(
        &'a self,
        request: ErasedRequest<'a>,
    ) -> BoxFuture<'a, Result<ErasedPage, SyncError>> {
        Box::pin(async move { self.fetch(request).await?.into_page() })
    }

    fn fetch<'a>(
        &'a self,
        request: ErasedRequest<'a>,
    ) -> BoxFuture<'a, Result<FetchedPage, SyncError>> {
        Box::pin(async move {
            let filter: Option<S::Checkpoint> = decode_checkpoint(request.filter, "checkpoint")?;
            let running: Option<S::Checkpoint> =
                decode_checkpoint(request.checkpoint, "run checkpoint")?;
            let page = self
                .sync
                .fetch_page(
                    &self.cx,
                    PageRequest::new(filter.as_ref(), request.cursor, request.page_number),
                )
                .await?;
            // Skipped records (not stored) still move the checkpoint, after the stored ones.
            let checkpoint = self.sync.advance_checkpoint(running, &page.records);
            let checkpoint = if page.skipped.is_empty() {
                checkpoint
            } else {
                self.sync.advance_checkpoint(checkpoint, &page.skipped)
            };
            let checkpoint = match checkpoint {
                Some(c) => Some(serde_json::to_value(&c).map_err(|e| {
                    SyncError::internal(format!("checkpoint is not serializable: {e}"))
                })?),
                None => None,
            };
            let sync = self.sync.clone();
            let records = page.records;
            Ok(FetchedPage::deferred(
                records.len(),
                page.deleted_ids,
                page.next_cursor,
                checkpoint,
                move || serialize_records(&*sync, &records),
            ))
        })
    }
}

/// The records of a page in JSON form, with their ids and tombstone flags.
fn serialize_records<S: SyncFunction>(
    sync: &S,
    page: &[S::Record],
) -> Result<Vec<ErasedRecord>, SyncError> {
    let mut records = Vec::with_capacity(page.len());
    // Records of a page are alike: size each buffer for the longest so far, so serializing
    // does not grow it step by step from a small guess.
    let mut longest = 0;
    for (i, record) in page.iter().enumerate() {
        let mut json = Vec::with_capacity(longest + 16);
        serde_json::to_writer(&mut json, record)
            .map_err(|e| SyncError::data(format!("record {i} is not serializable: {e}")))?;
        longest = longest.max(json.len());
        records.push(ErasedRecord::serialized(
            record.id(),
            json,
            sync.is_deleted(record),
        ));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HttpRequest, HttpResponse, Page, Transport};

    /// A transport for syncs that never send a request.
    struct NoNetwork;

    #[async_trait::async_trait]
    impl Transport for NoNetwork {
        async fn send(&self, request: HttpRequest) -> Result<HttpResponse, SyncError> {
            Err(SyncError::internal(format!(
                "unexpected request {}",
                request.describe()
            )))
        }
    }

    #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    struct Item {
        id: u32,
        updated: u32,
    }

    impl Model for Item {
        const NAME: &'static str = "Item";
        fn id(&self) -> String {
            self.id.to_string()
        }
    }

    /// Returns items 1 and 2 as records and item 3 (the newest) as skipped.
    struct SkipsNewest;

    impl SyncFunction for SkipsNewest {
        type Record = Item;
        type Checkpoint = u32;
        type Metadata = ();

        fn spec(&self) -> SyncSpec {
            SyncSpec::builder("items").incremental().build().unwrap()
        }

        async fn fetch_page(
            &self,
            _cx: &SyncContext,
            _request: PageRequest<'_, u32>,
        ) -> Result<Page<Item>, SyncError> {
            let item = |id, updated| Item { id, updated };
            Ok(Page::last(vec![item(1, 10), item(2, 20)]).skipped(vec![item(3, 30)]))
        }

        fn advance_checkpoint(&self, checkpoint: Option<u32>, records: &[Item]) -> Option<u32> {
            records.iter().map(|r| r.updated).chain(checkpoint).max()
        }
    }

    fn runner() -> Box<dyn SyncRunner> {
        let parts = ContextParts::new(
            HttpClient::new(Arc::new(NoNetwork), "http://127.0.0.1:9"),
            Arc::new(Connection::new("c", "test")),
            Value::Null,
            Logger::new("c", "test", "items"),
        );
        Arc::new(SkipsNewest).start(parts).unwrap()
    }

    #[tokio::test]
    async fn skipped_records_advance_the_checkpoint_but_are_not_stored() {
        let runner = runner();
        let page = runner
            .fetch_page(ErasedRequest::new(None, None, Some(&Value::from(5)), 0))
            .await
            .unwrap();
        let ids: Vec<&str> = page.records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            ["1", "2"],
            "only the page's records are handed to the store"
        );
        assert_eq!(
            page.checkpoint,
            Some(Value::from(30)),
            "the checkpoint must move past the skipped record's updated value"
        );
    }
}
