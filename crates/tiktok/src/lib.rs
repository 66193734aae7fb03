//! A typed async client for TikTok Login Kit and the Content Posting API, and the catalog of
//! every way TikTok says no.
//!
//! What it is for: turning tiktok-api.md into Rust. [`TikTokClient`] speaks the wire format
//! (authorize URL with TikTok's hex PKCE, token exchange/refresh/revoke, creator info, the
//! three inits, status fetch, cancel, the chunked upload) against configurable base URLs, so it
//! talks to the real TikTok, to tokpost's sandbox or to any compatible server. Every failure
//! becomes one [`TikTokFailure`] carrying the [`catalog`] classification and the native
//! answer verbatim.
//!
//! What it must not do: store anything, read the clock for decisions, decide policy (when to
//! refresh, whether to re-init, whether to defer), log a token, or classify by message text.
//!
//! Map of the crate:
//!
//! ```text
//! config.rs   TikTokConfig: base URLs, app credentials, timeouts
//! client.rs   TikTokClient: the HTTP plumbing every endpoint shares
//! oauth.rs    authorize URL, PKCE (hex S256), callback, code exchange, refresh, revoke
//! posting.rs  creator info, video/inbox/photo init, status fetch, cancel
//! display.rs  the Display API: user info, video list and query (insights)
//! upload.rs   ChunkPlan (pure) and the streaming chunk uploader
//! wire.rs     the wire types: ids, tokens, enums, request and response bodies
//! failure.rs  TikTokFailure and the one place an answer becomes a value or a failure
//! catalog.rs  the failure catalog as data
//! ```

pub mod catalog;
mod client;
pub mod config;
pub mod display;
pub mod failure;
pub mod oauth;
mod posting;
pub mod upload;
pub mod wire;

pub use catalog::{CatalogEntry, Classification, RetryPolicy};
pub use client::TikTokClient;
pub use config::{ConfigError, TikTokConfig};
pub use failure::TikTokFailure;
pub use oauth::{
    AuthorizationCallback, AuthorizeRequest, CallbackError, PkceChallenge, PkceVerifier,
};
pub use upload::{
    ChunkPlan, ChunkPlanError, ChunkSource, ChunkStream, RangeReader, UploadError, UploadJob,
    UploadOutcome, UploadProgress, UploadRetry, VideoContentType,
};
pub use wire::{
    AccessToken, CreatorInfo, DirectPhotoSettings, DirectVideoInit, InboxVideoInit, OpenId,
    PhotoInit, PhotoMode, PostMode, PrivacyLevel, PublicPostId, PublishId, PublishInit,
    PublishStatus, PublishStatusReport, RefreshToken, Scope, Source, TokenGrant, UploadUrl,
    VideoPostInfo, VideoSource,
};
