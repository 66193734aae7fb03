//! Row shapes shared by both backends (only types both decode the same way: `i64`, `String`,
//! `Uuid`, bytes) and their conversion into domain types. A row that does not convert is
//! reported as [`StoreError::CorruptRow`] (a sealed column that does not open as
//! [`StoreError::Crypto`]), never a panic.

use jiff::Timestamp;
use secrecy::{ExposeSecret as _, SecretString};
use tokpost_core::{
    Account, AccountId, AccountStatus, EventKind, IdempotencyKey, JobId, JobKind, MediaId, OpenId,
    Post, PostEvent, PostId, PostState, PublishId, PublishProgress, ScheduleTime, Scope, StateKind,
    WorkspaceId,
};
use uuid::Uuid;

use crate::types::{CreatorInfoSnapshot, Job, MediaAsset, MediaKind, WorkerId, Workspace};
use crate::{StoreError, TokenCipher};

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::CorruptRow(what.to_string())
}

pub(crate) fn ms(at: Timestamp) -> i64 {
    at.as_millisecond()
}

pub(crate) fn from_ms(millis: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_millisecond(millis).map_err(|_| corrupt(format!("instant {millis} ms")))
}

fn opt_from_ms(millis: Option<i64>) -> Result<Option<Timestamp>, StoreError> {
    millis.map(from_ms).transpose()
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| corrupt(format!("cannot encode JSON: {e}")))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    what: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(format!("{what}: {e}")))
}

fn to_u32(what: &str, value: i64) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| corrupt(format!("{what} {value}")))
}

fn to_u64(what: &str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| corrupt(format!("{what} {value}")))
}

pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct WorkspaceRow {
    id: Uuid,
    name: String,
    created_at_ms: i64,
}

impl WorkspaceRow {
    pub(crate) fn into_domain(self) -> Result<Workspace, StoreError> {
        Ok(Workspace {
            id: WorkspaceId::from_uuid(self.id),
            name: self.name,
            created_at: from_ms(self.created_at_ms)?,
        })
    }
}

/// Account columns without the token ciphertexts.
macro_rules! account_columns {
    () => {
        "id, workspace_id, open_id, display_name, avatar_url, scopes, status, access_token_expires_at_ms, refresh_token_expires_at_ms, created_at_ms, updated_at_ms"
    };
}
pub(crate) use account_columns;

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AccountRow {
    id: Uuid,
    workspace_id: Uuid,
    open_id: String,
    display_name: String,
    avatar_url: Option<String>,
    scopes: String,
    status: String,
    access_token_expires_at_ms: i64,
    refresh_token_expires_at_ms: i64,
    created_at_ms: i64,
    updated_at_ms: i64,
}

impl AccountRow {
    pub(crate) fn into_domain(self) -> Result<Account, StoreError> {
        Ok(Account {
            id: AccountId::from_uuid(self.id),
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            open_id: OpenId::new(self.open_id).map_err(corrupt)?,
            display_name: self.display_name,
            avatar_url: self.avatar_url,
            scopes: Scope::parse_list(&self.scopes).map_err(corrupt)?,
            status: from_json::<AccountStatus>("account status", &self.status)?,
            access_token_expires_at: from_ms(self.access_token_expires_at_ms)?,
            refresh_token_expires_at: from_ms(self.refresh_token_expires_at_ms)?,
            created_at: from_ms(self.created_at_ms)?,
            updated_at: from_ms(self.updated_at_ms)?,
        })
    }
}

pub(crate) fn scopes_text(scopes: &std::collections::BTreeSet<Scope>) -> String {
    scopes
        .iter()
        .map(Scope::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TokenRow {
    pub(crate) access_token: Option<Vec<u8>>,
    pub(crate) refresh_token: Option<Vec<u8>>,
    pub(crate) access_token_expires_at_ms: i64,
    pub(crate) refresh_token_expires_at_ms: i64,
    pub(crate) granted_at_ms: i64,
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CreatorInfoRow {
    account_id: Uuid,
    fetched_at_ms: i64,
    info: String,
}

impl CreatorInfoRow {
    pub(crate) fn into_domain(self) -> Result<CreatorInfoSnapshot, StoreError> {
        Ok(CreatorInfoSnapshot {
            account_id: AccountId::from_uuid(self.account_id),
            fetched_at: from_ms(self.fetched_at_ms)?,
            info: from_json("creator info", &self.info)?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct MediaRow {
    id: Uuid,
    workspace_id: Uuid,
    kind: String,
    content_hash: String,
    size_bytes: i64,
    location: String,
    probe: String,
    created_at_ms: i64,
}

impl MediaRow {
    pub(crate) fn into_domain(self) -> Result<MediaAsset, StoreError> {
        Ok(MediaAsset {
            id: MediaId::from_uuid(self.id),
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            kind: MediaKind::parse(&self.kind).ok_or_else(|| corrupt("media kind"))?,
            content_hash: self.content_hash,
            size_bytes: to_u64("media size", self.size_bytes)?,
            location: self.location,
            probe: from_json("media probe", &self.probe)?,
            created_at: from_ms(self.created_at_ms)?,
        })
    }
}

macro_rules! post_columns {
    () => {
        "id, workspace_id, account_id, spec, scheduled_at_ms, idempotency_key, state_detail, publish_id, upload_url_sealed, upload_url_expires_at_ms, uploaded_bytes, public_post_ids, created_by_kind, created_by_id, revision, created_at_ms, updated_at_ms"
    };
}
pub(crate) use post_columns;

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PostRow {
    id: Uuid,
    workspace_id: Uuid,
    account_id: Uuid,
    spec: String,
    scheduled_at_ms: i64,
    idempotency_key: Option<String>,
    state_detail: String,
    publish_id: Option<String>,
    /// Sealed with [`seal_upload_url`]; the plaintext `upload_url` column is never read here.
    upload_url_sealed: Option<Vec<u8>>,
    upload_url_expires_at_ms: Option<i64>,
    uploaded_bytes: i64,
    public_post_ids: String,
    created_by_kind: Option<String>,
    created_by_id: Option<Uuid>,
    revision: i64,
    created_at_ms: i64,
    updated_at_ms: i64,
}

/// A post as a compare-and-set move left it, with the sequence of the move's event.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct MovedPostRow {
    pub(crate) event_count: i64,
    #[sqlx(flatten)]
    pub(crate) post: PostRow,
}

/// The purpose label sealed into an upload URL's associated data (with the post id), so that a
/// ciphertext moved to another post or column does not open.
pub(crate) const UPLOAD_URL: &str = "upload_url";

/// Seals a post's upload URL: a bearer capability for an hour, kept like a token.
pub(crate) fn seal_upload_url(
    cipher: &TokenCipher,
    post: Uuid,
    url: &str,
) -> Result<Vec<u8>, StoreError> {
    Ok(cipher.seal(&SecretString::from(url), post.as_bytes(), UPLOAD_URL)?)
}

/// Opens what [`seal_upload_url`] sealed for `post`.
pub(crate) fn open_upload_url(
    cipher: &TokenCipher,
    post: Uuid,
    sealed: &[u8],
) -> Result<String, StoreError> {
    Ok(cipher
        .open(sealed, post.as_bytes(), UPLOAD_URL)?
        .expose_secret()
        .to_owned())
}

impl PostRow {
    /// The post, its upload URL opened with `cipher`.
    ///
    /// # Errors
    /// [`StoreError::CorruptRow`], or [`StoreError::Crypto`] for an upload URL that does not
    /// open (sealed with a key `cipher` does not hold, or tampered with).
    pub(crate) fn into_domain(self, cipher: &TokenCipher) -> Result<Post, StoreError> {
        let upload_url = self
            .upload_url_sealed
            .as_deref()
            .map(|sealed| open_upload_url(cipher, self.id, sealed))
            .transpose()?;
        Ok(Post {
            id: PostId::from_uuid(self.id),
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            account_id: AccountId::from_uuid(self.account_id),
            spec: from_json("post spec", &self.spec)?,
            scheduled_at: ScheduleTime::from_stored(from_ms(self.scheduled_at_ms)?),
            idempotency_key: self
                .idempotency_key
                .map(IdempotencyKey::new)
                .transpose()
                .map_err(corrupt)?,
            state: from_json::<PostState>("post state", &self.state_detail)?,
            progress: PublishProgress {
                publish_id: self
                    .publish_id
                    .map(PublishId::new)
                    .transpose()
                    .map_err(corrupt)?,
                upload_url,
                upload_url_expires_at: opt_from_ms(self.upload_url_expires_at_ms)?,
                uploaded_bytes: to_u64("uploaded bytes", self.uploaded_bytes)?,
                public_post_ids: from_json("public post ids", &self.public_post_ids)?,
            },
            created_by: self
                .created_by_kind
                .map(|kind: String| {
                    tokpost_core::Principal::from_parts(&kind, self.created_by_id)
                        .ok_or_else(|| corrupt("post author"))
                })
                .transpose()?,
            revision: tokpost_core::Revision(to_u32("post revision", self.revision)?),
            created_at: from_ms(self.created_at_ms)?,
            updated_at: from_ms(self.updated_at_ms)?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EventRow {
    post_id: Uuid,
    sequence: i64,
    at_ms: i64,
    kind: String,
    state: String,
    message: String,
    native_response: Option<String>,
    actor_kind: String,
    actor_id: Option<Uuid>,
}

impl EventRow {
    pub(crate) fn into_domain(self) -> Result<PostEvent, StoreError> {
        Ok(PostEvent {
            post_id: PostId::from_uuid(self.post_id),
            sequence: to_u32("event sequence", self.sequence)?,
            at: from_ms(self.at_ms)?,
            kind: EventKind::parse(&self.kind).ok_or_else(|| corrupt("event kind"))?,
            state: StateKind::parse(&self.state).ok_or_else(|| corrupt("event state"))?,
            message: self.message,
            native_response: self
                .native_response
                .map(|text| from_json("native response", &text))
                .transpose()?,
            by: tokpost_core::Principal::from_parts(&self.actor_kind, self.actor_id)
                .ok_or_else(|| corrupt("event actor"))?,
        })
    }
}

macro_rules! job_columns {
    () => {
        "id, kind, payload, account_id, post_id, run_at_ms, attempts, failures, locked_by, locked_until_ms, last_error, dedupe_key, created_at_ms"
    };
}
pub(crate) use job_columns;

/// Publish jobs of prepared posts whose time comes by $1, of accounts no claimer holds, in run
/// order: the init wave's candidates ($1 the latest time, $2 limit, $3 the publish job kind, $4
/// the prepared state).
macro_rules! claim_init_candidates {
    () => {
        "SELECT j.id, j.account_id, j.workspace_id, j.run_at_ms
        FROM jobs AS j JOIN posts AS p ON p.id = j.post_id
        WHERE j.kind = $3 AND j.locked_by IS NULL AND j.run_at_ms <= $1
          AND p.state = $4 AND p.scheduled_at_ms <= $1
          AND NOT EXISTS (SELECT 1 FROM account_leases l WHERE l.account_id = j.account_id)
        ORDER BY j.run_at_ms, j.id LIMIT $2"
    };
}
pub(crate) use claim_init_candidates;

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct JobRow {
    id: Uuid,
    kind: String,
    payload: String,
    account_id: Option<Uuid>,
    post_id: Option<Uuid>,
    run_at_ms: i64,
    attempts: i64,
    failures: i64,
    locked_by: Option<String>,
    locked_until_ms: Option<i64>,
    last_error: Option<String>,
    dedupe_key: Option<String>,
    created_at_ms: i64,
}

impl JobRow {
    pub(crate) fn into_domain(self) -> Result<Job, StoreError> {
        Ok(Job {
            id: JobId::from_uuid(self.id),
            kind: JobKind::parse(&self.kind).ok_or_else(|| corrupt("job kind"))?,
            payload: from_json("job payload", &self.payload)?,
            account_id: self.account_id.map(AccountId::from_uuid),
            post_id: self.post_id.map(PostId::from_uuid),
            run_at: from_ms(self.run_at_ms)?,
            attempts: to_u32("job attempts", self.attempts)?,
            failures: to_u32("job failures", self.failures)?,
            locked_by: self.locked_by.map(WorkerId::new),
            locked_until: opt_from_ms(self.locked_until_ms)?,
            last_error: self.last_error,
            dedupe_key: self.dedupe_key,
            created_at: from_ms(self.created_at_ms)?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ClaimCandidate {
    pub(crate) id: Uuid,
    pub(crate) account_id: Option<Uuid>,
    pub(crate) workspace_id: Option<Uuid>,
    pub(crate) run_at_ms: i64,
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ApiKeyRow {
    id: Uuid,
    workspace_id: Uuid,
    name: String,
    prefix: String,
    role: String,
    created_at_ms: i64,
    revoked_at_ms: Option<i64>,
}

impl ApiKeyRow {
    pub(crate) fn into_domain(self) -> Result<crate::types::ApiKey, StoreError> {
        Ok(crate::types::ApiKey {
            id: tokpost_core::ApiKeyId::from_uuid(self.id),
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            name: self.name,
            prefix: self.prefix,
            role: tokpost_core::Role::parse(&self.role).ok_or_else(|| corrupt("key role"))?,
            created_at: from_ms(self.created_at_ms)?,
            revoked_at: opt_from_ms(self.revoked_at_ms)?,
        })
    }
}
