//! `tokpost errors list|explain`: the failure catalog, for people and for scripts.

use std::fmt::Write as _;
use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use tiktok::catalog::{self, CatalogEntry, RetryPolicy, RetryWindow};

use crate::cli::ErrorsCommand;

/// Exit status of `explain` for a code the catalog does not know.
const UNKNOWN_CODE: u8 = 1;

pub(crate) fn run(command: ErrorsCommand) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    match command {
        ErrorsCommand::List { json: true } => {
            serde_json::to_writer_pretty(&mut stdout, catalog::CATALOG)?;
            writeln!(stdout)?;
        }
        ErrorsCommand::List { json: false } => stdout.write_all(list_table().as_bytes())?,
        ErrorsCommand::Explain { code, json } => {
            let Some(entry) = catalog::lookup(code.trim()) else {
                drop(stdout);
                eprintln!(
                    "tokpost: `{code}` is not a failure tokpost knows. `tokpost errors list` shows \
                     every code; an unknown code from TikTok is kept verbatim on the post and \
                     retried only within the transient budget."
                );
                return Ok(ExitCode::from(UNKNOWN_CODE));
            };
            if json {
                serde_json::to_writer_pretty(&mut stdout, entry)?;
                writeln!(stdout)?;
            } else {
                stdout.write_all(explain(entry).as_bytes())?;
            }
        }
    }
    stdout.flush().context("writing to standard output")?;
    Ok(ExitCode::SUCCESS)
}

/// One line per entry: the code, TikTok's category and action, who acts, and the meaning.
fn list_table() -> String {
    let rows: Vec<[String; 5]> = catalog::CATALOG
        .iter()
        .map(|entry| {
            [
                entry.id.to_owned(),
                entry.category.label().to_owned(),
                action_label(entry),
                who_acts(entry),
                entry.meaning.to_owned(),
            ]
        })
        .collect();
    let header = ["CODE", "CATEGORY", "ACTION", "WHO ACTS", "MEANING"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut table = String::new();
    let mut push_row = |cells: [&str; 5]| {
        let mut line = String::new();
        for (index, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if index + 1 == cells.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ");
            }
        }
        table.push_str(line.trim_end());
        table.push('\n');
    };
    push_row(header);
    for row in &rows {
        push_row([&row[0], &row[1], &row[2], &row[3], &row[4]].map(String::as_str));
    }
    table
}

/// Everything about one entry, in the order a person asks: what is it, what does TikTok's
/// reference say, who must act, what tokpost does, how to fix it.
fn explain(entry: &CatalogEntry) -> String {
    let mut text = format!("{}\n  {}\n\n", entry.id, entry.meaning);
    let published = match entry.published_pattern {
        Some(number) => format!(" (TikTok's published triage, pattern {number} of 25)"),
        None => String::new(),
    };
    let _ = writeln!(
        text,
        "  category:      {}{published}",
        entry.category.label()
    );
    let _ = writeln!(text, "  action:        {}", action_label(entry));
    if !entry.codes.is_empty() && entry.codes != [entry.id] {
        let _ = writeln!(text, "  sent as:       {}", entry.codes.join(", "));
    }
    let _ = writeln!(text, "  who acts:      {}", who_acts(entry));
    let _ = writeln!(text, "  tokpost does:  {}", entry.service_action);
    let _ = writeln!(text, "  retry:         {}", retry_label(entry.retry));
    let _ = writeln!(text, "  how to fix:    {}", entry.how_to_fix);
    text
}

fn action_label(entry: &CatalogEntry) -> String {
    entry.action.map_or_else(
        || "none (final)".to_owned(),
        |action| action.label().to_owned(),
    )
}

fn who_acts(entry: &CatalogEntry) -> String {
    entry
        .who_acts
        .iter()
        .map(|who| who.label())
        .collect::<Vec<_>>()
        .join(", then ")
}

fn retry_label(policy: RetryPolicy) -> &'static str {
    match policy {
        RetryPolicy::Never => "never: the same request fails the same way until something changes",
        RetryPolicy::AfterRefresh => "once, after refreshing the access token",
        RetryPolicy::AfterWindow {
            window: RetryWindow::PerMinute,
        } => "after the per-token one-minute window moves on",
        RetryPolicy::AfterWindow {
            window: RetryWindow::Rolling24Hours,
        } => "after the rolling 24-hour window frees a slot",
        RetryPolicy::Backoff => "yes: exponential back-off with jitter, within a retry budget",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_names_every_catalog_entry_once_per_line() {
        let table = list_table();
        assert_eq!(table.lines().count(), catalog::CATALOG.len() + 1);
        for entry in catalog::CATALOG {
            assert!(
                table
                    .lines()
                    .any(|line| line.starts_with(&format!("{} ", entry.id))),
                "{} missing from the list",
                entry.id
            );
        }
    }

    #[test]
    fn explaining_the_daily_cap_says_time_acts_and_tokpost_defers() {
        let entry = catalog::lookup("spam_risk_too_many_posts").expect("catalogued");
        let text = explain(entry);
        assert!(text.contains("category:      Spam"), "{text}");
        assert!(text.contains("action:        Fix input"), "{text}");
        assert!(text.contains("rolling 24-hour"), "{text}");
    }
}
