//! Session secrets: `tps_` followed by 64 hex characters of randomness. The browser holds the
//! secret in an HTTP-only cookie (the dashboard sends it to the API in-process as a Bearer
//! token); the database holds only its SHA-256. The form token that guards a session against
//! cross-site requests is derived from the secret, so nothing more is stored and every process
//! computes the same one.

use std::fmt;

use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};

/// Every session secret starts with this (API keys start with `tp_`).
pub const SESSION_PREFIX: &str = "tps_";

/// A session's secret. `Debug` never shows it.
#[derive(Clone)]
pub struct SessionSecret(SecretString);

impl SessionSecret {
    /// A fresh random secret.
    #[must_use]
    pub fn generate() -> Self {
        let random: [u8; 32] = rand::random();
        Self(SecretString::from(format!(
            "{SESSION_PREFIX}{}",
            hex::encode(random)
        )))
    }

    /// A secret as the browser sent it back; `None` when it cannot be one.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let hex = text.strip_prefix(SESSION_PREFIX)?;
        (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Self(SecretString::from(text.to_owned())))
    }

    /// The secret, for the cookie or the Bearer header.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }

    /// What the database stores and looks the session up by.
    #[must_use]
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.expose_secret().as_bytes()))
    }

    /// The token the session's forms carry: a hash of the secret under another label, so it
    /// reveals neither the secret nor the stored hash.
    #[must_use]
    pub fn form_token(&self) -> String {
        let mut digest = Sha256::new();
        digest.update(b"tokpost form token\0");
        digest.update(self.expose_secret().as_bytes());
        hex::encode(digest.finalize())
    }
}

impl fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionSecret([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_parses_back_and_never_shows() {
        let secret = SessionSecret::generate();
        let parsed = SessionSecret::parse(secret.expose_secret()).unwrap();
        assert_eq!(parsed.hash(), secret.hash());
        assert_ne!(secret.form_token(), secret.hash());
        assert!(!format!("{secret:?}").contains(&secret.expose_secret()[4..]));
        assert!(SessionSecret::parse("tps_short").is_none());
        assert!(SessionSecret::parse(&format!("tp_{}", "a".repeat(64))).is_none());
        assert!(SessionSecret::parse(&format!("tps_{}", "g".repeat(64))).is_none());
    }
}
