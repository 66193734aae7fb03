//! `tokpost stats post ID` and `tokpost stats account ID`: a post's or a creator's counts over
//! time from a running tokpost (`GET /v1/posts/{id}/stats`, `GET /v1/accounts/{id}/stats`).
//! `--json` prints the API's answer; people get where following stands and a table.

use std::io::Write as _;
use std::process::ExitCode;

use serde_json::Value;

use super::client::{Api, at, print_json, runtime, text};
use crate::cli::StatsCommand;

pub(crate) fn stats(command: &StatsCommand) -> anyhow::Result<ExitCode> {
    runtime()?
        .block_on(async {
            match command {
                StatsCommand::Post { client, id, json } => {
                    let stats = Api::new(client)?
                        .get(&format!("v1/posts/{id}/stats"))
                        .await?;
                    if *json {
                        return print_json(&stats);
                    }
                    let mut out = std::io::stdout().lock();
                    writeln!(
                        out,
                        "{}: {}",
                        text(at(&stats, "tracking")),
                        text(at(&stats, "explanation"))
                    )?;
                    if let Some(next) = at(&stats, "next_snapshot_at").as_str() {
                        writeln!(out, "next snapshot at {next}")?;
                    }
                    writeln!(
                        out,
                        "{:<26}  {:>10}  {:>8}  {:>8}  {:>8}  ENGAGEMENT",
                        "AT", "VIEWS", "LIKES", "COMMENTS", "SHARES"
                    )?;
                    for point in at(&stats, "series").as_array().into_iter().flatten() {
                        let rate = at(point, "engagement_rate")
                            .as_f64()
                            .map_or_else(|| "-".to_owned(), |rate| format!("{:.1}%", rate * 100.0));
                        writeln!(
                            out,
                            "{:<26}  {:>10}  {:>8}  {:>8}  {:>8}  {rate}",
                            text(at(point, "at")),
                            text(at(point, "views")),
                            text(at(point, "likes")),
                            text(at(point, "comments")),
                            text(at(point, "shares")),
                        )?;
                    }
                    Ok(())
                }
                StatsCommand::Account { client, id, json } => {
                    let stats = Api::new(client)?
                        .get(&format!("v1/accounts/{id}/stats"))
                        .await?;
                    if *json {
                        return print_json(&stats);
                    }
                    let mut out = std::io::stdout().lock();
                    if at(&stats, "insights_ready") != &Value::Bool(true) {
                        writeln!(
                            out,
                            "insights need a reconnect: the creator did not grant {}",
                            at(&stats, "scopes_missing")
                                .as_array()
                                .into_iter()
                                .flatten()
                                .map(text)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )?;
                    }
                    writeln!(
                        out,
                        "{:<26}  {:>10}  {:>9}  {:>10}  VIDEOS",
                        "AT", "FOLLOWERS", "FOLLOWING", "LIKES"
                    )?;
                    for point in at(&stats, "series").as_array().into_iter().flatten() {
                        writeln!(
                            out,
                            "{:<26}  {:>10}  {:>9}  {:>10}  {}",
                            text(at(point, "at")),
                            text(at(point, "followers")),
                            text(at(point, "following")),
                            text(at(point, "likes")),
                            text(at(point, "videos")),
                        )?;
                    }
                    Ok(())
                }
            }
        })
        .map(|()| ExitCode::SUCCESS)
}
