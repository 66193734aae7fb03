//! `tokpost token-key status|rotate`: the key that encrypts TikTok tokens (and PKCE verifiers,
//! outbound webhook secrets and upload URLs) at rest, rotated in place.
//!
//! Every ciphertext names the key that sealed it, so a rotation is: a cipher that seals with
//! the new key and still opens with the old one, and batches that rewrite every row still under
//! another key, one transaction each, until none is left. Stopping (a crash, `--max-batches`)
//! loses nothing: running it again continues. Processes started while a rotation of the
//! generated key is under way (`token.key.next` exists) load both keys, so they read every row
//! and write new ones under the new key.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use tokpost_store::TokenCipher;

use crate::cli::TokenKeyCommand;
use crate::config::Config;

pub(crate) fn run(command: &TokenKeyCommand) -> anyhow::Result<ExitCode> {
    let config = Config::load(&command.config().sources())?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match command {
        TokenKeyCommand::Status(_) => runtime.block_on(status(&config)),
        TokenKeyCommand::Rotate {
            batch, max_batches, ..
        } => runtime.block_on(rotate(&config, *batch, *max_batches)),
    }
}

async fn status(config: &Config) -> anyhow::Result<ExitCode> {
    let cipher = config.token_cipher()?;
    let key_id = cipher.key_id();
    let store = tokpost_store::open(&config.database_url(), cipher)
        .await
        .context("opening the database")?;
    // A batch of 0 rewrites nothing and counts what is left.
    let left = store.reencrypt_secrets(0).await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "current token key id: {key_id}")?;
    writeln!(
        stdout,
        "secrets sealed with another key: {}{}",
        left.remaining,
        if left.remaining > 0 {
            " (a rotation is unfinished: run `tokpost token-key rotate`)"
        } else {
            ""
        }
    )?;
    Ok(ExitCode::SUCCESS)
}

async fn rotate(config: &Config, batch: u32, max_batches: Option<u32>) -> anyhow::Result<ExitCode> {
    let configured = config.token_key.is_set();
    let cipher = if configured {
        if !config.token_key_previous.is_set() {
            anyhow::bail!(
                "token_key is configured, so tokpost cannot replace it by itself: set token_key \
                 (TOKPOST_TOKEN_KEY) to a new key (`openssl rand -base64 32`) and \
                 token_key_previous (TOKPOST_TOKEN_KEY_PREVIOUS) to the current one, restart \
                 the services with both, then run this again"
            );
        }
        config.token_cipher()?
    } else {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!("creating the data directory {}", config.data_dir.display())
        })?;
        TokenCipher::begin_file_rotation(&config.data_dir)?
    };
    let key_id = cipher.key_id();
    let store = tokpost_store::open(&config.database_url(), cipher)
        .await
        .context("opening the database")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "re-encrypting stored secrets under key {key_id}")?;
    let mut batches = 0_u32;
    let mut rewritten = 0_u64;
    let remaining = loop {
        if max_batches.is_some_and(|max| batches >= max) {
            break store.reencrypt_secrets(0).await?.remaining;
        }
        let done = store.reencrypt_secrets(batch).await?;
        batches += 1;
        rewritten += done.rewritten;
        writeln!(
            stdout,
            "batch {batches}: {} re-encrypted, {} left",
            done.rewritten, done.remaining
        )?;
        stdout.flush()?;
        if done.remaining == 0 {
            break 0;
        }
    };
    if remaining > 0 {
        writeln!(
            stdout,
            "stopped after {batches} batches ({rewritten} re-encrypted, {remaining} left); run \
             `tokpost token-key rotate` again to continue"
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        stdout,
        "done: {rewritten} secrets re-encrypted; nothing in the database needs the old key"
    )?;
    if configured {
        writeln!(
            stdout,
            "remove token_key_previous (TOKPOST_TOKEN_KEY_PREVIOUS) from the configuration and \
             restart the services"
        )?;
    } else if let Some(retired) = tokpost_store::crypto::finish_file_rotation(&config.data_dir)? {
        writeln!(
            stdout,
            "{} now holds key {key_id}; the old key is kept as {} for backups taken before \
             today (delete it with them). Restart running services so they drop the old key.",
            config
                .data_dir
                .join(tokpost_store::crypto::KEY_FILE_NAME)
                .display(),
            retired.display()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
