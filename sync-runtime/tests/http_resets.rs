//! A connection dropped before the answer and a response slower than the client's timeout
//! are retried through the `HttpClient` an author uses, and counted.

use std::sync::Arc;
use std::time::Duration;

use sync_runtime::connection::Credentials;
use sync_runtime::http::{
    Authenticator, MemoryCredentialSink, ProviderLimiter, ReqwestTransport, RetryPolicy,
    RunCounters,
};
use sync_sdk::HttpClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Connection 1 is closed after reading the request, connection 2 answers after 1 s (past the
/// client's timeout), connection 3 answers at once.
async fn flaky_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        for n in 1.. {
            let (mut socket, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                match n {
                    1 => drop(socket),
                    _ => {
                        if n == 2 {
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                        let body = r#"{"ok":true}"#;
                        let response = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = socket.write_all(response.as_bytes()).await;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn connection_resets_and_timeouts_are_retried() {
    let base = flaky_server().await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let counters = Arc::new(RunCounters::default());
    let auth = Authenticator::new(
        client.clone(),
        Credentials::None,
        Arc::new(MemoryCredentialSink::default()),
        "flaky",
        "conn",
    );
    let transport = ReqwestTransport::new(
        client,
        auth,
        Arc::new(ProviderLimiter::new(None).unwrap()),
        counters.clone(),
    )
    .with_retry(RetryPolicy {
        max_attempts: 4,
        max_total: Duration::from_secs(10),
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(20),
    });
    let http = HttpClient::new(Arc::new(transport), base);

    let response = http
        .get("/thing")
        .send()
        .await
        .expect("the third attempt succeeds");
    let body: serde_json::Value = response.json().unwrap();
    assert_eq!(body, serde_json::json!({"ok": true}));
    let stats = counters.snapshot();
    assert_eq!(
        (stats.requests, stats.retries),
        (3, 2),
        "a dropped connection and a timeout must each be retried once: {stats:?}"
    );
}
