//! Human output: the progress bar, the run summary line and the runs table.

use std::sync::Arc;

use crate::driver::{PageProgress, Progress, RunReport};
use crate::store::{RunRecord, SyncKey};

/// An indicatif spinner counting pages and records.
#[derive(Clone)]
pub(crate) struct ProgressBar(Arc<indicatif::ProgressBar>);

impl ProgressBar {
    pub(crate) fn new() -> Self {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Self(Arc::new(bar))
    }

    pub(crate) fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Progress for ProgressBar {
    fn on_page(&self, p: &PageProgress) {
        self.0.set_message(format!(
            "page {} · {} added, {} updated, {} deleted, {} unchanged",
            p.page, p.total.added, p.total.updated, p.total.deleted, p.total.unchanged
        ));
    }
}

/// One line summarising a run.
pub(crate) fn report_line(key: &SyncKey, r: &RunReport) -> String {
    let mut line = format!(
        "{}/{} connection={} run={} status={}{} pages={} added={} updated={} deleted={} unchanged={} requests={} retries={} rate_limited={} waited={:.1}s elapsed={:.2}s",
        key.integration,
        key.sync,
        key.connection_id,
        r.run_id,
        r.status.as_str(),
        if r.resumed { " (resumed)" } else { "" },
        r.pages,
        r.counts.added,
        r.counts.updated,
        r.counts.deleted,
        r.counts.unchanged,
        r.stats.requests,
        r.stats.retries,
        r.stats.rate_limited,
        r.stats.wait_ms as f64 / 1000.0,
        r.elapsed.as_secs_f64()
    );
    if let Some(e) = &r.error {
        line.push_str("\nerror: ");
        line.push_str(e);
    }
    line
}

/// The runs table.
pub(crate) fn runs_table(runs: &[RunRecord]) -> String {
    let mut out = String::from(
        "RUN   CONNECTION       SYNC                   STATUS       PAGES  ADDED  UPDATED  DELETED  REQUESTS  RETRIES  429s  WAITED  STARTED                      ERROR\n",
    );
    for r in runs {
        out.push_str(&format!(
            "{:<5} {:<16} {:<22} {:<12} {:>5} {:>6} {:>8} {:>8} {:>9} {:>8} {:>5} {:>6.1}s  {:<28} {}\n",
            r.run_id,
            r.connection_id,
            format!("{}/{}", r.integration, r.sync),
            r.status.as_str(),
            r.pages,
            r.counts.added,
            r.counts.updated,
            r.counts.deleted,
            r.stats.requests,
            r.stats.retries,
            r.stats.rate_limited,
            r.stats.wait_ms as f64 / 1000.0,
            r.started_at,
            r.error.as_deref().unwrap_or("")
        ));
    }
    out
}
