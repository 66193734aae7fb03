//! The publishing pipeline: everything tokpost does in the background once a post is stored.
//!
//! - [`worker`]: the generic loop over the durable queue (claim with a lease, heartbeat, settle
//!   with back-off, sweep dead workers' leases, sleep on the injected clock until work is due).
//! - [`token_keeper`]: keeps every connected account's access token fresh ahead of expiry and
//!   hands fresh tokens to the publishing steps.
//!
//! What it must not do: read the wall clock (every component takes a [`clock::SharedClock`]),
//! talk to the database other than through [`tokpost_store::Store`], or hold TikTok wire
//! knowledge (that is the `tiktok` crate's).

pub mod token_keeper;
pub mod worker;

pub use worker::{JobHandler, JobOutcome, Worker, WorkerSettings};
