//! Standard Webhooks signatures: `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "{webhook-id}.{webhook-timestamp}.{body}">`, keyed by the bytes of a `whsec_<base64>` secret.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Sha256;

/// Environment variable holding the signing secret.
pub const WEBHOOK_SECRET_ENV: &str = "SYNCFN_WEBHOOK_SECRET";

/// The signing secret (key bytes), never printed.
#[derive(Clone)]
pub struct WebhookSecret(SecretSlice<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

impl WebhookSecret {
    /// Parse `whsec_<base64>` (the prefix is optional, as in the official libraries).
    ///
    /// # Errors
    /// Not base64, or empty; the message never echoes the secret.
    pub fn parse(text: &str) -> Result<Self, String> {
        let b64 = text.trim().strip_prefix("whsec_").unwrap_or(text.trim());
        let bytes = STANDARD.decode(b64).map_err(|_| {
            format!("{WEBHOOK_SECRET_ENV} must be whsec_ followed by base64 (e.g. whsec_$(openssl rand -base64 32))")
        })?;
        if bytes.is_empty() {
            return Err(format!("{WEBHOOK_SECRET_ENV} decodes to no bytes"));
        }
        Ok(Self(SecretSlice::from(bytes)))
    }

    /// The secret from `SYNCFN_WEBHOOK_SECRET`.
    ///
    /// # Errors
    /// Unset or malformed.
    pub fn from_env() -> Result<Self, String> {
        let text = std::env::var(WEBHOOK_SECRET_ENV).map_err(|_| {
            format!("{WEBHOOK_SECRET_ENV} is not set: webhooks are signed with it (whsec_<base64>)")
        })?;
        Self::parse(&text)
    }
}

/// The `webhook-signature` value for `id`, `timestamp` (Unix seconds) and `body`.
pub fn sign(secret: &WebhookSecret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.0.expose_secret())
        .expect("HMAC accepts keys of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_webhooks_reference_vector() {
        // The example from the Standard Webhooks specification.
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
