//! Several writers on one cache: two `syncfn run` processes commit to the same database (and
//! the same (connection, model) stream) at once; cursors stay unique and strictly increasing
//! in commit order and the cache ends exact.

use std::time::Duration;

use crate::common::{Env, assert_cache_equals_provider};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_writing_one_stream_keep_cursors_unique_and_the_cache_exact() {
    let env = Env::new(3_000).await;
    env.crm.set_page_delay(Duration::from_millis(2));
    // Both syncs write model Contact of connection c1; a third process writes c2.
    let runs = [
        ("crm/contacts", "c1"),
        ("crm/contacts-full", "c1"),
        ("crm/contacts-full", "c2"),
    ];
    let children: Vec<_> = runs
        .iter()
        .map(|(sync, connection)| env.run_command(sync, connection).output())
        .collect();
    let outputs = futures_join_all(children).await;
    for ((sync, connection), out) in runs.iter().zip(outputs) {
        let out = out.expect("spawn syncfn");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{sync} for {connection} failed next to the others:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let snapshot = env.crm.snapshot();
    for connection in ["c1", "c2"] {
        let cache = env.cache(connection).await;
        assert_eq!(cache.len(), 3_000, "{connection}: records listed by cursor");
        assert_cache_equals_provider(&cache, &snapshot);
    }
    let added: u64 = env.runs("c1").await.iter().map(|r| r.counts.added).sum();
    assert_eq!(added, 3_000, "c1: ADDED once per record across both syncs");
}

/// Await every future concurrently (no extra dependency for one join).
async fn futures_join_all<F: std::future::Future + Send + 'static>(
    futures: Vec<F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("join"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_run_of_the_same_sync_fences_out_the_older_one() {
    let env = Env::new(3_000).await;
    env.crm.set_page_delay(Duration::from_millis(40));
    let first = tokio::spawn(env.run_command("crm/contacts-full", "c1").output());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while env.pass_pages("c1", "contacts-full") < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "first run made no progress"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // A second run of the same sync while the first is alive (cron overlap, a manual run).
    let second = env.run("crm/contacts-full", "c1").await;
    let first = first.await.expect("join").expect("spawn syncfn");
    let first_stdout = String::from_utf8_lossy(&first.stdout);
    second.assert_success();
    assert!(
        second.summary.resumed,
        "second run resumes the pass: {}",
        second.stdout
    );
    assert_eq!(
        first.status.code(),
        Some(1),
        "the older run should stop: {first_stdout}"
    );
    assert!(
        first_stdout.contains("no longer owns its pass"),
        "the older run's error should say another run took over: {first_stdout}"
    );
    let runs = env.runs("c1").await;
    assert_eq!(runs.len(), 2, "runs: {runs:#?}");
    assert!(
        runs[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("no longer owns")),
        "run history of the older run: {:?}",
        runs[0]
    );
    assert_cache_equals_provider(&env.cache("c1").await, &env.crm.snapshot());
    let added: u64 = runs.iter().map(|r| r.counts.added).sum();
    assert_eq!(
        added, 3_000,
        "ADDED once per record across the overlapping runs"
    );
}
