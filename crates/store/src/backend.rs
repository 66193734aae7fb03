//! The [`Store`](crate::Store) implementation shared by both backends. The SQL is written once:
//! both SQLite and PostgreSQL accept `$n` parameters, `ON CONFLICT … DO NOTHING/UPDATE`,
//! `RETURNING`, and our columns use types both decode identically (bigint milliseconds, UUID,
//! text, bytes). What differs is supplied by each backend as inherent items:
//! `write_tx()` (SQLite: `BEGIN IMMEDIATE`, one writer; PostgreSQL: a plain transaction),
//! `CLAIM_CANDIDATES` (PostgreSQL adds `FOR UPDATE SKIP LOCKED`) and the locks PostgreSQL needs
//! where a count precedes an insert (`lock_rate_limits`, `LOCK_ACTIVE_CREATORS`) and where an
//! init wave holds its jobs until its commit (`HOLD_JOBS`). Statements over many rows are
//! built at run time (`IN (…)` lists, multi-row `VALUES`, `UPDATE … FROM (VALUES …)`, whose
//! columns both backends name `column1…`).
//!
//! Per-account serialization: a job of an account is only leased together with that account's
//! row in `account_leases` (primary key = account). On PostgreSQL a second worker inserting the
//! same account's row waits for the first transaction and then inserts nothing, so two workers
//! can never hold jobs of one account at once, whatever their timing. Rows are inserted in
//! account order so that two claimers cannot deadlock.

macro_rules! impl_store {
    ($store:ident) => {
        #[async_trait::async_trait]
        impl $crate::Store for $store {
            async fn create_workspace(
                &self,
                name: &str,
                now: jiff::Timestamp,
            ) -> Result<$crate::Workspace, $crate::StoreError> {
                let id = tokpost_core::WorkspaceId::generate(now);
                sqlx::query("INSERT INTO workspaces (id, name, created_at_ms) VALUES ($1, $2, $3)")
                    .bind(id.as_uuid())
                    .bind(name)
                    .bind($crate::rows::ms(now))
                    .execute(&self.pool)
                    .await?;
                Ok($crate::Workspace {
                    id,
                    name: name.to_owned(),
                    created_at: now,
                })
            }

            async fn workspace(
                &self,
                id: tokpost_core::WorkspaceId,
            ) -> Result<Option<$crate::Workspace>, $crate::StoreError> {
                sqlx::query_as::<_, $crate::rows::WorkspaceRow>(
                    "SELECT id, name, created_at_ms FROM workspaces WHERE id = $1",
                )
                .bind(id.as_uuid())
                .fetch_optional(&self.pool)
                .await?
                .map($crate::rows::WorkspaceRow::into_domain)
                .transpose()
            }

            async fn connect_account(
                &self,
                account: $crate::NewAccount,
                now: jiff::Timestamp,
            ) -> Result<tokpost_core::Account, $crate::StoreError> {
                use $crate::rows::{ms, scopes_text, to_json};
                let mut tx = self.write_tx().await?;
                let existing: Option<uuid::Uuid> = sqlx::query_scalar(
                    "SELECT id FROM accounts WHERE workspace_id = $1 AND open_id = $2",
                )
                .bind(account.workspace_id.as_uuid())
                .bind(account.open_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                let status = to_json(&tokpost_core::AccountStatus::Connected)?;
                let scopes = scopes_text(&account.scopes);
                let mut id = existing.unwrap_or_else(|| {
                    tokpost_core::AccountId::generate(now).as_uuid()
                });
                let mut needs_update = existing.is_some();
                if existing.is_none() {
                    let (access, refresh) = self.seal_tokens(id, &account.tokens)?;
                    let inserted = sqlx::query(
                        "INSERT INTO accounts (id, workspace_id, open_id, display_name, avatar_url, scopes, status, access_token, refresh_token, access_token_expires_at_ms, refresh_token_expires_at_ms, tokens_granted_at_ms, created_at_ms, updated_at_ms)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $13, $12, $12)
                         ON CONFLICT (workspace_id, open_id) DO NOTHING",
                    )
                    .bind(id)
                    .bind(account.workspace_id.as_uuid())
                    .bind(account.open_id.as_str())
                    .bind(&account.display_name)
                    .bind(account.avatar_url.as_deref())
                    .bind(&scopes)
                    .bind(&status)
                    .bind(access)
                    .bind(refresh)
                    .bind(ms(account.tokens.access_token_expires_at))
                    .bind(ms(account.tokens.refresh_token_expires_at))
                    .bind(ms(now))
                    .bind(ms(account.tokens.granted_at))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if inserted == 0 {
                        // Another process connected the same creator between our read and
                        // insert (PostgreSQL only); reconnect the row it created.
                        id = sqlx::query_scalar(
                            "SELECT id FROM accounts WHERE workspace_id = $1 AND open_id = $2",
                        )
                        .bind(account.workspace_id.as_uuid())
                        .bind(account.open_id.as_str())
                        .fetch_one(&mut *tx)
                        .await?;
                        needs_update = true;
                    }
                }
                if needs_update {
                    let (access, refresh) = self.seal_tokens(id, &account.tokens)?;
                    sqlx::query(
                        "UPDATE accounts SET display_name = $2, avatar_url = $3, scopes = $4, status = $5, access_token = $6, refresh_token = $7, access_token_expires_at_ms = $8, refresh_token_expires_at_ms = $9, updated_at_ms = $10, tokens_granted_at_ms = $11,
                           refresh_claimed_by = NULL, refresh_claim_until_ms = NULL, refresh_failures = 0, refresh_not_before_ms = NULL
                         WHERE id = $1",
                    )
                    .bind(id)
                    .bind(&account.display_name)
                    .bind(account.avatar_url.as_deref())
                    .bind(&scopes)
                    .bind(&status)
                    .bind(access)
                    .bind(refresh)
                    .bind(ms(account.tokens.access_token_expires_at))
                    .bind(ms(account.tokens.refresh_token_expires_at))
                    .bind(ms(now))
                    .bind(ms(account.tokens.granted_at))
                    .execute(&mut *tx)
                    .await?;
                }
                let row = sqlx::query_as::<_, $crate::rows::AccountRow>(concat!(
                    "SELECT ",
                    $crate::rows::account_columns!(),
                    " FROM accounts WHERE id = $1"
                ))
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                row.into_domain()
            }

            async fn account(
                &self,
                id: tokpost_core::AccountId,
            ) -> Result<Option<tokpost_core::Account>, $crate::StoreError> {
                sqlx::query_as::<_, $crate::rows::AccountRow>(concat!(
                    "SELECT ",
                    $crate::rows::account_columns!(),
                    " FROM accounts WHERE id = $1"
                ))
                .bind(id.as_uuid())
                .fetch_optional(&self.pool)
                .await?
                .map($crate::rows::AccountRow::into_domain)
                .transpose()
            }

            async fn accounts(
                &self,
                workspace: tokpost_core::WorkspaceId,
            ) -> Result<Vec<tokpost_core::Account>, $crate::StoreError> {
                sqlx::query_as::<_, $crate::rows::AccountRow>(concat!(
                    "SELECT ",
                    $crate::rows::account_columns!(),
                    " FROM accounts WHERE workspace_id = $1 ORDER BY id"
                ))
                .bind(workspace.as_uuid())
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map($crate::rows::AccountRow::into_domain)
                .collect()
            }

            async fn accounts_page(
                &self,
                workspace: tokpost_core::WorkspaceId,
                after: Option<(jiff::Timestamp, tokpost_core::AccountId)>,
                limit: u32,
            ) -> Result<Vec<tokpost_core::Account>, $crate::StoreError> {
                // (created, id) walks the index on (workspace_id, created_at_ms, id) from where
                // the last page stopped, whatever the workspace's size.
                let (after_ms, after_id) = after.map_or((i64::MIN, uuid::Uuid::nil()), |(at, id)| {
                    ($crate::rows::ms(at), id.as_uuid())
                });
                sqlx::query_as::<_, $crate::rows::AccountRow>(concat!(
                    "SELECT ",
                    $crate::rows::account_columns!(),
                    " FROM accounts WHERE workspace_id = $1 AND (created_at_ms > $2 OR (created_at_ms = $2 AND id > $3))
                      ORDER BY created_at_ms, id LIMIT $4"
                ))
                .bind(workspace.as_uuid())
                .bind(after_ms)
                .bind(after_id)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map($crate::rows::AccountRow::into_domain)
                .collect()
            }

            async fn accounts_expiring_before(
                &self,
                before: jiff::Timestamp,
            ) -> Result<Vec<tokpost_core::AccountId>, $crate::StoreError> {
                let connected = $crate::rows::to_json(&tokpost_core::AccountStatus::Connected)?;
                let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
                    "SELECT id FROM accounts WHERE status = $1 AND access_token_expires_at_ms < $2 ORDER BY access_token_expires_at_ms",
                )
                .bind(connected)
                .bind($crate::rows::ms(before))
                .fetch_all(&self.pool)
                .await?;
                Ok(ids.into_iter().map(tokpost_core::AccountId::from_uuid).collect())
            }

            async fn account_tokens(
                &self,
                id: tokpost_core::AccountId,
            ) -> Result<Option<$crate::AccountTokens>, $crate::StoreError> {
                let row = sqlx::query_as::<_, $crate::rows::TokenRow>(
                    "SELECT access_token, refresh_token, access_token_expires_at_ms, refresh_token_expires_at_ms, COALESCE(tokens_granted_at_ms, updated_at_ms) AS granted_at_ms FROM accounts WHERE id = $1",
                )
                .bind(id.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let (Some(access), Some(refresh)) = (row.access_token, row.refresh_token) else {
                    return Ok(None);
                };
                let aad = id.as_uuid();
                Ok(Some($crate::AccountTokens {
                    access_token: self.cipher.open(&access, aad.as_bytes(), ACCESS_TOKEN)?,
                    refresh_token: self.cipher.open(&refresh, aad.as_bytes(), REFRESH_TOKEN)?,
                    access_token_expires_at: $crate::rows::from_ms(row.access_token_expires_at_ms)?,
                    refresh_token_expires_at: $crate::rows::from_ms(row.refresh_token_expires_at_ms)?,
                    granted_at: $crate::rows::from_ms(row.granted_at_ms)?,
                }))
            }

            async fn set_account_status(
                &self,
                id: tokpost_core::AccountId,
                status: tokpost_core::AccountStatus,
                now: jiff::Timestamp,
            ) -> Result<bool, $crate::StoreError> {
                let query = if status == tokpost_core::AccountStatus::Disconnected {
                    sqlx::query("UPDATE accounts SET status = $2, access_token = NULL, refresh_token = NULL, updated_at_ms = $3 WHERE id = $1")
                } else {
                    sqlx::query("UPDATE accounts SET status = $2, updated_at_ms = $3 WHERE id = $1")
                };
                let mut tx = self.write_tx().await?;
                let previous: Option<String> =
                    sqlx::query_scalar("SELECT status FROM accounts WHERE id = $1")
                        .bind(id.as_uuid())
                        .fetch_optional(&mut *tx)
                        .await?;
                let updated = query
                    .bind(id.as_uuid())
                    .bind($crate::rows::to_json(&status)?)
                    .bind($crate::rows::ms(now))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                let previous = previous
                    .as_deref()
                    .and_then(|text| serde_json::from_str::<tokpost_core::AccountStatus>(text).ok());
                if updated > 0 {
                    if let Some(event) =
                        $crate::webhooks::account_status_event(previous.as_ref(), &status, id, now)
                    {
                        enqueue_account_webhook_in_tx(&mut tx, id, event).await?;
                    }
                }
                tx.commit().await?;
                Ok(updated > 0)
            }

            async fn prune(
                &self,
                before: $crate::PruneBefore,
                batch: u32,
            ) -> Result<$crate::Pruned, $crate::StoreError> {
                use $crate::rows::ms;
                let batch = i64::from(batch);
                // Each kind in its own short transaction: a prune never holds the write turn long.
                let oauth_states = sqlx::query(
                    "DELETE FROM oauth_states WHERE state_hash IN
                       (SELECT state_hash FROM oauth_states WHERE expires_at_ms < $1 ORDER BY expires_at_ms LIMIT $2)",
                )
                .bind(ms(before.oauth_states_expired))
                .bind(batch)
                .execute(&self.pool)
                .await?
                .rows_affected();
                let inbound_webhooks = sqlx::query(
                    "DELETE FROM inbound_webhook_events WHERE event_id IN
                       (SELECT event_id FROM inbound_webhook_events WHERE received_at_ms < $1 ORDER BY received_at_ms LIMIT $2)",
                )
                .bind(ms(before.inbound_webhooks_received))
                .bind(batch)
                .execute(&self.pool)
                .await?
                .rows_affected();
                let mut tx = self.write_tx().await?;
                let finished: Vec<uuid::Uuid> = sqlx::query_scalar(
                    "SELECT id FROM webhook_deliveries WHERE completed_at_ms < $1 ORDER BY completed_at_ms LIMIT $2",
                )
                .bind(ms(before.deliveries_finished))
                .bind(batch)
                .fetch_all(&mut *tx)
                .await?;
                if !finished.is_empty() {
                    let mut attempts = sqlx::QueryBuilder::<Db>::new("DELETE FROM webhook_attempts WHERE delivery_id");
                    push_in(&mut attempts, finished.iter().copied());
                    attempts.build().execute(&mut *tx).await?;
                    let mut deliveries = sqlx::QueryBuilder::<Db>::new("DELETE FROM webhook_deliveries WHERE id");
                    push_in(&mut deliveries, finished.iter().copied());
                    deliveries.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok($crate::Pruned {
                    oauth_states,
                    inbound_webhooks,
                    deliveries: u64::try_from(finished.len()).unwrap_or(u64::MAX),
                })
            }

            async fn record_account_notices(
                &self,
                account: tokpost_core::AccountId,
                keys: &[String],
                at: jiff::Timestamp,
                announce: Option<$crate::WebhookEvent>,
            ) -> Result<Vec<bool>, $crate::StoreError> {
                let mut tx = self.write_tx().await?;
                let mut recorded = Vec::with_capacity(keys.len());
                for key in keys {
                    let inserted = sqlx::query(
                        "INSERT INTO account_notices (account_id, notice, recorded_at_ms) VALUES ($1, $2, $3)
                         ON CONFLICT (account_id, notice) DO NOTHING",
                    )
                    .bind(account.as_uuid())
                    .bind(key)
                    .bind($crate::rows::ms(at))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    recorded.push(inserted > 0);
                }
                if let Some(event) = announce.filter(|_| recorded.contains(&true)) {
                    enqueue_account_webhook_in_tx(&mut tx, account, event).await?;
                }
                tx.commit().await?;
                Ok(recorded)
            }

            async fn learn_post_cap(
                &self,
                account: tokpost_core::AccountId,
                cap: u32,
                at: jiff::Timestamp,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO learned_post_caps (account_id, cap, learned_at_ms) VALUES ($1, $2, $3)
                     ON CONFLICT (account_id) DO UPDATE SET cap = excluded.cap, learned_at_ms = excluded.learned_at_ms",
                )
                .bind(account.as_uuid())
                .bind(i64::from(cap))
                .bind($crate::rows::ms(at))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn learned_post_cap(
                &self,
                account: tokpost_core::AccountId,
                since: jiff::Timestamp,
            ) -> Result<Option<u32>, $crate::StoreError> {
                let cap: Option<i64> = sqlx::query_scalar(
                    "SELECT cap FROM learned_post_caps WHERE account_id = $1 AND learned_at_ms >= $2",
                )
                .bind(account.as_uuid())
                .bind($crate::rows::ms(since))
                .fetch_optional(&self.pool)
                .await?;
                cap.map(|cap| {
                    u32::try_from(cap)
                        .map_err(|_| $crate::StoreError::CorruptRow(format!("learned post cap {cap}")))
                })
                .transpose()
            }

            async fn save_creator_info(
                &self,
                account: tokpost_core::AccountId,
                info: &serde_json::Value,
                at: jiff::Timestamp,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO creator_info (account_id, fetched_at_ms, info) VALUES ($1, $2, $3)
                     ON CONFLICT (account_id, fetched_at_ms) DO UPDATE SET info = excluded.info",
                )
                .bind(account.as_uuid())
                .bind($crate::rows::ms(at))
                .bind($crate::rows::to_json(info)?)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn latest_creator_info(
                &self,
                account: tokpost_core::AccountId,
            ) -> Result<Option<$crate::CreatorInfoSnapshot>, $crate::StoreError> {
                sqlx::query_as::<_, $crate::rows::CreatorInfoRow>(
                    "SELECT account_id, fetched_at_ms, info FROM creator_info WHERE account_id = $1 ORDER BY fetched_at_ms DESC LIMIT 1",
                )
                .bind(account.as_uuid())
                .fetch_optional(&self.pool)
                .await?
                .map($crate::rows::CreatorInfoRow::into_domain)
                .transpose()
            }

            async fn add_media(
                &self,
                media: $crate::NewMediaAsset,
                now: jiff::Timestamp,
            ) -> Result<$crate::Inserted<$crate::MediaAsset>, $crate::StoreError> {
                const SELECT: &str = "SELECT id, workspace_id, kind, content_hash, size_bytes, location, probe, created_at_ms FROM media_assets WHERE workspace_id = $1 AND content_hash = $2";
                let mut tx = self.write_tx().await?;
                let inserted = sqlx::query(
                    "INSERT INTO media_assets (id, workspace_id, kind, content_hash, size_bytes, location, probe, created_at_ms)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     ON CONFLICT (workspace_id, content_hash) DO NOTHING",
                )
                .bind(tokpost_core::MediaId::generate(now).as_uuid())
                .bind(media.workspace_id.as_uuid())
                .bind(media.kind.as_str())
                .bind(&media.content_hash)
                .bind($crate::rows::to_i64(media.size_bytes))
                .bind(&media.location)
                .bind($crate::rows::to_json(&media.probe)?)
                .bind($crate::rows::ms(now))
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let asset = sqlx::query_as::<_, $crate::rows::MediaRow>(SELECT)
                    .bind(media.workspace_id.as_uuid())
                    .bind(&media.content_hash)
                    .fetch_one(&mut *tx)
                    .await?
                    .into_domain()?;
                tx.commit().await?;
                Ok(if inserted > 0 {
                    $crate::Inserted::Created(asset)
                } else {
                    $crate::Inserted::Existing(asset)
                })
            }

            async fn media(
                &self,
                id: tokpost_core::MediaId,
            ) -> Result<Option<$crate::MediaAsset>, $crate::StoreError> {
                sqlx::query_as::<_, $crate::rows::MediaRow>(
                    "SELECT id, workspace_id, kind, content_hash, size_bytes, location, probe, created_at_ms FROM media_assets WHERE id = $1",
                )
                .bind(id.as_uuid())
                .fetch_optional(&self.pool)
                .await?
                .map($crate::rows::MediaRow::into_domain)
                .transpose()
            }

            async fn list_media(
                &self,
                workspace: tokpost_core::WorkspaceId,
                kind: Option<$crate::MediaKind>,
                before: Option<(jiff::Timestamp, tokpost_core::MediaId)>,
                limit: u32,
            ) -> Result<Vec<$crate::MediaAsset>, $crate::StoreError> {
                let (before_ms, before_id) = match before {
                    Some((at, id)) => (Some(at.as_millisecond()), Some(id.as_uuid())),
                    None => (None, None),
                };
                sqlx::query_as::<_, $crate::rows::MediaRow>(
                    "SELECT id, workspace_id, kind, content_hash, size_bytes, location, probe, created_at_ms \
                     FROM media_assets WHERE workspace_id = $1 AND ($2 IS NULL OR kind = $2) \
                     AND ($3 IS NULL OR created_at_ms < $3 OR (created_at_ms = $3 AND id < $4)) \
                     ORDER BY created_at_ms DESC, id DESC LIMIT $5",
                )
                .bind(workspace.as_uuid())
                .bind(kind.map($crate::MediaKind::as_str))
                .bind(before_ms)
                .bind(before_id)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map($crate::rows::MediaRow::into_domain)
                .collect()
            }

            async fn create_post(
                &self,
                post: $crate::NewPost,
                now: jiff::Timestamp,
            ) -> Result<$crate::Inserted<tokpost_core::Post>, $crate::StoreError> {
                use $crate::rows::{ms, to_json};
                let mut tx = self.write_tx().await?;
                let key = post.idempotency_key.as_ref().map(tokpost_core::IdempotencyKey::as_str);
                if let Some(key) = key {
                    let existing = sqlx::query_as::<_, $crate::rows::PostRow>(concat!(
                        "SELECT ",
                        $crate::rows::post_columns!(),
                        " FROM posts WHERE workspace_id = $1 AND idempotency_key = $2"
                    ))
                    .bind(post.workspace_id.as_uuid())
                    .bind(key)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some(row) = existing {
                        return Ok($crate::Inserted::Existing(row.into_domain(&self.cipher)?));
                    }
                }
                let id = tokpost_core::PostId::generate(now);
                let state = tokpost_core::PostState::Scheduled;
                let inserted = sqlx::query(
                    "INSERT INTO posts (id, workspace_id, account_id, spec, scheduled_at_ms, idempotency_key, state, state_detail, event_count, created_at_ms, updated_at_ms)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9)
                     ON CONFLICT (workspace_id, idempotency_key) DO NOTHING",
                )
                .bind(id.as_uuid())
                .bind(post.workspace_id.as_uuid())
                .bind(post.account_id.as_uuid())
                .bind(to_json(&post.spec)?)
                .bind(ms(post.scheduled_at.at()))
                .bind(key)
                .bind(state.kind().as_str())
                .bind(to_json(&state)?)
                .bind(ms(now))
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if inserted == 0 {
                    // A concurrent request with the same key won (PostgreSQL waited for it).
                    let row = sqlx::query_as::<_, $crate::rows::PostRow>(concat!(
                        "SELECT ",
                        $crate::rows::post_columns!(),
                        " FROM posts WHERE workspace_id = $1 AND idempotency_key = $2"
                    ))
                    .bind(post.workspace_id.as_uuid())
                    .bind(key)
                    .fetch_one(&mut *tx)
                    .await?;
                    return Ok($crate::Inserted::Existing(row.into_domain(&self.cipher)?));
                }
                let event = tokpost_core::NewPostEvent::new(
                    now,
                    tokpost_core::EventKind::Scheduled,
                    format!("Scheduled for {}", post.scheduled_at.at()),
                );
                insert_event(&mut tx, id, 1, &event, state.kind()).await?;
                insert_job(
                    &mut tx,
                    &$crate::NewJob {
                        kind: tokpost_core::JobKind::PublishPost,
                        payload: serde_json::json!({ "post_id": id }),
                        account_id: Some(post.account_id),
                        post_id: Some(id),
                        run_at: post.scheduled_at.at(),
                        dedupe_key: None,
                    },
                    now,
                )
                .await?;
                let created = fetch_post(&mut tx, &self.cipher, id).await?;
                tx.commit().await?;
                self.jobs_changed().await;
                Ok($crate::Inserted::Created(created))
            }

            async fn post(
                &self,
                id: tokpost_core::PostId,
            ) -> Result<Option<tokpost_core::Post>, $crate::StoreError> {
                sqlx::query_as::<_, $crate::rows::PostRow>(concat!(
                    "SELECT ",
                    $crate::rows::post_columns!(),
                    " FROM posts WHERE id = $1"
                ))
                .bind(id.as_uuid())
                .fetch_optional(&self.pool)
                .await?
                .map(|row| row.into_domain(&self.cipher))
                .transpose()
            }

            async fn posts(
                &self,
                workspace: tokpost_core::WorkspaceId,
                limit: u32,
            ) -> Result<Vec<tokpost_core::Post>, $crate::StoreError> {
                sqlx::query_as::<_, $crate::rows::PostRow>(concat!(
                    "SELECT ",
                    $crate::rows::post_columns!(),
                    " FROM posts WHERE workspace_id = $1 ORDER BY scheduled_at_ms, id LIMIT $2"
                ))
                .bind(workspace.as_uuid())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|row| row.into_domain(&self.cipher))
                .collect()
            }

            async fn account_posts_in_state(
                &self,
                account: tokpost_core::AccountId,
                state: tokpost_core::StateKind,
                limit: u32,
            ) -> Result<Vec<tokpost_core::Post>, $crate::StoreError> {
                sqlx::query_as::<_, $crate::rows::PostRow>(concat!(
                    "SELECT ",
                    $crate::rows::post_columns!(),
                    " FROM posts WHERE account_id = $1 AND state = $2 ORDER BY scheduled_at_ms, id LIMIT $3"
                ))
                .bind(account.as_uuid())
                .bind(state.as_str())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|row| row.into_domain(&self.cipher))
                .collect()
            }

            async fn post_events(
                &self,
                id: tokpost_core::PostId,
            ) -> Result<Vec<tokpost_core::PostEvent>, $crate::StoreError> {
                sqlx::query_as::<_, $crate::rows::EventRow>(
                    "SELECT post_id, sequence, at_ms, kind, state, message, native_response FROM post_events WHERE post_id = $1 ORDER BY sequence",
                )
                .bind(id.as_uuid())
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map($crate::rows::EventRow::into_domain)
                .collect()
            }

            async fn transition_post(
                &self,
                transition: $crate::Transition,
            ) -> Result<$crate::TransitionOutcome, $crate::StoreError> {
                transition.expected.check_transition(&transition.to)?;
                let mut tx = self.write_tx().await?;
                if let Some((job, worker)) = &transition.completes {
                    if !finish_job(&mut tx, *job, worker).await? {
                        return Ok($crate::TransitionOutcome::LeaseLost);
                    }
                }
                if let Some((job, worker)) = &transition.lease {
                    if !holds_job(&mut tx, *job, worker).await? {
                        return Ok($crate::TransitionOutcome::LeaseLost);
                    }
                }
                let Some(post) = apply_transitions(&mut tx, &self.cipher, &[&transition]).await?.pop().flatten() else {
                    tx.rollback().await?;
                    let current = self
                        .post(transition.post)
                        .await?
                        .ok_or($crate::StoreError::NotFound("post"))?;
                    return Ok($crate::TransitionOutcome::Stale {
                        current: current.state,
                    });
                };
                tx.commit().await?;
                if transition.next_job.is_some() || transition.completes.is_some() {
                    self.jobs_changed().await;
                }
                Ok($crate::TransitionOutcome::Applied(Box::new(post)))
            }

            async fn append_post_event(
                &self,
                id: tokpost_core::PostId,
                event: tokpost_core::NewPostEvent,
            ) -> Result<u32, $crate::StoreError> {
                let mut tx = self.write_tx().await?;
                // An init recorded makes the post uncancellable until TikTok's answer is noted.
                let row: Option<(i64, String)> = sqlx::query_as(
                    "UPDATE posts SET event_count = event_count + 1,
                       init_pending = CASE WHEN $2 = 'init_requested' THEN 1 WHEN $2 = 'tiktok_response' THEN 0 ELSE init_pending END
                     WHERE id = $1 RETURNING event_count, state",
                )
                .bind(id.as_uuid())
                .bind(event.kind.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                let (sequence, state) = row.ok_or($crate::StoreError::NotFound("post"))?;
                let state = tokpost_core::StateKind::parse(&state)
                    .ok_or_else(|| $crate::rows::corrupt("post state"))?;
                insert_event(&mut tx, id, sequence, &event, state).await?;
                tx.commit().await?;
                u32::try_from(sequence).map_err(|_| $crate::rows::corrupt("event sequence"))
            }

            async fn record_init_request(
                &self,
                id: tokpost_core::PostId,
                expected: &tokpost_core::PostState,
                event: tokpost_core::NewPostEvent,
                lease: Option<(tokpost_core::JobId, $crate::WorkerId)>,
            ) -> Result<$crate::InitRecord, $crate::StoreError> {
                let mut tx = self.write_tx().await?;
                if let Some((job, worker)) = &lease {
                    if !holds_job(&mut tx, *job, worker).await? {
                        return Ok($crate::InitRecord::LeaseLost);
                    }
                }
                let row: Option<(i64, String)> = sqlx::query_as(
                    "UPDATE posts SET event_count = event_count + 1, init_pending = 1
                     WHERE id = $1 AND state_detail = $2 RETURNING event_count, state",
                )
                .bind(id.as_uuid())
                .bind($crate::rows::to_json(expected)?)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((sequence, state)) = row else {
                    tx.rollback().await?;
                    let current = self.post(id).await?.ok_or($crate::StoreError::NotFound("post"))?;
                    return Ok($crate::InitRecord::Moved { current: current.state });
                };
                let state = tokpost_core::StateKind::parse(&state)
                    .ok_or_else(|| $crate::rows::corrupt("post state"))?;
                insert_event(&mut tx, id, sequence, &event, state).await?;
                tx.commit().await?;
                Ok($crate::InitRecord::Recorded)
            }

            async fn record_quota_use(
                &self,
                usage: $crate::QuotaUse,
            ) -> Result<(), $crate::StoreError> {
                let mut tx = self.write_tx().await?;
                insert_quota_use(&mut tx, &usage).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn release_quota_use(
                &self,
                post: tokpost_core::PostId,
                kind: $crate::QuotaKind,
                at: jiff::Timestamp,
            ) -> Result<bool, $crate::StoreError> {
                let released = sqlx::query(
                    "UPDATE quota_ledger SET released_at_ms = $3 WHERE post_id = $1 AND kind = $2 AND released_at_ms IS NULL",
                )
                .bind(post.as_uuid())
                .bind(kind.as_str())
                .bind($crate::rows::ms(at))
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(released > 0)
            }

            async fn quota_used(
                &self,
                account: tokpost_core::AccountId,
                kind: $crate::QuotaKind,
                since: jiff::Timestamp,
            ) -> Result<u64, $crate::StoreError> {
                let count: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM quota_ledger WHERE account_id = $1 AND kind = $2 AND at_ms >= $3 AND released_at_ms IS NULL",
                )
                .bind(account.as_uuid())
                .bind(kind.as_str())
                .bind($crate::rows::ms(since))
                .fetch_one(&self.pool)
                .await?;
                Ok(u64::try_from(count).unwrap_or(0))
            }

            async fn quota_use_times(
                &self,
                account: tokpost_core::AccountId,
                kind: $crate::QuotaKind,
                since: jiff::Timestamp,
            ) -> Result<Vec<jiff::Timestamp>, $crate::StoreError> {
                let rows: Vec<i64> = sqlx::query_scalar(
                    "SELECT at_ms FROM quota_ledger WHERE account_id = $1 AND kind = $2 AND at_ms >= $3 AND released_at_ms IS NULL ORDER BY at_ms",
                )
                .bind(account.as_uuid())
                .bind(kind.as_str())
                .bind($crate::rows::ms(since))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::rows::from_ms).collect()
            }

            async fn active_creators_since(
                &self,
                since: jiff::Timestamp,
            ) -> Result<Vec<(tokpost_core::AccountId, jiff::Timestamp)>, $crate::StoreError> {
                let rows: Vec<(uuid::Uuid, i64)> = sqlx::query_as(
                    $crate::backend::ACTIVE_CREATORS_SINCE,
                )
                .bind($crate::rows::ms(since))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(id, at)| Ok((tokpost_core::AccountId::from_uuid(id), $crate::rows::from_ms(at)?)))
                    .collect()
            }

            async fn admit_active_creator(
                &self,
                account: tokpost_core::AccountId,
                since: jiff::Timestamp,
                cap: u64,
                now: jiff::Timestamp,
            ) -> Result<$crate::ActiveCreatorAdmission, $crate::StoreError> {
                let mut tx = self.write_tx().await?;
                if let Some(lock) = Self::LOCK_ACTIVE_CREATORS {
                    sqlx::query(lock).execute(&mut *tx).await?;
                }
                let rows: Vec<(uuid::Uuid, i64)> = sqlx::query_as($crate::backend::ACTIVE_CREATORS_SINCE)
                    .bind($crate::rows::ms(since))
                    .fetch_all(&mut *tx)
                    .await?;
                let active = $crate::limits::ActiveCreators::new(rows, cap);
                match active.admission(account.as_uuid()) {
                    $crate::limits::Admission::AlreadyActive => {
                        tx.rollback().await?;
                        return Ok($crate::ActiveCreatorAdmission::Admitted);
                    }
                    $crate::limits::Admission::Full => {
                        tx.rollback().await?;
                        return Ok($crate::ActiveCreatorAdmission::Full {
                            latest_uses: active.latest_uses()?,
                        });
                    }
                    $crate::limits::Admission::SlotFree => {}
                }
                insert_quota_use(
                    &mut tx,
                    &$crate::QuotaUse {
                        account_id: account,
                        kind: $crate::QuotaKind::ActiveCreator,
                        post_id: None,
                        at: now,
                    },
                )
                .await?;
                tx.commit().await?;
                Ok($crate::ActiveCreatorAdmission::Admitted)
            }

            async fn take_rate_limit_slot(
                &self,
                slot: $crate::RateLimitSlot<'_>,
                now: jiff::Timestamp,
            ) -> Result<$crate::RateLimitDecision, $crate::StoreError> {
                // A rolling window, as TikTok counts: a request is inside it for `window` after
                // it was sent (fixed calendar windows would let twice the limit through across
                // a boundary). Rows are (account, endpoint, sent at, requests at that ms).
                let now_ms = $crate::rows::ms(now);
                let window_ms = $crate::backend::window_ms(&slot);
                if slot.limit == 0 {
                    return $crate::limits::rate_limit_decision(0, None, 0, window_ms, now_ms);
                }
                let mut tx = self.write_tx().await?;
                let used = rate_windows_in_use(&mut tx, &[slot], now_ms).await?;
                let (count, oldest) = used
                    .get(&(slot.account_id.as_uuid(), slot.endpoint))
                    .copied()
                    .unwrap_or((0, None));
                let decision = $crate::limits::rate_limit_decision(count, oldest, slot.limit, window_ms, now_ms)?;
                if matches!(decision, $crate::RateLimitDecision::Allowed { .. }) {
                    record_requests(&mut tx, &std::collections::BTreeMap::from([((slot.account_id.as_uuid(), slot.endpoint), 1)]), now_ms).await?;
                }
                tx.commit().await?;
                Ok(decision)
            }

            async fn enqueue(
                &self,
                job: $crate::NewJob,
                now: jiff::Timestamp,
            ) -> Result<$crate::Enqueued, $crate::StoreError> {
                let mut tx = self.write_tx().await?;
                let enqueued = insert_job(&mut tx, &job, now).await?;
                tx.commit().await?;
                if matches!(enqueued, $crate::Enqueued::Added(_)) {
                    self.jobs_changed().await;
                }
                Ok(enqueued)
            }

            async fn claim(
                &self,
                worker: &$crate::WorkerId,
                now: jiff::Timestamp,
                lease: std::time::Duration,
                limit: u32,
            ) -> Result<Vec<$crate::Job>, $crate::StoreError> {
                use $crate::rows::ms;
                if limit == 0 {
                    return Ok(Vec::new());
                }
                let until = ms(clock_add(now, lease));
                let mut tx = self.write_tx().await?;
                // Over-fetch: several due jobs of one busy account must not hide other accounts.
                let candidates = sqlx::query_as::<_, $crate::rows::ClaimCandidate>(Self::CLAIM_CANDIDATES)
                    .bind(ms(now))
                    .bind(i64::from(limit).saturating_mul(4))
                    .fetch_all(&mut *tx)
                    .await?;
                let chosen = $crate::backend::one_per_account(
                    $crate::backend::take_turns(candidates),
                    limit,
                );
                let claimed = lease_candidates(&mut tx, chosen, worker, until).await?;
                tx.commit().await?;
                Ok(claimed)
            }

            async fn claim_due_inits(
                &self,
                worker: &$crate::WorkerId,
                due_by: jiff::Timestamp,
                now: jiff::Timestamp,
                lease: std::time::Duration,
                limit: u32,
            ) -> Result<Vec<$crate::Job>, $crate::StoreError> {
                use $crate::rows::ms;
                if limit == 0 {
                    return Ok(Vec::new());
                }
                let until = ms(clock_add(now, lease));
                let mut tx = self.write_tx().await?;
                let candidates = sqlx::query_as::<_, $crate::rows::ClaimCandidate>(Self::CLAIM_INIT_CANDIDATES)
                    .bind(ms(due_by))
                    .bind(i64::from(limit))
                    .bind(tokpost_core::JobKind::PublishPost.as_str())
                    .bind(tokpost_core::StateKind::CreatorChecked.as_str())
                    .fetch_all(&mut *tx)
                    .await?;
                let chosen = $crate::backend::one_per_account(candidates, limit);
                let claimed = lease_candidates(&mut tx, chosen, worker, until).await?;
                tx.commit().await?;
                Ok(claimed)
            }

            async fn next_init_due_at(&self) -> Result<Option<jiff::Timestamp>, $crate::StoreError> {
                let next: Option<i64> = sqlx::query_scalar(
                    "SELECT MIN(CASE WHEN j.run_at_ms > p.scheduled_at_ms THEN j.run_at_ms ELSE p.scheduled_at_ms END)
                     FROM jobs AS j JOIN posts AS p ON p.id = j.post_id
                     WHERE j.kind = $1 AND j.locked_by IS NULL AND p.state = $2
                       AND NOT EXISTS (SELECT 1 FROM account_leases l WHERE l.account_id = j.account_id)",
                )
                .bind(tokpost_core::JobKind::PublishPost.as_str())
                .bind(tokpost_core::StateKind::CreatorChecked.as_str())
                .fetch_one(&self.pool)
                .await?;
                next.map($crate::rows::from_ms).transpose()
            }

            fn writes_side_by_side(&self) -> bool {
                Self::WRITES_SIDE_BY_SIDE
            }

            async fn prepare_inits(
                &self,
                worker: &$crate::WorkerId,
                starts: Vec<$crate::InitStart<'_>>,
                now: jiff::Timestamp,
            ) -> Result<$crate::PreparedInits, $crate::StoreError> {
                if starts.is_empty() {
                    return Ok($crate::PreparedInits::new(Vec::new(), None));
                }
                let mut tx = self.write_tx().await?;
                // The active creators are read once for the whole wave and admitted into as it
                // goes; on PostgreSQL the lock keeps other processes' admissions out meanwhile.
                let mut active = None;
                if let Some(rule) = starts.iter().find_map(|start| start.active_creators) {
                    if let Some(lock) = Self::LOCK_ACTIVE_CREATORS {
                        sqlx::query(lock).execute(&mut *tx).await?;
                    }
                    let rows: Vec<(uuid::Uuid, i64)> = sqlx::query_as($crate::backend::ACTIVE_CREATORS_SINCE)
                        .bind($crate::rows::ms(rule.since))
                        .fetch_all(&mut *tx)
                        .await?;
                    active = Some($crate::limits::ActiveCreators::new(rows, rule.cap));
                }
                // In account order, batch after batch: the rate-limit locks are taken in that
                // order, so two waves cannot deadlock.
                let mut order: Vec<usize> = (0..starts.len()).collect();
                order.sort_by_key(|&at| starts.get(at).map(|start| start.rate_limit.account_id.as_uuid()));
                let mut outcomes = vec![$crate::InitStartOutcome::NotPrepared; starts.len()];
                for batch in order.chunks($crate::backend::ROWS_PER_STATEMENT) {
                    let batch: Vec<(usize, &$crate::InitStart<'_>)> = batch
                        .iter()
                        .filter_map(|&at| starts.get(at).map(|start| (at, start)))
                        .collect();
                    start_init_batch(&mut tx, worker, &batch, $crate::rows::ms(now), active.as_mut(), &mut outcomes).await?;
                }
                Ok($crate::PreparedInits::new(outcomes, Some(Box::new(tx))))
            }

            async fn transition_posts(
                &self,
                transitions: Vec<$crate::Transition>,
            ) -> Result<Vec<$crate::TransitionOutcome>, $crate::StoreError> {
                for transition in &transitions {
                    transition.expected.check_transition(&transition.to)?;
                    if transition.completes.is_some() || transition.lease.is_some() {
                        return Err($crate::StoreError::Misuse(
                            "a transition that completes or holds a job goes through transition_post",
                        ));
                    }
                }
                if transitions.is_empty() {
                    return Ok(Vec::new());
                }
                let mut tx = self.write_tx().await?;
                let all: Vec<&$crate::Transition> = transitions.iter().collect();
                let moved = apply_transitions(&mut tx, &self.cipher, &all).await?;
                let mut outcomes = Vec::with_capacity(transitions.len());
                let mut queued = false;
                for (transition, moved) in transitions.iter().zip(moved) {
                    match moved {
                        Some(post) => {
                            queued |= transition.next_job.is_some();
                            outcomes.push($crate::TransitionOutcome::Applied(Box::new(post)));
                        }
                        None => {
                            let current = fetch_post(&mut tx, &self.cipher, transition.post).await?;
                            outcomes.push($crate::TransitionOutcome::Stale { current: current.state });
                        }
                    }
                }
                tx.commit().await?;
                if queued {
                    self.jobs_changed().await;
                }
                Ok(outcomes)
            }

            async fn retry_jobs_at(
                &self,
                worker: &$crate::WorkerId,
                retries: &[$crate::JobRetry],
                why: $crate::Requeue,
            ) -> Result<Vec<$crate::LeaseStatus>, $crate::StoreError> {
                if retries.is_empty() {
                    return Ok(Vec::new());
                }
                let mut tx = self.write_tx().await?;
                let held = requeue_jobs(&mut tx, worker, retries, why).await?;
                tx.commit().await?;
                if !held.is_empty() {
                    self.jobs_changed().await;
                }
                Ok(retries
                    .iter()
                    .map(|retry| $crate::LeaseStatus::from_rows(u64::from(held.contains(&retry.job.as_uuid()))))
                    .collect())
            }

            async fn extend_leases(
                &self,
                worker: &$crate::WorkerId,
                jobs: &[tokpost_core::JobId],
                until: jiff::Timestamp,
            ) -> Result<u64, $crate::StoreError> {
                let mut ids: Vec<uuid::Uuid> = jobs.iter().map(|job| job.as_uuid()).collect();
                ids.sort_unstable();
                ids.dedup();
                if ids.is_empty() {
                    return Ok(0);
                }
                let mut tx = self.write_tx().await?;
                let mut held = 0;
                for batch in ids.chunks($crate::backend::ROWS_PER_STATEMENT) {
                    let mut query = sqlx::QueryBuilder::<Db>::new("UPDATE jobs SET locked_until_ms = ");
                    query.push_bind($crate::rows::ms(until));
                    query.push(" WHERE locked_by = ");
                    query.push_bind(worker.as_str().to_owned());
                    query.push(" AND id");
                    push_in(&mut query, batch.iter().copied());
                    query.push(" RETURNING id");
                    let extended: Vec<uuid::Uuid> = query.build_query_scalar().fetch_all(&mut *tx).await?;
                    if extended.is_empty() {
                        continue;
                    }
                    let mut query = sqlx::QueryBuilder::<Db>::new("UPDATE account_leases SET locked_until_ms = ");
                    query.push_bind($crate::rows::ms(until));
                    query.push(" WHERE job_id");
                    push_in(&mut query, extended.iter().copied());
                    query.build().execute(&mut *tx).await?;
                    held += extended.len();
                }
                tx.commit().await?;
                Ok(u64::try_from(held).unwrap_or(u64::MAX))
            }

            async fn heartbeat(
                &self,
                job: tokpost_core::JobId,
                worker: &$crate::WorkerId,
                until: jiff::Timestamp,
            ) -> Result<$crate::LeaseStatus, $crate::StoreError> {
                let mut tx = self.write_tx().await?;
                let held = sqlx::query(
                    "UPDATE jobs SET locked_until_ms = $3 WHERE id = $1 AND locked_by = $2",
                )
                .bind(job.as_uuid())
                .bind(worker.as_str())
                .bind($crate::rows::ms(until))
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if held > 0 {
                    sqlx::query("UPDATE account_leases SET locked_until_ms = $2 WHERE job_id = $1")
                        .bind(job.as_uuid())
                        .bind($crate::rows::ms(until))
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok($crate::LeaseStatus::from_rows(held))
            }

            async fn complete(
                &self,
                job: tokpost_core::JobId,
                worker: &$crate::WorkerId,
            ) -> Result<$crate::LeaseStatus, $crate::StoreError> {
                let mut tx = self.write_tx().await?;
                let held = finish_job(&mut tx, job, worker).await?;
                tx.commit().await?;
                if held {
                    self.jobs_changed().await;
                }
                Ok($crate::LeaseStatus::from_rows(u64::from(held)))
            }

            async fn retry_at(
                &self,
                job: tokpost_core::JobId,
                worker: &$crate::WorkerId,
                at: jiff::Timestamp,
                note: &str,
                why: $crate::Requeue,
            ) -> Result<$crate::LeaseStatus, $crate::StoreError> {
                let mut tx = self.write_tx().await?;
                let held = requeue_job(&mut tx, job, worker, at, note, why).await?;
                tx.commit().await?;
                if held {
                    self.jobs_changed().await;
                }
                Ok($crate::LeaseStatus::from_rows(u64::from(held)))
            }

            async fn sweep_expired_leases(
                &self,
                now: jiff::Timestamp,
            ) -> Result<u64, $crate::StoreError> {
                let now_ms = $crate::rows::ms(now);
                let mut tx = self.write_tx().await?;
                let returned = sqlx::query(
                    "UPDATE jobs SET locked_by = NULL, locked_until_ms = NULL, last_error = 'lease expired: the worker stopped renewing it'
                     WHERE locked_by IS NOT NULL AND locked_until_ms < $1",
                )
                .bind(now_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                sqlx::query(
                    "DELETE FROM account_leases WHERE locked_until_ms < $1
                       OR NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.id = account_leases.job_id AND jobs.locked_by IS NOT NULL)",
                )
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM rate_limit_windows WHERE window_start_ms <= $1")
                    .bind(now_ms.saturating_sub($crate::backend::RATE_WINDOWS_KEPT_MS))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                if returned > 0 {
                    self.jobs_changed().await;
                    tracing::warn!(jobs = returned, "returned jobs with expired leases to the queue");
                }
                Ok(returned)
            }

            async fn prepare_due_by(
                &self,
                until: jiff::Timestamp,
                now: jiff::Timestamp,
            ) -> Result<u64, $crate::StoreError> {
                use $crate::rows::ms;
                let mut tx = self.write_tx().await?;
                let moved = sqlx::query(
                    "UPDATE jobs SET run_at_ms = $1
                     WHERE kind = $3 AND locked_by IS NULL AND run_at_ms > $1 AND run_at_ms <= $2
                       AND run_at_ms = (SELECT p.scheduled_at_ms FROM posts p
                                        WHERE p.id = jobs.post_id AND p.state = $4)",
                )
                .bind(ms(now))
                .bind(ms(until))
                .bind(tokpost_core::JobKind::PublishPost.as_str())
                .bind(tokpost_core::StateKind::Scheduled.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                if moved > 0 {
                    self.jobs_changed().await;
                }
                Ok(moved)
            }

            async fn hasten_job(
                &self,
                dedupe_key: &str,
                at: jiff::Timestamp,
            ) -> Result<bool, $crate::StoreError> {
                let moved = sqlx::query(
                    "UPDATE jobs SET run_at_ms = $2 WHERE dedupe_key = $1 AND locked_by IS NULL AND run_at_ms > $2",
                )
                .bind(dedupe_key)
                .bind($crate::rows::ms(at))
                .execute(&self.pool)
                .await?
                .rows_affected();
                if moved > 0 {
                    self.jobs_changed().await;
                }
                Ok(moved > 0)
            }

            async fn next_due_at(&self) -> Result<Option<jiff::Timestamp>, $crate::StoreError> {
                // A leased job becomes claimable again when its lease ends (its worker died),
                // so the end of the earliest lease is a time to look too.
                let next: Option<i64> = sqlx::query_scalar(
                    "SELECT MIN(due) FROM (
                       SELECT MIN(run_at_ms) AS due FROM jobs WHERE locked_by IS NULL
                         AND (account_id IS NULL OR NOT EXISTS (SELECT 1 FROM account_leases l WHERE l.account_id = jobs.account_id))
                       UNION ALL
                       SELECT MIN(locked_until_ms) AS due FROM jobs WHERE locked_by IS NOT NULL
                     ) AS candidates",
                )
                .fetch_one(&self.pool)
                .await?;
                next.map($crate::rows::from_ms).transpose()
            }

            fn job_changes(&self) -> tokio::sync::watch::Receiver<u64> {
                self.changes.subscribe()
            }

            async fn job(
                &self,
                id: tokpost_core::JobId,
            ) -> Result<Option<$crate::Job>, $crate::StoreError> {
                sqlx::query_as::<_, $crate::rows::JobRow>(concat!(
                    "SELECT ",
                    $crate::rows::job_columns!(),
                    " FROM jobs WHERE id = $1"
                ))
                .bind(id.as_uuid())
                .fetch_optional(&self.pool)
                .await?
                .map($crate::rows::JobRow::into_domain)
                .transpose()
            }

            // --- API access ---

            async fn ping(&self) -> Result<(), $crate::StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn record_worker_heartbeat(
                &self,
                worker: &str,
                at: jiff::Timestamp,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO worker_heartbeats (worker, seen_at_ms) VALUES ($1, $2)
                     ON CONFLICT (worker) DO UPDATE SET seen_at_ms = excluded.seen_at_ms",
                )
                .bind(worker)
                .bind($crate::rows::ms(at))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn worker_heartbeat(
                &self,
                worker: &str,
            ) -> Result<Option<jiff::Timestamp>, $crate::StoreError> {
                let seen: Option<i64> =
                    sqlx::query_scalar("SELECT seen_at_ms FROM worker_heartbeats WHERE worker = $1")
                        .bind(worker)
                        .fetch_optional(&self.pool)
                        .await?;
                seen.map($crate::rows::from_ms).transpose()
            }

            async fn workspaces(&self) -> Result<Vec<$crate::Workspace>, $crate::StoreError> {
                sqlx::query_as::<_, $crate::rows::WorkspaceRow>(
                    "SELECT id, name, created_at_ms FROM workspaces ORDER BY created_at_ms, id",
                )
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map($crate::rows::WorkspaceRow::into_domain)
                .collect()
            }

            async fn create_api_key(
                &self,
                key: $crate::NewApiKey,
                now: jiff::Timestamp,
            ) -> Result<$crate::ApiKey, $crate::StoreError> {
                let id = tokpost_core::ApiKeyId::generate(now);
                sqlx::query(
                    "INSERT INTO api_keys (id, workspace_id, name, prefix, secret_hash, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id.as_uuid())
                .bind(key.workspace_id.as_uuid())
                .bind(&key.name)
                .bind(&key.prefix)
                .bind(&key.secret_hash)
                .bind($crate::rows::ms(now))
                .execute(&self.pool)
                .await?;
                Ok($crate::ApiKey {
                    id,
                    workspace_id: key.workspace_id,
                    name: key.name,
                    prefix: key.prefix,
                    created_at: now,
                    revoked_at: None,
                })
            }

            async fn api_key_by_hash(
                &self,
                secret_hash: &str,
            ) -> Result<Option<$crate::ApiKey>, $crate::StoreError> {
                sqlx::query_as::<_, $crate::rows::ApiKeyRow>(
                    "SELECT id, workspace_id, name, prefix, created_at_ms, revoked_at_ms FROM api_keys WHERE secret_hash = $1",
                )
                .bind(secret_hash)
                .fetch_optional(&self.pool)
                .await?
                .map($crate::rows::ApiKeyRow::into_domain)
                .transpose()
            }

            async fn api_keys(
                &self,
                workspace: Option<tokpost_core::WorkspaceId>,
            ) -> Result<Vec<$crate::ApiKey>, $crate::StoreError> {
                let query = match workspace {
                    Some(workspace) => sqlx::query_as::<_, $crate::rows::ApiKeyRow>(
                        "SELECT id, workspace_id, name, prefix, created_at_ms, revoked_at_ms FROM api_keys WHERE workspace_id = $1 ORDER BY created_at_ms, id",
                    )
                    .bind(workspace.as_uuid()),
                    None => sqlx::query_as::<_, $crate::rows::ApiKeyRow>(
                        "SELECT id, workspace_id, name, prefix, created_at_ms, revoked_at_ms FROM api_keys ORDER BY created_at_ms, id",
                    ),
                };
                query
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map($crate::rows::ApiKeyRow::into_domain)
                    .collect()
            }

            async fn revoke_api_key(
                &self,
                id: tokpost_core::ApiKeyId,
                now: jiff::Timestamp,
            ) -> Result<bool, $crate::StoreError> {
                let revoked = sqlx::query(
                    "UPDATE api_keys SET revoked_at_ms = $2 WHERE id = $1 AND revoked_at_ms IS NULL",
                )
                .bind(id.as_uuid())
                .bind($crate::rows::ms(now))
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(revoked > 0)
            }

            async fn save_oauth_state(
                &self,
                state: $crate::NewOAuthState,
                now: jiff::Timestamp,
            ) -> Result<(), $crate::StoreError> {
                let verifier = state
                    .pkce_verifier
                    .as_ref()
                    .map(|verifier| {
                        self.cipher
                            .seal(verifier, state.state_hash.as_bytes(), PKCE_VERIFIER)
                    })
                    .transpose()?;
                sqlx::query(
                    "INSERT INTO oauth_states (state_hash, workspace_id, pkce_verifier, created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&state.state_hash)
                .bind(state.workspace_id.as_uuid())
                .bind(verifier)
                .bind($crate::rows::ms(now))
                .bind($crate::rows::ms(state.expires_at))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn reencrypt_secrets(
                &self,
                batch: u32,
            ) -> Result<$crate::Reencrypted, $crate::StoreError> {
                // A ciphertext's bytes 2..=5 (1-based, as SQL counts) are its key id, so the
                // rows still to do are found without decrypting anything.
                let current = self.cipher.key_id_bytes().to_vec();
                let mut tx = self.write_tx().await?;
                let accounts: Vec<(uuid::Uuid, Vec<u8>, Vec<u8>)> = sqlx::query_as(
                    "SELECT id, access_token, refresh_token FROM accounts WHERE access_token IS NOT NULL AND refresh_token IS NOT NULL AND (substr(access_token, 2, 4) <> $1 OR substr(refresh_token, 2, 4) <> $1) ORDER BY id LIMIT $2",
                )
                .bind(&current)
                .bind(i64::from(batch))
                .fetch_all(&mut *tx)
                .await?;
                let mut rewritten = 0_u64;
                for (id, access, refresh) in &accounts {
                    let aad = id.as_bytes();
                    let fresh_access = self
                        .cipher
                        .seal(&self.cipher.open(access, aad, ACCESS_TOKEN)?, aad, ACCESS_TOKEN)?;
                    let fresh_refresh = self
                        .cipher
                        .seal(&self.cipher.open(refresh, aad, REFRESH_TOKEN)?, aad, REFRESH_TOKEN)?;
                    rewritten += sqlx::query(
                        "UPDATE accounts SET access_token = $2, refresh_token = $3 WHERE id = $1 AND access_token = $4 AND refresh_token = $5",
                    )
                    .bind(id)
                    .bind(fresh_access)
                    .bind(fresh_refresh)
                    .bind(access)
                    .bind(refresh)
                    .execute(&mut *tx)
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
                for column in $crate::backend::SEALED_COLUMNS {
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
                for column in $crate::backend::SEALED_COLUMNS {
                    count.push_str(&format!(
                        " + (SELECT COUNT(*) FROM {} WHERE {} IS NOT NULL AND substr({}, 2, 4) <> $1)",
                        column.table, column.column, column.column
                    ));
                }
                // Table and column names come from `SEALED_COLUMNS`, never from input.
                let remaining: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count))
                .bind(&current)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok($crate::Reencrypted {
                    rewritten,
                    remaining: u64::try_from(remaining).unwrap_or(0),
                })
            }

            async fn take_oauth_state(
                &self,
                state_hash: &str,
                now: jiff::Timestamp,
            ) -> Result<$crate::OAuthStateTake, $crate::StoreError> {
                let mut tx = self.write_tx().await?;
                // Marking it used and reading it is one statement, so two callbacks racing with
                // the same state cannot both take it.
                let taken: Option<(uuid::Uuid, Option<Vec<u8>>, i64)> = sqlx::query_as(
                    "UPDATE oauth_states SET used_at_ms = $2 WHERE state_hash = $1 AND used_at_ms IS NULL
                     RETURNING workspace_id, pkce_verifier, expires_at_ms",
                )
                .bind(state_hash)
                .bind($crate::rows::ms(now))
                .fetch_optional(&mut *tx)
                .await?;
                let outcome = match taken {
                    Some((_, _, expires_at_ms)) if expires_at_ms <= $crate::rows::ms(now) => {
                        $crate::OAuthStateTake::Expired
                    }
                    Some((workspace, verifier, _)) => $crate::OAuthStateTake::Taken {
                        workspace_id: tokpost_core::WorkspaceId::from_uuid(workspace),
                        pkce_verifier: verifier
                            .map(|sealed| {
                                self.cipher.open(&sealed, state_hash.as_bytes(), PKCE_VERIFIER)
                            })
                            .transpose()?,
                    },
                    None => {
                        let known: Option<i64> = sqlx::query_scalar(
                            "SELECT created_at_ms FROM oauth_states WHERE state_hash = $1",
                        )
                        .bind(state_hash)
                        .fetch_optional(&mut *tx)
                        .await?;
                        if known.is_some() {
                            $crate::OAuthStateTake::AlreadyUsed
                        } else {
                            $crate::OAuthStateTake::Unknown
                        }
                    }
                };
                tx.commit().await?;
                Ok(outcome)
            }

            async fn accounts_by_open_id(
                &self,
                open_id: &tokpost_core::OpenId,
            ) -> Result<Vec<tokpost_core::Account>, $crate::StoreError> {
                sqlx::query_as::<_, $crate::rows::AccountRow>(concat!(
                    "SELECT ",
                    $crate::rows::account_columns!(),
                    " FROM accounts WHERE open_id = $1 ORDER BY id"
                ))
                .bind(open_id.as_str())
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map($crate::rows::AccountRow::into_domain)
                .collect()
            }

            async fn post_by_publish_id(
                &self,
                publish_id: &tokpost_core::PublishId,
            ) -> Result<Option<tokpost_core::Post>, $crate::StoreError> {
                sqlx::query_as::<_, $crate::rows::PostRow>(concat!(
                    "SELECT ",
                    $crate::rows::post_columns!(),
                    " FROM posts WHERE publish_id = $1 ORDER BY id DESC LIMIT 1"
                ))
                .bind(publish_id.as_str())
                .fetch_optional(&self.pool)
                .await?
                .map(|row| row.into_domain(&self.cipher))
                .transpose()
            }

            async fn list_posts(
                &self,
                filter: &$crate::PostFilter,
            ) -> Result<Vec<tokpost_core::Post>, $crate::StoreError> {
                use $crate::rows::ms;
                // Absent filters bind NULL and match everything, so one statement serves every
                // combination on both backends.
                let (after_ms, after_id) = match filter.after {
                    Some((at, id)) => (Some(ms(at)), Some(id.as_uuid())),
                    None => (None, None),
                };
                sqlx::query_as::<_, $crate::rows::PostRow>(concat!(
                    "SELECT ",
                    $crate::rows::post_columns!(),
                    " FROM posts WHERE workspace_id = $1
                       AND ($2 IS NULL OR state = $2)
                       AND ($3 IS NULL OR account_id = $3)
                       AND ($4 IS NULL OR scheduled_at_ms >= $4)
                       AND ($5 IS NULL OR scheduled_at_ms < $5)
                       AND ($6 IS NULL OR scheduled_at_ms > $6 OR (scheduled_at_ms = $6 AND id > $7))
                     ORDER BY scheduled_at_ms, id LIMIT $8"
                ))
                .bind(filter.workspace_id.as_uuid())
                .bind(filter.state.map(tokpost_core::StateKind::as_str))
                .bind(filter.account_id.map(|id| id.as_uuid()))
                .bind(filter.scheduled_from.map(ms))
                .bind(filter.scheduled_before.map(ms))
                .bind(after_ms)
                .bind(after_id)
                .bind(i64::from(filter.limit))
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|row| row.into_domain(&self.cipher))
                .collect()
            }

            async fn reschedule_post(
                &self,
                change: $crate::Reschedule,
                now: jiff::Timestamp,
            ) -> Result<bool, $crate::StoreError> {
                use $crate::rows::{ms, to_json};
                let mut tx = self.write_tx().await?;
                let at = ms(change.scheduled_at.at());
                let row: Option<(i64, String)> = sqlx::query_as(
                    "UPDATE posts SET scheduled_at_ms = $2, event_count = event_count + 1, updated_at_ms = $3,
                         state = $5, state_detail = $6
                     WHERE id = $1 AND state_detail = $4 AND init_pending = 0 AND (state = $5 OR scheduled_at_ms > $7)
                     RETURNING event_count, state",
                )
                .bind(change.post.as_uuid())
                .bind(at)
                .bind(ms(now))
                .bind(to_json(&change.expected)?)
                .bind(tokpost_core::StateKind::Scheduled.as_str())
                .bind(to_json(&tokpost_core::PostState::Scheduled)?)
                .bind(ms(change.prepared_frozen_from))
                .fetch_optional(&mut *tx)
                .await?;
                let Some((sequence, state)) = row else {
                    return Ok(false);
                };
                let state = tokpost_core::StateKind::parse(&state)
                    .ok_or_else(|| $crate::rows::corrupt("post state"))?;
                insert_event(&mut tx, change.post, sequence, &change.event, state).await?;
                sqlx::query(
                    "UPDATE jobs SET run_at_ms = $2 WHERE post_id = $1 AND kind = $3 AND locked_by IS NULL",
                )
                .bind(change.post.as_uuid())
                .bind(at)
                .bind(tokpost_core::JobKind::PublishPost.as_str())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                self.jobs_changed().await;
                Ok(true)
            }

            async fn record_inbound_webhook(
                &self,
                event_id: &str,
                received_at: jiff::Timestamp,
            ) -> Result<bool, $crate::StoreError> {
                let inserted = sqlx::query(
                    "INSERT INTO inbound_webhook_events (event_id, received_at_ms) VALUES ($1, $2)
                     ON CONFLICT (event_id) DO NOTHING",
                )
                .bind(event_id)
                .bind($crate::rows::ms(received_at))
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(inserted > 0)
            }

            async fn post_state_counts(
                &self,
            ) -> Result<(Vec<(tokpost_core::StateKind, u64)>, u64), $crate::StoreError> {
                let rows: Vec<(String, i64)> =
                    sqlx::query_as("SELECT state, COUNT(*) FROM posts GROUP BY state ORDER BY state")
                        .fetch_all(&self.pool)
                        .await?;
                let counts = rows
                    .into_iter()
                    .map(|(state, count)| {
                        let kind = tokpost_core::StateKind::parse(&state)
                            .ok_or_else(|| $crate::rows::corrupt("post state"))?;
                        Ok((kind, u64::try_from(count).unwrap_or(0)))
                    })
                    .collect::<Result<Vec<_>, $crate::StoreError>>()?;
                let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs")
                    .fetch_one(&self.pool)
                    .await?;
                Ok((counts, u64::try_from(queued).unwrap_or(0)))
            }
        }

        const ACCESS_TOKEN: &str = "access_token";
        const REFRESH_TOKEN: &str = "refresh_token";
        const PKCE_VERIFIER: &str = $crate::backend::PKCE_VERIFIER;

        impl $store {
            /// Seals the upload URLs an older version stored in plaintext (migration 0013) and
            /// clears the plaintext, a batch per transaction; `open` runs it right after the
            /// migrations, before the store serves anything. A post another process converted
            /// meanwhile is left alone. Returns how many it sealed.
            async fn seal_plaintext_upload_urls(&self) -> Result<u64, $crate::StoreError> {
                const BATCH: i64 = 500;
                let mut sealed = 0_u64;
                loop {
                    let mut tx = self.write_tx().await?;
                    let plain: Vec<(uuid::Uuid, String)> = sqlx::query_as(
                        "SELECT id, upload_url FROM posts WHERE upload_url IS NOT NULL ORDER BY id LIMIT $1",
                    )
                    .bind(BATCH)
                    .fetch_all(&mut *tx)
                    .await?;
                    for (id, url) in &plain {
                        let fresh = $crate::rows::seal_upload_url(&self.cipher, *id, url)?;
                        sealed += sqlx::query(
                            "UPDATE posts SET upload_url_sealed = $2, upload_url = NULL WHERE id = $1 AND upload_url = $3",
                        )
                        .bind(id)
                        .bind(fresh)
                        .bind(url)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    }
                    tx.commit().await?;
                    if plain.is_empty() {
                        break;
                    }
                }
                if sealed > 0 {
                    tracing::info!(sealed, "sealed the upload URLs an older version stored in plaintext");
                }
                Ok(sealed)
            }

            fn seal_tokens(
                &self,
                account: uuid::Uuid,
                tokens: &$crate::AccountTokens,
            ) -> Result<(Vec<u8>, Vec<u8>), $crate::StoreError> {
                Ok((
                    self.cipher.seal(&tokens.access_token, account.as_bytes(), ACCESS_TOKEN)?,
                    self.cipher.seal(&tokens.refresh_token, account.as_bytes(), REFRESH_TOKEN)?,
                ))
            }
        }

        fn clock_add(at: jiff::Timestamp, by: std::time::Duration) -> jiff::Timestamp {
            jiff::SignedDuration::try_from(by)
                .ok()
                .and_then(|by| at.checked_add(by).ok())
                .unwrap_or(jiff::Timestamp::MAX)
        }

        async fn insert_event(
            tx: &mut Tx,
            post: tokpost_core::PostId,
            sequence: i64,
            event: &tokpost_core::NewPostEvent,
            state: tokpost_core::StateKind,
        ) -> Result<(), $crate::StoreError> {
            insert_events(tx, vec![(post, sequence, event, state)]).await
        }

        async fn insert_job(
            tx: &mut Tx,
            job: &$crate::NewJob,
            now: jiff::Timestamp,
        ) -> Result<$crate::Enqueued, $crate::StoreError> {
            let id = tokpost_core::JobId::generate(now);
            let inserted = sqlx::query(
                "INSERT INTO jobs (id, kind, payload, account_id, post_id, run_at_ms, attempts, dedupe_key, created_at_ms, workspace_id)
                 VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, COALESCE(
                     (SELECT workspace_id FROM posts WHERE id = $5),
                     (SELECT workspace_id FROM accounts WHERE id = $4)))
                 ON CONFLICT (dedupe_key) DO NOTHING",
            )
            .bind(id.as_uuid())
            .bind(job.kind.as_str())
            .bind($crate::rows::to_json(&job.payload)?)
            .bind(job.account_id.map(|a| a.as_uuid()))
            .bind(job.post_id.map(|p| p.as_uuid()))
            .bind($crate::rows::ms(job.run_at))
            .bind(job.dedupe_key.as_deref())
            .bind($crate::rows::ms(now))
            .execute(&mut **tx)
            .await?
            .rows_affected();
            Ok(if inserted > 0 {
                $crate::Enqueued::Added(id)
            } else {
                $crate::Enqueued::AlreadyQueued
            })
        }

        async fn insert_quota_use(
            tx: &mut Tx,
            usage: &$crate::QuotaUse,
        ) -> Result<(), $crate::StoreError> {
            insert_quota_uses(tx, std::slice::from_ref(usage)).await
        }

        /// Deletes a job the worker holds and frees its account. `false`: the lease was lost.
        async fn finish_job(
            tx: &mut Tx,
            job: tokpost_core::JobId,
            worker: &$crate::WorkerId,
        ) -> Result<bool, $crate::StoreError> {
            let held = sqlx::query("DELETE FROM jobs WHERE id = $1 AND locked_by = $2")
                .bind(job.as_uuid())
                .bind(worker.as_str())
                .execute(&mut **tx)
                .await?
                .rows_affected();
            if held > 0 {
                sqlx::query("DELETE FROM account_leases WHERE job_id = $1")
                    .bind(job.as_uuid())
                    .execute(&mut **tx)
                    .await?;
            }
            Ok(held > 0)
        }

        /// Re-seals up to `left` values of one sealed column whose key id is not `current`, each
        /// written only if unchanged since it was read; returns the rows taken and rewritten.
        async fn reseal_column<K>(
            tx: &mut Tx,
            cipher: &$crate::TokenCipher,
            sealed: &$crate::backend::SealedColumn,
            current: &[u8],
            left: i64,
            aad: fn(&K) -> &[u8],
        ) -> Result<(usize, u64), $crate::StoreError>
        where
            K: for<'r> sqlx::Decode<'r, Db> + for<'q> sqlx::Encode<'q, Db> + sqlx::Type<Db> + Send + Sync + Unpin,
        {
            let $crate::backend::SealedColumn { table, key, column, purpose, .. } = *sealed;
            // A ciphertext's bytes 2..=5 (1-based, as SQL counts) are its key id. Table and column
            // names come from `SEALED_COLUMNS`, never from input.
            let select = format!(
                "SELECT {key}, {column} FROM {table} WHERE {column} IS NOT NULL AND substr({column}, 2, 4) <> $1 ORDER BY {key} LIMIT $2"
            );
            let rows: Vec<(K, Vec<u8>)> = sqlx::query_as(sqlx::AssertSqlSafe(select.as_str()))
                .bind(current)
                .bind(left)
                .fetch_all(&mut **tx)
                .await?;
            let update = format!("UPDATE {table} SET {column} = $2 WHERE {key} = $1 AND {column} = $3");
            let mut rewritten = 0;
            for (id, old) in &rows {
                let fresh = cipher.seal(&cipher.open(old, aad(id), purpose)?, aad(id), purpose)?;
                rewritten += sqlx::query(sqlx::AssertSqlSafe(update.as_str()))
                    .bind(id)
                    .bind(fresh)
                    .bind(old)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected();
            }
            Ok((rows.len(), rewritten))
        }

        /// Whether `worker` still holds `job`; on PostgreSQL the job row stays locked against a
        /// sweep or a claim until the transaction ends, so the write that follows is made under
        /// the lease.
        async fn holds_job(
            tx: &mut Tx,
            job: tokpost_core::JobId,
            worker: &$crate::WorkerId,
        ) -> Result<bool, $crate::StoreError> {
            let mut query = sqlx::QueryBuilder::<Db>::new("SELECT 1 FROM jobs WHERE id = ");
            query.push_bind(job.as_uuid());
            query.push(" AND locked_by = ");
            query.push_bind(worker.as_str().to_owned());
            query.push($store::LOCK_HELD_JOB);
            let held: Option<i32> = query.build_query_scalar().fetch_optional(&mut **tx).await?;
            Ok(held.is_some())
        }

        /// The requests inside each slot's rolling window (a request is inside it for `window`
        /// after it was sent), per account and endpoint: (count, oldest sent at). Requests that
        /// left their window are deleted; on PostgreSQL the slots stay locked until the
        /// transaction ends, so that the count and the insert that follows are one step.
        async fn rate_windows_in_use<'s>(
            tx: &mut Tx,
            slots: &[$crate::RateLimitSlot<'s>],
            now_ms: i64,
        ) -> Result<std::collections::HashMap<(uuid::Uuid, &'s str), (i64, Option<i64>)>, $crate::StoreError> {
            let mut accounts: Vec<uuid::Uuid> = slots.iter().map(|slot| slot.account_id.as_uuid()).collect();
            accounts.sort();
            accounts.dedup();
            $store::lock_rate_limits(tx, accounts).await?;
            let mut windows: std::collections::BTreeMap<(&str, i64), Vec<uuid::Uuid>> = std::collections::BTreeMap::new();
            for slot in slots {
                windows
                    .entry((slot.endpoint, $crate::backend::window_ms(slot)))
                    .or_default()
                    .push(slot.account_id.as_uuid());
            }
            let mut used = std::collections::HashMap::new();
            for ((endpoint, window_ms), accounts) in windows {
                if window_ms > $crate::backend::RATE_WINDOWS_KEPT_MS {
                    return Err($crate::StoreError::Misuse("a rate window longer than the hour the sweep keeps"));
                }
                // Rows older than the window are left for the sweep to forget.
                let mut query = sqlx::QueryBuilder::<Db>::new(
                    "SELECT account_id, CAST(COALESCE(SUM(count), 0) AS BIGINT), MIN(window_start_ms)
                     FROM rate_limit_windows WHERE endpoint = ",
                );
                query.push_bind(endpoint.to_owned());
                query.push(" AND window_start_ms > ");
                query.push_bind(now_ms.saturating_sub(window_ms));
                query.push(" AND account_id");
                push_in(&mut query, accounts.iter().copied());
                query.push(" GROUP BY account_id");
                let rows: Vec<(uuid::Uuid, i64, Option<i64>)> =
                    query.build_query_as().fetch_all(&mut **tx).await?;
                for (account, count, oldest) in rows {
                    used.insert((account, endpoint), (count, oldest));
                }
            }
            Ok(used)
        }

        /// Records requests sent at `now_ms`: `count` per account and endpoint.
        async fn record_requests(
            tx: &mut Tx,
            taken: &std::collections::BTreeMap<(uuid::Uuid, &str), i64>,
            now_ms: i64,
        ) -> Result<(), $crate::StoreError> {
            if taken.is_empty() {
                return Ok(());
            }
            let mut query = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO rate_limit_windows (account_id, endpoint, window_start_ms, count) ",
            );
            query.push_values(taken, |mut row, (&(account, endpoint), &count)| {
                row.push_bind(account).push_bind(endpoint.to_owned()).push_bind(now_ms).push_bind(count);
            });
            query.push(
                " ON CONFLICT (account_id, endpoint, window_start_ms) DO UPDATE SET count = rate_limit_windows.count + excluded.count",
            );
            query.build().execute(&mut **tx).await?;
            Ok(())
        }

        /// Appends ` IN (…)` of `values` (at least one) to `query`.
        fn push_in<'t, T>(query: &mut sqlx::QueryBuilder<Db>, values: impl IntoIterator<Item = T>)
        where
            T: sqlx::Encode<'t, Db> + sqlx::Type<Db> + 't,
        {
            query.push(" IN (");
            let mut list = query.separated(", ");
            for value in values {
                list.push_bind(value);
            }
            list.push_unseparated(")");
        }

        /// One batch of [`Store::prepare_inits`](crate::Store::prepare_inits) (at most
        /// `ROWS_PER_STATEMENT` posts, in account order), a handful of statements whatever its
        /// size: which jobs the worker holds and their posts' states, the rate-limit windows,
        /// then the decisions in memory and their writes.
        async fn start_init_batch(
            tx: &mut Tx,
            worker: &$crate::WorkerId,
            batch: &[(usize, &$crate::InitStart<'_>)],
            now_ms: i64,
            mut active: Option<&mut $crate::limits::ActiveCreators>,
            outcomes: &mut [$crate::InitStartOutcome],
        ) -> Result<(), $crate::StoreError> {
            use std::collections::{BTreeMap, HashMap};
            use $crate::limits::Admission;
            use $crate::InitStartOutcome;
            let mut set = |at: usize, outcome: InitStartOutcome| {
                if let Some(slot) = outcomes.get_mut(at) {
                    *slot = outcome;
                }
            };
            // In one read, each job the worker still holds with its post: the post's state
            // and its last event (looked up through its key: an anti-join planned on stale
            // statistics scanned every event once per post). A post still in the state the
            // wave read and not already started goes on; one whose last event is an unanswered
            // init belongs to the one-post path.
            let mut query = sqlx::QueryBuilder::<Db>::new(
                "SELECT j.id, p.id, p.state_detail, (SELECT e.kind FROM post_events AS e WHERE e.post_id = p.id AND e.sequence = p.event_count)
                 FROM jobs AS j JOIN posts AS p ON p.id = j.post_id WHERE j.locked_by = ",
            );
            query.push_bind(worker.as_str().to_owned());
            query.push(" AND j.id");
            push_in(&mut query, batch.iter().map(|(_, start)| start.job.as_uuid()));
            query.push($store::HOLD_JOBS);
            let held: HashMap<uuid::Uuid, (uuid::Uuid, String, Option<String>)> = query
                .build_query_as::<(uuid::Uuid, uuid::Uuid, String, Option<String>)>()
                .fetch_all(&mut **tx)
                .await?
                .into_iter()
                .map(|(job, post, state, last_event)| (job, (post, state, last_event)))
                .collect();
            let init_requested = tokpost_core::EventKind::InitRequested.as_str();
            let mut candidates = Vec::with_capacity(batch.len());
            for &(at, start) in batch {
                let Some((post, state, last_event)) = held.get(&start.job.as_uuid()) else {
                    set(at, InitStartOutcome::LeaseLost);
                    continue;
                };
                let prepared = *post == start.post.as_uuid()
                    && last_event.as_deref() != Some(init_requested)
                    && *state == $crate::rows::to_json(&start.expected)?;
                if prepared {
                    candidates.push((at, start));
                }
            }
            if candidates.is_empty() {
                return Ok(());
            }
            let slots: Vec<$crate::RateLimitSlot<'_>> = candidates.iter().map(|(_, start)| start.rate_limit).collect();
            let mut used = rate_windows_in_use(tx, &slots, now_ms).await?;
            // The decisions, post by post, as the one-post path makes them: a creator the
            // active-creator cap keeps out takes no request slot, and a request the window
            // refuses admits no creator.
            let mut taken: BTreeMap<(uuid::Uuid, &str), i64> = BTreeMap::new();
            let mut admitted = Vec::new();
            let mut started = Vec::with_capacity(candidates.len());
            for (at, start) in candidates {
                let slot = start.rate_limit;
                let account = slot.account_id.as_uuid();
                let admission = match (start.active_creators, active.as_deref()) {
                    (Some(_), Some(active)) => Some(active.admission(account)),
                    _ => None,
                };
                if admission == Some(Admission::Full) {
                    let latest_uses = active.as_deref().map(|active| active.latest_uses()).transpose()?.unwrap_or_default();
                    set(at, InitStartOutcome::ActiveCreatorsFull { latest_uses });
                    continue;
                }
                let key = (account, slot.endpoint);
                let (count, oldest) = used.get(&key).copied().unwrap_or((0, None));
                match $crate::limits::rate_limit_decision(count, oldest, slot.limit, $crate::backend::window_ms(&slot), now_ms)? {
                    $crate::RateLimitDecision::Limited { retry_at } => {
                        set(at, InitStartOutcome::RateLimited { retry_at });
                        continue;
                    }
                    $crate::RateLimitDecision::Allowed { .. } => {}
                }
                used.insert(key, (count.saturating_add(1), Some(oldest.unwrap_or(now_ms))));
                *taken.entry(key).or_default() += 1;
                if admission == Some(Admission::SlotFree) {
                    if let Some(active) = active.as_deref_mut() {
                        active.admit(account, now_ms);
                    }
                    admitted.push(account);
                }
                started.push((at, start));
            }
            if started.is_empty() {
                return Ok(());
            }
            record_requests(tx, &taken, now_ms).await?;
            let at = $crate::rows::from_ms(now_ms)?;
            let admissions: Vec<$crate::QuotaUse> = admitted
                .into_iter()
                .map(|account| $crate::QuotaUse {
                    account_id: tokpost_core::AccountId::from_uuid(account),
                    kind: $crate::QuotaKind::ActiveCreator,
                    post_id: None,
                    at,
                })
                .collect();
            insert_quota_uses(tx, &admissions).await?;
            // Only posts still where the wave read them: on PostgreSQL a cancel may have moved
            // one since the read above (this statement waits for it, then sees the move). One
            // that moved is left to the one-post path, which reads it afresh.
            let mut query = sqlx::QueryBuilder::<Db>::new("UPDATE posts SET event_count = event_count + 1, init_pending = 1 WHERE init_pending = 0 AND state = ");
            query.push_bind(tokpost_core::StateKind::CreatorChecked.as_str());
            query.push(" AND id");
            push_in(&mut query, started.iter().map(|(_, start)| start.post.as_uuid()));
            query.push(" RETURNING id, event_count, state");
            let sequences: HashMap<uuid::Uuid, (i64, String)> = query
                .build_query_as::<(uuid::Uuid, i64, String)>()
                .fetch_all(&mut **tx)
                .await?
                .into_iter()
                .map(|(post, sequence, state)| (post, (sequence, state)))
                .collect();
            let mut events = Vec::with_capacity(started.len());
            for (at, start) in started {
                let Some((sequence, state)) = sequences.get(&start.post.as_uuid()) else {
                    set(at, InitStartOutcome::NotPrepared);
                    continue;
                };
                let state = tokpost_core::StateKind::parse(state)
                    .ok_or_else(|| $crate::rows::corrupt("post state"))?;
                events.push((start.post, *sequence, &start.event, state));
                set(at, InitStartOutcome::Started);
            }
            insert_events(tx, events).await?;
            Ok(())
        }

        /// Leases the chosen candidates to `worker` (each with its account's lease; a candidate
        /// whose account another claimer took in the meantime is skipped), in run order.
        async fn lease_candidates(
            tx: &mut Tx,
            chosen: Vec<$crate::rows::ClaimCandidate>,
            worker: &$crate::WorkerId,
            until: i64,
        ) -> Result<Vec<$crate::Job>, $crate::StoreError> {
            let mut claimed = Vec::with_capacity(chosen.len());
            for candidate in chosen {
                if let Some(account) = candidate.account_id {
                    let leased = sqlx::query(
                        "INSERT INTO account_leases (account_id, job_id, locked_by, locked_until_ms) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (account_id) DO NOTHING",
                    )
                    .bind(account)
                    .bind(candidate.id)
                    .bind(worker.as_str())
                    .bind(until)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected();
                    if leased == 0 {
                        continue;
                    }
                }
                let row = sqlx::query_as::<_, $crate::rows::JobRow>(concat!(
                    "UPDATE jobs SET locked_by = $2, locked_until_ms = $3, attempts = attempts + 1 WHERE id = $1 RETURNING ",
                    $crate::rows::job_columns!()
                ))
                .bind(candidate.id)
                .bind(worker.as_str())
                .bind(until)
                .fetch_one(&mut **tx)
                .await?;
                claimed.push(row.into_domain()?);
            }
            claimed.sort_by_key(|job| (job.run_at, job.id));
            Ok(claimed)
        }

        /// The writes of transitions inside `tx`: each compare-and-set move, then their events
        /// and quota uses in a statement each, their next jobs and outbound webhooks. `None`
        /// for a post that was not in the expected state: nothing of its transition is written.
        async fn apply_transitions(
            tx: &mut Tx,
            cipher: &$crate::TokenCipher,
            transitions: &[&$crate::Transition],
        ) -> Result<Vec<Option<tokpost_core::Post>>, $crate::StoreError> {
            let moved = move_posts(tx, cipher, transitions).await?;
            let applied: Vec<(&$crate::Transition, i64, &tokpost_core::Post)> = transitions
                .iter()
                .zip(&moved)
                .filter_map(|(transition, moved)| {
                    moved.as_ref().map(|(sequence, post)| (*transition, *sequence, post))
                })
                .collect();
            insert_events(
                tx,
                applied
                    .iter()
                    .map(|(transition, sequence, _)| (transition.post, *sequence, &transition.event, transition.to.kind()))
                    .collect(),
            )
            .await?;
            let uses: Vec<$crate::QuotaUse> = applied
                .iter()
                .filter_map(|(transition, _, post)| {
                    transition.quota_use.map(|kind| $crate::QuotaUse {
                        account_id: post.account_id,
                        kind,
                        post_id: Some(transition.post),
                        at: transition.event.at,
                    })
                })
                .collect();
            insert_quota_uses(tx, &uses).await?;
            for (transition, _, post) in &applied {
                if let Some(job) = &transition.next_job {
                    insert_job(tx, job, transition.event.at).await?;
                }
                // The outbound webhook commits or rolls back with the move that causes it.
                if let Some(event) = $crate::webhooks::post_transition_event(transition, post) {
                    enqueue_webhook_in_tx(tx, post.workspace_id, &event).await?;
                }
            }
            Ok(moved.into_iter().map(|moved| moved.map(|(_, post)| post)).collect())
        }

        /// The compare-and-set moves of transitions: each post as its move left it, with the
        /// sequence of the event the move writes (`None`: not in the expected state). One
        /// statement per `ROWS_PER_STATEMENT` transitions of distinct posts.
        async fn move_posts(
            tx: &mut Tx,
            cipher: &$crate::TokenCipher,
            transitions: &[&$crate::Transition],
        ) -> Result<Vec<Option<(i64, tokpost_core::Post)>>, $crate::StoreError> {
            let mut moved = Vec::with_capacity(transitions.len());
            let mut batch: Vec<&$crate::Transition> = Vec::new();
            let mut posts = std::collections::HashSet::new();
            for transition in transitions {
                // A post moved twice in one call moves in order, one statement after the other.
                if batch.len() == $crate::backend::ROWS_PER_STATEMENT || !posts.insert(transition.post) {
                    moved.extend(move_post_batch(tx, cipher, &batch).await?);
                    batch.clear();
                    posts.clear();
                    posts.insert(transition.post);
                }
                batch.push(transition);
            }
            moved.extend(move_post_batch(tx, cipher, &batch).await?);
            Ok(moved)
        }

        /// [`move_posts`] for transitions of distinct posts, in one statement. Upload URLs are
        /// sealed with `cipher` on the way in and opened on the way out.
        async fn move_post_batch(
            tx: &mut Tx,
            cipher: &$crate::TokenCipher,
            transitions: &[&$crate::Transition],
        ) -> Result<Vec<Option<(i64, tokpost_core::Post)>>, $crate::StoreError> {
            use $crate::rows::{ms, to_i64, to_json};
            if transitions.is_empty() {
                return Ok(Vec::new());
            }
            let mut rows = Vec::with_capacity(transitions.len());
            for transition in transitions {
                let progress = transition.progress.as_ref();
                rows.push((
                    transition.post.as_uuid(),
                    transition.to.kind().as_str(),
                    to_json(&transition.to)?,
                    ms(transition.event.at),
                    to_json(&transition.expected)?,
                    i64::from(progress.is_some()),
                    progress.and_then(|p| p.publish_id.as_ref()).map(|id| id.as_str().to_owned()),
                    progress
                        .and_then(|p| p.upload_url.as_deref())
                        .map(|url| $crate::rows::seal_upload_url(cipher, transition.post.as_uuid(), url))
                        .transpose()?,
                    progress.and_then(|p| p.upload_url_expires_at).map(ms),
                    progress.map_or(0, |p| to_i64(p.uploaded_bytes)),
                    progress.map(|p| to_json(&p.public_post_ids)).transpose()?,
                    i64::from(transition.to.kind() == tokpost_core::StateKind::Cancelled),
                ));
            }
            // VALUES columns are column1… on both backends. The progress columns are replaced
            // only for a transition that carries progress (column6 = 1). Any move answers a
            // recorded init (or follows one that was never sent): the post is no longer
            // pending an init.
            let mut query = sqlx::QueryBuilder::<Db>::new(
                "UPDATE posts SET state = v.column2, state_detail = v.column3, event_count = posts.event_count + 1,
                   updated_at_ms = v.column4, init_pending = 0,
                   publish_id = CASE WHEN v.column6 = 1 THEN v.column7 ELSE posts.publish_id END,
                   upload_url_sealed = CASE WHEN v.column6 = 1 THEN v.column8 ELSE posts.upload_url_sealed END,
                   upload_url_expires_at_ms = CASE WHEN v.column6 = 1 THEN v.column9 ELSE posts.upload_url_expires_at_ms END,
                   uploaded_bytes = CASE WHEN v.column6 = 1 THEN v.column10 ELSE posts.uploaded_bytes END,
                   public_post_ids = CASE WHEN v.column6 = 1 THEN v.column11 ELSE posts.public_post_ids END
                 FROM (",
            );
            query.push_values(rows, |mut row, values| {
                row.push_bind(values.0)
                    .push_bind(values.1)
                    .push_bind(values.2)
                    .push_bind(values.3)
                    .push_bind(values.4)
                    .push_bind(values.5)
                    .push_bind(values.6)
                    .push_bind(values.7)
                    .push_bind(values.8)
                    .push_bind(values.9)
                    .push_bind(values.10)
                    .push_bind(values.11);
            });
            // A cancel (column12 = 1) never moves a post whose init may have reached TikTok.
            query.push(concat!(
                ") AS v WHERE posts.id = v.column1 AND posts.state_detail = v.column5 AND (v.column12 = 0 OR posts.init_pending = 0) RETURNING posts.event_count, ",
                $crate::rows::post_columns!()
            ));
            let mut moved: std::collections::HashMap<uuid::Uuid, (i64, tokpost_core::Post)> = std::collections::HashMap::new();
            for row in query.build_query_as::<$crate::rows::MovedPostRow>().fetch_all(&mut **tx).await? {
                let post = row.post.into_domain(cipher)?;
                moved.insert(post.id.as_uuid(), (row.event_count, post));
            }
            Ok(transitions
                .iter()
                .map(|transition| moved.remove(&transition.post.as_uuid()))
                .collect())
        }

        /// Inserts events (post, sequence, event, the state it leaves the post in), a
        /// statement per `ROWS_PER_STATEMENT`.
        async fn insert_events(
            tx: &mut Tx,
            events: Vec<(tokpost_core::PostId, i64, &tokpost_core::NewPostEvent, tokpost_core::StateKind)>,
        ) -> Result<(), $crate::StoreError> {
            for batch in events.chunks($crate::backend::ROWS_PER_STATEMENT) {
                let mut rows = Vec::with_capacity(batch.len());
                for (post, sequence, event, state) in batch {
                    let native = event.native_response.as_ref().map($crate::rows::to_json).transpose()?;
                    rows.push((*post, *sequence, *event, *state, native));
                }
                let mut query = sqlx::QueryBuilder::<Db>::new(
                    "INSERT INTO post_events (post_id, sequence, at_ms, kind, state, message, native_response) ",
                );
                query.push_values(rows, |mut row, (post, sequence, event, state, native)| {
                    row.push_bind(post.as_uuid())
                        .push_bind(sequence)
                        .push_bind($crate::rows::ms(event.at))
                        .push_bind(event.kind.as_str())
                        .push_bind(state.as_str())
                        .push_bind(event.message.clone())
                        .push_bind(native);
                });
                query.build().execute(&mut **tx).await?;
            }
            Ok(())
        }

        /// Inserts quota uses, a statement per `ROWS_PER_STATEMENT`.
        async fn insert_quota_uses(
            tx: &mut Tx,
            uses: &[$crate::QuotaUse],
        ) -> Result<(), $crate::StoreError> {
            for batch in uses.chunks($crate::backend::ROWS_PER_STATEMENT) {
                let mut query = sqlx::QueryBuilder::<Db>::new(
                    "INSERT INTO quota_ledger (id, account_id, kind, post_id, at_ms) ",
                );
                query.push_values(batch, |mut row, usage| {
                    row.push_bind($crate::backend::quota_use_id(usage.at))
                        .push_bind(usage.account_id.as_uuid())
                        .push_bind(usage.kind.as_str())
                        .push_bind(usage.post_id.map(|post| post.as_uuid()))
                        .push_bind($crate::rows::ms(usage.at));
                });
                query.build().execute(&mut **tx).await?;
            }
            Ok(())
        }

        /// Returns a held job to the queue at `at` and frees its account. `false`: the lease
        /// was lost.
        async fn requeue_job(
            tx: &mut Tx,
            job: tokpost_core::JobId,
            worker: &$crate::WorkerId,
            at: jiff::Timestamp,
            note: &str,
            why: $crate::Requeue,
        ) -> Result<bool, $crate::StoreError> {
            let retry = $crate::JobRetry {
                job,
                at,
                note: note.to_owned(),
            };
            Ok(requeue_jobs(tx, worker, std::slice::from_ref(&retry), why)
                .await?
                .contains(&job.as_uuid()))
        }

        /// Returns held jobs to the queue, each at its time, and frees their accounts: two
        /// statements per `ROWS_PER_STATEMENT` jobs, in job order (every transaction touching
        /// many jobs takes their rows in the same order); of a job named twice, the last retry
        /// counts. Returns the jobs the worker still held.
        async fn requeue_jobs(
            tx: &mut Tx,
            worker: &$crate::WorkerId,
            retries: &[$crate::JobRetry],
            why: $crate::Requeue,
        ) -> Result<std::collections::HashSet<uuid::Uuid>, $crate::StoreError> {
            let given_back: i64 = match why {
                $crate::Requeue::AfterFailure => 0,
                $crate::Requeue::Wait => 1,
            };
            let mut latest: std::collections::BTreeMap<uuid::Uuid, &$crate::JobRetry> = std::collections::BTreeMap::new();
            for retry in retries {
                latest.insert(retry.job.as_uuid(), retry);
            }
            let latest: Vec<(uuid::Uuid, &$crate::JobRetry)> = latest.into_iter().collect();
            let mut held = std::collections::HashSet::new();
            for batch in latest.chunks($crate::backend::ROWS_PER_STATEMENT) {
                let mut query = sqlx::QueryBuilder::<Db>::new(
                    "UPDATE jobs SET locked_by = NULL, locked_until_ms = NULL, run_at_ms = v.column2,
                       last_error = v.column3, attempts = jobs.attempts - ",
                );
                query.push_bind(given_back);
                query.push(" FROM (");
                query.push_values(batch, |mut row, (job, retry)| {
                    row.push_bind(*job)
                        .push_bind($crate::rows::ms(retry.at))
                        .push_bind(retry.note.clone());
                });
                query.push(") AS v WHERE jobs.id = v.column1 AND jobs.locked_by = ");
                query.push_bind(worker.as_str().to_owned());
                query.push(" RETURNING jobs.id");
                let returned: Vec<uuid::Uuid> = query.build_query_scalar().fetch_all(&mut **tx).await?;
                if returned.is_empty() {
                    continue;
                }
                let mut query = sqlx::QueryBuilder::<Db>::new("DELETE FROM account_leases WHERE job_id");
                push_in(&mut query, returned.iter().copied());
                query.build().execute(&mut **tx).await?;
                held.extend(returned);
            }
            Ok(held)
        }

        async fn fetch_post(
            tx: &mut Tx,
            cipher: &$crate::TokenCipher,
            id: tokpost_core::PostId,
        ) -> Result<tokpost_core::Post, $crate::StoreError> {
            sqlx::query_as::<_, $crate::rows::PostRow>(concat!(
                "SELECT ",
                $crate::rows::post_columns!(),
                " FROM posts WHERE id = $1"
            ))
            .bind(id.as_uuid())
            .fetch_one(&mut **tx)
            .await?
            .into_domain(cipher)
        }

        #[async_trait::async_trait]
        impl $crate::types::OpenTransaction for Tx {
            async fn commit(self: Box<Self>) -> Result<(), $crate::StoreError> {
                Tx::commit(*self).await?;
                Ok(())
            }
        }
    };
}

pub(crate) use impl_store;

use crate::rows::ClaimCandidate;

/// Rows one multi-row statement carries at most: well inside both backends' limits on bound
/// parameters (SQLite 32,766, PostgreSQL 65,535) at seven per row.
pub(crate) const ROWS_PER_STATEMENT: usize = 1_000;

/// The purpose label PKCE verifiers are sealed with.
pub(crate) const PKCE_VERIFIER: &str = "pkce_verifier";

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
];

/// The longest rate window a [`crate::RateLimitSlot`] may have, in milliseconds: the sweep
/// forgets requests older than this (TikTok's windows are a minute).
pub(crate) const RATE_WINDOWS_KEPT_MS: i64 = 60 * 60 * 1_000;

/// A rate-limit window's length in milliseconds (at least one).
pub(crate) fn window_ms(slot: &crate::RateLimitSlot<'_>) -> i64 {
    i64::try_from(slot.window.as_millis())
        .unwrap_or(i64::MAX)
        .max(1)
}

/// A quota-ledger row id, ordered by the use's instant.
pub(crate) fn quota_use_id(at: jiff::Timestamp) -> uuid::Uuid {
    uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        u64::try_from(at.as_second()).unwrap_or(0),
        at.subsec_nanosecond().try_into().unwrap_or(0),
    ))
}

/// Each account with a quota use at or after `$1`, with its latest use: the app's active
/// creators, read alone and inside an admission.
pub(crate) const ACTIVE_CREATORS_SINCE: &str = "SELECT account_id, MAX(at_ms) FROM quota_ledger WHERE at_ms >= $1 GROUP BY account_id ORDER BY account_id";

/// The candidates of every workspace (each workspace's list in run order, as the claim query
/// returns them) interleaved one workspace at a time, the workspace with the oldest due job
/// first: a workspace with thousands of due posts gets one turn per round like one with a
/// single post, so its burst cannot starve the others.
pub(crate) fn take_turns(candidates: Vec<ClaimCandidate>) -> Vec<ClaimCandidate> {
    let mut lanes: Vec<std::collections::VecDeque<ClaimCandidate>> = Vec::new();
    let mut lane_of = std::collections::HashMap::new();
    for candidate in candidates {
        let lane = *lane_of.entry(candidate.workspace_id).or_insert_with(|| {
            lanes.push(std::collections::VecDeque::new());
            lanes.len() - 1
        });
        if let Some(lane) = lanes.get_mut(lane) {
            lane.push_back(candidate);
        }
    }
    for lane in &mut lanes {
        lane.make_contiguous()
            .sort_by_key(|candidate| (candidate.run_at_ms, candidate.id));
    }
    lanes.sort_by_key(|lane| lane.front().map(|first| (first.run_at_ms, first.id)));
    let total = lanes.iter().map(std::collections::VecDeque::len).sum();
    let mut turns = Vec::with_capacity(total);
    while turns.len() < total {
        for lane in &mut lanes {
            turns.extend(lane.pop_front());
        }
    }
    turns
}

/// The first due job of each account (in run order) plus account-less jobs, at most `limit`,
/// ordered by account so that concurrent claimers take account rows in the same order.
pub(crate) fn one_per_account(candidates: Vec<ClaimCandidate>, limit: u32) -> Vec<ClaimCandidate> {
    let mut seen = std::collections::HashSet::new();
    let mut chosen: Vec<ClaimCandidate> = candidates
        .into_iter()
        .filter(|c| c.account_id.is_none_or(|account| seen.insert(account)))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect();
    chosen.sort_by_key(|c| (c.account_id, c.id));
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(n: u128, workspace: Option<u128>, run_at_ms: i64) -> ClaimCandidate {
        ClaimCandidate {
            id: uuid::Uuid::from_u128(n),
            account_id: Some(uuid::Uuid::from_u128(1_000 + n)),
            workspace_id: workspace.map(uuid::Uuid::from_u128),
            run_at_ms,
        }
    }

    #[test]
    fn workspaces_take_turns_from_the_one_with_the_oldest_due_job() {
        let busy = (1..=5).map(|n| candidate(n, Some(1), i64::try_from(n).unwrap()));
        let quiet = [candidate(10, Some(2), 100)];
        let unowned = [candidate(20, None, 50)];
        let order: Vec<u128> = take_turns(busy.chain(quiet).chain(unowned).collect())
            .into_iter()
            .map(|c| c.id.as_u128())
            .collect();
        assert_eq!(order, [1, 20, 10, 2, 3, 4, 5]);
    }

    #[test]
    fn a_lane_is_taken_in_run_order_whatever_order_the_query_returned() {
        let order: Vec<u128> = take_turns(vec![
            candidate(3, Some(1), 30),
            candidate(1, Some(1), 10),
            candidate(2, Some(1), 20),
        ])
        .into_iter()
        .map(|c| c.id.as_u128())
        .collect();
        assert_eq!(order, [1, 2, 3]);
    }
}
