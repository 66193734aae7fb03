//! The janitor: deletes the bookkeeping that has served its purpose, so that tables the service
//! writes on every sign-in, webhook and delivery do not grow for ever.
//!
//! What goes, and when (the [`Retention`] policy; the store only deletes what it is told):
//! expired OAuth states a day after they expired (a callback that late is refused anyway),
//! inbound webhook ids a week after they arrived (a replay is refused by its timestamp long
//! before), and finished outbound deliveries with their attempts 30 days after they finished
//! (the delivery log shows them until then), expired sessions a day after they expired,
//! invitation and password-reset links 30 days after they expired (the Team page lists
//! invitations until then), and failed sign-ins a day after (the rate limit counts 15 minutes).
//! Review links are kept after they expire: a post's history names who decided through one.
//! Deletion runs in batches, each its own short
//! transaction, so it never holds the database's write turn for long; several processes may run
//! it at once.

use std::sync::Arc;
use std::time::Duration;

use clock::{SharedClock, Timestamp};
use tokio::sync::watch;
use tokpost_store::{OperationsStore, PruneBefore, Pruned, Store, StoreError};

/// How long each kind of row is kept, and how the janitor works through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Kept this long after the OAuth state expired.
    pub oauth_states_after_expiry: Duration,
    /// Inbound webhook ids kept this long after they arrived.
    pub inbound_webhooks: Duration,
    /// Finished deliveries (and their attempts) kept this long after they finished.
    pub finished_deliveries: Duration,
    /// Sessions kept this long after they expired.
    pub sessions_after_expiry: Duration,
    /// Invitation and reset links kept this long after they expired.
    pub links_after_expiry: Duration,
    /// Failed sign-ins kept this long.
    pub sign_in_failures: Duration,
    /// Insights snapshots kept this long (a post is followed for 90 days; its series and its
    /// creator's stay this long for comparisons over time).
    pub stats: Duration,
    /// Rows deleted per kind in one transaction.
    pub batch: u32,
    /// Time between two passes.
    pub every: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            oauth_states_after_expiry: Duration::from_secs(86_400),
            inbound_webhooks: Duration::from_secs(7 * 86_400),
            finished_deliveries: Duration::from_secs(30 * 86_400),
            sessions_after_expiry: Duration::from_secs(86_400),
            links_after_expiry: Duration::from_secs(30 * 86_400),
            sign_in_failures: Duration::from_secs(86_400),
            stats: Duration::from_secs(2 * 365 * 86_400),
            batch: 1_000,
            every: Duration::from_secs(3_600),
        }
    }
}

/// Batches one pass works through at most; the next pass goes on from there.
const BATCHES_PER_PASS: u32 = 100;

impl Retention {
    /// The cut-offs at `now`.
    #[must_use]
    pub fn before(&self, now: Timestamp) -> PruneBefore {
        PruneBefore {
            oauth_states_expired: clock::sub(now, self.oauth_states_after_expiry),
            inbound_webhooks_received: clock::sub(now, self.inbound_webhooks),
            deliveries_finished: clock::sub(now, self.finished_deliveries),
            sessions_expired: clock::sub(now, self.sessions_after_expiry),
            links_expired: clock::sub(now, self.links_after_expiry),
            sign_in_failures: clock::sub(now, self.sign_in_failures),
            stats_taken: clock::sub(now, self.stats),
        }
    }
}

/// One pass at `now`: batches until nothing is left to delete (or [`BATCHES_PER_PASS`]).
///
/// # Errors
/// Store failures (what was deleted before stays deleted).
pub async fn prune_once(
    store: &dyn OperationsStore,
    now: Timestamp,
    retention: &Retention,
) -> Result<Pruned, StoreError> {
    let before = retention.before(now);
    let mut total = Pruned::default();
    for _ in 0..BATCHES_PER_PASS {
        let pruned = store.prune(before, retention.batch).await?;
        total.oauth_states += pruned.oauth_states;
        total.inbound_webhooks += pruned.inbound_webhooks;
        total.deliveries += pruned.deliveries;
        total.people += pruned.people;
        if !pruned.filled(retention.batch) {
            break;
        }
    }
    Ok(total)
}

/// Passes every [`Retention::every`] on `clock` until `shutdown`.
pub async fn run(
    store: Arc<dyn Store>,
    clock: SharedClock,
    retention: Retention,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        match prune_once(store.as_ref(), clock.now(), &retention).await {
            Ok(pruned) if pruned != Pruned::default() => {
                tracing::info!(
                    oauth_states = pruned.oauth_states,
                    inbound_webhooks = pruned.inbound_webhooks,
                    deliveries = pruned.deliveries,
                    people = pruned.people,
                    "janitor deleted bookkeeping past its retention"
                );
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "janitor pass failed; the next one tries again"),
        }
        tokio::select! {
            () = clock::sleep(clock.as_ref(), retention.every) => {}
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clock::{Clock as _, ManualClock};
    use tokpost_store::{NewOAuthState, TokenCipher};

    #[tokio::test]
    async fn a_pass_works_through_every_batch_and_keeps_what_is_still_needed() {
        let clock = ManualClock::at_fixed_start();
        let cipher = TokenCipher::from_base64(&TokenCipher::generate_key().unwrap()).unwrap();
        let store = tokpost_store::open("sqlite::memory:", cipher)
            .await
            .unwrap();
        let workspace = store.create_workspace("w", clock.now()).await.unwrap().id;
        for n in 0..7_u8 {
            // Five expire now, two in two days.
            let expires_at = if n < 5 {
                clock.now()
            } else {
                clock::add(clock.now(), Duration::from_secs(2 * 86_400))
            };
            store
                .save_oauth_state(
                    NewOAuthState {
                        state_hash: format!("{n:064}"),
                        workspace_id: workspace,
                        pkce_verifier: None,
                        expires_at,
                        started_by: tokpost_core::Principal::Service,
                    },
                    clock.now(),
                )
                .await
                .unwrap();
        }
        let retention = Retention {
            batch: 2,
            ..Retention::default()
        };
        // Within a day of their expiry, nothing goes.
        let pruned = prune_once(store.as_ref(), clock.now(), &retention)
            .await
            .unwrap();
        assert_eq!(pruned, Pruned::default());
        clock.advance(Duration::from_secs(86_400 + 1));
        let pruned = prune_once(store.as_ref(), clock.now(), &retention)
            .await
            .unwrap();
        assert_eq!(pruned.oauth_states, 5, "three batches of at most two");
        let pruned = prune_once(store.as_ref(), clock.now(), &retention)
            .await
            .unwrap();
        assert_eq!(pruned.oauth_states, 0, "the unexpired two stay");
    }
}
