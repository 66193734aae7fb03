//! `tokpost config print`: the merged configuration, secrets redacted.

use std::io::Write;
use std::process::ExitCode;

use crate::cli::ConfigCommand;
use crate::config::Config;

pub(crate) fn run(command: &ConfigCommand) -> anyhow::Result<ExitCode> {
    match command {
        ConfigCommand::Print(args) => {
            let config = Config::load(&args.sources())?;
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(config.to_redacted_toml()?.as_bytes())?;
            stdout.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
