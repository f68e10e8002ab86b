//! Guarantee 2: memory is bounded by page size, not dataset size. Peak RSS of `syncfn run`
//! measured by `/usr/bin/time -v` (the kernel's ru_maxrss of the child).

use std::path::Path;
use std::process::Stdio;

use crate::common::Env;

/// Peak RSS in KiB of a full `crm/contacts-full` pass over `contacts` records.
async fn peak_rss_kib(contacts: u64) -> u64 {
    let env = Env::new(contacts).await;
    let output = tokio::process::Command::new("/usr/bin/time")
        .arg("-v")
        .arg(env!("CARGO_BIN_EXE_syncfn"))
        .args(["run", "crm/contacts-full", "--connection", "m", "--quiet"])
        .arg("--db")
        .arg(&env.db)
        .arg("--config")
        .arg(&env.config)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("spawn /usr/bin/time syncfn");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains(&format!("added={contacts} ")),
        "run over {contacts} records failed:\n{stdout}\n{stderr}"
    );
    stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in /usr/bin/time output: {stderr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peak_memory_does_not_grow_with_dataset_size() {
    if !Path::new("/usr/bin/time").exists() {
        eprintln!("skipped: /usr/bin/time is not installed");
        return;
    }
    let small = peak_rss_kib(10_000).await;
    let large = peak_rss_kib(100_000).await;
    eprintln!("peak RSS of syncfn run: 10,000 records {small} KiB, 100,000 records {large} KiB");
    assert!(
        large < 100 * 1024,
        "peak RSS over 100,000 records is {large} KiB, above the 100 MiB bound"
    );
    assert!(
        large < small + 16 * 1024,
        "peak RSS grew with the dataset: {small} KiB at 10,000 records, {large} KiB at 100,000"
    );
}
