//! The dashboard over HTTP and in real headless Chromium.
//!
//! One test binary for the crate's integration tests: the shared support and the dependencies'
//! generic code are compiled and linked once, not once per file. Nextest still runs every test
//! in a process of its own; a file's tests are selected with `-E 'test(/^<file>::/)'`.

// Test support code outside `#[test]` functions: failing loudly is the point here.
#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stderr,
    clippy::too_many_lines,
    clippy::unwrap_used
)]

mod support;

mod alerts_browser;
mod approval;
mod approval_browser;
mod audit;
mod browser;
mod calendar;
mod composer;
mod fix_browser;
mod import;
mod insights_browser;
mod mail;
mod oidc_browser;
mod pages;
mod team;
mod team_browser;
