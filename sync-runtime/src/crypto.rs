//! Credentials at rest: AES-256-GCM with a random 96-bit nonce per value, key from
//! `SYNCFN_ENCRYPTION_KEY` (base64 of 32 bytes). A sealed value is `nonce || ciphertext+tag`.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Environment variable holding the key.
pub const ENCRYPTION_KEY_ENV: &str = "SYNCFN_ENCRYPTION_KEY";

const NONCE_LEN: usize = 12;

/// Sealing failures; messages never contain key or plaintext material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The key is missing or malformed.
    #[error("{ENCRYPTION_KEY_ENV} {0}")]
    Key(String),
    /// A sealed value could not be opened (wrong key or tampered data).
    #[error("cannot decrypt stored credentials: wrong {ENCRYPTION_KEY_ENV} or corrupted data")]
    Open,
    /// Encryption failed.
    #[error("cannot encrypt credentials")]
    Seal,
}

/// Seals and opens credentials.
#[derive(Clone)]
pub struct CredentialCipher {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for CredentialCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialCipher(..)")
    }
}

impl CredentialCipher {
    /// A cipher from a base64 key of exactly 32 bytes.
    ///
    /// # Errors
    /// [`CryptoError::Key`] saying what is wrong with it (never echoing it).
    pub fn from_base64(key: &str) -> Result<Self, CryptoError> {
        let bytes = STANDARD.decode(key.trim()).map_err(|_| {
            CryptoError::Key(
                "is not valid base64: generate one with `openssl rand -base64 32`".into(),
            )
        })?;
        if bytes.len() != 32 {
            return Err(CryptoError::Key(format!(
                "decodes to {} bytes; AES-256 needs 32 (generate one with `openssl rand -base64 32`)",
                bytes.len()
            )));
        }
        Ok(Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)),
        })
    }

    /// The cipher for the key in `SYNCFN_ENCRYPTION_KEY`.
    ///
    /// # Errors
    /// The variable is unset or malformed.
    pub fn from_env() -> Result<Self, CryptoError> {
        let key = std::env::var(ENCRYPTION_KEY_ENV).map_err(|_| {
            CryptoError::Key(
                "is not set: credentials are encrypted at rest with it (generate one with `openssl rand -base64 32`)"
                    .into(),
            )
        })?;
        Self::from_base64(&key)
    }

    /// Encrypt `plaintext`.
    ///
    /// # Errors
    /// [`CryptoError::Seal`].
    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let mut out = nonce.to_vec();
        out.extend(
            self.cipher
                .encrypt(&nonce, plaintext)
                .map_err(|_| CryptoError::Seal)?,
        );
        Ok(out)
    }

    /// Decrypt a value from [`seal`](Self::seal).
    ///
    /// # Errors
    /// [`CryptoError::Open`] for a wrong key or tampered data.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::Open);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| CryptoError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn sealed_credentials_round_trip_and_hide_the_plaintext() {
        let cipher = CredentialCipher::from_base64(KEY).unwrap();
        let sealed = cipher.seal(b"tok-SECRET-123").unwrap();
        assert!(
            !sealed.windows(6).any(|w| w == b"SECRET"),
            "plaintext visible in the sealed value"
        );
        assert_eq!(cipher.open(&sealed).unwrap(), b"tok-SECRET-123");
        assert_ne!(
            cipher.seal(b"x").unwrap(),
            cipher.seal(b"x").unwrap(),
            "nonce reused"
        );
    }

    #[test]
    fn a_wrong_key_or_tampering_fails_to_open() {
        let cipher = CredentialCipher::from_base64(KEY).unwrap();
        let mut sealed = cipher.seal(b"secret").unwrap();
        let other =
            CredentialCipher::from_base64("HxwdHhsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=").unwrap();
        assert!(other.open(&sealed).is_err(), "opened with the wrong key");
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(cipher.open(&sealed).is_err(), "opened tampered data");
        let err = CredentialCipher::from_base64("c2hvcnQ=")
            .unwrap_err()
            .to_string();
        assert!(err.contains("5 bytes") && !err.contains("c2hvcnQ"), "{err}");
    }
}
