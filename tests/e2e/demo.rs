//! `syncfn demo` runs end to end and exits 0.

use std::process::Stdio;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_exits_zero_and_prints_the_changes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_syncfn"))
        .args(["demo", "--records", "1500", "--db"])
        .arg(dir.path().join("demo.db"))
        .stdin(Stdio::null())
        .output()
        .await
        .expect("spawn syncfn demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "syncfn demo failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("first run: 1500 added"),
        "demo summary missing: {stdout}"
    );
}
