//! Running the store: readiness, worker heartbeats, pruning what has served its purpose, and key
//! rotation (re-sealing every sealed column under the current key).

use async_trait::async_trait;
use jiff::Timestamp;

use crate::accounts::{ACCESS_TOKEN, REFRESH_TOKEN};
use crate::db::{Tx, query, query_as, query_scalar};
use crate::oauth_states::PKCE_VERIFIER;
use crate::types::*;
use crate::{Reencrypted, SqlStore, StoreError};

/// Readiness, heartbeats, pruning and key rotation.
#[async_trait]
pub trait OperationsStore: Send + Sync {
    /// Answers when the database answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Records that the workers of process `worker` were running at `at`.
    async fn record_worker_heartbeat(&self, worker: &str, at: Timestamp) -> Result<(), StoreError>;

    /// When the workers of process `worker` were last seen running.
    async fn worker_heartbeat(&self, worker: &str) -> Result<Option<Timestamp>, StoreError>;

    /// Deletes at most `batch` rows of each kind that `before` says have served their purpose
    /// (expired OAuth states, old inbound webhook ids, finished deliveries with their attempts),
    /// oldest first. Call again while a count equals `batch`.
    async fn prune(&self, before: PruneBefore, batch: u32) -> Result<Pruned, StoreError>;

    /// Key rotation: rewrites up to `batch` rows whose secrets (account tokens, PKCE verifiers,
    /// outbound webhook endpoint secrets, posts' upload URLs) are sealed with a key other than the cipher's current
    /// one, opening them with a previous key and sealing them with the current one, in one
    /// transaction. A row changed meanwhile (a token refresh seals with the current key anyway)
    /// is left alone. Repeat until `remaining` is 0; an interrupted rotation resumes where it
    /// stopped.
    ///
    /// # Errors
    /// A ciphertext sealed with a key the cipher does not hold ([`CryptoError::WrongKey`]).
    async fn reencrypt_secrets(&self, batch: u32) -> Result<Reencrypted, StoreError>;
}

#[async_trait]
impl OperationsStore for SqlStore {
    async fn ping(&self) -> Result<(), crate::StoreError> {
        query("SELECT 1").execute(&self.db).await?;
        Ok(())
    }

    async fn record_worker_heartbeat(
        &self,
        worker: &str,
        at: jiff::Timestamp,
    ) -> Result<(), crate::StoreError> {
        query(
            "INSERT INTO worker_heartbeats (worker, seen_at_ms) VALUES ($1, $2)
                 ON CONFLICT (worker) DO UPDATE SET seen_at_ms = excluded.seen_at_ms",
        )
        .bind(worker)
        .bind(crate::rows::ms(at))
        .execute(&self.db)
        .await?;
        Ok(())
    }

    async fn worker_heartbeat(
        &self,
        worker: &str,
    ) -> Result<Option<jiff::Timestamp>, crate::StoreError> {
        let seen: Option<i64> =
            query_scalar("SELECT seen_at_ms FROM worker_heartbeats WHERE worker = $1")
                .bind(worker)
                .fetch_optional(&self.db)
                .await?;
        seen.map(crate::rows::from_ms).transpose()
    }

    async fn prune(
        &self,
        before: crate::PruneBefore,
        batch: u32,
    ) -> Result<crate::Pruned, crate::StoreError> {
        use crate::rows::ms;
        let batch = i64::from(batch);
        // Each kind in its own short transaction: a prune never holds the write turn long.
        let mut oauth_states = 0;
        for statement in [
            "DELETE FROM oauth_states WHERE state_hash IN
               (SELECT state_hash FROM oauth_states WHERE expires_at_ms < $1 ORDER BY expires_at_ms LIMIT $2)",
            "DELETE FROM sign_in_states WHERE state_hash IN
               (SELECT state_hash FROM sign_in_states WHERE expires_at_ms < $1 ORDER BY expires_at_ms LIMIT $2)",
        ] {
            oauth_states += query(statement)
                .bind(ms(before.oauth_states_expired))
                .bind(batch)
                .execute(&self.db)
                .await?
                .rows_affected();
        }
        let inbound_webhooks = query(
                "DELETE FROM inbound_webhook_events WHERE event_id IN
                   (SELECT event_id FROM inbound_webhook_events WHERE received_at_ms < $1 ORDER BY received_at_ms LIMIT $2)",
            )
            .bind(ms(before.inbound_webhooks_received))
            .bind(batch)
            .execute(&self.db)
            .await?
            .rows_affected();
        let mut people = 0;
        for (statement, cutoff) in [
            (
                "DELETE FROM user_sessions WHERE secret_hash IN
                   (SELECT secret_hash FROM user_sessions WHERE expires_at_ms < $1 ORDER BY expires_at_ms LIMIT $2)",
                before.sessions_expired,
            ),
            (
                "DELETE FROM invitations WHERE id IN
                   (SELECT id FROM invitations WHERE expires_at_ms < $1 ORDER BY expires_at_ms LIMIT $2)",
                before.links_expired,
            ),
            (
                "DELETE FROM password_resets WHERE secret_hash IN
                   (SELECT secret_hash FROM password_resets WHERE expires_at_ms < $1 ORDER BY expires_at_ms LIMIT $2)",
                before.links_expired,
            ),
            (
                "DELETE FROM sign_in_failures WHERE at_ms < $1 AND email IN
                   (SELECT email FROM sign_in_failures WHERE at_ms < $1 ORDER BY at_ms LIMIT $2)",
                before.sign_in_failures,
            ),
        ] {
            people += query(statement)
                .bind(ms(cutoff))
                .bind(batch)
                .execute(&self.db)
                .await?
                .rows_affected();
        }
        let mut stats = 0;
        for statement in [
            "DELETE FROM post_stats WHERE (post_id, at_ms) IN
               (SELECT post_id, at_ms FROM post_stats WHERE at_ms < $1 ORDER BY at_ms LIMIT $2)",
            "DELETE FROM account_stats WHERE (account_id, at_ms) IN
               (SELECT account_id, at_ms FROM account_stats WHERE at_ms < $1 ORDER BY at_ms LIMIT $2)",
        ] {
            stats += query(statement)
                .bind(ms(before.stats_taken))
                .bind(batch)
                .execute(&self.db)
                .await?
                .rows_affected();
        }
        let mut tx = self.db.write_tx().await?;
        let finished: Vec<uuid::Uuid> = query_scalar(
                "SELECT id FROM webhook_deliveries WHERE completed_at_ms < $1 ORDER BY completed_at_ms LIMIT $2",
            )
            .bind(ms(before.deliveries_finished))
            .bind(batch)
            .fetch_all(&mut tx)
            .await?;
        if !finished.is_empty() {
            let mut attempts = query("DELETE FROM webhook_attempts WHERE delivery_id");
            attempts.push_in(finished.iter().copied());
            attempts.execute(&mut tx).await?;
            let mut deliveries = query("DELETE FROM webhook_deliveries WHERE id");
            deliveries.push_in(finished.iter().copied());
            deliveries.execute(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(crate::Pruned {
            oauth_states,
            inbound_webhooks,
            deliveries: u64::try_from(finished.len()).unwrap_or(u64::MAX),
            people,
            stats,
        })
    }

    async fn reencrypt_secrets(&self, batch: u32) -> Result<crate::Reencrypted, crate::StoreError> {
        // A ciphertext's bytes 2..=5 (1-based, as SQL counts) are its key id, so the
        // rows still to do are found without decrypting anything.
        let current = self.cipher.key_id_bytes().to_vec();
        let mut tx = self.db.write_tx().await?;
        let accounts: Vec<(uuid::Uuid, Vec<u8>, Vec<u8>)> = query_as(
                "SELECT id, access_token, refresh_token FROM accounts WHERE access_token IS NOT NULL AND refresh_token IS NOT NULL AND (substr(access_token, 2, 4) <> $1 OR substr(refresh_token, 2, 4) <> $1) ORDER BY id LIMIT $2",
            )
            .bind(&current)
            .bind(i64::from(batch))
            .fetch_all(&mut tx)
            .await?;
        let mut rewritten = 0_u64;
        for (id, access, refresh) in &accounts {
            let aad = id.as_bytes();
            let fresh_access = self.cipher.seal(
                &self.cipher.open(access, aad, ACCESS_TOKEN)?,
                aad,
                ACCESS_TOKEN,
            )?;
            let fresh_refresh = self.cipher.seal(
                &self.cipher.open(refresh, aad, REFRESH_TOKEN)?,
                aad,
                REFRESH_TOKEN,
            )?;
            rewritten += query(
                    "UPDATE accounts SET access_token = $2, refresh_token = $3 WHERE id = $1 AND access_token = $4 AND refresh_token = $5",
                )
                .bind(id)
                .bind(fresh_access)
                .bind(fresh_refresh)
                .bind(access)
                .bind(refresh)
                .execute(&mut tx)
                .await?
                .rows_affected();
        }
        // Rows taken so far count against the batch whether or not their rewrite
        // applied, so a batch never holds more than `batch` rows.
        let mut taken = accounts.len();
        fn uuid_bytes(id: &uuid::Uuid) -> &[u8] {
            id.as_bytes()
        }
        let uuid_bytes: fn(&uuid::Uuid) -> &[u8] = uuid_bytes;
        let text_bytes: fn(&String) -> &[u8] = String::as_bytes;
        for column in crate::operations::SEALED_COLUMNS {
            let left = i64::from(batch).saturating_sub(i64::try_from(taken).unwrap_or(i64::MAX));
            if left <= 0 {
                break;
            }
            let (this_taken, this_rewritten) = if column.key_is_text {
                reseal_column(&mut tx, &self.cipher, column, &current, left, text_bytes).await?
            } else {
                reseal_column(&mut tx, &self.cipher, column, &current, left, uuid_bytes).await?
            };
            taken += this_taken;
            rewritten += this_rewritten;
        }
        let mut count = String::from(
            "SELECT (SELECT COUNT(*) FROM accounts WHERE access_token IS NOT NULL AND refresh_token IS NOT NULL AND (substr(access_token, 2, 4) <> $1 OR substr(refresh_token, 2, 4) <> $1))",
        );
        for column in crate::operations::SEALED_COLUMNS {
            count.push_str(&format!(
                " + (SELECT COUNT(*) FROM {} WHERE {} IS NOT NULL AND substr({}, 2, 4) <> $1)",
                column.table, column.column, column.column
            ));
        }
        // Table and column names come from `SEALED_COLUMNS`, never from input.
        let remaining: i64 = query_scalar(count)
            .bind(&current)
            .fetch_one(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(crate::Reencrypted {
            rewritten,
            remaining: u64::try_from(remaining).unwrap_or(0),
        })
    }
}

/// A value an older version stored in plaintext, sealed when the store opens.
struct LegacyPlaintext {
    /// `id, plaintext` of the rows still in plaintext, at most `$1`.
    select: &'static str,
    /// Writes `$2` (the sealed value) and `$4` (what stays in the clear, or NULL) over row
    /// `$1` if its plaintext is still `$3`.
    update: &'static str,
    /// The purpose label it is sealed with (the row id is the rest of the associated data).
    purpose: &'static str,
    /// What of it stays in the clear.
    shown: fn(&str) -> Option<String>,
    /// What it is, for the log.
    what: &'static str,
}

/// Upload URLs before migration 0013.
const LEGACY_UPLOAD_URLS: LegacyPlaintext = LegacyPlaintext {
    select: "SELECT id, upload_url FROM posts WHERE upload_url IS NOT NULL ORDER BY id LIMIT $1",
    update: "UPDATE posts SET upload_url_sealed = $2, upload_url = $4 WHERE id = $1 AND upload_url = $3",
    purpose: crate::rows::UPLOAD_URL,
    shown: |_| None,
    what: "upload URLs",
};

/// Webhook endpoint URLs before migration 0019: only their origin stays in the clear.
const LEGACY_WEBHOOK_URLS: LegacyPlaintext = LegacyPlaintext {
    select: "SELECT id, url FROM webhook_endpoints WHERE url_sealed IS NULL ORDER BY id LIMIT $1",
    update: "UPDATE webhook_endpoints SET url_sealed = $2, url = $4 WHERE id = $1 AND url = $3 AND url_sealed IS NULL",
    purpose: crate::webhooks::WEBHOOK_URL,
    shown: |url| Some(crate::webhooks::shown_url(url)),
    what: "webhook endpoint URLs",
};

impl crate::SqlStore {
    /// Seals what older versions stored in plaintext (upload URLs before migration 0013,
    /// webhook endpoint URLs before 0019), a batch per transaction; `open` runs it right after
    /// the migrations, before the store serves anything. A row another process converted
    /// meanwhile is left alone. Returns how many values it sealed.
    pub(crate) async fn seal_legacy_plaintext(&self) -> Result<u64, crate::StoreError> {
        let mut sealed = 0;
        for legacy in [LEGACY_UPLOAD_URLS, LEGACY_WEBHOOK_URLS] {
            sealed += self.seal_plaintext(&legacy).await?;
        }
        Ok(sealed)
    }

    async fn seal_plaintext(&self, legacy: &LegacyPlaintext) -> Result<u64, crate::StoreError> {
        const BATCH: i64 = 500;
        let mut sealed = 0_u64;
        loop {
            let mut tx = self.db.write_tx().await?;
            let plain: Vec<(uuid::Uuid, String)> = query_as(legacy.select)
                .bind(BATCH)
                .fetch_all(&mut tx)
                .await?;
            for (id, text) in &plain {
                let fresh = self.cipher.seal(
                    &secrecy::SecretString::from(text.clone()),
                    id.as_bytes(),
                    legacy.purpose,
                )?;
                sealed += query(legacy.update)
                    .bind(id)
                    .bind(fresh)
                    .bind(text)
                    .bind((legacy.shown)(text))
                    .execute(&mut tx)
                    .await?
                    .rows_affected();
            }
            tx.commit().await?;
            if plain.is_empty() {
                break;
            }
        }
        if sealed > 0 {
            tracing::info!(
                sealed,
                "sealed the {} an older version stored in plaintext",
                legacy.what
            );
        }
        Ok(sealed)
    }
}

/// Re-seals up to `left` values of one sealed column whose key id is not `current`, each
/// written only if unchanged since it was read; returns the rows taken and rewritten.
pub(crate) async fn reseal_column<K>(
    tx: &mut Tx,
    cipher: &crate::TokenCipher,
    sealed: &crate::operations::SealedColumn,
    current: &[u8],
    left: i64,
    aad: fn(&K) -> &[u8],
) -> Result<(usize, u64), crate::StoreError>
where
    K: crate::db::Scalar + Clone + Sync + Into<crate::db::Arg>,
{
    let crate::operations::SealedColumn {
        table,
        key,
        column,
        purpose,
        ..
    } = *sealed;
    // A ciphertext's bytes 2..=5 (1-based, as SQL counts) are its key id. Table and column
    // names come from `SEALED_COLUMNS`, never from input.
    let select = format!(
        "SELECT {key}, {column} FROM {table} WHERE {column} IS NOT NULL AND substr({column}, 2, 4) <> $1 ORDER BY {key} LIMIT $2"
    );
    let rows: Vec<(K, Vec<u8>)> = query_as(select)
        .bind(current)
        .bind(left)
        .fetch_all(&mut *tx)
        .await?;
    let update = format!("UPDATE {table} SET {column} = $2 WHERE {key} = $1 AND {column} = $3");
    let mut rewritten = 0;
    for (id, old) in &rows {
        let fresh = cipher.seal(&cipher.open(old, aad(id), purpose)?, aad(id), purpose)?;
        rewritten += query(update.clone())
            .bind(id.clone())
            .bind(fresh)
            .bind(old)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    }
    Ok((rows.len(), rewritten))
}

/// A column sealed under the token key, one value per row: its table, the key column whose value
/// is also the associated data, and the purpose label it is sealed with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SealedColumn {
    pub(crate) table: &'static str,
    pub(crate) key: &'static str,
    /// The key column is text (else a UUID).
    pub(crate) key_is_text: bool,
    pub(crate) column: &'static str,
    pub(crate) purpose: &'static str,
}

/// The single sealed columns key rotation re-seals after the accounts' two tokens, in order.
pub(crate) const SEALED_COLUMNS: &[SealedColumn] = &[
    SealedColumn {
        table: "oauth_states",
        key: "state_hash",
        key_is_text: true,
        column: "pkce_verifier",
        purpose: PKCE_VERIFIER,
    },
    SealedColumn {
        table: "sign_in_states",
        key: "state_hash",
        key_is_text: true,
        column: "pkce_verifier",
        purpose: PKCE_VERIFIER,
    },
    SealedColumn {
        table: "webhook_endpoints",
        key: "id",
        key_is_text: false,
        column: "secret",
        purpose: crate::webhooks::WEBHOOK_SECRET,
    },
    SealedColumn {
        table: "posts",
        key: "id",
        key_is_text: false,
        column: "upload_url_sealed",
        purpose: crate::rows::UPLOAD_URL,
    },
    SealedColumn {
        table: "webhook_endpoints",
        key: "id",
        key_is_text: false,
        column: "url_sealed",
        purpose: crate::webhooks::WEBHOOK_URL,
    },
];
