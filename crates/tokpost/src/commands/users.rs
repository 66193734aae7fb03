//! `tokpost users create|list|disable|enable|reset-password`: people, managed on the database
//! directly. The operator's tool: the first owner exists without email, and an owner locked out
//! gets a reset link from whoever runs the server.

use std::io::{BufRead as _, IsTerminal as _, Write};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clock::{Clock as _, SystemClock};
use secrecy::SecretString;
use tokpost_core::Role;
use tokpost_store::{MembershipChange, NewUser, Store, User};

use crate::cli::UsersCommand;
use crate::config::Config;

pub(crate) fn run(command: &UsersCommand) -> anyhow::Result<ExitCode> {
    let config = Config::load(&command.config().sources())?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let store = tokpost_store::open(&config.database_url(), config.token_cipher()?)
            .await
            .context("opening the database")?;
        users(store.as_ref(), &config, command).await
    })
}

/// The API's message for a refused value (which field, which limit, what was measured).
fn refusal(error: &tokpost_api::ApiError) -> anyhow::Error {
    let detail = error.detail();
    anyhow::anyhow!(
        "{}{}",
        detail.message,
        detail
            .field
            .map(|field| format!(" (field `{field}`)"))
            .unwrap_or_default()
    )
}

/// One line of standard input: the password (without echo on a terminal).
fn read_password() -> anyhow::Result<SecretString> {
    let line = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Password (at least 12 characters): ")
            .context("reading the password")?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        line
    };
    Ok(SecretString::from(
        line.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}

async fn user_by_email(store: &dyn Store, email: &str) -> anyhow::Result<User> {
    let email = tokpost_api::people::normalize_email(email, "email").map_err(|e| refusal(&e))?;
    store
        .user_by_email(&email)
        .await?
        .with_context(|| format!("no user with the email {email} (`tokpost users list`)"))
}

async fn users(
    store: &dyn Store,
    config: &Config,
    command: &UsersCommand,
) -> anyhow::Result<ExitCode> {
    let now = SystemClock.now();
    let mut stdout = std::io::stdout().lock();
    match command {
        UsersCommand::Create {
            email,
            name,
            role,
            workspace,
            sso_only,
            ..
        } => {
            let email =
                tokpost_api::people::normalize_email(email, "email").map_err(|e| refusal(&e))?;
            let name =
                tokpost_api::people::normalize_name(name, "name").map_err(|e| refusal(&e))?;
            let Some(role) = Role::parse(role.trim()) else {
                bail!("`{role}` is not a role (owner, editor or reviewer)");
            };
            let workspace = super::keys::chosen_workspace(store, workspace.as_deref(), now).await?;
            if *sso_only && config.oidc.issuer.trim().is_empty() {
                bail!(
                    "--sso-only needs the OpenID Connect provider configured ([oidc] issuer, client_id, client_secret): without it this person could never sign in"
                );
            }
            let hash = if *sso_only {
                None
            } else {
                let password = read_password()?;
                tokpost_api::people::passwords::check(&password, "password")
                    .map_err(|e| refusal(&e))?;
                Some(
                    tokpost_api::people::passwords::hash(password)
                        .await
                        .map_err(|e| refusal(&e))?,
                )
            };
            let user = match store
                .create_user(
                    NewUser {
                        email: email.clone(),
                        name,
                        password_hash: hash,
                    },
                    now,
                )
                .await?
            {
                Some(user) => user,
                None => bail!(
                    "a user with the email {email} exists already; invite them from the dashboard's Team page instead"
                ),
            };
            store.join(user.id, workspace.id, role, now).await?;
            writeln!(
                stdout,
                "created {} <{}> ({}), {role} of workspace {} ({}); sign in at {}/sign-in",
                user.name,
                user.email,
                user.id,
                workspace.name,
                workspace.id,
                config.public_base_url()?.as_str().trim_end_matches('/')
            )?;
        }
        UsersCommand::List { json, .. } => {
            let mut rows = Vec::new();
            for user in store.users().await? {
                let memberships = store.memberships(user.id).await?;
                rows.push((user, memberships));
            }
            if *json {
                let value: Vec<_> = rows
                    .iter()
                    .map(|(user, memberships)| {
                        serde_json::json!({
                            "id": user.id,
                            "email": user.email,
                            "name": user.name,
                            "disabled": !user.is_enabled(),
                            "has_password": user.password_hash.is_some(),
                            "created_at": user.created_at,
                            "workspaces": memberships.iter().map(|(id, role)| serde_json::json!({
                                "workspace_id": id, "role": role.as_str(),
                            })).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                serde_json::to_writer_pretty(&mut stdout, &value)?;
                writeln!(stdout)?;
            } else {
                writeln!(
                    stdout,
                    "{:<36}  {:<8}  {:<32}  WORKSPACES",
                    "ID", "STATUS", "EMAIL"
                )?;
                for (user, memberships) in rows {
                    let places: Vec<String> = memberships
                        .iter()
                        .map(|(id, role)| format!("{id} ({role})"))
                        .collect();
                    writeln!(
                        stdout,
                        "{:<36}  {:<8}  {:<32}  {}",
                        user.id,
                        if user.is_enabled() {
                            "active"
                        } else {
                            "disabled"
                        },
                        user.email,
                        if places.is_empty() {
                            "none".to_owned()
                        } else {
                            places.join(", ")
                        }
                    )?;
                }
            }
        }
        UsersCommand::Disable { email, .. } | UsersCommand::Enable { email, .. } => {
            let disable = matches!(command, UsersCommand::Disable { .. });
            let user = user_by_email(store, email).await?;
            match store.set_disabled(user.id, disable, now).await? {
                MembershipChange::Changed => writeln!(
                    stdout,
                    "{} {}{}",
                    if disable { "disabled" } else { "enabled" },
                    user.email,
                    if disable {
                        "; every session of theirs has ended"
                    } else {
                        ""
                    }
                )?,
                MembershipChange::NotMember => bail!("no user {}", user.email),
                MembershipChange::LastOwner => bail!(
                    "{} is the last enabled owner of a workspace; make someone else an owner first",
                    user.email
                ),
            }
        }
        UsersCommand::ResetPassword { email, .. } => {
            let user = user_by_email(store, email).await?;
            let (secret, hash) = tokpost_api::people::link_secret("tpr_");
            let expires_at = clock::add(now, tokpost_api::people::RESET_LIFETIME);
            store
                .create_password_reset(user.id, &hash, expires_at, now)
                .await?;
            writeln!(
                stdout,
                "password-reset link for {} (single use, until {expires_at}):\n{}/reset/{secret}",
                user.email,
                config.public_base_url()?.as_str().trim_end_matches('/')
            )?;
        }
    }
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}
