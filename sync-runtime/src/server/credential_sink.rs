//! Persists OAuth2 tokens a provider rotated, sealed with the service's cipher, so a rotated
//! refresh token survives a restart.

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use secrecy::ExposeSecret;
use serde_json::Value;

use crate::crypto::CredentialCipher;
use crate::http::{CredentialSink, MemoryCredentialSink, OAuthTokens};
use crate::store::Store;

/// Keeps the newest tokens in memory (preferred by the next request) and writes them into the
/// connection's sealed credentials in the background, one write at a time, newest last.
pub struct StoreCredentialSink {
    memory: Arc<MemoryCredentialSink>,
    store: Arc<dyn Store>,
    cipher: CredentialCipher,
    writes: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for StoreCredentialSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreCredentialSink")
            .finish_non_exhaustive()
    }
}

impl StoreCredentialSink {
    /// A sink writing into `store`, sealing with `cipher`.
    pub fn new(store: Arc<dyn Store>, cipher: CredentialCipher) -> Self {
        Self {
            memory: Arc::new(MemoryCredentialSink::default()),
            store,
            cipher,
            writes: Arc::new(tokio::sync::Mutex::new(())),
        }
    }
}

impl CredentialSink for StoreCredentialSink {
    fn tokens_refreshed(&self, integration: &str, connection_id: &str, tokens: &OAuthTokens) {
        self.memory
            .tokens_refreshed(integration, connection_id, tokens);
        let (memory, store, cipher, writes) = (
            self.memory.clone(),
            self.store.clone(),
            self.cipher.clone(),
            self.writes.clone(),
        );
        let (integration, connection) = (integration.to_string(), connection_id.to_string());
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(connection = %connection, "no async runtime: refreshed OAuth2 tokens kept in memory only");
            return;
        };
        runtime.spawn(async move {
            let _one_at_a_time = writes.lock().await;
            // Write the newest tokens, whichever refresh spawned this task.
            let Some(newest) = memory.latest(&integration, &connection) else {
                return;
            };
            if let Err(error) = persist(&*store, &cipher, &connection, &newest).await {
                tracing::warn!(connection = %connection, error = %error, "could not persist refreshed OAuth2 tokens");
            }
        });
    }

    fn latest(&self, integration: &str, connection_id: &str) -> Option<OAuthTokens> {
        self.memory.latest(integration, connection_id)
    }
}

async fn persist(
    store: &dyn Store,
    cipher: &CredentialCipher,
    connection_id: &str,
    tokens: &OAuthTokens,
) -> Result<(), String> {
    let Some(sealed) = store
        .get_credentials(connection_id)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(());
    };
    let plain = cipher.open(&sealed).map_err(|e| e.to_string())?;
    let mut credentials: Value = serde_json::from_slice(&plain)
        .map_err(|_| "stored credentials are not JSON".to_string())?;
    let Some(fields) = credentials.as_object_mut() else {
        return Err("stored credentials are not an object".into());
    };
    // Only the refresh-token grant stores tokens; client credentials fetch a new one anyway.
    if fields.get("type").and_then(Value::as_str) != Some("oauth2_refresh_token") {
        return Ok(());
    }
    if let Some(refresh) = &tokens.refresh_token {
        fields.insert("refresh_token".into(), refresh.expose_secret().into());
    }
    fields.insert(
        "access_token".into(),
        tokens.access_token.expose_secret().into(),
    );
    match tokens
        .expires_at
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
    {
        Some(at) => fields.insert("expires_at".into(), at.as_secs().into()),
        None => fields.remove("expires_at"),
    };
    let plain = serde_json::to_vec(&credentials).map_err(|e| e.to_string())?;
    let sealed = cipher.seal(&plain).map_err(|e| e.to_string())?;
    store
        .put_credentials(connection_id, &sealed)
        .await
        .map_err(|e| e.to_string())
}
