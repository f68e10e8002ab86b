//! The scheduler: one schedule per (connection, sync), kept in the store.
//!
//! - A schedule ticks every `frequency_ms`; a paused schedule runs only when triggered.
//! - Runs of one schedule never overlap (a run in progress makes the key busy).
//! - Missed ticks coalesce: after a run the next tick is the first one after now.
//! - A failed run waits for its next tick; a run stopped by the time budget continues at once.
//! - A trigger (`/syncs/trigger`) is a pending flag in the store: two quick triggers make
//!   one run, and a trigger that arrives while the run is going is folded into it.
//! - On shutdown the stop flag makes each run stop after its page in flight commits; the
//!   schedule is left due so the next start resumes the pass at once.
//!
//! Busy keys live in this process; several workers sharing PostgreSQL will need a lease
//! column on the schedule instead (claimed with `UPDATE … WHERE lease_until < now`).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::driver::{Driver, RunOptions};
use crate::server::context::Service;
use crate::store::{RunStatus, Schedule, SyncKey, now_unix_ms};

/// How often the scheduler looks at the schedules when nothing wakes it.
const POLL: Duration = Duration::from_millis(250);

/// Shared by the scheduler and the API: busy keys, wake-ups, the stop flag.
#[derive(Debug, Clone, Default)]
pub struct SchedulerHandle {
    running: Arc<Mutex<HashSet<SyncKey>>>,
    wake: Arc<Notify>,
    stop: Arc<AtomicBool>,
}

impl SchedulerHandle {
    /// A handle with nothing running.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a run of `key` is in progress.
    pub fn is_running(&self, key: &SyncKey) -> bool {
        self.lock().contains(key)
    }

    /// Look at the schedules now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The flag every run watches; set on shutdown.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Whether shutdown began.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Begin shutdown: runs stop after their page in flight commits; no new run starts.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// Runs in progress.
    pub fn running_count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<SyncKey>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Mark `key` busy; false when it already is.
    fn claim(&self, key: &SyncKey) -> bool {
        self.lock().insert(key.clone())
    }

    fn release(&self, key: &SyncKey) {
        self.lock().remove(key);
        self.wake.notify_one();
    }
}

/// The first tick of a `frequency_ms` schedule due at `due_ms` that lies after `now_ms`.
pub fn next_tick_after(due_ms: i64, frequency_ms: u64, now_ms: i64) -> i64 {
    let freq = frequency_ms.max(1) as i64;
    if due_ms > now_ms {
        return due_ms;
    }
    let missed = (now_ms - due_ms) / freq + 1;
    due_ms + missed * freq
}

/// Make schedules whose last run did not finish its pass (the process died, was stopped or
/// hit its time budget) due at once, so startup resumes them.
///
/// # Errors
/// The store failed.
pub async fn resume_unfinished(service: &Service) -> Result<usize, crate::store::StoreError> {
    let now = now_unix_ms();
    let mut resumed = 0;
    for schedule in service.store.list_schedules(None).await? {
        if schedule.paused {
            continue;
        }
        let last = service.store.last_run(&schedule.key).await?;
        if let Some(run) = last
            && matches!(
                run.status,
                RunStatus::Running | RunStatus::Stopped | RunStatus::Interrupted
            )
        {
            service.store.set_next_run(&schedule.key, now).await?;
            resumed += 1;
        }
    }
    Ok(resumed)
}

/// Run the scheduler until shutdown, then wait for the runs in flight to stop. At most
/// `max_concurrent` runs go at once; due schedules beyond that wait for a free slot.
pub async fn run(service: Arc<Service>, driver: Driver, max_concurrent: usize) {
    let handle = service.scheduler.clone();
    loop {
        if handle.stopping() {
            break;
        }
        match service.store.due_schedules(now_unix_ms()).await {
            Ok(schedules) => {
                for schedule in schedules {
                    if handle.stopping() || handle.running_count() >= max_concurrent.max(1) {
                        break;
                    }
                    if handle.claim(&schedule.key) {
                        let (service, driver) = (service.clone(), driver.clone());
                        tokio::spawn(async move {
                            let key = schedule.key.clone();
                            run_once(&service, &driver, schedule).await;
                            service.scheduler.release(&key);
                        });
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read the schedules"),
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = handle.wake.notified() => {}
        }
    }
    while handle.running_count() > 0 {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = handle.wake.notified() => {}
        }
    }
}

/// One run of `schedule`; the caller holds its key busy.
async fn run_once(service: &Service, driver: &Driver, schedule: Schedule) {
    let key = schedule.key;
    let store = &service.store;
    let claimed = match store.claim_trigger(&key).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(sync = %key, error = %e, "cannot claim the pending run request");
            return;
        }
    };
    if claimed.is_none() {
        // A tick, not a trigger: the schedule may have been paused or rescheduled since the
        // scheduler read it.
        let fresh = store
            .list_schedules(Some(&key.connection_id))
            .await
            .ok()
            .and_then(|all| all.into_iter().find(|s| s.key == key));
        match fresh {
            Some(s) if !s.paused && s.next_run_at_ms <= now_unix_ms() => {}
            _ => return,
        }
    }
    let claimed = claimed.unwrap_or_default();
    let outcome = async {
        let target = service.target(&key).await.map_err(|e| e.to_string())?;
        if claimed.empty_cache {
            for model in target.sync.spec().models {
                store
                    .empty_cache(&key.connection_id, &model.name)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        let options = RunOptions {
            reset: claimed.reset || claimed.empty_cache,
            max_duration: service.max_run_duration,
            stop: Some(service.scheduler.stop_flag()),
            ..RunOptions::default()
        };
        driver
            .run(&target, options)
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    let now = now_unix_ms();
    let next = match &outcome {
        // Time budget or shutdown: the pass continues at once (after a restart, if stopping).
        Ok(report) if report.status == RunStatus::Stopped => now,
        Ok(report) => {
            tracing::info!(
                sync = %key,
                status = report.status.as_str(),
                added = report.counts.added,
                updated = report.counts.updated,
                deleted = report.counts.deleted,
                "run ended"
            );
            next_due(service, &key, now).await
        }
        Err(error) => {
            tracing::warn!(sync = %key, error = %error, "run could not start; waiting for the next tick");
            next_due(service, &key, now).await
        }
    };
    // The run's end may have queued webhooks: deliver them now rather than at the next poll.
    service.webhooks_wake.notify_one();
    if let Err(e) = store.set_next_run(&key, next).await {
        tracing::error!(sync = %key, error = %e, "cannot save the next run time");
    }
}

/// The next tick of `key` after `now`, read fresh (frequency or pause may have changed).
async fn next_due(service: &Service, key: &SyncKey, now: i64) -> i64 {
    match service
        .store
        .list_schedules(Some(&key.connection_id))
        .await
        .ok()
        .and_then(|all| all.into_iter().find(|s| &s.key == key))
    {
        Some(s) => next_tick_after(s.next_run_at_ms, s.frequency_ms, now),
        None => now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missed_ticks_coalesce_into_the_next_one_after_now() {
        assert_eq!(
            next_tick_after(1_000, 100, 950),
            1_000,
            "a future tick stays"
        );
        assert_eq!(next_tick_after(1_000, 100, 1_000), 1_100);
        assert_eq!(
            next_tick_after(1_000, 100, 1_555),
            1_600,
            "five missed ticks make one"
        );
    }
}
