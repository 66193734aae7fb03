//! A stateful local TikTok (Login Kit v2 + Content Posting API) speaking exactly the wire format
//! of `tiktok-api.md`, quirks included, so that tokpost runs, is demonstrated and is tested
//! without a TikTok app, and so that users can rehearse their own failure handling.
//!
//! What it is: an axum server on a listener you give it ([`Sandbox::start`]), holding its world
//! in memory (bounded), running every time decision on an injected [`clock::SharedClock`], with
//! fault injection through configuration, an admin HTTP API and [`SandboxHandle`]. Started with
//! [`Sandbox::start_with_manual_clock`], its admin API can also move time forward.
//!
//! What it must not do: depend on the `tiktok` client crate (the two are written independently
//! from the documentation so that they test each other), read the wall clock directly, or
//! accept input a real TikTok would refuse just because it is convenient.
//!
//! Map of the modules: `config` (the typed configuration and its demo default), `server`
//! (start/stop, routing, request plumbing), `oauth` (authorize page, token, revoke), `creator`
//! (creator info), `publish` (inits, status, cancel, processing outcome), `upload` (the chunked
//! PUT listener), `pull` (PULL_FROM_URL downloads), `media_check` (the project's media probe on the
//! received bytes), `webhooks` (signed delivery with retries), `faults` (fault rules),
//! `rate_limit` (per-token minute windows), `admin` (the sandbox's own API), `state` (the world),
//! `ids` (identifier shapes), `wire` (answer envelopes).

mod admin;
pub mod config;
mod creator;
mod display;
pub mod faults;
mod ids;
mod media_check;
mod oauth;
mod publish;
mod pull;
mod rate_limit;
mod server;
mod state;
mod upload;
mod webhooks;
mod wire;

pub use admin::MAX_CLOCK_ADVANCE_SECS;
pub use config::{
    AppConfig, ChunkUnit, ClientSecret, CreatorConfig, Delay, OAuthErrorStatus, ProgressStyle,
    PublicPostIds, RateLimits, Rotation, SandboxConfig, TokenPolicy, WebhookPolicy,
};
pub use faults::{ActiveFault, FaultEffect, FaultEndpoint, FaultRule, FaultTimes};
pub use server::{Sandbox, SandboxHandle, StartError};
pub use state::PublishedRecord;
pub use webhooks::sign_webhook;
