//! WAL checkpoints on a thread of their own.
//!
//! In WAL mode a commit appends pages to the log; a checkpoint later copies them into the
//! database file. SQLite's automatic checkpoint runs inside the commit that crosses its
//! threshold, on the thread that commits pages: during a big initial sync it was about a third
//! of the commit stage. Here the writer's WAL hook only signals a thread with its own
//! connection, which checkpoints (PASSIVE: it never blocks the writer or readers) while the
//! writer goes on committing. Durability is unchanged: a commit is in the log either way, and
//! the log is recovered on open after a crash whether or not it was checkpointed.
//!
//! Most of the log is copied by the thread. The log can only start over from its beginning
//! (rather than grow) once every frame in it is copied, which a thread running behind a busy
//! writer never quite achieves; so once the thread has copied all but a few frames the writer
//! copies those itself after its commit, and the next commit starts the log over. Should the
//! thread fall behind (or be gone), the writer checkpoints inline once the log passes
//! [`INLINE_AT`] frames, so the log stays bounded either way.

use std::ffi::c_int;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use rusqlite::Connection;
use rusqlite::wal::CheckpointMode;

/// Log size (frames of one database page) past which the background thread is asked to
/// checkpoint: 2,048 frames of 4 KiB are 8 MiB.
pub(super) const BACKGROUND_AT: u32 = 2_048;
/// The writer finishes a checkpoint the thread has brought this close to the end of the log
/// (or within an eighth of it: a thread copying while the writer appends gets closer to the
/// end with every pass, never to it).
pub(super) const FINISH_WITHIN: u32 = 256;
/// Log size past which the writer checkpoints itself after a commit, whatever the thread does.
pub(super) const INLINE_AT: u32 = 8 * BACKGROUND_AT;

/// What the thread last did, shared with the writer's hook.
#[derive(Debug, Default)]
struct Progress {
    /// `(log frames, frames copied)` after the thread's last checkpoint, packed in one word.
    last: AtomicU64,
}

impl Progress {
    fn report(&self, log: u32, copied: u32) {
        self.last.store(
            (u64::from(log) << 32) | u64::from(copied),
            Ordering::Release,
        );
    }

    /// Frames of a log of `frames` frames not copied yet, as far as the thread knows.
    fn behind(&self, frames: u32) -> u32 {
        let last = self.last.load(Ordering::Acquire);
        let (log, copied) = ((last >> 32) as u32, last as u32);
        if frames < log {
            // The log started over since the thread's report: nothing of it is known copied.
            frames
        } else {
            frames - copied.min(log)
        }
    }
}

/// The checkpoint thread. Dropped after the store's connections (it is declared after them),
/// it waits for the thread: the thread's connection is then the last one open, and closing it
/// checkpoints what is left and removes the log, as closing a lone connection does.
#[derive(Debug)]
pub(super) struct Checkpointer {
    thread: Option<std::thread::JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    wake: SyncSender<()>,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // A full channel wakes the thread as well; a gone thread needs no waking.
        let _ = self.wake.try_send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Start the checkpoint thread for the database at `path` and install the WAL hook on the
/// `writer` connection that wakes it. The thread ends when `writer` is dropped.
///
/// # Errors
/// The thread's connection cannot be opened, or the hook cannot be installed.
pub(super) fn start(writer: &mut Connection, path: &Path) -> rusqlite::Result<Checkpointer> {
    let conn = Connection::open(path)?;
    conn.execute_batch("PRAGMA busy_timeout = 10000;")?;
    // A connection opens the log on its first read; until then a checkpoint does nothing.
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
        r.get::<_, i64>(0)
    })?;
    let (wake, woken) = sync_channel::<()>(1);
    let progress = Arc::new(Progress::default());
    let thread_progress = progress.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = stop.clone();
    let thread = std::thread::Builder::new()
        .name("syncfn-checkpoint".into())
        .spawn(move || run(conn, woken, &thread_progress, &thread_stop))
        .map_err(|e| {
            rusqlite::Error::ToSqlConversionFailure(
                format!("cannot start the checkpoint thread: {e}").into(),
            )
        })?;
    let stopper = wake.clone();
    // The hook replaces SQLite's automatic checkpoint on this connection.
    writer.wal_hook(Some(
        move |wal: &mut rusqlite::hooks::Wal, frames: c_int| {
            on_commit(&wake, &progress, u32::try_from(frames).unwrap_or(0), || {
                wal.checkpoint_v2(CheckpointMode::PASSIVE).map(|_| ())
            })
        },
    ))?;
    Ok(Checkpointer {
        thread: Some(thread),
        stop,
        wake: stopper,
    })
}

/// After a commit that left `frames` in the log: checkpoint inline to finish what the thread
/// almost finished, or when the log has grown past [`INLINE_AT`] anyway; otherwise wake the
/// thread.
fn on_commit(
    wake: &SyncSender<()>,
    progress: &Progress,
    frames: u32,
    inline: impl FnOnce() -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    if frames < BACKGROUND_AT {
        return Ok(());
    }
    let almost_done = progress.behind(frames) <= FINISH_WITHIN.max(frames / 8);
    let thread_gone = !almost_done
        && frames < INLINE_AT
        && matches!(wake.try_send(()), Err(TrySendError::Disconnected(())));
    if almost_done || frames >= INLINE_AT || thread_gone {
        match inline() {
            // The thread is checkpointing right now: it will catch up.
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy => {}
            other => other?,
        }
    }
    Ok(())
}

fn run(conn: Connection, woken: Receiver<()>, progress: &Progress, stop: &AtomicBool) {
    while woken.recv().is_ok() {
        if stop.load(Ordering::Acquire) {
            break;
        }
        match conn.wal_checkpoint_v2(None::<&str>, CheckpointMode::PASSIVE) {
            Ok((log, copied)) => progress.report(
                u32::try_from(log).unwrap_or(0),
                u32::try_from(copied).unwrap_or(0),
            ),
            Err(e) => tracing::debug!(error = %e, "background WAL checkpoint did not run"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn a_small_log_is_left_alone() {
        let (wake, woken) = sync_channel(1);
        let progress = Progress::default();
        on_commit(&wake, &progress, BACKGROUND_AT - 1, || {
            panic!("no inline checkpoint")
        })
        .unwrap();
        assert!(woken.try_recv().is_err(), "the thread must not be woken");
    }

    #[test]
    fn a_growing_log_wakes_the_thread_and_a_long_one_is_checkpointed_inline() {
        let (wake, woken) = sync_channel(1);
        let progress = Progress::default();
        // The thread copied half of an earlier, longer log: this one is unknown.
        progress.report(BACKGROUND_AT * 3, BACKGROUND_AT);
        on_commit(&wake, &progress, BACKGROUND_AT, || {
            panic!("no inline checkpoint")
        })
        .unwrap();
        assert!(woken.try_recv().is_ok());
        let ran = Cell::new(false);
        on_commit(&wake, &progress, INLINE_AT, || {
            ran.set(true);
            Ok(())
        })
        .unwrap();
        assert!(ran.get(), "past INLINE_AT the writer checkpoints itself");
    }

    #[test]
    fn without_the_thread_the_writer_checkpoints() {
        let (wake, woken) = sync_channel(1);
        drop(woken);
        let ran = Cell::new(false);
        on_commit(&wake, &Progress::default(), BACKGROUND_AT, || {
            ran.set(true);
            Ok(())
        })
        .unwrap();
        assert!(ran.get());
    }

    #[test]
    fn the_writer_finishes_what_the_thread_almost_finished() {
        let (wake, _woken) = sync_channel(1);
        let progress = Progress::default();
        progress.report(BACKGROUND_AT + 100, BACKGROUND_AT);
        let frames = BACKGROUND_AT + 100 + BACKGROUND_AT / 4;
        on_commit(&wake, &progress, frames, || panic!("too much left to copy")).unwrap();
        let ran = Cell::new(false);
        on_commit(&wake, &progress, BACKGROUND_AT + FINISH_WITHIN + 1, || {
            ran.set(true);
            Ok(())
        })
        .unwrap();
        assert!(ran.get(), "a few frames left: the writer copies them");
    }

    #[test]
    fn the_thread_keeps_the_log_bounded_while_a_writer_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let mut writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
                 CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB NOT NULL);",
            )
            .unwrap();
        start(&mut writer, &path).unwrap();
        let blob = vec![7u8; 4000];
        for batch in 0..200 {
            let tx = writer.transaction().unwrap();
            for i in 0..100 {
                tx.execute(
                    "INSERT INTO t (id, data) VALUES (?1, ?2)",
                    rusqlite::params![batch * 100 + i, blob],
                )
                .unwrap();
            }
            tx.commit().unwrap();
        }
        let rows: i64 = writer
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 20_000);
        // About 80 MB went through the log; it must have started over before the writer had
        // to checkpoint by itself at INLINE_AT frames.
        let wal = std::fs::metadata(dir.path().join("c.db-wal"))
            .unwrap()
            .len();
        assert!(
            wal < 4096 * u64::from(INLINE_AT),
            "the WAL grew to {wal} bytes"
        );
        let db = std::fs::metadata(&path).unwrap().len();
        assert!(db > 60_000_000, "checkpoints copied the pages: {db} bytes");
    }

    #[test]
    fn closing_the_writer_then_the_thread_leaves_no_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let mut writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB NOT NULL);",
            )
            .unwrap();
        let checkpointer = start(&mut writer, &path).unwrap();
        let tx = writer.transaction().unwrap();
        for i in 0..3_000 {
            tx.execute(
                "INSERT INTO t (id, data) VALUES (?1, ?2)",
                rusqlite::params![i, vec![1u8; 4000]],
            )
            .unwrap();
        }
        tx.commit().unwrap();
        drop(writer);
        drop(checkpointer);
        assert!(
            !dir.path().join("c.db-wal").exists(),
            "the last connection to close checkpoints and removes the log"
        );
        let conn = Connection::open(&path).unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 3_000);
    }
}
