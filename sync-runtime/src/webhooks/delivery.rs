//! Delivery loop: read due outbox rows, POST them signed, mark them delivered or schedule the
//! next attempt with exponential backoff and jitter (`backon`). Attempts and their times live
//! in the outbox, so a restart continues where the last process stopped, with the same
//! `webhook-id`.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::sync::Notify;

use super::signing::{WebhookSecret, sign};
use crate::store::{OutboxMessage, Store, now_unix_ms};

/// Where and how webhooks go.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// The application's endpoint.
    pub url: String,
    /// Signing secret.
    pub secret: WebhookSecret,
    /// First retry delay.
    pub min_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// Per-attempt timeout.
    pub timeout: Duration,
}

impl WebhookConfig {
    /// Defaults: retries from 1 s up to 5 minutes, 10 s per attempt.
    pub fn new(url: String, secret: WebhookSecret) -> Self {
        Self {
            url,
            secret,
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            timeout: Duration::from_secs(10),
        }
    }

    /// The delay before attempt `attempts + 1`, after `attempts` failures.
    pub fn backoff(&self, attempts: u32) -> Duration {
        ExponentialBuilder::default()
            .with_min_delay(self.min_backoff)
            .with_max_delay(self.max_backoff)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
            .build()
            // Past ~32 doublings every delay is the maximum; don't walk the iterator further.
            .nth(attempts.saturating_sub(1).min(32) as usize)
            .unwrap_or(self.max_backoff)
    }
}

/// Deliver until `stop` resolves.
pub async fn run(
    store: Arc<dyn Store>,
    config: WebhookConfig,
    client: reqwest::Client,
    wake: Arc<Notify>,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        match store.due_webhooks(now_unix_ms(), 20).await {
            Ok(due) => {
                for message in due {
                    deliver(&*store, &config, &client, message).await;
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read the webhook outbox"),
        }
        tokio::select! {
            _ = &mut stop => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

async fn deliver(
    store: &dyn Store,
    config: &WebhookConfig,
    client: &reqwest::Client,
    message: OutboxMessage,
) {
    let body = message.payload.to_string();
    let timestamp = now_unix_ms() / 1000;
    let signature = sign(
        &config.secret,
        &message.webhook_id,
        timestamp,
        body.as_bytes(),
    );
    let result = client
        .post(&config.url)
        .timeout(config.timeout)
        .header("content-type", "application/json")
        .header("webhook-id", &message.webhook_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    let error = match result {
        Ok(response) if response.status().is_success() => None,
        Ok(response) => Some(format!("the endpoint answered {}", response.status())),
        Err(e) if e.is_timeout() => Some("the endpoint timed out".to_string()),
        Err(_) => Some("could not reach the endpoint".to_string()),
    };
    let attempts = message.attempts + 1;
    let (delivered, next) = match &error {
        None => (true, 0),
        Some(_) => (
            false,
            now_unix_ms() + config.backoff(attempts).as_millis() as i64,
        ),
    };
    if let Some(error) = &error {
        tracing::warn!(webhook_id = %message.webhook_id, attempts, error = %error, "webhook delivery failed; will retry");
    } else {
        tracing::info!(webhook_id = %message.webhook_id, attempts, "webhook delivered");
    }
    if let Err(e) = store
        .webhook_attempted(message.id, delivered, next, error)
        .await
    {
        tracing::error!(webhook_id = %message.webhook_id, error = %e, "cannot record the webhook attempt");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_within_its_bounds() {
        let config = WebhookConfig::new(
            "http://127.0.0.1:1/hooks".into(),
            WebhookSecret::parse("whsec_c2VjcmV0").unwrap(),
        );
        let first = config.backoff(1);
        assert!(
            first >= Duration::from_secs(1) && first <= Duration::from_secs(2),
            "first retry after {first:?}"
        );
        assert!(
            config.backoff(4) >= Duration::from_secs(8),
            "no exponential growth"
        );
        for attempts in [20, 200, u32::MAX] {
            let d = config.backoff(attempts);
            assert!(
                d <= config.max_backoff * 2,
                "attempt {attempts} waits {d:?}"
            );
        }
    }
}
