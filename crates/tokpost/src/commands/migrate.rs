//! `tokpost migrate`: create the database if needed and bring its schema up to date.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::ConfigArgs;
use crate::config::Config;

pub(crate) fn run(args: &ConfigArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.sources())?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    let cipher = config.token_cipher()?;
    let database_url = config.database_url();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    // Opening the store creates the database file (SQLite) and applies pending migrations.
    runtime
        .block_on(tokpost_store::open(&database_url, cipher))
        .context("opening and migrating the database")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "database is up to date: {}",
        redact_password(&database_url)
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The database URL without its password, for printing.
fn redact_password(database_url: &str) -> String {
    match url::Url::parse(database_url) {
        Ok(mut url) if url.password().is_some() => {
            // Only fails for URLs that cannot have a password, which this one has.
            let _ = url.set_password(Some("redacted"));
            url.to_string()
        }
        _ => database_url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_password;

    #[test]
    fn a_database_password_is_never_printed() {
        let printed = redact_password("postgres://tokpost:hunter2@db.internal:5432/tokpost");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("db.internal"), "{printed}");
    }

    #[test]
    fn sqlite_urls_print_unchanged() {
        let url = "sqlite://.tokpost/tokpost.db?mode=rwc";
        assert_eq!(redact_password(url), url);
    }
}
