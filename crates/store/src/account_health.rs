//! What an account's health checklist is made of, read for a whole page of accounts at once.
//!
//! The checklist (`GET /v1/accounts/{id}`, the dashboard's account cards) needs, per account,
//! its direct posts and pending inbox drafts of the cap window, a lower cap TikTok enforced, the
//! latest creator-info answer, and its last success and last failure of the past month. Read
//! one account at a time that is six queries per account: a page of 200 accounts would cost
//! 1,200. Here each fact is one query for the whole page (`account_id IN (…)`, the latest row of
//! each account picked with `ROW_NUMBER()`), so a page costs five queries whatever its size.
//!
//! Every account asked about gets an entry, empty when nothing is recorded for it.

use std::collections::HashMap;

use async_trait::async_trait;
use jiff::Timestamp;
use tokpost_core::{AccountId, PostId, PostState};

use crate::{CreatorInfoSnapshot, StoreError};

/// The recorded facts behind one account's health.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HealthFacts {
    /// Direct posts counted against the daily cap since the window's start, oldest first.
    pub direct_posts: Vec<Timestamp>,
    /// Inbox drafts sent since the window's start and not released.
    pub inbox_shares: u64,
    /// A lower daily cap TikTok enforced, learned since the window's start.
    pub learned_cap: Option<u32>,
    /// TikTok's latest creator-info answer.
    pub creator_info: Option<CreatorInfoSnapshot>,
    /// When the latest post (scheduled since the outcomes' start) was published or delivered
    /// to the creator's inbox.
    pub last_success_at: Option<Timestamp>,
    /// The latest post (scheduled since the outcomes' start) that failed.
    pub last_failure: Option<RecentFailure>,
}

/// An account's latest failed post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentFailure {
    pub post: PostId,
    /// When it failed.
    pub at: Timestamp,
    /// Its state: what to do, who acts.
    pub state: PostState,
}

/// Health facts for many accounts in a handful of queries. Part of [`crate::Store`].
#[async_trait]
pub trait AccountHealthStore: Send + Sync {
    /// The facts of each of `accounts`: quota uses and learned caps since `window_from` (the
    /// daily cap's rolling window), successes and failures of posts scheduled since
    /// `outcomes_from`.
    async fn account_health(
        &self,
        accounts: &[AccountId],
        window_from: Timestamp,
        outcomes_from: Timestamp,
    ) -> Result<HashMap<AccountId, HealthFacts>, StoreError>;
}

#[async_trait::async_trait]
impl crate::account_health::AccountHealthStore for crate::SqlStore {
    async fn account_health(
        &self,
        accounts: &[tokpost_core::AccountId],
        window_from: jiff::Timestamp,
        outcomes_from: jiff::Timestamp,
    ) -> Result<
        std::collections::HashMap<tokpost_core::AccountId, crate::account_health::HealthFacts>,
        crate::StoreError,
    > {
        use crate::account_health::{HealthFacts, RecentFailure};
        use crate::rows::{corrupt, from_ms, ms};
        use tokpost_core::{AccountId, PostId, StateKind};

        fn ids(query: &mut crate::db::Sql<impl Sized>, accounts: &[AccountId]) {
            query.push(" account_id");
            query.push_in(accounts.iter().map(|account| account.as_uuid()));
        }

        let mut facts: std::collections::HashMap<AccountId, HealthFacts> = accounts
            .iter()
            .map(|account| (*account, HealthFacts::default()))
            .collect();
        for batch in accounts.chunks(crate::db::ROWS_PER_STATEMENT) {
            let mut query = crate::db::query(
                "SELECT account_id, kind, at_ms FROM quota_ledger WHERE released_at_ms IS NULL AND at_ms >= ",
            );
            query.push_bind(ms(window_from));
            query.push(" AND kind IN (");
            query.push_bind(crate::QuotaKind::DirectPost.as_str());
            query.push(", ");
            query.push_bind(crate::QuotaKind::InboxShare.as_str());
            query.push(") AND");
            ids(&mut query, batch);
            query.push(" ORDER BY at_ms");
            let uses: Vec<(uuid::Uuid, String, i64)> = query.rows().fetch_all(&self.db).await?;
            for (account, kind, at) in uses {
                let Some(entry) = facts.get_mut(&AccountId::from_uuid(account)) else {
                    continue;
                };
                if kind == crate::QuotaKind::DirectPost.as_str() {
                    entry.direct_posts.push(from_ms(at)?);
                } else {
                    entry.inbox_shares += 1;
                }
            }

            let mut query = crate::db::query(
                "SELECT account_id, cap FROM learned_post_caps WHERE learned_at_ms >= ",
            );
            query.push_bind(ms(window_from));
            query.push(" AND");
            ids(&mut query, batch);
            let caps: Vec<(uuid::Uuid, i64)> = query.rows().fetch_all(&self.db).await?;
            for (account, cap) in caps {
                let cap =
                    u32::try_from(cap).map_err(|_| corrupt(format!("learned post cap {cap}")))?;
                if let Some(entry) = facts.get_mut(&AccountId::from_uuid(account)) {
                    entry.learned_cap = Some(entry.learned_cap.map_or(cap, |seen| seen.min(cap)));
                }
            }

            let mut query = crate::db::query(
                "SELECT account_id, fetched_at_ms, info FROM (
                   SELECT account_id, fetched_at_ms, info,
                     ROW_NUMBER() OVER (PARTITION BY account_id ORDER BY fetched_at_ms DESC) AS latest
                   FROM creator_info WHERE",
            );
            ids(&mut query, batch);
            query.push(") AS snapshots WHERE latest = 1");
            let snapshots = query
                .rows::<crate::rows::CreatorInfoRow>()
                .fetch_all(&self.db)
                .await?;
            for row in snapshots {
                let snapshot = row.into_domain()?;
                if let Some(entry) = facts.get_mut(&snapshot.account_id) {
                    entry.creator_info = Some(snapshot);
                }
            }

            let mut query = crate::db::query(
                "SELECT account_id, MAX(updated_at_ms) FROM posts WHERE state IN (",
            );
            query.push_bind(StateKind::Published.as_str());
            query.push(", ");
            query.push_bind(StateKind::InboxDelivered.as_str());
            query.push(") AND scheduled_at_ms >= ");
            query.push_bind(ms(outcomes_from));
            query.push(" AND");
            ids(&mut query, batch);
            query.push(" GROUP BY account_id");
            let successes: Vec<(uuid::Uuid, i64)> = query.rows().fetch_all(&self.db).await?;
            for (account, at) in successes {
                if let Some(entry) = facts.get_mut(&AccountId::from_uuid(account)) {
                    entry.last_success_at = Some(from_ms(at)?);
                }
            }

            let mut query = crate::db::query(
                "SELECT account_id, id, updated_at_ms, state_detail FROM (
                   SELECT account_id, id, updated_at_ms, state_detail,
                     ROW_NUMBER() OVER (PARTITION BY account_id ORDER BY updated_at_ms DESC, id DESC) AS latest
                   FROM posts WHERE state = ",
            );
            query.push_bind(StateKind::Failed.as_str());
            query.push(" AND scheduled_at_ms >= ");
            query.push_bind(ms(outcomes_from));
            query.push(" AND");
            ids(&mut query, batch);
            query.push(") AS failures WHERE latest = 1");
            let failures: Vec<(uuid::Uuid, uuid::Uuid, i64, String)> =
                query.rows().fetch_all(&self.db).await?;
            for (account, post, at, state) in failures {
                let state = serde_json::from_str(&state)
                    .map_err(|error| corrupt(format!("post state: {error}")))?;
                if let Some(entry) = facts.get_mut(&AccountId::from_uuid(account)) {
                    entry.last_failure = Some(RecentFailure {
                        post: PostId::from_uuid(post),
                        at: from_ms(at)?,
                        state,
                    });
                }
            }
        }
        Ok(facts)
    }
}
