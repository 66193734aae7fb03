//! Test support shared by every crate's tests and benchmarks, so that each starts the same real
//! components the same way:
//!
//! - [`postgres::PostgresServer`]: a real PostgreSQL 15 (never mocked, never skipped);
//! - [`moto::MotoServer`]: a real S3-compatible server (moto) on loopback;
//! - [`smtp::SmtpServer`]: a real SMTP server (aiosmtpd) on loopback, its messages read back;
//! - [`receiver::Receiver`]: a webhook receiver on loopback, recording what it is sent;
//! - [`oidc::OidcProvider`]: a real OpenID Connect provider (node-oidc-provider) on loopback;
//! - [`stores::TestStore`]: a fresh store on SQLite or PostgreSQL ([`stores::Backend`]), for
//!   the stories that run unchanged on both;
//! - [`oauth`]: the sandbox's consent answered for a chosen creator and the code exchanged, the
//!   round trip a creator's browser and tokpost's callback make;
//! - [`posts`]: posts as the publisher leaves them, made through the store's own moves (a
//!   creator who has already posted today), and a plain video post's spec;
//! - [`bench`]: the benchmarks' sizes, read from the environment, and the spread of a figure
//!   over runs.
//!
//! Test support may block, shell out and panic on a broken environment: it must not be used by
//! the service.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

pub mod bench;
pub mod ffmpeg;
pub mod moto;
pub mod oauth;
pub mod oidc;
pub mod postgres;
pub mod posts;
pub mod receiver;
pub mod smtp;
pub mod stores;
