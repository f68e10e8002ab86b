//! The embedded SQLite store (WAL). One writer connection serializes commits; a second
//! connection serves reads so listings never wait behind a page commit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, Transaction, params, types::Value as SqlValue};
use serde_json::Value;
use sync_sdk::{DeletionStrategy, SyncKind};

use super::checkpointer;
use super::record_json::{self, MetadataRef};
use super::service::{ClaimedTrigger, OutboxMessage, Schedule};
use super::sqlite_service as service;
use super::{
    ChangeCounts, LastAction, MAX_LIST_LIMIT, PageEnd, PageWrite, RecordMetadata, RecordPage,
    RecordQuery, RecordsJson, RequestStats, RunEnd, RunRecord, RunStart, RunStatus, StartOptions,
    Store, StoreError, StoredConnection, StoredRecord, SyncKey, now_timestamp, parse_timestamp,
};

const SCHEMA_VERSION: i64 = 2;

/// Version 1 kept `PRIMARY KEY (stream_id, id)` on `records` itself, so comparing a fetched
/// record with the cached one read the record's row (its JSON included); version 2 moves the
/// key, hash and deleted flag to `record_keys`. Rebuilds `records` without the key and fills
/// `record_keys` from it, in one transaction.
const MIGRATE_V1_TO_V2: &str = r#"
CREATE TABLE records_v2 (
    stream_id        INTEGER NOT NULL,
    id               TEXT NOT NULL,
    data             BLOB NOT NULL,
    hash             INTEGER NOT NULL,
    first_seen_at    TEXT NOT NULL,
    last_modified_at TEXT NOT NULL,
    last_action      TEXT NOT NULL,
    deleted_at       TEXT,
    cursor           INTEGER NOT NULL
);
INSERT INTO records_v2 (rowid, stream_id, id, data, hash, first_seen_at, last_modified_at,
        last_action, deleted_at, cursor)
    SELECT rowid, stream_id, id, data, hash, first_seen_at, last_modified_at, last_action,
        deleted_at, cursor
    FROM records;
DROP TABLE records;
ALTER TABLE records_v2 RENAME TO records;
CREATE UNIQUE INDEX records_by_cursor ON records (stream_id, cursor);
CREATE TABLE record_keys (
    stream_id INTEGER NOT NULL,
    id        TEXT NOT NULL,
    hash      INTEGER NOT NULL,
    deleted   INTEGER NOT NULL,
    rid       INTEGER NOT NULL,
    PRIMARY KEY (stream_id, id)
) WITHOUT ROWID;
INSERT INTO record_keys (stream_id, id, hash, deleted, rid)
    SELECT stream_id, id, hash, last_action = 'DELETED', rowid FROM records;
UPDATE meta SET value = '2' WHERE key = 'schema_version';
"#;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS streams (
    stream_id     INTEGER PRIMARY KEY,
    connection_id TEXT NOT NULL,
    model         TEXT NOT NULL,
    last_cursor   INTEGER NOT NULL DEFAULT 0,
    UNIQUE (connection_id, model)
);
CREATE TABLE IF NOT EXISTS records (
    stream_id        INTEGER NOT NULL,
    id               TEXT NOT NULL,
    data             BLOB NOT NULL,
    hash             INTEGER NOT NULL,
    first_seen_at    TEXT NOT NULL,
    last_modified_at TEXT NOT NULL,
    last_action      TEXT NOT NULL,
    deleted_at       TEXT,
    cursor           INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS records_by_cursor ON records (stream_id, cursor);
-- One row per record, keyed (stream, id): the uniqueness of a record id, and what a commit
-- compares a fetched record with (hash, whether deleted), without reading the record's row.
CREATE TABLE IF NOT EXISTS record_keys (
    stream_id INTEGER NOT NULL,
    id        TEXT NOT NULL,
    hash      INTEGER NOT NULL,
    deleted   INTEGER NOT NULL,
    rid       INTEGER NOT NULL,
    PRIMARY KEY (stream_id, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sync_state (
    connection_id   TEXT NOT NULL,
    integration     TEXT NOT NULL,
    sync            TEXT NOT NULL,
    checkpoint      TEXT,
    pass_id         INTEGER,
    pass_filter     TEXT,
    pass_checkpoint TEXT,
    pass_cursor     TEXT,
    pass_pages      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (connection_id, integration, sync)
);
CREATE TABLE IF NOT EXISTS pass_seen (
    pass_id   INTEGER NOT NULL,
    stream_id INTEGER NOT NULL,
    id        TEXT NOT NULL,
    PRIMARY KEY (pass_id, stream_id, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
    run_id        INTEGER PRIMARY KEY AUTOINCREMENT,
    pass_id       INTEGER NOT NULL DEFAULT 0,
    connection_id TEXT NOT NULL,
    integration   TEXT NOT NULL,
    sync          TEXT NOT NULL,
    status        TEXT NOT NULL,
    resumed       INTEGER NOT NULL DEFAULT 0,
    started_at    TEXT NOT NULL,
    ended_at      TEXT,
    pages         INTEGER NOT NULL DEFAULT 0,
    added         INTEGER NOT NULL DEFAULT 0,
    updated       INTEGER NOT NULL DEFAULT 0,
    deleted       INTEGER NOT NULL DEFAULT 0,
    unchanged     INTEGER NOT NULL DEFAULT 0,
    requests      INTEGER NOT NULL DEFAULT 0,
    retries       INTEGER NOT NULL DEFAULT 0,
    rate_limited  INTEGER NOT NULL DEFAULT 0,
    wait_ms       INTEGER NOT NULL DEFAULT 0,
    error         TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_sync ON runs (connection_id, integration, sync, run_id);
CREATE TABLE IF NOT EXISTS connections (
    connection_id TEXT PRIMARY KEY,
    integration   TEXT NOT NULL,
    config        TEXT NOT NULL,
    metadata      TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
"#;

/// The embedded SQLite records store.
#[derive(Clone)]
pub struct SqliteStore {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    reader: Arc<Mutex<Connection>>,
    /// Queue run-end webhooks in the outbox (service mode with a webhook URL).
    webhooks: Arc<AtomicBool>,
    /// After the connections: dropping the last clone closes them, then waits for the
    /// checkpoint thread, whose connection closes last and removes the log.
    _checkpointer: Arc<checkpointer::Checkpointer>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Render a cursor counter as the opaque cursor string (fixed width, so it sorts as text).
pub(crate) fn encode_cursor(n: i64) -> String {
    format!("{n:016x}")
}

/// Parse an opaque cursor string.
pub(crate) fn decode_cursor(s: &str) -> Result<i64, StoreError> {
    if s.len() == 16
        && let Ok(n) = i64::from_str_radix(s, 16)
        && n >= 0
    {
        return Ok(n);
    }
    Err(StoreError::Invalid(format!(
        "invalid cursor {s:?}: pass back a cursor from a record's _metadata.cursor or a listing's next_cursor"
    )))
}

/// A listing column of an unexpected type.
fn column(e: rusqlite::types::FromSqlError) -> StoreError {
    StoreError::Database(format!("records listing: unexpected column type: {e}"))
}

/// Validate a listing request: the normalised query (times in the stored spelling) and the
/// cursor to start after.
fn listing_query(query: &RecordQuery) -> Result<(RecordQuery, i64), StoreError> {
    if query.limit == 0 || query.limit > MAX_LIST_LIMIT {
        return Err(StoreError::Invalid(format!(
            "limit {} is out of range: use 1 to {MAX_LIST_LIMIT}",
            query.limit
        )));
    }
    let after = match &query.cursor {
        Some(c) => decode_cursor(c)?,
        None => 0,
    };
    let mut query = query.clone();
    // Stored times are fixed-width UTC text; compare against the same spelling.
    query.modified_after = query
        .modified_after
        .as_deref()
        .map(parse_timestamp)
        .transpose()
        .map_err(|e| StoreError::Invalid(format!("modified_after: {e}")))?;
    Ok((query, after))
}

/// The listing's SQL and arguments, `None` when the (connection, model) has no records at all.
/// Columns: id, data, first_seen_at, last_modified_at, last_action, deleted_at, cursor.
fn listing_sql(
    conn: &Connection,
    query: &RecordQuery,
    after: i64,
) -> Result<Option<(String, Vec<SqlValue>)>, StoreError> {
    let stream: Option<i64> = conn
        .query_row(
            "SELECT stream_id FROM streams WHERE connection_id = ?1 AND model = ?2",
            params![query.connection_id, query.model],
            |r| r.get(0),
        )
        .optional()?;
    let Some(stream) = stream else {
        return Ok(None);
    };
    let mut sql = String::from(
        "SELECT id, data, first_seen_at, last_modified_at, last_action, deleted_at, cursor
         FROM records WHERE stream_id = ? AND cursor > ?",
    );
    let mut args: Vec<SqlValue> = vec![SqlValue::Integer(stream), SqlValue::Integer(after)];
    if !query.actions.is_empty() {
        sql.push_str(" AND last_action IN (");
        for (i, a) in query.actions.iter().enumerate() {
            sql.push_str(if i == 0 { "?" } else { ",?" });
            args.push(SqlValue::Text(a.as_str().into()));
        }
        sql.push(')');
    }
    if let Some(t) = &query.modified_after {
        sql.push_str(" AND last_modified_at >= ?");
        args.push(SqlValue::Text(t.clone()));
    }
    if !query.ids.is_empty() {
        // Through the key table: `records` has no index on id.
        sql.push_str(" AND rowid IN (SELECT rid FROM record_keys WHERE stream_id = ? AND id IN (");
        args.push(SqlValue::Integer(stream));
        for (i, id) in query.ids.iter().enumerate() {
            sql.push_str(if i == 0 { "?" } else { ",?" });
            args.push(SqlValue::Text(id.clone()));
        }
        sql.push_str("))");
    }
    sql.push_str(" ORDER BY cursor LIMIT ?");
    args.push(SqlValue::Integer(query.limit as i64));
    Ok(Some((sql, args)))
}

fn json_text(value: &Option<Value>) -> Option<String> {
    value.as_ref().map(|v| v.to_string())
}

fn parse_json_text(text: Option<String>) -> Result<Option<Value>, StoreError> {
    match text {
        None => Ok(None),
        Some(t) => serde_json::from_str(&t)
            .map(Some)
            .map_err(|e| StoreError::Database(format!("stored JSON is corrupt: {e}"))),
    }
}

impl SqliteStore {
    /// Open (creating if needed) the store at `path`.
    ///
    /// # Errors
    /// [`StoreError::Open`] naming the path.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let open_err = |e: rusqlite::Error| StoreError::Open {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        let mut writer = Connection::open(&path).map_err(open_err)?;
        // Every statement of the commit path stays prepared (the default cache holds 16).
        writer.set_prepared_statement_cache_capacity(64);
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000; PRAGMA cache_size = -2048;",
            )
            .map_err(open_err)?;
        // Checkpoints run on their own thread, off the commit path.
        let checkpointer = checkpointer::start(&mut writer, &path).map_err(open_err)?;
        writer
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
            )
            .map_err(open_err)?;
        let version: Option<String> = writer
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(open_err)?;
        match version.as_deref() {
            None => {
                writer
                    .execute(
                        "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                        [SCHEMA_VERSION.to_string()],
                    )
                    .map_err(open_err)?;
            }
            Some("1") => {
                let tx = writer.transaction().map_err(open_err)?;
                tx.execute_batch(MIGRATE_V1_TO_V2).map_err(open_err)?;
                tx.commit().map_err(open_err)?;
                tracing::info!(path = %path.display(), "store migrated from schema version 1 to 2");
            }
            Some(v) if v == SCHEMA_VERSION.to_string() => {}
            Some(v) => {
                return Err(StoreError::Open {
                    path: path.display().to_string(),
                    message: format!(
                        "schema version {v} is not supported by this syncfn (expects {SCHEMA_VERSION})"
                    ),
                });
            }
        }
        writer.execute_batch(SCHEMA).map_err(open_err)?;
        writer
            .execute_batch(service::SERVICE_SCHEMA)
            .map_err(open_err)?;
        let reader = Connection::open(&path).map_err(open_err)?;
        reader
            .execute_batch("PRAGMA busy_timeout = 10000;")
            .map_err(open_err)?;
        Ok(Self {
            path,
            writer: Arc::new(Mutex::new(writer)),
            reader: Arc::new(Mutex::new(reader)),
            webhooks: Arc::new(AtomicBool::new(false)),
            _checkpointer: Arc::new(checkpointer),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Database(format!("store task failed: {e}")))?
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Database(format!("store task failed: {e}")))?
    }
}

fn stream_id(
    tx: &Transaction<'_>,
    connection_id: &str,
    model: &str,
) -> Result<(i64, i64), StoreError> {
    tx.prepare_cached("INSERT OR IGNORE INTO streams (connection_id, model) VALUES (?1, ?2)")?
        .execute(params![connection_id, model])?;
    Ok(tx
        .prepare_cached(
            "SELECT stream_id, last_cursor FROM streams WHERE connection_id = ?1 AND model = ?2",
        )?
        .query_row(params![connection_id, model], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?)
}

/// What the cache holds for a record id: its hash, whether it is deleted, and its row.
#[derive(Debug, Clone, Copy)]
struct Existing {
    hash: i64,
    deleted: bool,
    rid: i64,
}

/// Mark `id` deleted if it is present and not deleted yet. Returns whether it changed.
fn mark_deleted(
    tx: &Transaction<'_>,
    stream: i64,
    id: &str,
    now: &str,
    cursor: &mut i64,
) -> Result<bool, StoreError> {
    let rid: Option<i64> = tx
        .prepare_cached(
            "SELECT rid FROM record_keys WHERE stream_id = ?1 AND id = ?2 AND deleted = 0",
        )?
        .query_row(params![stream, id], |r| r.get(0))
        .optional()?;
    let Some(rid) = rid else {
        return Ok(false);
    };
    delete_row(tx, stream, rid, id, now, cursor)?;
    Ok(true)
}

/// Mark the live record in row `rid` (id `id`) deleted, with the next cursor.
fn delete_row(
    tx: &Transaction<'_>,
    stream: i64,
    rid: i64,
    id: &str,
    now: &str,
    cursor: &mut i64,
) -> Result<(), StoreError> {
    *cursor += 1;
    tx.prepare_cached(
        "UPDATE records SET last_action = 'DELETED', deleted_at = ?2, last_modified_at = ?2, cursor = ?3
         WHERE rowid = ?1",
    )?
    .execute(params![rid, now, *cursor])?;
    tx.prepare_cached("UPDATE record_keys SET deleted = 1 WHERE stream_id = ?1 AND id = ?2")?
        .execute(params![stream, id])?;
    Ok(())
}

fn commit_page_tx(
    tx: &Transaction<'_>,
    key: &SyncKey,
    page: &PageWrite,
    webhooks: bool,
) -> Result<ChangeCounts, StoreError> {
    let now = now_timestamp();
    let (stream, mut cursor) = stream_id(tx, &key.connection_id, &page.model)?;
    let (pass_id, pass_filter): (Option<i64>, Option<String>) = tx
        .prepare_cached(
            "SELECT pass_id, pass_filter FROM sync_state
             WHERE connection_id = ?1 AND integration = ?2 AND sync = ?3",
        )?
        .query_row(params![key.connection_id, key.integration, key.sync], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let pass_id = pass_id.ok_or_else(|| {
        StoreError::Invalid(format!("no pass in progress for {key}: start a run first"))
    })?;
    // Fence: only the newest run of the pass may commit. A run whose pass was taken over by a
    // later start_run (overlapping runs) would otherwise write its own page cursor and seen
    // ids into a pass it does not drive, and a full-refresh diff could delete unseen records.
    let (run_status, run_pass): (String, i64) = tx
        .prepare_cached("SELECT status, pass_id FROM runs WHERE run_id = ?1")?
        .query_row([page.run_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or_else(|| StoreError::Invalid(format!("run {} does not exist", page.run_id)))?;
    if run_status != RunStatus::Running.as_str() || run_pass != pass_id {
        return Err(StoreError::Invalid(format!(
            "run {} of {key} no longer owns its pass: another run of this sync started \
             (runs of one sync must not overlap); its page was not committed",
            page.run_id
        )));
    }
    let mut counts = ChangeCounts::default();
    {
        // What the cache holds for this page's ids, in one index-only query on record_keys
        // instead of one per record; kept up to date below so an id repeated within the page
        // sees its first occurrence.
        let mut existing: HashMap<&str, Option<Existing>> =
            page.records.iter().map(|r| (r.id.as_str(), None)).collect();
        {
            let ids = serde_json::to_string(
                &page
                    .records
                    .iter()
                    .map(|r| r.id.as_str())
                    .collect::<Vec<_>>(),
            )
            .map_err(|e| StoreError::Database(format!("cannot encode record ids: {e}")))?;
            let mut lookup = tx.prepare_cached(
                "SELECT id, hash, deleted, rid FROM record_keys
                 WHERE stream_id = ?1 AND id IN (SELECT value FROM json_each(?2))",
            )?;
            let mut rows = lookup.query(params![stream, ids])?;
            while let Some(row) = rows.next()? {
                let id = row.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
                if let Some(slot) = existing.get_mut(id) {
                    *slot = Some(Existing {
                        hash: row.get(1)?,
                        deleted: row.get::<_, i64>(2)? != 0,
                        rid: row.get(3)?,
                    });
                }
            }
        }
        let mut insert = tx.prepare_cached(
            "INSERT INTO records (stream_id, id, data, hash, first_seen_at, last_modified_at, last_action, deleted_at, cursor)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, 'ADDED', NULL, ?6)",
        )?;
        let mut insert_key = tx.prepare_cached(
            "INSERT INTO record_keys (stream_id, id, hash, deleted, rid) VALUES (?1, ?2, ?3, 0, ?4)",
        )?;
        let mut update = tx.prepare_cached(
            "UPDATE records SET data = ?2, hash = ?3, last_modified_at = ?4, last_action = ?5, deleted_at = NULL, cursor = ?6
             WHERE rowid = ?1",
        )?;
        let mut update_key = tx.prepare_cached(
            "UPDATE record_keys SET hash = ?3, deleted = ?4 WHERE stream_id = ?1 AND id = ?2",
        )?;
        let mut seen = tx.prepare_cached(
            "INSERT OR IGNORE INTO pass_seen (pass_id, stream_id, id) VALUES (?1, ?2, ?3)",
        )?;
        for record in &page.records {
            if page.track_seen {
                seen.execute(params![pass_id, stream, record.id])?;
            }
            let hash = record.hash as i64;
            let slot = existing
                .get_mut(record.id.as_str())
                .expect("every id of the page has a slot");
            if record.tombstone {
                match *slot {
                    Some(Existing {
                        deleted: false,
                        rid,
                        ..
                    }) => {
                        // The tombstone's own content (e.g. `archived: true`) replaces the
                        // record's, so a consumer reading the DELETED record sees what the
                        // provider last said.
                        let mut tombstone = tx.prepare_cached(
                            "UPDATE records SET data = ?2, hash = ?3, last_action = 'DELETED', deleted_at = ?4,
                                last_modified_at = ?4, cursor = ?5
                             WHERE rowid = ?1",
                        )?;
                        cursor += 1;
                        tombstone.execute(params![rid, record.json, hash, now, cursor])?;
                        update_key.execute(params![stream, record.id, hash, 1])?;
                        counts.deleted += 1;
                        *slot = Some(Existing {
                            hash,
                            deleted: true,
                            rid,
                        });
                    }
                    // Not cached, or deleted already.
                    _ => counts.unchanged += 1,
                }
                continue;
            }
            match *slot {
                None => {
                    cursor += 1;
                    insert.execute(params![stream, record.id, record.json, hash, now, cursor])?;
                    let rid = tx.last_insert_rowid();
                    insert_key.execute(params![stream, record.id, hash, rid])?;
                    counts.added += 1;
                    *slot = Some(Existing {
                        hash,
                        deleted: false,
                        rid,
                    });
                }
                Some(Existing {
                    hash: old,
                    deleted: false,
                    ..
                }) if old == hash => counts.unchanged += 1,
                Some(Existing { deleted, rid, .. }) => {
                    // A deleted record that comes back is ADDED again; a live one changed.
                    let action = if deleted { "ADDED" } else { "UPDATED" };
                    cursor += 1;
                    update.execute(params![rid, record.json, hash, now, action, cursor])?;
                    update_key.execute(params![stream, record.id, hash, 0])?;
                    if deleted {
                        counts.added += 1;
                    } else {
                        counts.updated += 1;
                    }
                    *slot = Some(Existing {
                        hash,
                        deleted: false,
                        rid,
                    });
                }
            }
        }
    }
    for id in &page.deleted_ids {
        if mark_deleted(tx, stream, id, &now, &mut cursor)? {
            counts.deleted += 1;
        }
    }
    if let PageEnd::Last { deletion } = page.end
        && deletion == DeletionStrategy::FullRefresh
        && pass_filter.is_none()
    {
        counts.deleted += full_refresh_diff(tx, stream, pass_id, &now, &mut cursor)?;
    }
    tx.prepare_cached("UPDATE streams SET last_cursor = ?2 WHERE stream_id = ?1")?
        .execute(params![stream, cursor])?;
    let checkpoint = json_text(&page.checkpoint);
    match page.end {
        PageEnd::More => {
            tx.prepare_cached("UPDATE sync_state SET pass_cursor = ?4, pass_checkpoint = ?5, pass_pages = pass_pages + 1
                 WHERE connection_id = ?1 AND integration = ?2 AND sync = ?3")?.execute(
                params![key.connection_id, key.integration, key.sync, page.next_cursor, checkpoint],
            )?;
        }
        PageEnd::Last { .. } => {
            tx.prepare_cached("DELETE FROM pass_seen WHERE pass_id = ?1")?
                .execute([pass_id])?;
            tx.prepare_cached(
                "UPDATE sync_state SET checkpoint = ?4, pass_id = NULL, pass_filter = NULL,
                    pass_checkpoint = NULL, pass_cursor = NULL, pass_pages = 0
                 WHERE connection_id = ?1 AND integration = ?2 AND sync = ?3",
            )?
            .execute(params![
                key.connection_id,
                key.integration,
                key.sync,
                checkpoint
            ])?;
        }
    }
    let status = match page.end {
        PageEnd::More => None,
        PageEnd::Last { .. } => Some(RunStatus::Success.as_str()),
    };
    tx.prepare_cached(
        "UPDATE runs SET pages = pages + 1, added = added + ?2, updated = updated + ?3,
            deleted = deleted + ?4, unchanged = unchanged + ?5, requests = ?6,
            status = COALESCE(?7, status), ended_at = CASE WHEN ?7 IS NULL THEN ended_at ELSE ?8 END
         WHERE run_id = ?1",
    )?
    .execute(params![
        page.run_id,
        counts.added as i64,
        counts.updated as i64,
        counts.deleted as i64,
        counts.unchanged as i64,
        page.requests as i64,
        status,
        now
    ])?;
    if webhooks {
        match page.end {
            PageEnd::More => service::note_run_model(tx, page.run_id, &page.model)?,
            PageEnd::Last { .. } => {
                let from = parse_json_text(pass_filter.clone())?;
                service::queue_run_webhook(
                    tx,
                    key,
                    page.run_id,
                    Some(&page.model),
                    None,
                    from,
                    page.checkpoint.clone(),
                )?;
                tx.prepare_cached("DELETE FROM run_models WHERE run_id = ?1")?
                    .execute([page.run_id])?;
            }
        }
    }
    Ok(counts)
}

/// Mark every live record of `stream` the pass did not see as deleted, in batches so memory
/// stays bounded.
fn full_refresh_diff(
    tx: &Transaction<'_>,
    stream: i64,
    pass_id: i64,
    now: &str,
    cursor: &mut i64,
) -> Result<u64, StoreError> {
    const BATCH: usize = 1000;
    let mut deleted = 0;
    loop {
        // Live and unseen: deleted by row, without looking each id up again.
        let rows: Vec<(i64, String)> = {
            let mut stmt = tx.prepare_cached(
                "SELECT r.rowid, r.id FROM records r
                 WHERE r.stream_id = ?1 AND r.last_action != 'DELETED'
                   AND NOT EXISTS (SELECT 1 FROM pass_seen s WHERE s.pass_id = ?2 AND s.stream_id = ?1 AND s.id = r.id)
                 ORDER BY r.cursor LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![stream, pass_id, BATCH as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
            rows.collect::<Result<_, _>>()?
        };
        for (rid, id) in &rows {
            delete_row(tx, stream, *rid, id, now, cursor)?;
            deleted += 1;
        }
        if rows.len() < BATCH {
            return Ok(deleted);
        }
    }
}

fn run_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    let status: String = r.get("status")?;
    Ok(RunRecord {
        run_id: r.get("run_id")?,
        pass_id: r.get("pass_id")?,
        connection_id: r.get("connection_id")?,
        integration: r.get("integration")?,
        sync: r.get("sync")?,
        status: RunStatus::parse(&status),
        resumed: r.get::<_, i64>("resumed")? != 0,
        started_at: r.get("started_at")?,
        ended_at: r.get("ended_at")?,
        pages: r.get::<_, i64>("pages")? as u64,
        counts: ChangeCounts {
            added: r.get::<_, i64>("added")? as u64,
            updated: r.get::<_, i64>("updated")? as u64,
            deleted: r.get::<_, i64>("deleted")? as u64,
            unchanged: r.get::<_, i64>("unchanged")? as u64,
        },
        stats: RequestStats {
            requests: r.get::<_, i64>("requests")? as u64,
            retries: r.get::<_, i64>("retries")? as u64,
            rate_limited: r.get::<_, i64>("rate_limited")? as u64,
            wait_ms: r.get::<_, i64>("wait_ms")? as u64,
        },
        error: r.get("error")?,
    })
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn start_run(
        &self,
        key: &SyncKey,
        options: StartOptions,
    ) -> Result<RunStart, StoreError> {
        let key = key.clone();
        self.write(move |conn| {
            let tx = conn.transaction()?;
            let now = now_timestamp();
            tx.execute(
                "UPDATE runs SET status = 'INTERRUPTED', ended_at = ?4,
                    error = COALESCE(error, 'the process stopped before the run ended')
                 WHERE connection_id = ?1 AND integration = ?2 AND sync = ?3 AND status = 'RUNNING'",
                params![key.connection_id, key.integration, key.sync, now],
            )?;
            tx.execute(
                "INSERT OR IGNORE INTO sync_state (connection_id, integration, sync) VALUES (?1, ?2, ?3)",
                params![key.connection_id, key.integration, key.sync],
            )?;
            if options.reset {
                tx.execute(
                    "DELETE FROM pass_seen WHERE pass_id = (SELECT pass_id FROM sync_state
                        WHERE connection_id = ?1 AND integration = ?2 AND sync = ?3)",
                    params![key.connection_id, key.integration, key.sync],
                )?;
                tx.execute(
                    "UPDATE sync_state SET checkpoint = NULL, pass_id = NULL, pass_filter = NULL,
                        pass_checkpoint = NULL, pass_cursor = NULL, pass_pages = 0
                     WHERE connection_id = ?1 AND integration = ?2 AND sync = ?3",
                    params![key.connection_id, key.integration, key.sync],
                )?;
            }
            let (checkpoint, pass_id, pass_filter, pass_checkpoint, pass_cursor, pass_pages): (
                Option<String>,
                Option<i64>,
                Option<String>,
                Option<String>,
                Option<String>,
                i64,
            ) = tx.query_row(
                "SELECT checkpoint, pass_id, pass_filter, pass_checkpoint, pass_cursor, pass_pages
                 FROM sync_state WHERE connection_id = ?1 AND integration = ?2 AND sync = ?3",
                params![key.connection_id, key.integration, key.sync],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
            )?;
            tx.execute(
                "INSERT INTO runs (connection_id, integration, sync, status, started_at, resumed)
                 VALUES (?1, ?2, ?3, 'RUNNING', ?4, ?5)",
                params![key.connection_id, key.integration, key.sync, now, pass_id.is_some() as i64],
            )?;
            let run_id = tx.last_insert_rowid();
            let start = match pass_id {
                Some(pass_id) => RunStart {
                    run_id,
                    pass_id,
                    filter: parse_json_text(pass_filter)?,
                    checkpoint: parse_json_text(pass_checkpoint)?,
                    cursor: pass_cursor,
                    pages_done: pass_pages as u64,
                    resumed: true,
                },
                None => {
                    let filter = match options.kind {
                        SyncKind::Incremental => parse_json_text(checkpoint)?,
                        _ => None,
                    };
                    let filter_text = json_text(&filter);
                    tx.execute(
                        "UPDATE sync_state SET pass_id = ?4, pass_filter = ?5, pass_checkpoint = ?5,
                            pass_cursor = NULL, pass_pages = 0
                         WHERE connection_id = ?1 AND integration = ?2 AND sync = ?3",
                        params![key.connection_id, key.integration, key.sync, run_id, filter_text],
                    )?;
                    RunStart {
                        run_id,
                        pass_id: run_id,
                        checkpoint: filter.clone(),
                        filter,
                        cursor: None,
                        pages_done: 0,
                        resumed: false,
                    }
                }
            };
            tx.execute("UPDATE runs SET pass_id = ?2 WHERE run_id = ?1", params![run_id, start.pass_id])?;
            tx.commit()?;
            Ok(start)
        })
        .await
    }

    async fn commit_page(
        &self,
        key: &SyncKey,
        page: PageWrite,
    ) -> Result<ChangeCounts, StoreError> {
        let key = key.clone();
        let webhooks = self.webhooks.load(Ordering::Relaxed);
        self.write(move |conn| {
            let tx = conn.transaction()?;
            let counts = commit_page_tx(&tx, &key, &page, webhooks)?;
            tx.commit()?;
            Ok(counts)
        })
        .await
    }

    async fn commit_pages(
        &self,
        key: &SyncKey,
        pages: Vec<PageWrite>,
    ) -> Result<Vec<ChangeCounts>, StoreError> {
        let key = key.clone();
        let webhooks = self.webhooks.load(Ordering::Relaxed);
        self.write(move |conn| {
            let tx = conn.transaction()?;
            let counts = pages
                .iter()
                .map(|page| commit_page_tx(&tx, &key, page, webhooks))
                .collect::<Result<Vec<_>, _>>()?;
            tx.commit()?;
            Ok(counts)
        })
        .await
    }

    async fn end_run(
        &self,
        key: &SyncKey,
        run_id: i64,
        end: RunEnd,
        stats: RequestStats,
    ) -> Result<(), StoreError> {
        let key = key.clone();
        let webhooks = self.webhooks.load(Ordering::Relaxed);
        self.write(move |conn| {
            let (status, error) = match end {
                RunEnd::Failed(message) => (RunStatus::Failed, Some(message)),
                RunEnd::Stopped => (RunStatus::Stopped, None),
            };
            let tx = conn.transaction()?;
            tx.execute(
                "UPDATE runs SET status = ?2, error = ?3, ended_at = ?4, requests = ?5, retries = ?6,
                    rate_limited = ?7, wait_ms = ?8
                 WHERE run_id = ?1",
                params![
                    run_id,
                    status.as_str(),
                    error,
                    now_timestamp(),
                    stats.requests as i64,
                    stats.retries as i64,
                    stats.rate_limited as i64,
                    stats.wait_ms as i64
                ],
            )?;
            if webhooks {
                service::queue_end_webhooks(&tx, &key, run_id, error.as_deref())?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn record_stats(&self, run_id: i64, stats: RequestStats) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute(
                "UPDATE runs SET requests = ?2, retries = ?3, rate_limited = ?4, wait_ms = ?5 WHERE run_id = ?1",
                params![
                    run_id,
                    stats.requests as i64,
                    stats.retries as i64,
                    stats.rate_limited as i64,
                    stats.wait_ms as i64
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn list_records(&self, query: &RecordQuery) -> Result<RecordPage, StoreError> {
        let (query, after) = listing_query(query)?;
        self.read(move |conn| {
            let Some((sql, args)) = listing_sql(conn, &query, after)? else {
                return Ok(RecordPage {
                    records: Vec::new(),
                    next_cursor: None,
                });
            };
            let mut stmt = conn.prepare_cached(&sql)?;
            let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
            let mut records = Vec::new();
            while let Some(row) = rows.next()? {
                let data: Vec<u8> = row.get(1)?;
                let action: String = row.get(4)?;
                records.push(StoredRecord {
                    id: row.get(0)?,
                    data: serde_json::from_slice(&data).map_err(|e| {
                        StoreError::Database(format!("stored record is corrupt: {e}"))
                    })?,
                    metadata: RecordMetadata {
                        first_seen_at: row.get(2)?,
                        last_modified_at: row.get(3)?,
                        last_action: LastAction::parse(&action).unwrap_or(LastAction::Updated),
                        deleted_at: row.get(5)?,
                        cursor: encode_cursor(row.get(6)?),
                    },
                });
            }
            let next_cursor = if records.len() == query.limit {
                records.last().map(|r| r.metadata.cursor.clone())
            } else {
                None
            };
            Ok(RecordPage {
                records,
                next_cursor,
            })
        })
        .await
    }

    async fn list_records_json(
        &self,
        query: &RecordQuery,
        separator: u8,
        buffer: Vec<u8>,
    ) -> Result<RecordsJson, StoreError> {
        let (query, after) = listing_query(query)?;
        self.read(move |conn| {
            let mut json = buffer;
            let Some((sql, args)) = listing_sql(conn, &query, after)? else {
                return Ok(RecordsJson {
                    json,
                    count: 0,
                    next_cursor: None,
                });
            };
            let mut stmt = conn.prepare_cached(&sql)?;
            let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
            let mut count = 0;
            let mut last_cursor = 0;
            while let Some(row) = rows.next()? {
                if count > 0 {
                    json.push(separator);
                }
                let id = row.get_ref(0)?.as_str().map_err(column)?;
                let cursor: i64 = row.get(6)?;
                let action = match row.get_ref(4)?.as_str().map_err(column)? {
                    "ADDED" => LastAction::Added,
                    "DELETED" => LastAction::Deleted,
                    "UPDATED" => LastAction::Updated,
                    other => LastAction::parse(other).unwrap_or(LastAction::Updated),
                };
                let meta = MetadataRef {
                    first_seen_at: row.get_ref(2)?.as_str().map_err(column)?,
                    last_modified_at: row.get_ref(3)?.as_str().map_err(column)?,
                    last_action: action.as_str(),
                    deleted_at: row.get_ref(5)?.as_str_or_null().map_err(column)?,
                    cursor,
                };
                record_json::write_record(
                    row.get_ref(1)?.as_bytes().map_err(column)?,
                    &meta,
                    &mut json,
                )
                .map_err(|e| StoreError::Database(format!("record {id:?}: {e}")))?;
                count += 1;
                last_cursor = cursor;
            }
            Ok(RecordsJson {
                json,
                count,
                next_cursor: (count > 0 && count == query.limit)
                    .then(|| encode_cursor(last_cursor)),
            })
        })
        .await
    }

    async fn list_runs(
        &self,
        connection_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let connection_id = connection_id.map(str::to_string);
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT * FROM runs WHERE (?1 IS NULL OR connection_id = ?1) ORDER BY run_id DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![connection_id, limit as i64], run_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn get_run(&self, run_id: i64) -> Result<Option<RunRecord>, StoreError> {
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT * FROM runs WHERE run_id = ?1",
                    [run_id],
                    run_from_row,
                )
                .optional()?)
        })
        .await
    }

    async fn checkpoint(&self, key: &SyncKey) -> Result<Option<Value>, StoreError> {
        let key = key.clone();
        self.read(move |conn| {
            let text: Option<Option<String>> = conn
                .query_row(
                    "SELECT checkpoint FROM sync_state WHERE connection_id = ?1 AND integration = ?2 AND sync = ?3",
                    params![key.connection_id, key.integration, key.sync],
                    |r| r.get(0),
                )
                .optional()?;
            parse_json_text(text.flatten())
        })
        .await
    }

    async fn count_records(&self, connection_id: &str, model: &str) -> Result<u64, StoreError> {
        let (c, m) = (connection_id.to_string(), model.to_string());
        self.read(move |conn| {
            let n: i64 = conn.query_row(
                "SELECT COUNT(*) FROM record_keys k JOIN streams s ON s.stream_id = k.stream_id
                 WHERE s.connection_id = ?1 AND s.model = ?2 AND k.deleted = 0",
                params![c, m],
                |r| r.get(0),
            )?;
            Ok(n as u64)
        })
        .await
    }

    async fn put_connection(&self, connection: &StoredConnection) -> Result<(), StoreError> {
        let c = connection.clone();
        self.write(move |conn| {
            let now = now_timestamp();
            conn.execute(
                "INSERT INTO connections (connection_id, integration, config, metadata, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                 ON CONFLICT (connection_id) DO UPDATE SET integration = excluded.integration,
                    config = excluded.config, metadata = excluded.metadata, updated_at = excluded.updated_at",
                params![c.connection_id, c.integration, c.config.to_string(), c.metadata.to_string(), now],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_connection(
        &self,
        connection_id: &str,
    ) -> Result<Option<StoredConnection>, StoreError> {
        let id = connection_id.to_string();
        self.read(move |conn| {
            let row: Option<(String, String, String, String)> = conn
                .query_row(
                    "SELECT connection_id, integration, config, metadata FROM connections WHERE connection_id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            row.map(|(connection_id, integration, config, metadata)| {
                Ok(StoredConnection {
                    connection_id,
                    integration,
                    config: serde_json::from_str(&config)
                        .map_err(|e| StoreError::Database(format!("stored connection config is corrupt: {e}")))?,
                    metadata: serde_json::from_str(&metadata)
                        .map_err(|e| StoreError::Database(format!("stored metadata is corrupt: {e}")))?,
                })
            })
            .transpose()
        })
        .await
    }

    fn set_webhooks_enabled(&self, enabled: bool) {
        self.webhooks.store(enabled, Ordering::Relaxed);
    }

    async fn list_connections(&self) -> Result<Vec<StoredConnection>, StoreError> {
        let ids = self.read(|conn| service::list_connection_ids(conn)).await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(c) = self.get_connection(&id).await? {
                out.push(c);
            }
        }
        Ok(out)
    }

    async fn delete_connection(&self, connection_id: &str) -> Result<bool, StoreError> {
        let id = connection_id.to_string();
        self.write(move |conn| service::delete_connection(conn, &id))
            .await
    }

    async fn put_credentials(&self, connection_id: &str, sealed: &[u8]) -> Result<(), StoreError> {
        let (id, sealed) = (connection_id.to_string(), sealed.to_vec());
        self.write(move |conn| service::put_credentials(conn, &id, &sealed))
            .await
    }

    async fn get_credentials(&self, connection_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let id = connection_id.to_string();
        self.read(move |conn| service::get_credentials(conn, &id))
            .await
    }

    async fn put_schedule(&self, schedule: &Schedule) -> Result<(), StoreError> {
        let s = schedule.clone();
        self.write(move |conn| service::put_schedule(conn, &s))
            .await
    }

    async fn list_schedules(
        &self,
        connection_id: Option<&str>,
    ) -> Result<Vec<Schedule>, StoreError> {
        let id = connection_id.map(str::to_string);
        self.read(move |conn| service::list_schedules(conn, id.as_deref()))
            .await
    }

    async fn due_schedules(&self, now_ms: i64) -> Result<Vec<Schedule>, StoreError> {
        self.read(move |conn| service::due_schedules(conn, now_ms))
            .await
    }

    async fn set_paused(
        &self,
        key: &SyncKey,
        paused: bool,
        next_run_at_ms: i64,
    ) -> Result<bool, StoreError> {
        let key = key.clone();
        self.write(move |conn| service::set_paused(conn, &key, paused, next_run_at_ms))
            .await
    }

    async fn set_next_run(&self, key: &SyncKey, next_run_at_ms: i64) -> Result<(), StoreError> {
        let key = key.clone();
        self.write(move |conn| service::set_next_run(conn, &key, next_run_at_ms))
            .await
    }

    async fn request_trigger(
        &self,
        key: &SyncKey,
        reset: bool,
        empty_cache: bool,
    ) -> Result<bool, StoreError> {
        let key = key.clone();
        self.write(move |conn| service::request_trigger(conn, &key, reset, empty_cache))
            .await
    }

    async fn claim_trigger(&self, key: &SyncKey) -> Result<Option<ClaimedTrigger>, StoreError> {
        let key = key.clone();
        self.write(move |conn| service::claim_trigger(conn, &key))
            .await
    }

    async fn empty_cache(&self, connection_id: &str, model: &str) -> Result<u64, StoreError> {
        let (c, m) = (connection_id.to_string(), model.to_string());
        self.write(move |conn| service::empty_cache(conn, &c, &m))
            .await
    }

    async fn last_run(&self, key: &SyncKey) -> Result<Option<RunRecord>, StoreError> {
        let key = key.clone();
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT * FROM runs WHERE connection_id = ?1 AND integration = ?2 AND sync = ?3
                     ORDER BY run_id DESC LIMIT 1",
                    params![key.connection_id, key.integration, key.sync],
                    run_from_row,
                )
                .optional()?)
        })
        .await
    }

    async fn due_webhooks(
        &self,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        self.read(move |conn| service::due_webhooks(conn, now_ms, limit))
            .await
    }

    async fn webhook_attempted(
        &self,
        id: i64,
        delivered: bool,
        next_attempt_at_ms: i64,
        error: Option<String>,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            service::webhook_attempted(conn, id, delivered, next_attempt_at_ms, error.as_deref())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_sort_as_text() {
        assert_eq!(decode_cursor(&encode_cursor(42)).unwrap(), 42);
        assert!(encode_cursor(9) < encode_cursor(10));
        assert!(encode_cursor(255) < encode_cursor(4096));
        assert!(decode_cursor("nope").is_err());
        assert!(decode_cursor("zzzzzzzzzzzzzzzz").is_err());
    }
}
