//! Token encryption at rest: XChaCha20-Poly1305, with the account id and the column name as
//! associated data so a ciphertext copied to another account or column does not decrypt. The
//! other secrets the store keeps are sealed the same way, their row's id in the account's
//! place: OAuth PKCE verifiers, outbound webhook endpoint secrets and posts' upload URLs.
//!
//! Stored format: `version (1 byte) ‖ key id (4 bytes) ‖ nonce (24 bytes) ‖ ciphertext + tag`.
//! The key id (the first 4 bytes of SHA-256 of the key) lets a wrong or rotated key be reported
//! as such instead of as corruption.
//!
//! # Key rotation
//!
//! Because every ciphertext names its key, rotation needs no migration and no bookkeeping
//! table: a [`TokenCipher`] has one current key (every seal) and any number of previous,
//! decrypt-only keys ([`TokenCipher::with_previous`]); the store's `reencrypt_secrets` rewrites,
//! one batch per transaction, every ciphertext whose key id is not the current one, until none
//! is left. An interrupted rotation resumes by running it again: rows already rewritten carry
//! the new key id and are skipped. With the generated key file, `token.key.next` is the new key
//! while a rotation runs ([`TokenCipher::load_or_generate`] then seals with it and still opens
//! the old one), and [`finish_file_rotation`] makes it `token.key` once nothing needs the old one.
//!
//! This module must never log, format or return plaintext except through [`SecretString`].

use std::fmt;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use chacha20poly1305::aead::{Aead as _, Generate as _, Payload};
use chacha20poly1305::{KeyInit as _, XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

const FORMAT_VERSION: u8 = 1;
const KEY_ID_LEN: usize = 4;
const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;
/// File name of the generated key inside the data directory.
pub const KEY_FILE_NAME: &str = "token.key";
/// The new key while a rotation of the generated key runs.
pub const NEXT_KEY_FILE_NAME: &str = "token.key.next";

/// Why a key could not be loaded or a token not be sealed/opened. Never carries plaintext.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("the token key must be {KEY_LEN} bytes encoded as base64")]
    MalformedKey,
    #[error("could not read or create the token key file {path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the token key file {path} is readable by others (mode {mode:o}); it must be 0600")]
    KeyFileTooOpen { path: PathBuf, mode: u32 },
    #[error("the system random generator failed")]
    Random,
    #[error("a stored token was encrypted with another key (key id {found:08x}, ours {ours:08x})")]
    WrongKey { found: u32, ours: u32 },
    #[error("a stored token is malformed or was tampered with")]
    Corrupt,
}

/// Encrypts tokens with its current key, and decrypts with it or any previous key.
#[derive(Clone)]
pub struct TokenCipher {
    cipher: XChaCha20Poly1305,
    key_id: [u8; KEY_ID_LEN],
    /// Decrypt-only keys of a rotation in progress.
    previous: Vec<([u8; KEY_ID_LEN], XChaCha20Poly1305)>,
}

impl fmt::Debug for TokenCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCipher")
            .field("key_id", &hex_id(self.key_id))
            .field(
                "previous_key_ids",
                &self
                    .previous
                    .iter()
                    .map(|(id, _)| hex_id(*id))
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

fn hex_id(id: [u8; KEY_ID_LEN]) -> String {
    format!("{:08x}", u32::from_be_bytes(id))
}

impl TokenCipher {
    fn from_key_bytes(key: &[u8]) -> Result<Self, CryptoError> {
        if key.len() != KEY_LEN {
            return Err(CryptoError::MalformedKey);
        }
        let cipher =
            XChaCha20Poly1305::new_from_slice(key).map_err(|_| CryptoError::MalformedKey)?;
        let digest = Sha256::digest(key);
        let mut key_id = [0; KEY_ID_LEN];
        key_id.copy_from_slice(digest.get(..KEY_ID_LEN).ok_or(CryptoError::MalformedKey)?);
        Ok(Self {
            cipher,
            key_id,
            previous: Vec::new(),
        })
    }

    /// This cipher, also opening what `previous` (and its own previous keys) sealed; it still
    /// seals with its own key only.
    #[must_use]
    pub fn with_previous(mut self, previous: TokenCipher) -> Self {
        let TokenCipher {
            cipher,
            key_id,
            previous: older,
        } = previous;
        for (id, key) in std::iter::once((key_id, cipher)).chain(older) {
            if id != self.key_id && !self.previous.iter().any(|(known, _)| *known == id) {
                self.previous.push((id, key));
            }
        }
        self
    }

    /// The current key's id (what every new ciphertext carries), as 8 hex digits.
    #[must_use]
    pub fn key_id(&self) -> String {
        hex_id(self.key_id)
    }

    /// The current key's id as stored in ciphertexts (bytes 1 to 4).
    #[must_use]
    pub fn key_id_bytes(&self) -> [u8; KEY_ID_LEN] {
        self.key_id
    }

    /// Whether `stored` was sealed with the current key (judged by its key id only).
    #[must_use]
    pub fn is_current(&self, stored: &[u8]) -> bool {
        stored.get(1..=KEY_ID_LEN) == Some(self.key_id.as_slice())
    }

    /// A cipher from a configured key (32 bytes, standard base64).
    ///
    /// # Errors
    /// [`CryptoError::MalformedKey`].
    pub fn from_base64(key: &SecretString) -> Result<Self, CryptoError> {
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(key.expose_secret().trim())
                .map_err(|_| CryptoError::MalformedKey)?,
        );
        Self::from_key_bytes(&bytes)
    }

    /// A fresh random key, base64-encoded (what `load_or_generate` writes).
    ///
    /// # Errors
    /// [`CryptoError::Random`] when the system RNG fails.
    pub fn generate_key() -> Result<SecretString, CryptoError> {
        let key = Zeroizing::new(<[u8; KEY_LEN]>::try_generate().map_err(|_| CryptoError::Random)?);
        Ok(SecretString::from(
            base64::engine::general_purpose::STANDARD.encode(key.as_ref()),
        ))
    }

    /// Loads `<data_dir>/token.key`, creating it (mode 0600, never overwriting) on first start.
    /// While a rotation runs (`token.key.next` exists), the next key is current and
    /// `token.key` opens what was sealed before.
    ///
    /// # Errors
    /// IO errors, a key file readable by group/others, or a malformed key.
    pub fn load_or_generate(data_dir: &Path) -> Result<Self, CryptoError> {
        let current = Self::load_or_generate_file(data_dir, KEY_FILE_NAME)?;
        if data_dir.join(NEXT_KEY_FILE_NAME).exists() {
            Ok(Self::load_or_generate_file(data_dir, NEXT_KEY_FILE_NAME)?.with_previous(current))
        } else {
            Ok(current)
        }
    }

    /// Starts (or joins) a rotation of the generated key: creates `token.key.next` unless it
    /// exists, and returns the cipher that seals with it and opens with both.
    ///
    /// # Errors
    /// As [`TokenCipher::load_or_generate`].
    pub fn begin_file_rotation(data_dir: &Path) -> Result<Self, CryptoError> {
        let current = Self::load_or_generate_file(data_dir, KEY_FILE_NAME)?;
        Ok(Self::load_or_generate_file(data_dir, NEXT_KEY_FILE_NAME)?.with_previous(current))
    }

    fn load_or_generate_file(data_dir: &Path, name: &str) -> Result<Self, CryptoError> {
        let path = data_dir.join(name);
        let io_error = |source| CryptoError::KeyFile {
            path: path.clone(),
            source,
        };
        fs::create_dir_all(data_dir).map_err(io_error)?;
        let generated = Self::generate_key()?;
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(mut file) => {
                file.write_all(generated.expose_secret().as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(io_error)?;
                tracing::info!(path = %path.display(), "generated a new token encryption key");
            }
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(io_error(err)),
        }
        let mode = fs::metadata(&path).map_err(io_error)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(CryptoError::KeyFileTooOpen { path, mode });
        }
        let text = Zeroizing::new(fs::read_to_string(&path).map_err(io_error)?);
        Self::from_base64(&SecretString::from(text.as_str()))
    }

    /// Encrypts `token` for `account` and `column`.
    ///
    /// # Errors
    /// [`CryptoError::Random`] when no nonce can be drawn.
    pub fn seal(
        &self,
        token: &SecretString,
        account: &[u8],
        column: &str,
    ) -> Result<Vec<u8>, CryptoError> {
        let nonce = XNonce::try_generate().map_err(|_| CryptoError::Random)?;
        let aad = associated_data(account, column);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: token.expose_secret().as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Corrupt)?;
        let mut out = Vec::with_capacity(1 + KEY_ID_LEN + NONCE_LEN + sealed.len());
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&self.key_id);
        out.extend_from_slice(nonce.as_slice());
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypts what [`TokenCipher::seal`] produced for the same `account` and `column`.
    ///
    /// # Errors
    /// [`CryptoError::WrongKey`] or [`CryptoError::Corrupt`].
    pub fn open(
        &self,
        stored: &[u8],
        account: &[u8],
        column: &str,
    ) -> Result<SecretString, CryptoError> {
        let (version, rest) = stored.split_first().ok_or(CryptoError::Corrupt)?;
        if *version != FORMAT_VERSION {
            return Err(CryptoError::Corrupt);
        }
        let (key_id, rest) = rest
            .split_at_checked(KEY_ID_LEN)
            .ok_or(CryptoError::Corrupt)?;
        let key = if key_id == self.key_id {
            &self.cipher
        } else if let Some((_, key)) = self.previous.iter().find(|(id, _)| id == key_id) {
            key
        } else {
            let found = key_id
                .try_into()
                .map(u32::from_be_bytes)
                .map_err(|_| CryptoError::Corrupt)?;
            return Err(CryptoError::WrongKey {
                found,
                ours: u32::from_be_bytes(self.key_id),
            });
        };
        let (nonce, sealed) = rest
            .split_at_checked(NONCE_LEN)
            .ok_or(CryptoError::Corrupt)?;
        let nonce = XNonce::try_from(nonce).map_err(|_| CryptoError::Corrupt)?;
        let aad = associated_data(account, column);
        let plain = Zeroizing::new(
            key.decrypt(
                &nonce,
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Corrupt)?,
        );
        let text = std::str::from_utf8(&plain).map_err(|_| CryptoError::Corrupt)?;
        Ok(SecretString::from(text))
    }
}

/// One batch of a key rotation ([`crate::OperationsStore::reencrypt_secrets`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reencrypted {
    /// Rows rewritten under the current key by this batch.
    pub rewritten: u64,
    /// Rows still sealed with another key after it.
    pub remaining: u64,
}

/// Ends a rotation of the generated key once nothing is sealed with the old one: the old key
/// is kept as `token.key.retired-<key id>` (backups taken before the rotation need it; delete
/// it with them), then `token.key.next` atomically replaces `token.key`. A crash between the two
/// steps leaves a rotation in progress, which is a state every process handles. Returns the
/// retired file's path, or `None` when no rotation was in progress.
///
/// # Errors
/// IO errors.
pub fn finish_file_rotation(data_dir: &Path) -> Result<Option<PathBuf>, CryptoError> {
    let next = data_dir.join(NEXT_KEY_FILE_NAME);
    if !next.exists() {
        return Ok(None);
    }
    let current_path = data_dir.join(KEY_FILE_NAME);
    let current = TokenCipher::load_or_generate_file(data_dir, KEY_FILE_NAME)?;
    let retired = data_dir.join(format!("{KEY_FILE_NAME}.retired-{}", current.key_id()));
    let io_error = |path: &Path| {
        let path = path.to_owned();
        move |source| CryptoError::KeyFile { path, source }
    };
    match fs::hard_link(&current_path, &retired) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(io_error(&retired)(error)),
    }
    fs::rename(&next, &current_path).map_err(io_error(&current_path))?;
    if let Ok(dir) = fs::File::open(data_dir) {
        let _ = dir.sync_all();
    }
    Ok(Some(retired))
}

fn associated_data(account: &[u8], column: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(account.len() + 1 + column.len());
    aad.extend_from_slice(account);
    aad.push(0);
    aad.extend_from_slice(column.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cipher() -> TokenCipher {
        TokenCipher::from_base64(&TokenCipher::generate_key().unwrap()).unwrap()
    }

    #[test]
    fn a_token_sealed_for_one_account_does_not_open_for_another() {
        let cipher = cipher();
        let sealed = cipher
            .seal(
                &SecretString::from("act.secret"),
                b"account-a",
                "access_token",
            )
            .unwrap();
        assert!(matches!(
            cipher.open(&sealed, b"account-b", "access_token"),
            Err(CryptoError::Corrupt)
        ));
        assert!(matches!(
            cipher.open(&sealed, b"account-a", "refresh_token"),
            Err(CryptoError::Corrupt)
        ));
        assert_eq!(
            cipher
                .open(&sealed, b"account-a", "access_token")
                .unwrap()
                .expose_secret(),
            "act.secret"
        );
    }

    #[test]
    fn another_key_is_reported_as_a_wrong_key() {
        let sealed = cipher()
            .seal(&SecretString::from("t"), b"a", "access_token")
            .unwrap();
        assert!(matches!(
            cipher().open(&sealed, b"a", "access_token"),
            Err(CryptoError::WrongKey { .. })
        ));
    }

    #[test]
    fn the_generated_key_file_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = TokenCipher::load_or_generate(dir.path()).unwrap();
        let mode = fs::metadata(dir.path().join(KEY_FILE_NAME))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = TokenCipher::load_or_generate(dir.path()).unwrap();
        let sealed = first
            .seal(&SecretString::from("t"), b"a", "access_token")
            .unwrap();
        assert_eq!(
            second
                .open(&sealed, b"a", "access_token")
                .unwrap()
                .expose_secret(),
            "t"
        );
    }

    #[test]
    fn a_key_file_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        fs::write(&path, TokenCipher::generate_key().unwrap().expose_secret()).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            TokenCipher::load_or_generate(dir.path()),
            Err(CryptoError::KeyFileTooOpen { .. })
        ));
    }

    #[test]
    fn a_previous_key_opens_old_ciphertexts_and_new_ones_use_the_current_key() {
        let old = cipher();
        let sealed_before = old
            .seal(&SecretString::from("before"), b"a", "access_token")
            .unwrap();
        let ring = cipher().with_previous(old.clone());
        assert!(!ring.is_current(&sealed_before));
        assert_eq!(
            ring.open(&sealed_before, b"a", "access_token")
                .unwrap()
                .expose_secret(),
            "before"
        );
        let sealed_after = ring
            .seal(&SecretString::from("after"), b"a", "access_token")
            .unwrap();
        assert!(ring.is_current(&sealed_after));
        assert!(matches!(
            old.open(&sealed_after, b"a", "access_token"),
            Err(CryptoError::WrongKey { .. })
        ));
    }

    #[test]
    fn a_file_rotation_keeps_both_keys_until_it_is_finished() {
        let dir = tempfile::tempdir().unwrap();
        let old = TokenCipher::load_or_generate(dir.path()).unwrap();
        assert!(finish_file_rotation(dir.path()).unwrap().is_none());
        let rotating = TokenCipher::begin_file_rotation(dir.path()).unwrap();
        assert_ne!(rotating.key_id(), old.key_id());
        let reloaded = TokenCipher::load_or_generate(dir.path()).unwrap();
        assert_eq!(
            reloaded.key_id(),
            rotating.key_id(),
            "a restart joins the rotation"
        );
        let sealed_old = old
            .seal(&SecretString::from("t"), b"a", "access_token")
            .unwrap();
        assert!(reloaded.open(&sealed_old, b"a", "access_token").is_ok());
        let retired = finish_file_rotation(dir.path()).unwrap().unwrap();
        assert!(retired.ends_with(format!("token.key.retired-{}", old.key_id())));
        let after = TokenCipher::load_or_generate(dir.path()).unwrap();
        assert_eq!(after.key_id(), rotating.key_id());
        assert!(!dir.path().join(NEXT_KEY_FILE_NAME).exists());
        assert!(matches!(
            after.open(&sealed_old, b"a", "access_token"),
            Err(CryptoError::WrongKey { .. })
        ));
    }

    #[test]
    fn debug_output_shows_no_key_material() {
        let text = format!("{:?}", cipher());
        assert!(text.starts_with("TokenCipher { key_id: "), "{text}");
    }

    proptest! {
        #[test]
        fn sealing_round_trips_and_the_plaintext_never_appears(token in "[a-zA-Z0-9._-]{8,200}") {
            let cipher = cipher();
            let sealed = cipher.seal(&SecretString::from(token.as_str()), b"acct", "access_token").unwrap();
            prop_assert!(!sealed.windows(token.len()).any(|w| w == token.as_bytes()));
            let opened = cipher.open(&sealed, b"acct", "access_token").unwrap();
            prop_assert_eq!(opened.expose_secret(), token.as_str());
        }

        #[test]
        fn opening_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = cipher().open(&bytes, b"acct", "access_token");
        }
    }
}
