//! Autofix: turn a file TikTok would reject into one it accepts, with the smallest change.
//!
//! The media crate knows *why* TikTok would refuse a file; this crate changes the file:
//!
//! 1. **Plan** ([`plan()`]): pure. The probe's facts and the rules' findings in, a [`Decision`]
//!    out: acceptable as it is, a [`Plan`] whose every [`Change`] names the finding it answers,
//!    an [`Inspection`] when the probe cannot read inside the container (AVI, FLV, MPEG-TS…:
//!    ffmpeg copies the streams into Matroska first), or [`Unfixable`] with the measured value,
//!    the limit and why no honest fix exists. The rules and their reasons are in the docs of
//!    `plan::video` and `plan::photo`.
//! 2. **Arguments** ([`args`]): ffmpeg's arguments from a plan, in one place.
//! 3. **Run** ([`Ffmpeg::run`]): ffmpeg found on a configured path or `PATH`, run in its own
//!    process group with progress from `-progress`, killed as a group on timeout, on an output
//!    past its size limit, or when the future is dropped.
//! 4. **Verify** ([`Fixer::execute`]): the result is judged by `media` with the same limits, and
//!    is renamed from its temporary file to the output only when the verdict has no error.
//!
//! [`Fixer::fix_file`] does all four; a service that plans from facts it already holds calls
//! [`plan()`] itself, then [`Fixer::prepare`] and [`Fixer::execute`] in a job, with a progress
//! callback and its own output path.
//!
//! This crate must not: make a change no error asks for (warnings are left as they are), cut,
//! loop, pad, crop or scale up a video unless the person allowed it, keep a limit of its own
//! (every limit is `media`'s), leave a partial file at the output path or an ffmpeg process
//! behind, read the wall clock (elapsed time comes from an injected clock), or touch the network
//! or a database. Its only processes are ffmpeg runs.

pub mod args;
mod fixer;
mod options;
pub mod plan;
mod progress;
mod runner;

pub use fixer::{DEFAULT_TIMEOUT, FixError, Fixer, Outcome, Prepared, Report, WriteMode};
pub use options::{FixOptions, PhotoFormat};
pub use plan::{
    Aspect, Change, Decision, InspectKind, Inspection, OutputFormat, Plan, Reason, Remedy, Size,
    Source, Unfixable, Work, plan,
};
pub use progress::{Progress, ProgressParser};
pub use runner::{Ffmpeg, FfmpegNotFound, RunError};
