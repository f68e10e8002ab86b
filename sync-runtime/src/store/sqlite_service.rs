//! SQLite side of service mode: schedules, encrypted credentials, the webhook outbox and the
//! run-end webhook rows written inside the run's final transaction.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_json::{Value, json};

use super::service::{ClaimedTrigger, OutboxMessage, Schedule, webhook_id};
use super::{StoreError, SyncKey, now_timestamp};

pub(super) const SERVICE_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS connection_credentials (
    connection_id TEXT PRIMARY KEY,
    sealed        BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS schedules (
    connection_id       TEXT NOT NULL,
    integration         TEXT NOT NULL,
    sync                TEXT NOT NULL,
    frequency_ms        INTEGER NOT NULL,
    paused              INTEGER NOT NULL,
    next_run_at_ms      INTEGER NOT NULL,
    pending_trigger     INTEGER NOT NULL DEFAULT 0,
    pending_reset       INTEGER NOT NULL DEFAULT 0,
    pending_empty_cache INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (connection_id, integration, sync)
);
CREATE TABLE IF NOT EXISTS webhook_outbox (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id         TEXT NOT NULL UNIQUE,
    payload            TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms INTEGER NOT NULL DEFAULT 0,
    delivered_at       TEXT,
    last_error         TEXT
);
CREATE TABLE IF NOT EXISTS run_models (
    run_id INTEGER NOT NULL,
    model  TEXT NOT NULL,
    PRIMARY KEY (run_id, model)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS webhook_outbox_due ON webhook_outbox (delivered_at, next_attempt_at_ms);
"#;

/// Queue the webhook of a run that ended, in the caller's transaction: one for `model` when
/// the run changed something, or the failure webhook when `error` is set.
pub(super) fn queue_run_webhook(
    tx: &Transaction<'_>,
    key: &SyncKey,
    run_id: i64,
    model: Option<&str>,
    error: Option<&str>,
    from: Option<Value>,
    to: Option<Value>,
) -> Result<(), StoreError> {
    let (added, updated, deleted, started_at): (i64, i64, i64, String) = tx.query_row(
        "SELECT added, updated, deleted, started_at FROM runs WHERE run_id = ?1",
        [run_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    if error.is_none() && added + updated + deleted == 0 {
        return Ok(());
    }
    let mut payload = json!({
        "type": "sync",
        "connection_id": key.connection_id,
        "integration": key.integration,
        "sync": key.sync,
        "model": model,
        "run_id": run_id,
        "success": error.is_none(),
        "added": added,
        "updated": updated,
        "deleted": deleted,
        "modified_after": started_at,
        "checkpoints": { "from": from, "to": to },
    });
    if let Some(message) = error {
        payload["error"] = json!({ "message": message });
    }
    let id = webhook_id(run_id, if error.is_some() { None } else { model });
    tx.execute(
        "INSERT OR IGNORE INTO webhook_outbox (webhook_id, payload, created_at) VALUES (?1, ?2, ?3)",
        params![id, payload.to_string(), now_timestamp()],
    )?;
    Ok(())
}

/// The running pass's filter (where the run's checkpoints started) and checkpoint so far.
pub(super) fn current_pass_json(
    tx: &Transaction<'_>,
    key: &SyncKey,
) -> Result<(Option<Value>, Option<Value>), StoreError> {
    let row: Option<(Option<String>, Option<String>)> = tx
        .query_row(
            "SELECT pass_filter, pass_checkpoint FROM sync_state
             WHERE connection_id = ?1 AND integration = ?2 AND sync = ?3",
            params![key.connection_id, key.integration, key.sync],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let parse = |t: Option<String>| t.and_then(|t| serde_json::from_str(&t).ok());
    Ok(match row {
        Some((from, to)) => (parse(from), parse(to)),
        None => (None, None),
    })
}

fn schedule_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Schedule> {
    Ok(Schedule {
        key: SyncKey {
            connection_id: r.get("connection_id")?,
            integration: r.get("integration")?,
            sync: r.get("sync")?,
        },
        frequency_ms: r.get::<_, i64>("frequency_ms")? as u64,
        paused: r.get::<_, i64>("paused")? != 0,
        next_run_at_ms: r.get("next_run_at_ms")?,
        pending_trigger: r.get::<_, i64>("pending_trigger")? != 0,
        pending_reset: r.get::<_, i64>("pending_reset")? != 0,
        pending_empty_cache: r.get::<_, i64>("pending_empty_cache")? != 0,
    })
}

pub(super) fn put_schedule(conn: &Connection, s: &Schedule) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO schedules (connection_id, integration, sync, frequency_ms, paused, next_run_at_ms,
            pending_trigger, pending_reset, pending_empty_cache)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (connection_id, integration, sync) DO UPDATE SET
            frequency_ms = excluded.frequency_ms, paused = excluded.paused,
            next_run_at_ms = excluded.next_run_at_ms, pending_trigger = excluded.pending_trigger,
            pending_reset = excluded.pending_reset, pending_empty_cache = excluded.pending_empty_cache",
        params![
            s.key.connection_id,
            s.key.integration,
            s.key.sync,
            s.frequency_ms as i64,
            s.paused as i64,
            s.next_run_at_ms,
            s.pending_trigger as i64,
            s.pending_reset as i64,
            s.pending_empty_cache as i64
        ],
    )?;
    Ok(())
}

pub(super) fn list_schedules(
    conn: &Connection,
    connection_id: Option<&str>,
) -> Result<Vec<Schedule>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT * FROM schedules WHERE (?1 IS NULL OR connection_id = ?1)
         ORDER BY connection_id, integration, sync",
    )?;
    let rows = stmt.query_map([connection_id], schedule_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn due_schedules(conn: &Connection, now_ms: i64) -> Result<Vec<Schedule>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT * FROM schedules
         WHERE pending_trigger = 1 OR pending_reset = 1 OR pending_empty_cache = 1
            OR (paused = 0 AND next_run_at_ms <= ?1)
         ORDER BY next_run_at_ms",
    )?;
    let rows = stmt.query_map([now_ms], schedule_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn set_paused(
    conn: &Connection,
    key: &SyncKey,
    paused: bool,
    next_run_at_ms: i64,
) -> Result<bool, StoreError> {
    let n = conn.execute(
        "UPDATE schedules SET paused = ?4, next_run_at_ms = ?5
         WHERE connection_id = ?1 AND integration = ?2 AND sync = ?3",
        params![
            key.connection_id,
            key.integration,
            key.sync,
            paused as i64,
            next_run_at_ms
        ],
    )?;
    Ok(n > 0)
}

pub(super) fn set_next_run(
    conn: &Connection,
    key: &SyncKey,
    next_run_at_ms: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE schedules SET next_run_at_ms = ?4
         WHERE connection_id = ?1 AND integration = ?2 AND sync = ?3",
        params![key.connection_id, key.integration, key.sync, next_run_at_ms],
    )?;
    Ok(())
}

pub(super) fn request_trigger(
    conn: &Connection,
    key: &SyncKey,
    reset: bool,
    empty_cache: bool,
) -> Result<bool, StoreError> {
    let n = conn.execute(
        "UPDATE schedules SET pending_trigger = 1, pending_reset = MAX(pending_reset, ?4),
            pending_empty_cache = MAX(pending_empty_cache, ?5)
         WHERE connection_id = ?1 AND integration = ?2 AND sync = ?3",
        params![
            key.connection_id,
            key.integration,
            key.sync,
            reset as i64,
            empty_cache as i64
        ],
    )?;
    Ok(n > 0)
}

pub(super) fn claim_trigger(
    conn: &mut Connection,
    key: &SyncKey,
) -> Result<Option<ClaimedTrigger>, StoreError> {
    let tx = conn.transaction()?;
    let row: Option<(i64, i64, i64)> = tx
        .query_row(
            "SELECT pending_trigger, pending_reset, pending_empty_cache FROM schedules
             WHERE connection_id = ?1 AND integration = ?2 AND sync = ?3",
            params![key.connection_id, key.integration, key.sync],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let claimed = match row {
        Some((pending, reset, empty)) if pending != 0 || reset != 0 || empty != 0 => {
            tx.execute(
                "UPDATE schedules SET pending_trigger = 0, pending_reset = 0, pending_empty_cache = 0
                 WHERE connection_id = ?1 AND integration = ?2 AND sync = ?3",
                params![key.connection_id, key.integration, key.sync],
            )?;
            Some(ClaimedTrigger {
                reset: reset != 0,
                empty_cache: empty != 0,
            })
        }
        _ => None,
    };
    tx.commit()?;
    Ok(claimed)
}

pub(super) fn empty_cache(
    conn: &mut Connection,
    connection_id: &str,
    model: &str,
) -> Result<u64, StoreError> {
    // The stream row (and its cursor counter) stays, so cursors keep increasing afterwards.
    let tx = conn.transaction()?;
    let n = tx.execute(
        "DELETE FROM records WHERE stream_id =
            (SELECT stream_id FROM streams WHERE connection_id = ?1 AND model = ?2)",
        params![connection_id, model],
    )?;
    tx.execute(
        "DELETE FROM record_keys WHERE stream_id =
            (SELECT stream_id FROM streams WHERE connection_id = ?1 AND model = ?2)",
        params![connection_id, model],
    )?;
    tx.commit()?;
    Ok(n as u64)
}

pub(super) fn delete_connection(
    conn: &mut Connection,
    connection_id: &str,
) -> Result<bool, StoreError> {
    let tx = conn.transaction()?;
    tx.execute(
        "DELETE FROM records WHERE stream_id IN (SELECT stream_id FROM streams WHERE connection_id = ?1)",
        [connection_id],
    )?;
    tx.execute(
        "DELETE FROM record_keys WHERE stream_id IN (SELECT stream_id FROM streams WHERE connection_id = ?1)",
        [connection_id],
    )?;
    tx.execute(
        "DELETE FROM pass_seen WHERE stream_id IN (SELECT stream_id FROM streams WHERE connection_id = ?1)",
        [connection_id],
    )?;
    tx.execute(
        "DELETE FROM streams WHERE connection_id = ?1",
        [connection_id],
    )?;
    tx.execute(
        "DELETE FROM sync_state WHERE connection_id = ?1",
        [connection_id],
    )?;
    tx.execute(
        "DELETE FROM schedules WHERE connection_id = ?1",
        [connection_id],
    )?;
    tx.execute(
        "DELETE FROM connection_credentials WHERE connection_id = ?1",
        [connection_id],
    )?;
    let n = tx.execute(
        "DELETE FROM connections WHERE connection_id = ?1",
        [connection_id],
    )?;
    tx.commit()?;
    Ok(n > 0)
}

pub(super) fn list_connection_ids(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT connection_id FROM connections ORDER BY connection_id")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn put_credentials(
    conn: &Connection,
    connection_id: &str,
    sealed: &[u8],
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO connection_credentials (connection_id, sealed) VALUES (?1, ?2)
         ON CONFLICT (connection_id) DO UPDATE SET sealed = excluded.sealed",
        params![connection_id, sealed],
    )?;
    Ok(())
}

pub(super) fn get_credentials(
    conn: &Connection,
    connection_id: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT sealed FROM connection_credentials WHERE connection_id = ?1",
            [connection_id],
            |r| r.get(0),
        )
        .optional()?)
}

pub(super) fn due_webhooks(
    conn: &Connection,
    now_ms: i64,
    limit: usize,
) -> Result<Vec<OutboxMessage>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, webhook_id, payload, attempts FROM webhook_outbox
         WHERE delivered_at IS NULL AND next_attempt_at_ms <= ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![now_ms, limit as i64], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, webhook_id, payload, attempts) = row?;
        out.push(OutboxMessage {
            id,
            webhook_id,
            payload: serde_json::from_str(&payload)
                .map_err(|e| StoreError::Database(format!("outbox row {id} is corrupt: {e}")))?,
            attempts: attempts as u32,
        });
    }
    Ok(out)
}

pub(super) fn webhook_attempted(
    conn: &Connection,
    id: i64,
    delivered: bool,
    next_attempt_at_ms: i64,
    error: Option<&str>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE webhook_outbox SET attempts = attempts + 1,
            delivered_at = CASE WHEN ?2 THEN ?3 ELSE NULL END,
            next_attempt_at_ms = ?4, last_error = ?5
         WHERE id = ?1",
        params![id, delivered, now_timestamp(), next_attempt_at_ms, error],
    )?;
    Ok(())
}

/// Remember that `run_id` wrote `model` (for the webhook of a run that stops or fails).
pub(super) fn note_run_model(
    tx: &Transaction<'_>,
    run_id: i64,
    model: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached("INSERT OR IGNORE INTO run_models (run_id, model) VALUES (?1, ?2)")?
        .execute(params![run_id, model])?;
    Ok(())
}

/// Queue the webhooks of a run that ended without completing its pass: one per model it
/// changed when it stopped cleanly, or one failure webhook.
pub(super) fn queue_end_webhooks(
    tx: &Transaction<'_>,
    key: &SyncKey,
    run_id: i64,
    error: Option<&str>,
) -> Result<(), StoreError> {
    let models: Vec<String> = {
        let mut stmt =
            tx.prepare_cached("SELECT model FROM run_models WHERE run_id = ?1 ORDER BY model")?;
        let rows = stmt.query_map([run_id], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    let (from, to) = current_pass_json(tx, key)?;
    match error {
        Some(message) => queue_run_webhook(
            tx,
            key,
            run_id,
            models.first().map(String::as_str),
            Some(message),
            from,
            to,
        )?,
        None => {
            for model in &models {
                queue_run_webhook(tx, key, run_id, Some(model), None, from.clone(), to.clone())?;
            }
        }
    }
    tx.execute("DELETE FROM run_models WHERE run_id = ?1", [run_id])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use sync_sdk::{DeletionStrategy, SyncKind};

    use super::*;
    use crate::store::{
        PageEnd, PageWrite, PreparedRecord, RequestStats, RunEnd, SqliteStore, StartOptions, Store,
    };

    fn page(run_id: i64, ids: &[&str], end: PageEnd) -> PageWrite {
        PageWrite {
            run_id,
            model: "Contact".into(),
            records: ids
                .iter()
                .map(|id| PreparedRecord {
                    id: id.to_string(),
                    json: format!("{{\"id\":\"{id}\"}}").into_bytes(),
                    hash: id.len() as u64,
                    tombstone: false,
                })
                .collect(),
            deleted_ids: Vec::new(),
            next_cursor: matches!(end, PageEnd::More).then(|| "next".to_string()),
            checkpoint: Some(json!({"n": ids.len()})),
            track_seen: false,
            requests: 1,
            end,
        }
    }

    const START: StartOptions = StartOptions {
        kind: SyncKind::Incremental,
        reset: false,
    };
    const LAST: PageEnd = PageEnd::Last {
        deletion: DeletionStrategy::None,
    };

    #[tokio::test]
    async fn the_run_end_queues_one_webhook_per_changed_model_and_one_per_failure() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("s.db")).unwrap();
        store.set_webhooks_enabled(true);
        let key = SyncKey::new("acme", "crm", "contacts");

        let run = store.start_run(&key, START).await.unwrap();
        store
            .commit_page(&key, page(run.run_id, &["1", "2"], PageEnd::More))
            .await
            .unwrap();
        assert!(
            store.due_webhooks(i64::MAX, 10).await.unwrap().is_empty(),
            "queued before the run ended"
        );
        store
            .commit_page(&key, page(run.run_id, &["3"], LAST))
            .await
            .unwrap();
        let due = store.due_webhooks(i64::MAX, 10).await.unwrap();
        assert_eq!(due.len(), 1, "{due:?}");
        assert_eq!(due[0].payload["added"], 3);
        assert_eq!(due[0].payload["model"], "Contact");
        assert_eq!(due[0].payload["success"], true);

        // A run with nothing new queues nothing; a failed run queues its error.
        let run = store.start_run(&key, START).await.unwrap();
        store
            .commit_page(&key, page(run.run_id, &["1"], LAST))
            .await
            .unwrap();
        let run = store.start_run(&key, START).await.unwrap();
        store
            .end_run(
                &key,
                run.run_id,
                RunEnd::Failed("provider error: boom".into()),
                RequestStats::default(),
            )
            .await
            .unwrap();
        let due = store.due_webhooks(i64::MAX, 10).await.unwrap();
        assert_eq!(due.len(), 2, "{due:?}");
        assert_eq!(due[1].payload["success"], false);
        assert_eq!(due[1].payload["error"]["message"], "provider error: boom");

        // Delivered rows leave; a failed attempt comes back when due, with the same id.
        store
            .webhook_attempted(due[0].id, true, 0, None)
            .await
            .unwrap();
        store
            .webhook_attempted(due[1].id, false, 5_000, Some("503".into()))
            .await
            .unwrap();
        assert!(store.due_webhooks(4_999, 10).await.unwrap().is_empty());
        let again = store.due_webhooks(5_000, 10).await.unwrap();
        assert_eq!((again.len(), again[0].attempts), (1, 1));
        assert_eq!(again[0].webhook_id, due[1].webhook_id);
    }

    #[tokio::test]
    async fn webhooks_stay_out_of_the_outbox_when_disabled() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("s.db")).unwrap();
        let key = SyncKey::new("acme", "crm", "contacts");
        let run = store.start_run(&key, START).await.unwrap();
        store
            .commit_page(&key, page(run.run_id, &["1"], LAST))
            .await
            .unwrap();
        assert!(store.due_webhooks(i64::MAX, 10).await.unwrap().is_empty());
    }
}
