//! Walk a sync page by page without a store: what `syncfn dryrun` prints and what the
//! conformance suite inspects. Every record is checked (non-empty id, unique within the walk,
//! valid against its model's schema) and a cursor seen twice stops the walk (loop guard).

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;
use sync_sdk::{ContextParts, ErasedPage, ErasedRequest, ErasedSync, SyncError};

use crate::validate::RecordValidator;

/// Where a walk starts and when it stops early.
#[derive(Debug, Clone, Default)]
pub struct WalkOptions {
    /// The incremental filter (a checkpoint of a completed run); `None` = first run.
    pub filter: Option<Value>,
    /// Stop after this many pages.
    pub max_pages: Option<u64>,
}

/// One fetched page and what was wrong with its records.
#[derive(Debug, Clone)]
pub struct WalkedPage {
    /// 1-based page number.
    pub number: u64,
    /// The page as the sync returned it (checkpoint after it included).
    pub page: ErasedPage,
    /// Record problems: empty or duplicate ids, schema violations.
    pub problems: Vec<String>,
}

/// How a walk ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum WalkEnd {
    /// The last page had no next cursor.
    Completed,
    /// `max_pages` pages were fetched and more remain.
    MaxPages,
    /// A page returned a cursor already seen in this walk.
    Looped {
        /// The page that repeated it.
        page: u64,
        /// The cursor.
        cursor: String,
    },
    /// Fetching a page failed.
    Failed(SyncError),
}

/// What a walk saw.
#[derive(Debug)]
pub struct WalkSummary {
    /// Pages fetched.
    pub pages: u64,
    /// Records fetched (tombstones included).
    pub records: u64,
    /// Records the sync marked deleted.
    pub tombstones: u64,
    /// Ids reported deleted.
    pub deleted_ids: u64,
    /// Every record problem, each naming its page and record.
    pub problems: Vec<String>,
    /// The checkpoint after the last page.
    pub checkpoint: Option<Value>,
    /// How it ended.
    pub end: WalkEnd,
}

/// Fetch `sync`'s pages one by one with `parts`, calling `on_page` after each.
///
/// # Errors
/// The sync cannot start (no model, invalid schema, metadata not matching its schema).
pub async fn walk(
    sync: Arc<dyn ErasedSync>,
    parts: ContextParts,
    options: &WalkOptions,
    on_page: &mut (dyn FnMut(&WalkedPage) + Send),
) -> Result<WalkSummary, SyncError> {
    let spec = sync.spec();
    let model = spec
        .models
        .first()
        .ok_or_else(|| SyncError::config(format!("sync {:?} declares no model", spec.name)))?;
    let validator = RecordValidator::new(&model.name, &model.schema).map_err(SyncError::config)?;
    let runner = sync.start(parts)?;
    let mut summary = WalkSummary {
        pages: 0,
        records: 0,
        tombstones: 0,
        deleted_ids: 0,
        problems: Vec::new(),
        checkpoint: options.filter.clone(),
        end: WalkEnd::Completed,
    };
    let mut ids: HashSet<String> = HashSet::new();
    let mut cursors: HashSet<String> = HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let number = summary.pages + 1;
        let request = ErasedRequest::new(
            options.filter.as_ref(),
            cursor.as_deref(),
            summary.checkpoint.as_ref(),
            number - 1,
        );
        let page = match runner.fetch_page(request).await {
            Ok(page) => page,
            Err(e) => {
                summary.end = WalkEnd::Failed(e.context(format!("page {number}")));
                return Ok(summary);
            }
        };
        let mut problems = Vec::new();
        for (i, record) in page.records.iter().enumerate() {
            if record.id.is_empty() {
                problems.push(format!("page {number}: record {i} has an empty id"));
            } else if !ids.insert(record.id.clone()) {
                problems.push(format!(
                    "page {number}: record {i} repeats id {:?} already fetched in this run",
                    record.id
                ));
            }
            // Every record against its schema, typed ones too: a dry run is where authors look.
            let checked = record
                .to_value()
                .map_err(|e| e.to_string())
                .and_then(|value| validator.check(&value));
            if let Err(message) = checked {
                problems.push(format!(
                    "page {number}: record {i} (id {:?}) {message}",
                    record.id
                ));
            }
        }
        summary.pages = number;
        summary.records += page.records.len() as u64;
        summary.tombstones += page.records.iter().filter(|r| r.deleted).count() as u64;
        summary.deleted_ids += page.deleted_ids.len() as u64;
        summary.checkpoint = page.checkpoint.clone();
        summary.problems.extend(problems.iter().cloned());
        let next = page.next_cursor.clone();
        on_page(&WalkedPage {
            number,
            page,
            problems,
        });
        match next {
            None => return Ok(summary),
            Some(next) => {
                if !cursors.insert(next.clone()) {
                    summary.end = WalkEnd::Looped {
                        page: number,
                        cursor: next,
                    };
                    return Ok(summary);
                }
                if options.max_pages.is_some_and(|max| number >= max) {
                    summary.end = WalkEnd::MaxPages;
                    return Ok(summary);
                }
                cursor = Some(next);
            }
        }
    }
}
