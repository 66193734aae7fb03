//! Rotating the token encryption key in place, on SQLite and on a real PostgreSQL: every secret
//! (account tokens, PKCE verifiers, outbound webhook endpoints' secrets and URLs, posts' upload
//! URLs) is
//! re-sealed under the new key batch by batch, a rotation stopped after some batches resumes
//! where it stopped, and afterwards the old key opens nothing.
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
use tokpost_core::{
    AccountId, EventKind, InteractionSettings, MediaId, NewPostEvent, OpenId, PostContent, PostId,
    PostMode, PostSpec, PostState, PrivacyLevel, PublishId, PublishProgress, ScheduleTime, Scope,
    UploadSource, VideoCaption,
};
use tokpost_store::{
    AccountTokens, CryptoError, NewAccount, NewOAuthState, NewPost, NewWebhookEndpoint,
    OAuthStateTake, Store, StoreError, TokenCipher, Transition, WebhookEvent, WebhookEventType,
    WorkerId,
};
use tokpost_testkit::stores::{Backend, TestStore};

const ACCOUNTS: usize = 7;
const STATES: usize = 3;
const ENDPOINTS: usize = 2;
const POSTS: usize = 3;
const BATCH: u32 = 3;

use tokpost_testkit::stores::cipher as fresh_key;

/// The database the processes of a story share; each opens it with its own cipher.
struct Database(TestStore);

impl Database {
    async fn sqlite() -> Self {
        Self(TestStore::open(Backend::Sqlite).await)
    }

    async fn postgres() -> Self {
        Self(TestStore::open(Backend::Postgres).await)
    }

    /// A process's view of the database with this cipher.
    async fn open(&self, cipher: TokenCipher) -> Arc<dyn Store> {
        tokpost_store::open(&self.0.url, cipher).await.unwrap()
    }
}

struct Secrets {
    accounts: BTreeMap<AccountId, (String, String)>,
    states: Vec<(String, String)>,
    endpoint_secrets: Vec<String>,
    upload_urls: BTreeMap<PostId, String>,
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
                    started_by: tokpost_core::Principal::Service,
                },
                now,
            )
            .await
            .unwrap();
        // A sign-in through the OpenID Connect provider under the same hash (another table).
        store
            .save_sign_in_state(
                tokpost_store::NewSignInState {
                    state_hash: hash.clone(),
                    nonce: format!("nonce-{n}"),
                    pkce_verifier: SecretString::from(verifier.clone()),
                    time_zone: "UTC".to_owned(),
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
                    format: tokpost_store::ChannelFormat::Tokpost,
                    chat_id: None,
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
    let account = *accounts.keys().next().unwrap();
    let mut upload_urls = BTreeMap::new();
    for n in 0..POSTS {
        let upload_url = format!(
            "https://open-upload.tiktokapis.com/video/?upload_id={n}&upload_token=capability-{n}"
        );
        let post = initialized_post(store, workspace, account, &upload_url, n, now).await;
        upload_urls.insert(post, upload_url);
    }
    Secrets {
        accounts,
        states,
        endpoint_secrets,
        upload_urls,
    }
}

/// A file-upload post that TikTok initialized, holding its upload URL.
async fn initialized_post(
    store: &dyn Store,
    workspace: tokpost_core::WorkspaceId,
    account: AccountId,
    upload_url: &str,
    n: usize,
    now: jiff::Timestamp,
) -> PostId {
    let spec = PostSpec {
        content: PostContent::Video {
            media: MediaId::generate(now),
            caption: VideoCaption::new("rotation").unwrap(),
            cover_timestamp_ms: None,
        },
        privacy: PrivacyLevel::SelfOnly,
        interactions: InteractionSettings::default(),
        brand_content: false,
        brand_organic: false,
        is_aigc: false,
        auto_add_music: false,
        mode: PostMode::Direct,
        source: UploadSource::FileUpload,
    };
    let post = store
        .create_post(
            NewPost {
                workspace_id: workspace,
                account_id: account,
                spec,
                scheduled_at: ScheduleTime::new(now, now).unwrap(),
                idempotency_key: None,
                created_by: tokpost_core::Principal::Service,
            },
            now,
        )
        .await
        .unwrap()
        .into_inner()
        .id;
    for (from, to) in [
        (PostState::Scheduled, PostState::Preflighted),
        (PostState::Preflighted, PostState::CreatorChecked),
        (PostState::CreatorChecked, PostState::Initialized),
    ] {
        let progress = (to == PostState::Initialized).then(|| PublishProgress {
            publish_id: Some(PublishId::new(format!("v_pub_file~v2-{n}")).unwrap()),
            upload_url: Some(upload_url.to_owned()),
            upload_url_expires_at: Some(now + SignedDuration::from_hours(1)),
            ..PublishProgress::default()
        });
        store
            .transition_post(Transition {
                post,
                expected: from,
                to,
                event: NewPostEvent::new(now, EventKind::StateChanged, "moved"),
                progress,
                quota_use: None,
                next_job: None,
                completes: None,
                lease: None,
            })
            .await
            .unwrap();
    }
    post
}

/// How many posts' upload URLs `store` can open, and whether they are the right ones.
async fn readable_upload_urls(store: &dyn Store, secrets: &Secrets) -> usize {
    let mut readable = 0;
    for (id, upload_url) in &secrets.upload_urls {
        match store.post(*id).await {
            Ok(Some(post)) => {
                assert_eq!(post.progress.upload_url.as_ref(), Some(upload_url));
                readable += 1;
            }
            Err(StoreError::Crypto(CryptoError::WrongKey { .. })) => {}
            other => panic!("post {id}: {other:?}"),
        }
    }
    readable
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
    // An endpoint holds two sealed values: its signing secret and its URL; each state is there
    // twice, as a TikTok connect and as a sign-in.
    let total = (ACCOUNTS + 2 * STATES + 2 * ENDPOINTS + POSTS) as u64;

    // A rotation that dies after two batches (the process is dropped mid-way).
    {
        let rotating = db.open(new.clone().with_previous(old.clone())).await;
        let first = rotating.reencrypt_secrets(BATCH).await.unwrap();
        assert_eq!(first.rewritten, u64::from(BATCH));
        assert_eq!(first.remaining, total - u64::from(BATCH));
        let second = rotating.reencrypt_secrets(BATCH).await.unwrap();
        assert_eq!(second.remaining, total - 2 * u64::from(BATCH));
        // Meanwhile the service reads every token and upload URL, old and new, through the
        // same ring.
        assert_eq!(
            readable_accounts(rotating.as_ref(), &secrets).await,
            ACCOUNTS
        );
        assert_eq!(
            readable_upload_urls(rotating.as_ref(), &secrets).await,
            POSTS
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
    assert_eq!(
        readable_upload_urls(new_only.as_ref(), &secrets).await,
        POSTS,
        "the upload URLs survive the rotation"
    );
    let old_only = db.open(old.clone()).await;
    assert_eq!(readable_accounts(old_only.as_ref(), &secrets).await, 0);
    assert_eq!(readable_upload_urls(old_only.as_ref(), &secrets).await, 0);
    let (hash, _) = &secrets.states[0];
    assert!(matches!(
        old_only.take_oauth_state(hash, clock.now()).await,
        Err(StoreError::Crypto(CryptoError::WrongKey { .. }))
    ));
    assert!(matches!(
        old_only.take_sign_in_state(hash, clock.now()).await,
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
    let claimed = new_only
        .claim_webhook_deliveries(&worker, clock.now(), lease, 10)
        .await
        .unwrap();
    let mut urls: Vec<String> = claimed
        .iter()
        .map(|delivery| delivery.url.clone())
        .collect();
    urls.sort();
    let mut expected_urls: Vec<String> = (0..ENDPOINTS)
        .map(|n| format!("https://hooks.example.com/{n}"))
        .collect();
    expected_urls.sort();
    assert_eq!(urls, expected_urls, "the webhook URLs survive the rotation");
    let mut claimed: Vec<String> = claimed
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
        match new_only
            .take_sign_in_state(hash, clock.now())
            .await
            .unwrap()
        {
            tokpost_store::SignInStateTake::Taken { pkce_verifier, .. } => {
                assert_eq!(pkce_verifier.expose_secret(), verifier);
            }
            other => panic!("sign-in state {hash}: {other:?}"),
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
