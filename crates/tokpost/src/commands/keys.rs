//! `tokpost keys create|list|revoke`: API keys, managed on the database directly (an operator's
//! tool; the API itself never issues keys).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clock::{Clock as _, SystemClock};
use tokpost_core::{ApiKeyId, WorkspaceId};
use tokpost_store::WorkspaceStore;

use crate::cli::KeysCommand;
use crate::config::Config;

pub(crate) fn run(command: &KeysCommand) -> anyhow::Result<ExitCode> {
    let config = Config::load(&command.config().sources())?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let store = tokpost_store::open(&config.database_url(), config.token_cipher()?)
            .await
            .context("opening the database")?;
        keys(store.as_ref(), command).await
    })
}

/// The workspace named by `--workspace`, or the first one (made now, with its admin key, on a
/// fresh database; that key is not printed: the command prints what it was asked for).
pub(crate) async fn chosen_workspace(
    store: &dyn WorkspaceStore,
    id: Option<&str>,
    now: jiff::Timestamp,
) -> anyhow::Result<tokpost_store::Workspace> {
    if let Some(text) = id {
        let id: WorkspaceId = text
            .parse()
            .map_err(|_| anyhow::anyhow!("`{text}` is not a workspace id"))?;
        return store
            .workspace(id)
            .await?
            .with_context(|| format!("no workspace {id}"));
    }
    match tokpost_api::bootstrap(store, now).await? {
        Some((workspace, _admin)) => Ok(workspace),
        None => store
            .workspaces()
            .await?
            .into_iter()
            .next()
            .context("no workspace"),
    }
}

async fn keys(store: &dyn WorkspaceStore, command: &KeysCommand) -> anyhow::Result<ExitCode> {
    let now = SystemClock.now();
    let mut stdout = std::io::stdout().lock();
    match command {
        KeysCommand::Create {
            name,
            role,
            workspace,
            json,
            ..
        } => {
            let Some(role) = tokpost_core::Role::parse(role.trim()) else {
                anyhow::bail!("`{role}` is not a role (owner, editor or reviewer)");
            };
            let workspace = chosen_workspace(store, workspace.as_deref(), now).await?;
            let issued = tokpost_api::issue_key(store, workspace.id, name, role, now).await?;
            if *json {
                serde_json::to_writer_pretty(
                    &mut stdout,
                    &serde_json::json!({
                        "id": issued.key.id,
                        "workspace_id": issued.key.workspace_id,
                        "name": issued.key.name,
                        "prefix": issued.key.prefix,
                        "role": issued.key.role,
                        "key": issued.secret.expose_secret(),
                    }),
                )?;
                writeln!(stdout)?;
            } else {
                writeln!(
                    stdout,
                    "API key `{name}` ({role}) for workspace {} ({}), shown once:\n{}",
                    workspace.name,
                    workspace.id,
                    issued.secret.expose_secret()
                )?;
            }
        }
        KeysCommand::List { json, .. } => {
            let keys = store.api_keys(None).await?;
            if *json {
                serde_json::to_writer_pretty(&mut stdout, &keys)?;
                writeln!(stdout)?;
            } else {
                writeln!(
                    stdout,
                    "{:<36}  {:<11}  {:<36}  {:<8}  {:<8}  NAME",
                    "ID", "PREFIX", "WORKSPACE", "ROLE", "STATUS"
                )?;
                for key in keys {
                    writeln!(
                        stdout,
                        "{:<36}  {:<11}  {:<36}  {:<8}  {:<8}  {}",
                        key.id,
                        key.prefix,
                        key.workspace_id,
                        key.role.as_str(),
                        if key.is_active() { "active" } else { "revoked" },
                        key.name
                    )?;
                }
            }
        }
        KeysCommand::Revoke { id, .. } => {
            let key: ApiKeyId = id
                .parse()
                .map_err(|_| anyhow::anyhow!("`{id}` is not a key id"))?;
            if store.revoke_api_key(key, now).await? {
                writeln!(stdout, "revoked {key}")?;
            } else {
                drop(stdout);
                eprintln!("tokpost: no active key {key}");
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}
