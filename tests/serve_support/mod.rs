//! Shared by the `serve_*` tests: `syncfn serve` as a child process, an API client with the
//! bearer key, and a loopback webhook receiver that verifies Standard Webhooks signatures
//! with its own HMAC code (independent of the server's).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

pub const SECRET_KEY: &str = "sk-test-4f7d0c2a9b";
pub const ENCRYPTION_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// `whsec_` + base64 of the 24 bytes "syncfn-webhook-secret-01".
pub const WEBHOOK_SECRET: &str = "whsec_c3luY2ZuLXdlYmhvb2stc2VjcmV0LTAx";

/// A running `syncfn serve`.
pub struct Serve {
    child: Child,
    pub base: String,
    pub logs: Arc<Mutex<String>>,
    client: reqwest::Client,
}

impl Serve {
    /// Start with `db`, optionally posting webhooks to `webhook_url`.
    pub fn start(db: &Path, webhook_url: Option<&str>) -> Serve {
        Self::start_with(db, webhook_url, &[])
    }

    /// Start with extra command-line arguments.
    pub fn start_with(db: &Path, webhook_url: Option<&str>, extra: &[&str]) -> Serve {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_syncfn"));
        cmd.arg("serve")
            .arg("--db")
            .arg(db)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .env("SYNCFN_SECRET_KEY", SECRET_KEY)
            .env("SYNCFN_ENCRYPTION_KEY", ENCRYPTION_KEY)
            .env("SYNCFN_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .env("SYNCFN_MIN_FREQUENCY_MS", "200")
            .env("SYNCFN_LOG", "debug")
            .env_remove("SYNCFN_WEBHOOK_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(url) = webhook_url {
            cmd.arg("--webhook-url").arg(url);
        }
        cmd.args(extra);
        let mut child = cmd.spawn().expect("spawn syncfn serve");
        let logs = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.stderr.take().expect("stderr");
        let sink = logs.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            for _ in lines {}
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!(
                    "syncfn serve printed no address; logs:\n{}",
                    logs.lock().unwrap()
                )
            });
        let base = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Serve {
            child,
            base,
            logs,
            client: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with the bearer key.
    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(SECRET_KEY)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        send(self.req(reqwest::Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        send(self.req(reqwest::Method::POST, path).json(&body)).await
    }

    /// Runs of `connection` (newest first).
    pub async fn runs(&self, connection: &str) -> Vec<Value> {
        let (status, body) = self
            .get(&format!("/runs?connection_id={connection}&limit=1000"))
            .await;
        assert_eq!(status, 200, "GET /runs: {body}");
        body["runs"].as_array().cloned().unwrap_or_default()
    }

    /// Every record after `cursor`, following next_cursor; returns them and the last cursor.
    pub async fn records_after(
        &self,
        connection: &str,
        model: &str,
        cursor: Option<&str>,
    ) -> (Vec<Value>, Option<String>) {
        let mut out = Vec::new();
        let mut cursor = cursor.map(str::to_string);
        loop {
            let mut path = format!("/records?connection_id={connection}&model={model}&limit=100");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let (status, body) = self.get(&path).await;
            assert_eq!(status, 200, "GET {path}: {body}");
            let records = body["records"].as_array().cloned().unwrap_or_default();
            if let Some(last) = records.last() {
                cursor = last["_metadata"]["cursor"].as_str().map(str::to_string);
            }
            out.extend(records);
            if body["next_cursor"].is_null() {
                return (out, cursor);
            }
        }
    }

    /// SIGTERM, then wait for the exit (graceful shutdown).
    pub fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "syncfn serve did not exit within {within:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL (a crash).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let response = req.send().await.expect("request to syncfn serve");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Poll `check` every 100 ms until it returns `Some`, or panic with `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One webhook request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Value,
    pub verified: bool,
    /// Whether the receiver answered 2xx.
    pub accepted: bool,
}

/// A loopback webhook receiver.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    /// Answer 500 to this many requests first.
    fail_first: Arc<AtomicUsize>,
}

/// Verify a Standard Webhooks signature: HMAC-SHA256 over "id.timestamp.body" with the bytes
/// of the base64 part of the `whsec_` secret; any of the space-separated `v1,` signatures.
pub fn verify(secret: &str, id: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .expect("test secret is base64");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    let fresh = timestamp
        .parse::<i64>()
        .map(|t| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            (now - t).abs() <= 300
        })
        .unwrap_or(false);
    fresh
        && header
            .split(' ')
            .filter_map(|s| s.strip_prefix("v1,"))
            .any(|sig| sig == expected)
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (id, timestamp, signature) = (
        h("webhook-id"),
        h("webhook-timestamp"),
        h("webhook-signature"),
    );
    let verified = verify(WEBHOOK_SECRET, &id, &timestamp, &body, &signature);
    let accepted = r
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_err();
    r.received.lock().unwrap().push(Received {
        id,
        timestamp,
        signature,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        verified,
        accepted,
    });
    if accepted {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

impl Receiver {
    /// Start on `addr` (port 0 = any), answering 500 to the first `fail_first` requests.
    pub async fn start(addr: &str, fail_first: usize) -> Receiver {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind receiver");
        let receiver = Receiver {
            addr: listener.local_addr().unwrap(),
            received: Arc::default(),
            fail_first: Arc::new(AtomicUsize::new(fail_first)),
        };
        let app = axum::Router::new()
            .route("/hooks", axum::routing::post(receive))
            .with_state(receiver.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        receiver
    }

    pub fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    pub fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Accepted webhooks with `success` for `model`.
    pub fn accepted_for(&self, model: &str) -> Vec<Received> {
        self.all()
            .into_iter()
            .filter(|r| r.accepted && r.body["model"] == model && r.body["success"] == true)
            .collect()
    }
}

/// A free loopback port (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
