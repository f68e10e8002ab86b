//! The authoring contract: [`SyncFunction`] and the page it returns.

use std::future::Future;

use schemars::JsonSchema;
use serde::{Serialize, de::DeserializeOwned};

use crate::{Model, SyncContext, SyncError, SyncSpec};

/// What the runtime asks a sync for: one page.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct PageRequest<'a, C> {
    /// The incremental filter: the checkpoint of the last *completed* run. `None` on the first
    /// run, on a full resync, and always for [`crate::SyncKind::Full`] syncs. It stays the
    /// same for every page of a run, also when a run resumes after a crash.
    pub checkpoint: Option<&'a C>,
    /// The opaque cursor the previous page returned; `None` for the first page.
    pub cursor: Option<&'a str>,
    /// 0-based number of this page within the pass (for messages).
    pub page_number: u64,
}

impl<'a, C> PageRequest<'a, C> {
    /// A request (for tests and harnesses).
    pub fn new(checkpoint: Option<&'a C>, cursor: Option<&'a str>, page_number: u64) -> Self {
        Self {
            checkpoint,
            cursor,
            page_number,
        }
    }
}

/// One page of a sync's output.
///
/// ```
/// use sync_sdk::Page;
/// let page: Page<u32> = Page::new(vec![1, 2]).next("c2").deleted(vec!["9".into()]);
/// assert_eq!(page.next_cursor.as_deref(), Some("c2"));
/// assert!(Page::<u32>::last(vec![]).next_cursor.is_none());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Page<R> {
    /// Records fetched (new, changed or unchanged: the runtime detects changes).
    pub records: Vec<R>,
    /// Ids the provider reports deleted (e.g. from an events endpoint).
    pub deleted_ids: Vec<String>,
    /// Cursor of the next page; `None` when this was the last page.
    pub next_cursor: Option<String>,
    /// Records the provider returned that this sync does not store (pull requests on
    /// GitHub's issues endpoint, say). They are never written or counted, but
    /// [`SyncFunction::advance_checkpoint`] sees them after [`records`](Self::records), so a
    /// run where only skipped items changed still moves the checkpoint past them.
    pub skipped: Vec<R>,
}

impl<R> Page<R> {
    /// A page of `records`; it is the last one unless [`next`](Self::next) is set.
    pub fn new(records: Vec<R>) -> Self {
        Self {
            records,
            deleted_ids: Vec::new(),
            next_cursor: None,
            skipped: Vec::new(),
        }
    }

    /// The last page.
    pub fn last(records: Vec<R>) -> Self {
        Self::new(records)
    }

    /// Set the next page's cursor.
    pub fn next(mut self, cursor: impl Into<String>) -> Self {
        self.next_cursor = Some(cursor.into());
        self
    }

    /// Set the next page's cursor, or mark this page the last with `None`.
    pub fn next_opt(mut self, cursor: Option<String>) -> Self {
        self.next_cursor = cursor;
        self
    }

    /// Ids the provider reported deleted.
    pub fn deleted(mut self, ids: Vec<String>) -> Self {
        self.deleted_ids = ids;
        self
    }

    /// Records the provider returned that the sync does not store: they only advance the
    /// checkpoint (see [`skipped`](Self::skipped)).
    ///
    /// ```
    /// use sync_sdk::Page;
    /// // An endpoint answered with three items; the one at index 1 is not ours to store.
    /// let mut items = vec!["issue-1", "pr-2", "issue-3"];
    /// let pr = items.remove(1);
    /// let page = Page::new(items).skipped(vec![pr]).next("page-2");
    /// assert_eq!(page.records, ["issue-1", "issue-3"]);
    /// assert_eq!(page.skipped, ["pr-2"]);
    /// ```
    pub fn skipped(mut self, records: Vec<R>) -> Self {
        self.skipped = records;
        self
    }
}

/// A sync function. Implement [`spec`](Self::spec) and [`fetch_page`](Self::fetch_page); the
/// other hooks have defaults. The runtime owns the loop:
///
/// ```text
/// filter = checkpoint of the last completed run (None on a first run / full resync)
/// cursor = page cursor committed by an interrupted run of this pass, else None
/// running = checkpoint committed with that cursor, else filter
/// loop {
///     page = fetch_page(cx, PageRequest { checkpoint: filter, cursor })
///     running = advance_checkpoint(running, &page.records)
///     running = advance_checkpoint(running, &page.skipped)   // skipped: never stored
///     validate + hash each record; is_deleted(record) marks tombstones
///     commit(records, page.deleted_ids, page.next_cursor, running)   // one transaction
///     match page.next_cursor { Some(c) => cursor = Some(c), None => break }
/// }
/// full-refresh diff (if declared and the pass started without a checkpoint); promote `running`
/// ```
pub trait SyncFunction: Send + Sync + 'static {
    /// The record type this sync writes.
    type Record: Model;
    /// What the sync remembers between runs (e.g. the max `updated_at` seen). Use `()` for a
    /// full sync.
    type Checkpoint: Serialize + DeserializeOwned + JsonSchema + Clone + Send + Sync + 'static;
    /// The connection's customer configuration. Use `()` when there is none.
    type Metadata: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static;

    /// Describe the sync. Models and schemas are filled in from the associated types.
    fn spec(&self) -> SyncSpec;

    /// Fetch ONE page. Never loop here: return the next cursor and the runtime calls again.
    fn fetch_page(
        &self,
        cx: &SyncContext<Self::Metadata>,
        request: PageRequest<'_, Self::Checkpoint>,
    ) -> impl Future<Output = Result<Page<Self::Record>, SyncError>> + Send;

    /// The checkpoint after a page: called with the checkpoint so far (the filter at the start
    /// of a pass) and the page's records, then again with the page's
    /// [`skipped`](Page::skipped) records. Default: unchanged.
    fn advance_checkpoint(
        &self,
        checkpoint: Option<Self::Checkpoint>,
        records: &[Self::Record],
    ) -> Option<Self::Checkpoint> {
        let _ = records;
        checkpoint
    }

    /// Whether a fetched record is a tombstone (archived, `status = deleted`…). Tombstoned
    /// records are marked DELETED in the cache. Default: never.
    fn is_deleted(&self, record: &Self::Record) -> bool {
        let _ = record;
        false
    }
}
