//! What TikTok counts: the quota ledger (direct posts, inbox shares, active creators), the
//! daily caps learned from TikTok's refusals, and the request windows of its rate limits,
//! shared by every worker. The rules are decided in memory (`limits`) over rows a transaction
//! has read, so that the one-request path and the init wave's batch decide alike.

use async_trait::async_trait;
use jiff::Timestamp;
use tokpost_core::{AccountId, PostId};

use crate::db::{Tx, query, query_as, query_scalar};
use crate::types::*;
use crate::{SqlStore, StoreError};

/// Quotas, learned caps, active creators and rate-limit windows.
#[async_trait]
pub trait QuotaStore: Send + Sync {
    /// Marks a post's pending use as resolved (e.g. the creator acted on an inbox draft).
    async fn release_quota_use(
        &self,
        post: PostId,
        kind: QuotaKind,
        at: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Unreleased uses of `kind` by `account` at or after `since`.
    async fn quota_used(
        &self,
        account: AccountId,
        kind: QuotaKind,
        since: Timestamp,
    ) -> Result<u64, StoreError>;

    /// When each unreleased use of `kind` by `account` at or after `since` happened, oldest
    /// first (the planner finds the next free slot of a rolling window from these).
    async fn quota_use_times(
        &self,
        account: AccountId,
        kind: QuotaKind,
        since: Timestamp,
    ) -> Result<Vec<Timestamp>, StoreError>;

    /// Records that TikTok enforced a daily post cap of `cap` for `account` (lower than the
    /// default because other apps post for the creator too). Replaces an earlier lesson.
    async fn learn_post_cap(
        &self,
        account: AccountId,
        cap: u32,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// The daily post cap learned for `account` at or after `since`, if any.
    async fn learned_post_cap(
        &self,
        account: AccountId,
        since: Timestamp,
    ) -> Result<Option<u32>, StoreError>;

    /// Every account with a quota use at or after `since`, with its latest use (the app-wide
    /// active creators, and when each stops counting).
    async fn active_creators_since(
        &self,
        since: Timestamp,
    ) -> Result<Vec<(AccountId, Timestamp)>, StoreError>;

    /// Counts `account` among the app's active creators (accounts with a quota use at or after
    /// `since`) unless `cap` of them already are, in one step that holds across workers and
    /// processes: two creators cannot both take the last slot. An admitted creator that was
    /// not active yet gets an `ActiveCreator` use at `now`.
    async fn admit_active_creator(
        &self,
        account: AccountId,
        since: Timestamp,
        cap: u64,
        now: Timestamp,
    ) -> Result<ActiveCreatorAdmission, StoreError>;

    /// Takes one request slot from a fixed window shared by all workers.
    async fn take_rate_limit_slot(
        &self,
        slot: RateLimitSlot<'_>,
        now: Timestamp,
    ) -> Result<RateLimitDecision, StoreError>;
}

#[async_trait]
impl QuotaStore for SqlStore {
    async fn release_quota_use(
        &self,
        post: tokpost_core::PostId,
        kind: crate::QuotaKind,
        at: jiff::Timestamp,
    ) -> Result<bool, crate::StoreError> {
        let released = query(
                "UPDATE quota_ledger SET released_at_ms = $3 WHERE post_id = $1 AND kind = $2 AND released_at_ms IS NULL",
            )
            .bind(post.as_uuid())
            .bind(kind.as_str())
            .bind(crate::rows::ms(at))
            .execute(&self.db)
            .await?
            .rows_affected();
        Ok(released > 0)
    }

    async fn quota_used(
        &self,
        account: tokpost_core::AccountId,
        kind: crate::QuotaKind,
        since: jiff::Timestamp,
    ) -> Result<u64, crate::StoreError> {
        let count: i64 = query_scalar(
                "SELECT COUNT(*) FROM quota_ledger WHERE account_id = $1 AND kind = $2 AND at_ms >= $3 AND released_at_ms IS NULL",
            )
            .bind(account.as_uuid())
            .bind(kind.as_str())
            .bind(crate::rows::ms(since))
            .fetch_one(&self.db)
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn quota_use_times(
        &self,
        account: tokpost_core::AccountId,
        kind: crate::QuotaKind,
        since: jiff::Timestamp,
    ) -> Result<Vec<jiff::Timestamp>, crate::StoreError> {
        let rows: Vec<i64> = query_scalar(
                "SELECT at_ms FROM quota_ledger WHERE account_id = $1 AND kind = $2 AND at_ms >= $3 AND released_at_ms IS NULL ORDER BY at_ms",
            )
            .bind(account.as_uuid())
            .bind(kind.as_str())
            .bind(crate::rows::ms(since))
            .fetch_all(&self.db)
            .await?;
        rows.into_iter().map(crate::rows::from_ms).collect()
    }

    async fn learn_post_cap(
        &self,
        account: tokpost_core::AccountId,
        cap: u32,
        at: jiff::Timestamp,
    ) -> Result<(), crate::StoreError> {
        query(
                "INSERT INTO learned_post_caps (account_id, cap, learned_at_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (account_id) DO UPDATE SET cap = excluded.cap, learned_at_ms = excluded.learned_at_ms",
            )
            .bind(account.as_uuid())
            .bind(i64::from(cap))
            .bind(crate::rows::ms(at))
            .execute(&self.db)
            .await?;
        Ok(())
    }

    async fn learned_post_cap(
        &self,
        account: tokpost_core::AccountId,
        since: jiff::Timestamp,
    ) -> Result<Option<u32>, crate::StoreError> {
        let cap: Option<i64> = query_scalar(
            "SELECT cap FROM learned_post_caps WHERE account_id = $1 AND learned_at_ms >= $2",
        )
        .bind(account.as_uuid())
        .bind(crate::rows::ms(since))
        .fetch_optional(&self.db)
        .await?;
        cap.map(|cap| {
            u32::try_from(cap)
                .map_err(|_| crate::StoreError::CorruptRow(format!("learned post cap {cap}")))
        })
        .transpose()
    }

    async fn active_creators_since(
        &self,
        since: jiff::Timestamp,
    ) -> Result<Vec<(tokpost_core::AccountId, jiff::Timestamp)>, crate::StoreError> {
        let rows: Vec<(uuid::Uuid, i64)> = query_as(crate::quotas::ACTIVE_CREATORS_SINCE)
            .bind(crate::rows::ms(since))
            .fetch_all(&self.db)
            .await?;
        rows.into_iter()
            .map(|(id, at)| {
                Ok((
                    tokpost_core::AccountId::from_uuid(id),
                    crate::rows::from_ms(at)?,
                ))
            })
            .collect()
    }

    async fn admit_active_creator(
        &self,
        account: tokpost_core::AccountId,
        since: jiff::Timestamp,
        cap: u64,
        now: jiff::Timestamp,
    ) -> Result<crate::ActiveCreatorAdmission, crate::StoreError> {
        let mut tx = self.db.write_tx().await?;
        if let Some(lock) = self.db.dialect().lock_active_creators {
            query(lock).execute(&mut tx).await?;
        }
        let rows: Vec<(uuid::Uuid, i64)> = query_as(crate::quotas::ACTIVE_CREATORS_SINCE)
            .bind(crate::rows::ms(since))
            .fetch_all(&mut tx)
            .await?;
        let active = crate::limits::ActiveCreators::new(rows, cap);
        match active.admission(account.as_uuid()) {
            crate::limits::Admission::AlreadyActive => {
                tx.rollback().await?;
                return Ok(crate::ActiveCreatorAdmission::Admitted);
            }
            crate::limits::Admission::Full => {
                tx.rollback().await?;
                return Ok(crate::ActiveCreatorAdmission::Full {
                    latest_uses: active.latest_uses()?,
                });
            }
            crate::limits::Admission::SlotFree => {}
        }
        insert_quota_use(
            &mut tx,
            &crate::QuotaUse {
                account_id: account,
                kind: crate::QuotaKind::ActiveCreator,
                post_id: None,
                at: now,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(crate::ActiveCreatorAdmission::Admitted)
    }

    async fn take_rate_limit_slot(
        &self,
        slot: crate::RateLimitSlot<'_>,
        now: jiff::Timestamp,
    ) -> Result<crate::RateLimitDecision, crate::StoreError> {
        // A rolling window, as TikTok counts: a request is inside it for `window` after
        // it was sent (fixed calendar windows would let twice the limit through across
        // a boundary). Rows are (account, endpoint, sent at, requests at that ms).
        let now_ms = crate::rows::ms(now);
        let window_ms = crate::quotas::window_ms(&slot);
        if slot.limit == 0 {
            return crate::limits::rate_limit_decision(0, None, 0, window_ms, now_ms);
        }
        let mut tx = self.db.write_tx().await?;
        let used = rate_windows_in_use(&mut tx, &[slot], now_ms).await?;
        let (count, oldest) = used
            .get(&(slot.account_id.as_uuid(), slot.endpoint))
            .copied()
            .unwrap_or((0, None));
        let decision =
            crate::limits::rate_limit_decision(count, oldest, slot.limit, window_ms, now_ms)?;
        if matches!(decision, crate::RateLimitDecision::Allowed { .. }) {
            record_requests(
                &mut tx,
                &std::collections::BTreeMap::from([(
                    (slot.account_id.as_uuid(), slot.endpoint),
                    1,
                )]),
                now_ms,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(decision)
    }
}

pub(crate) async fn insert_quota_use(
    tx: &mut Tx,
    usage: &crate::QuotaUse,
) -> Result<(), crate::StoreError> {
    insert_quota_uses(tx, std::slice::from_ref(usage)).await
}

/// The requests inside each slot's rolling window (a request is inside it for `window`
/// after it was sent), per account and endpoint: (count, oldest sent at). Requests that
/// left their window are deleted; on PostgreSQL the slots stay locked until the
/// transaction ends, so that the count and the insert that follows are one step.
pub(crate) async fn rate_windows_in_use<'s>(
    tx: &mut Tx,
    slots: &[crate::RateLimitSlot<'s>],
    now_ms: i64,
) -> Result<std::collections::HashMap<(uuid::Uuid, &'s str), (i64, Option<i64>)>, crate::StoreError>
{
    let mut accounts: Vec<uuid::Uuid> =
        slots.iter().map(|slot| slot.account_id.as_uuid()).collect();
    accounts.sort();
    accounts.dedup();
    if let Some(lock) = tx.dialect().lock_app_windows
        && accounts.contains(&crate::RateLimitSlot::APP.as_uuid())
    {
        query(lock).execute(&mut *tx).await?;
    }
    if let Some(lock) = tx.dialect().lock_accounts {
        query(lock).bind(accounts).execute(&mut *tx).await?;
    }
    let mut windows: std::collections::BTreeMap<(&str, i64), Vec<uuid::Uuid>> =
        std::collections::BTreeMap::new();
    for slot in slots {
        windows
            .entry((slot.endpoint, crate::quotas::window_ms(slot)))
            .or_default()
            .push(slot.account_id.as_uuid());
    }
    let mut used = std::collections::HashMap::new();
    for ((endpoint, window_ms), accounts) in windows {
        if window_ms > crate::quotas::RATE_WINDOWS_KEPT_MS {
            return Err(crate::StoreError::Misuse(
                "a rate window longer than the hour the sweep keeps",
            ));
        }
        // Rows older than the window are left for the sweep to forget.
        let mut query = crate::db::query(
            "SELECT account_id, CAST(COALESCE(SUM(count), 0) AS BIGINT), MIN(window_start_ms)
             FROM rate_limit_windows WHERE endpoint = ",
        );
        query.push_bind(endpoint.to_owned());
        query.push(" AND window_start_ms > ");
        query.push_bind(now_ms.saturating_sub(window_ms));
        query.push(" AND account_id");
        query.push_in(accounts.iter().copied());
        query.push(" GROUP BY account_id");
        let rows: Vec<(uuid::Uuid, i64, Option<i64>)> = query.rows().fetch_all(&mut *tx).await?;
        for (account, count, oldest) in rows {
            used.insert((account, endpoint), (count, oldest));
        }
    }
    Ok(used)
}

/// Records requests sent at `now_ms`: `count` per account and endpoint.
pub(crate) async fn record_requests(
    tx: &mut Tx,
    taken: &std::collections::BTreeMap<(uuid::Uuid, &str), i64>,
    now_ms: i64,
) -> Result<(), crate::StoreError> {
    if taken.is_empty() {
        return Ok(());
    }
    let mut query =
        query("INSERT INTO rate_limit_windows (account_id, endpoint, window_start_ms, count) ");
    query.push_values(taken, |row, (&(account, endpoint), &count)| {
        row.push_bind(account)
            .push_bind(endpoint.to_owned())
            .push_bind(now_ms)
            .push_bind(count);
    });
    query.push(
        " ON CONFLICT (account_id, endpoint, window_start_ms) DO UPDATE SET count = rate_limit_windows.count + excluded.count",
    );
    query.execute(&mut *tx).await?;
    Ok(())
}

/// Inserts quota uses, a statement per `ROWS_PER_STATEMENT`.
pub(crate) async fn insert_quota_uses(
    tx: &mut Tx,
    uses: &[crate::QuotaUse],
) -> Result<(), crate::StoreError> {
    for batch in uses.chunks(crate::db::ROWS_PER_STATEMENT) {
        let mut query =
            crate::db::query("INSERT INTO quota_ledger (id, account_id, kind, post_id, at_ms) ");
        query.push_values(batch, |row, usage| {
            row.push_bind(crate::quotas::quota_use_id(usage.at))
                .push_bind(usage.account_id.as_uuid())
                .push_bind(usage.kind.as_str())
                .push_bind(usage.post_id.map(|post| post.as_uuid()))
                .push_bind(crate::rows::ms(usage.at));
        });
        query.execute(&mut *tx).await?;
    }
    Ok(())
}

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
