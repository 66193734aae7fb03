//! The service as its users meet it: the `tokpost` binary's commands, fleets of real processes,
//! the architecture's checks.
//!
//! One test binary for the crate's integration tests: the shared support and the dependencies'
//! generic code are compiled and linked once, not once per file. Nextest still runs every test
//! in a process of its own; a file's tests are selected with `-E 'test(/^<file>::/)'`.

// Test support code outside `#[test]` functions: failing loudly is the point here.
#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stdout,
    clippy::unwrap_used
)]

mod support;

mod architecture;
mod cli;
mod crash;
mod deployment;
mod fix;
mod import;
mod media_store;
mod serve_audit;
mod serve_media;
mod soak;
mod token_key;
