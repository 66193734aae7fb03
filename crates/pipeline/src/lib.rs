//! The publishing pipeline: everything tokpost does in the background once a post is stored.
//!
//! - [`worker`]: the generic loop over the durable queue (claim with a lease, heartbeat, settle
//!   with back-off, sweep dead workers' leases, sleep on the injected clock until work is due).
//! - [`publisher`]: the publishing steps that move a post from scheduled to published.
//! - [`init_wave`]: at a busy second, the inits of many prepared posts readied ahead and
//!   started together.
//! - [`policy`]: the operator's publishing settings and the one table of decisions taken on
//!   every TikTok failure.
//! - [`preflight`]: every check tokpost can make before TikTok is asked (also the API's dry
//!   run); [`caps`]: the rolling 24-hour caps and when the next slot frees.
//! - [`token_keeper`]: keeps every connected account's access token fresh ahead of expiry and
//!   hands fresh tokens to the publishing steps.
//! - [`webhooks`]: the outbound webhook sender (signed deliveries to users' endpoints, never to
//!   an internal address) and the signature scheme shared with TikTok's inbound webhooks.
//! - [`pipeline`]: all of it assembled for one process.
//!
//! What it must not do: read the wall clock (every component takes a [`clock::SharedClock`]),
//! talk to the database other than through [`tokpost_store::Store`], or hold TikTok wire
//! knowledge (that is the `tiktok` crate's).

pub mod caps;
pub mod init_wave;
pub mod insights;
pub mod janitor;
pub mod lease;
pub mod mail;
pub mod media_access;
pub mod media_fix;
pub mod pipeline;
pub mod policy;
pub mod preflight;
pub mod publisher;
pub mod token_keeper;
pub mod webhooks;
pub mod worker;

pub use media_access::MediaAccess;
pub use pipeline::{
    Dispatcher, Pipeline, PipelineConfig, WORKER_HEARTBEAT_EVERY, WORKER_HEARTBEAT_STALE_AFTER,
};
pub use policy::{OverCap, PublishPolicy, StatusPolling};
pub use preflight::{Finding, PostDraft, PreflightReport};
pub use publisher::Publisher;
pub use worker::{JobHandler, JobOutcome, Worker, WorkerSettings};
