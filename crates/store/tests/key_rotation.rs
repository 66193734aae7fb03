//! Rotating the token encryption key in place, on SQLite and on a real PostgreSQL: every secret
//! (account tokens, PKCE verifiers, outbound webhook endpoint secrets) is re-sealed under the new key batch by batch, a rotation
//! stopped after some batches resumes where it stopped, and afterwards the old key opens
//! nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::sync::Arc;

use clock::{Clock as _, ManualClock};
use jiff::SignedDuration;
use secrecy::{ExposeSecret as _, SecretString};
use tokpost_core::{AccountId, OpenId, Scope};
use tokpost_store::testing::PostgresServer;
use tokpost_store::{
    AccountTokens, CryptoError, NewAccount, NewOAuthState, NewWebhookEndpoint, OAuthStateTake,
    Store, StoreError, TokenCipher, WebhookEvent, WebhookEventType, WorkerId,
};

const ACCOUNTS: usize = 7;
const STATES: usize = 3;
const ENDPOINTS: usize = 2;
const BATCH: u32 = 3;

fn fresh_key() -> TokenCipher {
    TokenCipher::from_base64(&TokenCipher::generate_key().unwrap()).unwrap()
}

enum Database {
    Sqlite(tempfile::TempDir),
    /// The server lives as long as the database is used.
    Postgres(#[allow(dead_code)] PostgresServer, String),
}

impl Database {
    async fn sqlite() -> Self {
        Self::Sqlite(tempfile::tempdir().unwrap())
    }

    async fn postgres() -> Self {
        let server = PostgresServer::start()
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL is required for this test: {e}"));
        let url = server.fresh_database().await.unwrap();
        Self::Postgres(server, url)
    }

    fn url(&self) -> String {
        match self {
            Self::Sqlite(dir) => format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("tokpost.db").display()
            ),
            Self::Postgres(_, url) => url.clone(),
        }
    }

    /// A process's view of the database with this cipher.
    async fn open(&self, cipher: TokenCipher) -> Arc<dyn Store> {
        tokpost_store::open(&self.url(), cipher).await.unwrap()
    }
}

struct Secrets {
    accounts: BTreeMap<AccountId, (String, String)>,
    states: Vec<(String, String)>,
    endpoint_secrets: Vec<String>,
}

async fn seed(store: &dyn Store, clock: &ManualClock) -> Secrets {
    let now = clock.now();
    let workspace = store.create_workspace("studio", now).await.unwrap().id;
    let mut accounts = BTreeMap::new();
    for n in 0..ACCOUNTS {
        let (access, refresh) = (format!("act.secret-{n}"), format!("rft.secret-{n}"));
        let account = store
            .connect_account(
                NewAccount {
                    workspace_id: workspace,
                    open_id: OpenId::new(format!("creator-{n}")).unwrap(),
                    display_name: format!("creator {n}"),
                    avatar_url: None,
                    scopes: Scope::parse_list("user.info.basic,video.publish").unwrap(),
                    tokens: AccountTokens {
                        access_token: SecretString::from(access.clone()),
                        refresh_token: SecretString::from(refresh.clone()),
                        access_token_expires_at: now + SignedDuration::from_hours(24),
                        refresh_token_expires_at: now + SignedDuration::from_hours(24 * 365),
                        granted_at: now,
                    },
                },
                now,
            )
            .await
            .unwrap();
        accounts.insert(account.id, (access, refresh));
    }
    let mut states = Vec::new();
    for n in 0..STATES {
        let (hash, verifier) = (
            format!("{n:064x}"),
            format!("pkce-verifier-{n}-{}", "v".repeat(43)),
        );
        store
            .save_oauth_state(
                NewOAuthState {
                    state_hash: hash.clone(),
                    workspace_id: workspace,
                    pkce_verifier: Some(SecretString::from(verifier.clone())),
                    expires_at: now + SignedDuration::from_mins(10),
                },
                now,
            )
            .await
            .unwrap();
        states.push((hash, verifier));
    }
    let mut endpoint_secrets = Vec::new();
    for n in 0..ENDPOINTS {
        let secret = format!("whsec_endpoint-secret-{n}");
        store
            .create_webhook_endpoint(
                NewWebhookEndpoint {
                    workspace_id: workspace,
                    url: format!("https://hooks.example.com/{n}"),
                    description: format!("endpoint {n}"),
                    events: [WebhookEventType::PostPublished].into_iter().collect(),
                    secret: SecretString::from(secret.clone()),
                    at_most: u64::MAX,
                },
                now,
            )
            .await
            .unwrap();
        endpoint_secrets.push(secret);
    }
    store
        .enqueue_webhook_event(
            workspace,
            WebhookEvent {
                event_type: WebhookEventType::PostPublished,
                at: now,
                data: serde_json::json!({ "post": "p" }),
            },
        )
        .await
        .unwrap();
    Secrets {
        accounts,
        states,
        endpoint_secrets,
    }
}

/// How many accounts `store` can open, and whether the tokens it opens are the right ones.
async fn readable_accounts(store: &dyn Store, secrets: &Secrets) -> usize {
    let mut readable = 0;
    for (id, (access, refresh)) in &secrets.accounts {
        match store.account_tokens(*id).await {
            Ok(Some(tokens)) => {
                assert_eq!(tokens.access_token.expose_secret(), access);
                assert_eq!(tokens.refresh_token.expose_secret(), refresh);
                readable += 1;
            }
            Err(StoreError::Crypto(CryptoError::WrongKey { .. })) => {}
            other => panic!("account {id}: {other:?}"),
        }
    }
    readable
}

async fn a_rotation_stopped_midway_resumes_and_the_old_key_opens_nothing_afterwards(db: Database) {
    let clock = ManualClock::at_fixed_start();
    let old = fresh_key();
    let new = fresh_key();
    let secrets = seed(db.open(old.clone()).await.as_ref(), &clock).await;
    let total = (ACCOUNTS + STATES + ENDPOINTS) as u64;

    // A rotation that dies after two batches (the process is dropped mid-way).
    {
        let rotating = db.open(new.clone().with_previous(old.clone())).await;
        let first = rotating.reencrypt_secrets(BATCH).await.unwrap();
        assert_eq!(first.rewritten, u64::from(BATCH));
        assert_eq!(first.remaining, total - u64::from(BATCH));
        let second = rotating.reencrypt_secrets(BATCH).await.unwrap();
        assert_eq!(second.remaining, total - 2 * u64::from(BATCH));
        // Meanwhile the service reads every token, old and new, through the same ring.
        assert_eq!(
            readable_accounts(rotating.as_ref(), &secrets).await,
            ACCOUNTS
        );
    }
    let half_old = readable_accounts(db.open(old.clone()).await.as_ref(), &secrets).await;
    let half_new = readable_accounts(db.open(new.clone()).await.as_ref(), &secrets).await;
    assert_eq!(
        half_old + half_new,
        ACCOUNTS,
        "each account is under exactly one key"
    );
    assert_eq!(
        half_new,
        2 * BATCH as usize,
        "two batches were stored before the stop"
    );

    // Running it again goes on from there and ends.
    let resumed = db.open(new.clone().with_previous(old.clone())).await;
    let mut batches = 0;
    let mut rewritten = 0;
    loop {
        let batch = resumed.reencrypt_secrets(BATCH).await.unwrap();
        batches += 1;
        rewritten += batch.rewritten;
        if batch.remaining == 0 {
            break;
        }
        assert!(batches < 10, "the rotation does not converge");
    }
    assert_eq!(
        rewritten,
        total - 2 * u64::from(BATCH),
        "nothing rewritten twice"
    );
    let again = resumed.reencrypt_secrets(BATCH).await.unwrap();
    assert_eq!((again.rewritten, again.remaining), (0, 0));

    // The new key alone opens everything; the old key alone opens nothing.
    let new_only = db.open(new.clone()).await;
    assert_eq!(
        readable_accounts(new_only.as_ref(), &secrets).await,
        ACCOUNTS
    );
    let old_only = db.open(old.clone()).await;
    assert_eq!(readable_accounts(old_only.as_ref(), &secrets).await, 0);
    let (hash, _) = &secrets.states[0];
    assert!(matches!(
        old_only.take_oauth_state(hash, clock.now()).await,
        Err(StoreError::Crypto(CryptoError::WrongKey { .. }))
    ));
    let worker = WorkerId::new("sender");
    let lease = std::time::Duration::from_secs(60);
    assert!(matches!(
        old_only
            .claim_webhook_deliveries(&worker, clock.now(), lease, 10)
            .await,
        Err(StoreError::Crypto(CryptoError::WrongKey { .. }))
    ));
    let mut claimed: Vec<String> = new_only
        .claim_webhook_deliveries(&worker, clock.now(), lease, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|delivery| delivery.secret.expose_secret().to_owned())
        .collect();
    claimed.sort();
    assert_eq!(
        claimed, secrets.endpoint_secrets,
        "the webhook secrets survive the rotation"
    );
    for (hash, verifier) in &secrets.states[1..] {
        match new_only.take_oauth_state(hash, clock.now()).await.unwrap() {
            OAuthStateTake::Taken { pkce_verifier, .. } => {
                assert_eq!(pkce_verifier.unwrap().expose_secret(), verifier);
            }
            other => panic!("state {hash}: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_on_sqlite() {
    a_rotation_stopped_midway_resumes_and_the_old_key_opens_nothing_afterwards(
        Database::sqlite().await,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_on_postgres() {
    a_rotation_stopped_midway_resumes_and_the_old_key_opens_nothing_afterwards(
        Database::postgres().await,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_sealed_with_an_unknown_key_stops_the_rotation_and_says_so() {
    let db = Database::sqlite().await;
    let clock = ManualClock::at_fixed_start();
    let lost = fresh_key();
    seed(db.open(lost).await.as_ref(), &clock).await;
    let store = db.open(fresh_key().with_previous(fresh_key())).await;
    assert!(matches!(
        store.reencrypt_secrets(BATCH).await,
        Err(StoreError::Crypto(CryptoError::WrongKey { .. }))
    ));
}
