//! `tokpost token-key rotate` on a data directory with the generated key file: stopped after
//! one batch it leaves a rotation in progress that every process can work with, run again it
//! finishes, swaps the key files, and the old key opens nothing in the database.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;
use std::process::{Command, Output};

use jiff::{SignedDuration, Timestamp};
use secrecy::{ExposeSecret as _, SecretString};
use tokpost_core::{AccountId, OpenId, Scope};
use tokpost_store::{AccountTokens, CryptoError, NewAccount, StoreError, TokenCipher};

fn tokpost(data_dir: &Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_tokpost"))
        .args(args)
        .args(["--data-dir", data_dir.to_str().unwrap()])
        .env("TOKPOST_LOG", "warn")
        .env_remove("TOKPOST_TOKEN_KEY")
        .env_remove("TOKPOST_DATABASE_URL")
        .current_dir(data_dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "tokpost {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn text(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn database_url(data_dir: &Path) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        data_dir.join("tokpost.db").display()
    )
}

async fn tokens_readable(data_dir: &Path, cipher: TokenCipher, accounts: &[AccountId]) -> usize {
    let store = tokpost_store::open(&database_url(data_dir), cipher)
        .await
        .unwrap();
    let mut readable = 0;
    for (n, id) in accounts.iter().enumerate() {
        match store.account_tokens(*id).await {
            Ok(Some(tokens)) => {
                assert_eq!(
                    tokens.access_token.expose_secret(),
                    format!("act.secret-{n}")
                );
                readable += 1;
            }
            Err(StoreError::Crypto(CryptoError::WrongKey { .. })) => {}
            other => panic!("{other:?}"),
        }
    }
    readable
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_stopped_after_one_batch_resumes_and_retires_the_old_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path();
    let old = TokenCipher::load_or_generate(data_dir).unwrap();
    let old_file = std::fs::read_to_string(data_dir.join("token.key")).unwrap();
    let now = Timestamp::from_second(1_767_225_600).unwrap();
    let mut accounts = Vec::new();
    {
        let store = tokpost_store::open(&database_url(data_dir), old.clone())
            .await
            .unwrap();
        let workspace = store.create_workspace("studio", now).await.unwrap().id;
        for n in 0..5 {
            let account = store
                .connect_account(
                    NewAccount {
                        workspace_id: workspace,
                        open_id: OpenId::new(format!("creator-{n}")).unwrap(),
                        display_name: format!("creator {n}"),
                        avatar_url: None,
                        scopes: Scope::parse_list("user.info.basic,video.publish").unwrap(),
                        tokens: AccountTokens {
                            access_token: SecretString::from(format!("act.secret-{n}")),
                            refresh_token: SecretString::from(format!("rft.secret-{n}")),
                            access_token_expires_at: now + SignedDuration::from_hours(24),
                            refresh_token_expires_at: now + SignedDuration::from_hours(24 * 365),
                            granted_at: now,
                        },
                    },
                    now,
                )
                .await
                .unwrap();
            accounts.push(account.id);
        }
    }

    let stopped = text(&tokpost(
        data_dir,
        &["token-key", "rotate", "--batch", "2", "--max-batches", "1"],
    ));
    assert!(
        stopped.contains("batch 1: 2 re-encrypted, 3 left"),
        "{stopped}"
    );
    assert!(
        stopped.contains("run `tokpost token-key rotate` again"),
        "{stopped}"
    );
    assert!(data_dir.join("token.key.next").exists());
    let status = text(&tokpost(data_dir, &["token-key", "status"]));
    assert!(
        status.contains("secrets sealed with another key: 3"),
        "{status}"
    );
    // A process started now (the key files as they are) reads every account.
    let during = TokenCipher::load_or_generate(data_dir).unwrap();
    assert_eq!(tokens_readable(data_dir, during, &accounts).await, 5);

    let finished = text(&tokpost(data_dir, &["token-key", "rotate", "--batch", "2"]));
    assert!(
        finished.contains("done: 3 secrets re-encrypted"),
        "{finished}"
    );
    assert!(!data_dir.join("token.key.next").exists());
    let retired = data_dir.join(format!("token.key.retired-{}", old.key_id()));
    assert_eq!(std::fs::read_to_string(&retired).unwrap(), old_file);
    let status = text(&tokpost(data_dir, &["token-key", "status"]));
    assert!(
        status.contains("secrets sealed with another key: 0"),
        "{status}"
    );

    let new = TokenCipher::load_or_generate(data_dir).unwrap();
    assert_ne!(new.key_id(), old.key_id());
    assert_eq!(tokens_readable(data_dir, new, &accounts).await, 5);
    assert_eq!(tokens_readable(data_dir, old, &accounts).await, 0);
}
