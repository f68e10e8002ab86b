//! Bearer secret key on every endpoint but `GET /health`, compared in constant time.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use super::error::ApiError;

/// Environment variable holding the API secret key.
pub const SECRET_KEY_ENV: &str = "SYNCFN_SECRET_KEY";

/// The API's secret key.
#[derive(Debug, Clone)]
pub struct SecretKey(Arc<SecretString>);

impl SecretKey {
    /// A key (must not be empty).
    ///
    /// # Errors
    /// The key is empty.
    pub fn new(key: SecretString) -> Result<Self, String> {
        if key.expose_secret().trim().is_empty() {
            return Err(format!("{SECRET_KEY_ENV} is empty"));
        }
        Ok(Self(Arc::new(key)))
    }

    /// The key from `SYNCFN_SECRET_KEY`.
    ///
    /// # Errors
    /// Unset or empty.
    pub fn from_env() -> Result<Self, String> {
        let key = std::env::var(SECRET_KEY_ENV).map_err(|_| {
            format!("{SECRET_KEY_ENV} is not set: every endpoint but /health requires it as a bearer token")
        })?;
        Self::new(SecretString::from(key))
    }

    /// Whether `presented` is the key (constant time in the key's content).
    pub fn matches(&self, presented: &str) -> bool {
        presented
            .as_bytes()
            .ct_eq(self.0.expose_secret().as_bytes())
            .into()
    }
}

/// Middleware: reject requests without `Authorization: Bearer <key>`.
pub async fn require_key(State(key): State<SecretKey>, request: Request, next: Next) -> Response {
    if request.uri().path() == "/health" {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    match presented {
        None => ApiError::unauthorized(
            "missing Authorization header: send `Authorization: Bearer <SYNCFN_SECRET_KEY>`",
        )
        .into_response(),
        Some(token) if key.matches(token.trim()) => next.run(request).await,
        Some(_) => ApiError::unauthorized("invalid secret key").into_response(),
    }
}
