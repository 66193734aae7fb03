//! The API through the real server on port 0, with the TikTok sandbox on the same manual clock.
//!
//! One test binary for the crate's HTTP tests: the shared server (`support`) and the
//! dependencies' generic code are compiled and linked once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

mod alerts;
mod api;
mod approval;
mod media_fix;
mod roles;
mod stats;
