//! The CLI commands that talk to a running tokpost over its HTTP API (`accounts`, `post`,
//! `posts`; `stats` in `stats.rs`): scripts get the API's JSON with `--json`, people get short tables. The API's error
//! body (code, field, message) becomes the error message and exit status 1.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};

use crate::cli::{AccountsCommand, ClientArgs, PostCommand, PostsCommand};

/// States after which a post never changes again.
const FINAL_STATES: [&str; 5] = [
    "published",
    "inbox_delivered",
    "failed",
    "missed",
    "cancelled",
];

pub(crate) struct Api {
    base: url::Url,
    key: String,
    pub(crate) http: reqwest::Client,
}

impl Api {
    pub(crate) fn new(args: &ClientArgs) -> anyhow::Result<Self> {
        let mut base =
            url::Url::parse(&args.api).with_context(|| format!("`{}` is not a URL", args.api))?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let key = args
            .key
            .clone()
            .context("an API key is needed: --key or TOKPOST_API_KEY (`tokpost keys create`)")?;
        Ok(Self {
            base,
            key,
            http: reqwest::Client::builder()
                .build()
                .context("building the HTTP client")?,
        })
    }

    pub(crate) async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = request
            .bearer_auth(&self.key)
            .send()
            .await
            .with_context(|| format!("reaching tokpost at {}", self.base))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let error = at(&body, "error");
        let field = at(error, "field")
            .as_str()
            .map(|f| format!(" (field {f})"))
            .unwrap_or_default();
        anyhow::bail!(
            "{} {}{field}: {}",
            status.as_u16(),
            at(error, "code").as_str().unwrap_or("error"),
            at(error, "message").as_str().unwrap_or("no message")
        )
    }

    pub(crate) fn url(&self, path: &str) -> anyhow::Result<url::Url> {
        self.base.join(path).context("forming the API URL")
    }

    pub(crate) async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.http.get(self.url(path)?)).await
    }

    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(self.http.post(self.url(path)?).json(body)).await
    }
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("starting the async runtime")
}

pub(crate) fn print_json(value: &Value) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, value)?;
    writeln!(stdout)?;
    Ok(())
}

pub(crate) fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

pub(crate) fn accounts(command: &AccountsCommand) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        match command {
            AccountsCommand::Connect { client, json } => {
                let link = Api::new(client)?
                    .post("v1/accounts/connect", &json!({}))
                    .await?;
                if *json {
                    return print_json(&link);
                }
                writeln!(
                    std::io::stdout(),
                    "Open this link as the TikTok creator (valid until {}, once):\n{}",
                    text(at(&link, "expires_at")),
                    text(at(&link, "authorize_url"))
                )?;
                Ok(())
            }
            AccountsCommand::List { client, json } => {
                let accounts = every_account(&Api::new(client)?, "").await?;
                if *json {
                    return print_json(&Value::Array(accounts));
                }
                let mut out = std::io::stdout().lock();
                writeln!(out, "{:<36}  {:<16}  NAME", "ID", "STATUS")?;
                for account in &accounts {
                    writeln!(
                        out,
                        "{:<36}  {:<16}  {}",
                        text(at(account, "id")),
                        text(at(account, "status")),
                        text(at(account, "display_name"))
                    )?;
                }
                Ok(())
            }
            AccountsCommand::Show { client, id, json } => {
                let account = Api::new(client)?.get(&format!("v1/accounts/{id}")).await?;
                if *json {
                    return print_json(&account);
                }
                write_health(&account)
            }
            AccountsCommand::Doctor { client, json } => {
                // The checklists come with each page of 200 (never a request per account).
                let full = every_account(&Api::new(client)?, "&include=health").await?;
                if *json {
                    return print_json(&Value::Array(full));
                }
                if full.is_empty() {
                    writeln!(
                        std::io::stdout(),
                        "no accounts: connect one with POST /v1/accounts/connect"
                    )?;
                }
                for account in &full {
                    write_health(account)?;
                }
                Ok(())
            }
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Every account of the workspace, page after page; `extra` is added to each page's query.
async fn every_account(api: &Api, extra: &str) -> anyhow::Result<Vec<Value>> {
    let mut accounts = Vec::new();
    let mut path = format!("v1/accounts?limit=200{extra}");
    loop {
        let mut page = api.get(&path).await?;
        if let Some(Value::Array(listed)) = page.get_mut("accounts").map(Value::take) {
            accounts.extend(listed);
        }
        match page.get("next_cursor").and_then(Value::as_str) {
            Some(cursor) => path = format!("v1/accounts?limit=200{extra}&cursor={cursor}"),
            None => return Ok(accounts),
        }
    }
}

fn write_health(account: &Value) -> anyhow::Result<()> {
    let health = &at(account, "health");
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} ({})",
        text(at(account, "display_name")),
        text(at(account, "id"))
    )?;
    writeln!(
        out,
        "  status:                {}",
        text(at(account, "status"))
    )?;
    writeln!(
        out,
        "  access token expires:  {}",
        text(at(account, "access_token_expires_at"))
    )?;
    writeln!(
        out,
        "  refresh token expires: {}",
        text(at(account, "refresh_token_expires_at"))
    )?;
    writeln!(
        out,
        "  scopes missing:        {}",
        text(at(health, "scopes_missing"))
    )?;
    writeln!(
        out,
        "  posts in 24 h:         {} of {}",
        text(&health["posts_last_24h"]),
        text(at(health, "daily_post_cap"))
    )?;
    writeln!(
        out,
        "  pending inbox drafts:  {}",
        text(at(health, "pending_inbox_shares"))
    )?;
    let advice: Vec<String> = at(health, "advice")
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    if advice.is_empty() {
        writeln!(out, "  next: nothing to do")?;
    }
    for line in advice {
        writeln!(out, "  next: {line}")?;
    }
    Ok(())
}

pub(crate) fn posts(command: &PostsCommand) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let (client, json) = command.client();
        let api = Api::new(client)?;
        let answer = match command {
            PostsCommand::List { state, account, .. } => {
                let mut path = "v1/posts?limit=200".to_owned();
                if let Some(state) = state {
                    path.push_str(&format!("&state={state}"));
                }
                if let Some(account) = account {
                    path.push_str(&format!("&account_id={account}"));
                }
                let page = api.get(&path).await?;
                if !json {
                    let mut out = std::io::stdout().lock();
                    writeln!(
                        out,
                        "{:<36}  {:<22}  {:<30}  ACCOUNT",
                        "ID", "STATE", "SCHEDULED"
                    )?;
                    for post in at(&page, "posts").as_array().into_iter().flatten() {
                        writeln!(
                            out,
                            "{:<36}  {:<22}  {:<30}  {}",
                            text(at(post, "id")),
                            text(at(post, "state")),
                            text(at(post, "scheduled_at")),
                            text(at(post, "account_id"))
                        )?;
                    }
                    return Ok(());
                }
                page
            }
            PostsCommand::Show { id, .. } => api.get(&format!("v1/posts/{id}")).await?,
            PostsCommand::Cancel { id, .. } => {
                api.post(&format!("v1/posts/{id}/cancel"), &json!({}))
                    .await?
            }
            PostsCommand::Retry { id, .. } => {
                api.post(&format!("v1/posts/{id}/retry"), &json!({}))
                    .await?
            }
            PostsCommand::Approve {
                id,
                revision,
                at,
                comment,
                ..
            } => {
                let body = json!({"revision": revision, "scheduled_at": at, "comment": comment});
                api.post(&format!("v1/posts/{id}/approve"), &body).await?
            }
            PostsCommand::Reject {
                id,
                revision,
                comment,
                ..
            } => {
                let body = json!({"revision": revision, "comment": comment});
                api.post(&format!("v1/posts/{id}/reject"), &body).await?
            }
            // Its own exit status: `commands::import`, dispatched before this.
            PostsCommand::Import(_) => anyhow::bail!("`posts import` runs on its own"),
        };
        if json {
            print_json(&answer)
        } else {
            write_post(&answer)
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

fn write_post(post: &Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "post {}: {}",
        text(at(post, "id")),
        text(at(post, "state"))
    )?;
    writeln!(out, "  scheduled:  {}", text(at(post, "scheduled_at")))?;
    writeln!(out, "  revision:   {}", text(at(post, "revision")))?;
    writeln!(out, "  publish id: {}", text(at(post, "publish_id")))?;
    for event in at(post, "events").as_array().into_iter().flatten() {
        let by = event
            .pointer("/by/name")
            .and_then(Value::as_str)
            .filter(|name| *name != "tokpost")
            .map_or_else(String::new, |name| format!(" (by {name})"));
        writeln!(
            out,
            "  {}  {:<18} {}{by}",
            text(at(event, "at")),
            text(at(event, "state")),
            text(at(event, "message"))
        )?;
    }
    if let Some(failure) = post.get("failure").filter(|f| !f.is_null()) {
        writeln!(
            out,
            "  failed: {} (who acts: {})",
            text(at(failure, "action")),
            text(at(failure, "who"))
        )?;
        if let Some(fix) = at(at(failure, "classification"), "how_to_fix").as_str() {
            writeln!(out, "  what to do: {fix}")?;
        }
    }
    Ok(())
}

pub(crate) fn post(command: &PostCommand) -> anyhow::Result<ExitCode> {
    let PostCommand::Create(args) = command;
    let final_state = runtime()?.block_on(async {
        let api = Api::new(&args.client)?;
        let mut body = json!({
            "account_id": args.account,
            "privacy_level": args.privacy,
            "mode": if args.inbox { "inbox" } else { "direct" },
        });
        if let Some(at) = &args.at {
            set(&mut body, "scheduled_at", json!(at));
        }
        if let Some(video) = &args.video {
            let file = tokio::fs::File::open(video)
                .await
                .with_context(|| format!("opening {}", video.display()))?;
            let length = file.metadata().await?.len();
            let bar = upload_bar(
                length,
                args.json,
                std::io::IsTerminal::is_terminal(&std::io::stderr()),
            );
            // The file streams to tokpost; it is never read whole into memory. The bar counts
            // bytes as they are handed to the connection.
            let counted = {
                let bar = bar.clone();
                tokio_util::io::InspectReader::new(file, move |bytes: &[u8]| {
                    bar.inc(u64::try_from(bytes.len()).unwrap_or(0));
                })
            };
            let stream = tokio_util::io::ReaderStream::with_capacity(counted, 256 * 1024);
            let media = api
                .send(
                    api.http
                        .post(api.url("v1/media")?)
                        .header(reqwest::header::CONTENT_LENGTH, length)
                        .body(reqwest::Body::wrap_stream(stream)),
                )
                .await;
            bar.finish_and_clear();
            let media = media?;
            set(&mut body, "video", json!({"media_id": at(&media, "id"), "caption": args.caption.clone().unwrap_or_default()}));
        } else {
            let mut ids = Vec::new();
            for url in &args.photos {
                let media = api.post("v1/media/url", &json!({"url": url, "kind": "photo"})).await?;
                ids.push(at(&media, "id").clone());
            }
            set(&mut body, "photos", json!({"media_ids": ids, "description": args.caption.clone().unwrap_or_default()}));
        }
        let mut post = api.post("v1/posts", &body).await?;
        if args.wait {
            let id = text(at(&post, "id"));
            while !FINAL_STATES.contains(&text(at(&post, "state")).as_str()) {
                tokio::time::sleep(Duration::from_secs(2)).await;
                post = api.get(&format!("v1/posts/{id}")).await?;
            }
        }
        if args.json {
            print_json(&post)?;
        } else {
            write_post(&post)?;
        }
        anyhow::Ok(text(at(&post, "state")))
    })?;
    Ok(if matches!(final_state.as_str(), "failed" | "missed") {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The upload's progress bar: on stderr for a person at a terminal, hidden when stderr is not a
/// terminal or the output is `--json` (a script reads stdout, and may capture stderr too).
fn upload_bar(length: u64, json: bool, stderr_is_terminal: bool) -> indicatif::ProgressBar {
    if json || !stderr_is_terminal {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(length),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "uploading {bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}

/// A field of a JSON answer, `null` when absent (an answer of another shape never panics).
pub(crate) fn at<'v>(value: &'v Value, key: &str) -> &'v Value {
    value.get(key).unwrap_or(&Value::Null)
}

fn set(body: &mut Value, key: &str, value: Value) {
    if let Some(object) = body.as_object_mut() {
        object.insert(key.to_owned(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::upload_bar;

    #[test]
    fn the_upload_bar_shows_only_at_a_terminal_without_json() {
        for (json, terminal) in [(true, true), (true, false), (false, false)] {
            let bar = upload_bar(4_096, json, terminal);
            assert!(bar.is_hidden(), "json {json}, terminal {terminal}");
            assert_eq!(bar.length(), None, "json {json}, terminal {terminal}");
        }
        assert_eq!(upload_bar(4_096, false, true).length(), Some(4_096));
    }
}
