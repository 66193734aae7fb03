//! One module per subcommand. Each takes its parsed arguments and returns the exit code.

mod check;
mod client;
mod config;
mod errors;
mod fix;
mod import;
mod keys;
mod migrate;
mod sandbox;
mod serve;
mod stats;
mod token_key;
mod users;
mod worker;

use std::process::ExitCode;

use crate::cli::{Command, PostsCommand};

pub(crate) fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Check(args) => check::run(&args),
        Command::Fix(args) => fix::run(&args),
        Command::Errors { command } => errors::run(command),
        Command::Sandbox(args) => sandbox::run(args),
        Command::Config { command } => config::run(&command),
        Command::Migrate(args) => migrate::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Keys { command } => keys::run(&command),
        Command::Users { command } => users::run(&command),
        Command::TokenKey { command } => token_key::run(&command),
        Command::Accounts { command } => client::accounts(&command),
        Command::Post { command } => client::post(&command),
        Command::Stats { command } => stats::stats(&command),
        Command::Posts {
            command: PostsCommand::Import(args),
        } => import::run(&args),
        Command::Posts { command } => client::posts(&command),
        Command::Worker(args) => worker::run(&args),
    }
}
