//! The pipeline against the sandbox on a manual clock, on SQLite and a real PostgreSQL.
//!
//! One test binary for the crate's integration tests: the shared support and the dependencies'
//! generic code are compiled and linked once, not once per file. Nextest still runs every test
//! in a process of its own; a file's tests are selected with `-E 'test(/^<file>::/)'`.

// Test support code outside `#[test]` functions: failing loudly is the point here.
#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::unwrap_used
)]

mod support;

mod init_wave;
mod insights;
mod media_fix;
mod preflight;
mod publish_races;
mod publishing;
mod retries;
mod token_keeper;
mod token_races;
