//! tokpost: the one binary. Its subcommands are tokpost's roles (the service, the sandbox) and
//! its tools (media check, the failure catalog).
//!
//! This crate wires the others together and owns what faces a person: argument parsing, output
//! formats and exit codes. It holds no TikTok knowledge (that is `tiktok`), no media rules (that
//! is `media`) and no publishing policy (that is `tokpost-core`).

pub mod cli;
mod commands;
pub mod config;

use std::process::ExitCode;

use clap::Parser;

/// Parses the command line, runs the command and maps its outcome to the process exit code.
#[must_use]
pub fn run() -> ExitCode {
    let cli = cli::Cli::parse();
    init_tracing();
    match commands::dispatch(cli.command) {
        Ok(code) => code,
        Err(error) => {
            // `{:#}` prints the whole cause chain on one line; errors never carry secrets.
            eprintln!("tokpost: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOKPOST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Logs go to stderr so that `--json` output on stdout stays machine-readable.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
