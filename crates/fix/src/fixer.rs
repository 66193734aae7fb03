//! A whole fix: judge the input, inspect it when the probe cannot read inside it, plan, run
//! ffmpeg into a temporary file beside the output, judge the result with the same probe and
//! rules, and only then put it at the output path.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clock::SharedClock;
use media::probe::Container;
use media::rules::video::MAX_SIZE_BYTES;
use media::{FileVerdict, Limits, MediaFacts, Problem, ProblemCode, Severity, Verdict};
use serde::Serialize;
use tempfile::TempPath;

use crate::args::{inspect_args, plan_args};
use crate::options::FixOptions;
use crate::plan::{Change, Decision, Inspection, Plan, Reason, Source, Unfixable, Work, plan};
use crate::progress::Progress;
use crate::runner::{Ffmpeg, RunError};

/// How long one ffmpeg run may take unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Whether an existing file at the output path may be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Refuse when the output exists (checked again, atomically, at the final rename).
    CreateNew,
    Overwrite,
}

/// Runs fixes with one ffmpeg and one set of bounds.
#[derive(Debug, Clone)]
pub struct Fixer {
    ffmpeg: Ffmpeg,
    clock: SharedClock,
    timeout: Duration,
    max_output_bytes: Option<u64>,
}

/// A file judged and planned, ready to [`Fixer::execute`].
#[derive(Debug)]
pub struct Prepared {
    /// The input's verdict, as `tokpost check` gives it.
    pub input: FileVerdict,
    pub decision: Decision,
    output: PathBuf,
    limits: Limits,
    /// What ffmpeg reads: the input, or the stream copy an inspection wrote (removed on drop).
    source: SourceFile,
}

#[derive(Debug)]
enum SourceFile {
    Input(PathBuf),
    Unwrapped(TempPath),
}

impl SourceFile {
    fn path(&self) -> &Path {
        match self {
            Self::Input(path) => path,
            Self::Unwrapped(path) => path,
        }
    }
}

/// How a fix ended, when nothing failed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// TikTok accepts the input as it is; nothing was written.
    Acceptable { input: FileVerdict },
    /// The output is written and accepted by the probe.
    Fixed(Report),
    /// No honest change makes the input acceptable; nothing was written.
    Unfixable {
        input: FileVerdict,
        reasons: Vec<Reason>,
    },
    /// The planned changes ran but the result would still be rejected; nothing was written.
    StillRejected {
        input: FileVerdict,
        changes: Vec<Change>,
        /// The result's verdict (named after the output path it was not written to).
        result: FileVerdict,
    },
}

/// What a successful fix did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub input: FileVerdict,
    /// The written file's verdict: no errors, perhaps warnings the fix left alone.
    pub output: FileVerdict,
    pub changes: Vec<Change>,
    pub output_bytes: u64,
    pub elapsed_ms: u64,
}

/// A fix that failed for a reason other than the file itself.
#[derive(Debug, thiserror::Error)]
pub enum FixError {
    #[error("{} already exists; choose another path or allow overwriting (--force)", path.display())]
    OutputExists { path: PathBuf },
    #[error("ffmpeg could not copy the streams out of the {} file to plan a fix: {source}", container.name())]
    Inspect {
        container: Container,
        source: RunError,
    },
    #[error("ffmpeg failed while fixing: {0}")]
    Run(#[from] RunError),
    #[error("the output reached {written} bytes, past the limit of {limit} bytes")]
    OutputTooLarge { limit: u64, written: u64 },
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl FixError {
    /// Whether running the same fix again may succeed. A timeout, a size limit, an ffmpeg that
    /// fails on this file or an existing output give the same answer again; a failed start or a
    /// disk error may not.
    pub fn retryable(&self) -> bool {
        match self {
            Self::Run(RunError::Spawn { .. } | RunError::Io(_)) | Self::Io { .. } => true,
            Self::Inspect {
                source: RunError::Spawn { .. } | RunError::Io(_),
                ..
            } => true,
            Self::OutputExists { .. }
            | Self::Inspect { .. }
            | Self::Run(_)
            | Self::OutputTooLarge { .. } => false,
        }
    }
}

impl Fixer {
    /// A fixer with [`DEFAULT_TIMEOUT`] per ffmpeg run and no output limit beyond TikTok's own
    /// (a video output is stopped past TikTok's 4 GB, which it could not accept anyway).
    pub fn new(ffmpeg: Ffmpeg, clock: SharedClock) -> Self {
        Self {
            ffmpeg,
            clock,
            timeout: DEFAULT_TIMEOUT,
            max_output_bytes: None,
        }
    }

    /// The longest one ffmpeg run may take; its process group is killed then. (To bound a whole
    /// fix, wrap the future in `tokio::time::timeout`: dropping it kills ffmpeg's group and
    /// removes the temporary files.)
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The most bytes one output (or inspection copy) may take on disk.
    #[must_use]
    pub fn with_max_output_bytes(mut self, limit: u64) -> Self {
        self.max_output_bytes = Some(limit);
        self
    }

    pub fn ffmpeg(&self) -> &Ffmpeg {
        &self.ffmpeg
    }

    /// Judges `input`, inspects it if the probe cannot read inside it (a stream copy written
    /// beside `output`, removed when the result is dropped), and plans its fix.
    pub async fn prepare(
        &self,
        input: &Path,
        output: &Path,
        options: &FixOptions,
    ) -> Result<Prepared, FixError> {
        let judged = Judged::of(input, &options.limits);
        let input_verdict = judged.verdict(input.display().to_string());
        let decision = plan(&Source::probed(judged.facts(), &judged.findings), options);
        let Decision::Inspect(inspection) = decision else {
            return Ok(Prepared {
                input: input_verdict,
                decision,
                output: output.to_owned(),
                limits: options.limits,
                source: SourceFile::Input(input.to_owned()),
            });
        };
        let copy = self.inspect(&inspection, input, output).await?;
        let unwrapped = Judged::of(&copy, &options.limits);
        let decision = match plan(
            &Source {
                facts: unwrapped.facts(),
                findings: &unwrapped.findings,
                unwrapped_from: Some(inspection.container),
            },
            options,
        ) {
            // An inspection's copy is never inspected again (the planner says so), but a
            // decision to do it must not loop.
            Decision::Inspect(_) => Decision::Unfixable(Unfixable {
                reasons: vec![Reason {
                    code: ProblemCode::ContainerUnsupported,
                    message: format!(
                        "the streams copied out of the {} file could not be read either",
                        inspection.container.name()
                    ),
                    measured: None,
                    limit: None,
                    remedy: None,
                }],
            }),
            decision => decision,
        };
        Ok(Prepared {
            input: input_verdict,
            decision,
            output: output.to_owned(),
            limits: options.limits,
            source: SourceFile::Unwrapped(copy),
        })
    }

    /// Carries out a prepared decision: for a plan, runs ffmpeg into a temporary file beside
    /// the output, judges it, lowers a photo's quality while it is over TikTok's size limit, and
    /// renames it into place only when the verdict has no error.
    pub async fn execute(
        &self,
        prepared: Prepared,
        write: WriteMode,
        on_progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Outcome, FixError> {
        let started = self.clock.now();
        let Prepared {
            input,
            decision,
            output,
            limits,
            source,
        } = prepared;
        let mut plan = match decision {
            Decision::Acceptable { .. } => return Ok(Outcome::Acceptable { input }),
            Decision::Unfixable(Unfixable { reasons }) => {
                return Ok(Outcome::Unfixable { input, reasons });
            }
            Decision::Inspect(inspection) => {
                return Ok(Outcome::Unfixable {
                    input,
                    reasons: vec![Reason {
                        code: ProblemCode::ContainerUnsupported,
                        message: format!(
                            "the {} file must be inspected before a fix can be planned (Fixer::prepare does that)",
                            inspection.container.name()
                        ),
                        measured: None,
                        limit: None,
                        remedy: None,
                    }],
                });
            }
            Decision::Fix(plan) => plan,
        };
        if write == WriteMode::CreateNew && output.exists() {
            return Err(FixError::OutputExists { path: output });
        }
        loop {
            let temporary = temporary_beside(&output, plan.output_format().extension())?;
            let limit = self.output_limit(&plan);
            let args = plan_args(&plan, source.path(), &temporary, limit);
            let expected = plan
                .expected_duration_s
                .filter(|seconds| seconds.is_finite() && *seconds > 0.0)
                .map(Duration::from_secs_f64);
            self.ffmpeg
                .run(&args, expected, self.timeout, limit, on_progress)
                .await?;
            let output_bytes = file_size(&temporary)?;
            if let Some(limit) = limit
                && output_bytes >= limit
            {
                return Err(FixError::OutputTooLarge {
                    limit,
                    written: output_bytes,
                });
            }
            let mut result = media::preflight_file(&temporary, &limits);
            result.file = output.display().to_string();
            if result.verdict != Verdict::Rejected {
                publish(temporary, &output, write)?;
                let elapsed = self.clock.now().duration_since(started);
                return Ok(Outcome::Fixed(Report {
                    input,
                    output: result,
                    changes: plan.changes,
                    output_bytes,
                    elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(0),
                }));
            }
            let only_too_large =
                errors(&result.problems).all(|problem| problem.code == ProblemCode::PhotoTooLarge);
            match plan.with_lower_quality() {
                Some(lower) if only_too_large => plan = lower,
                _ => {
                    return Ok(Outcome::StillRejected {
                        input,
                        changes: plan.changes,
                        result,
                    });
                }
            }
        }
    }

    /// [`Fixer::prepare`] then [`Fixer::execute`].
    pub async fn fix_file(
        &self,
        input: &Path,
        output: &Path,
        options: &FixOptions,
        write: WriteMode,
        on_progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Outcome, FixError> {
        let prepared = self.prepare(input, output, options).await?;
        self.execute(prepared, write, on_progress).await
    }

    async fn inspect(
        &self,
        inspection: &Inspection,
        input: &Path,
        output: &Path,
    ) -> Result<TempPath, FixError> {
        let extension = match inspection.kind {
            crate::plan::InspectKind::Video => "mkv",
            crate::plan::InspectKind::Still => "png",
        };
        let copy = temporary_beside(output, extension)?;
        let args = inspect_args(inspection, input, &copy, self.max_output_bytes);
        self.ffmpeg
            .run(
                &args,
                None,
                self.timeout,
                self.max_output_bytes,
                &mut |_| {},
            )
            .await
            .map_err(|source| FixError::Inspect {
                container: inspection.container,
                source,
            })?;
        Ok(copy)
    }

    /// The caller's limit, and for a video TikTok's own maximum: a larger video cannot be
    /// accepted, so writing past it only fills the disk.
    fn output_limit(&self, plan: &Plan) -> Option<u64> {
        match (&plan.work, self.max_output_bytes) {
            (Work::Video(_), Some(limit)) => Some(limit.min(MAX_SIZE_BYTES + 1)),
            (Work::Video(_), None) => Some(MAX_SIZE_BYTES + 1),
            (Work::Photo(_), limit) => limit,
        }
    }
}

/// A file's facts (or why the probe could not read it) and findings, as `tokpost check` judges
/// them.
struct Judged {
    probed: Result<MediaFacts, media::ProbeError>,
    findings: Vec<Problem>,
    size_bytes: Option<u64>,
}

impl Judged {
    fn of(path: &Path, limits: &Limits) -> Self {
        let size_bytes = std::fs::metadata(path).ok().map(|metadata| metadata.len());
        let probed = media::probe_path(path);
        let findings = match &probed {
            Ok(facts) => media::rules::check_facts(facts, limits),
            Err(error) => vec![media::rules::damaged(error)],
        };
        Self {
            probed,
            findings,
            size_bytes,
        }
    }

    fn facts(&self) -> Option<&MediaFacts> {
        self.probed.as_ref().ok()
    }

    fn verdict(&self, file: String) -> FileVerdict {
        FileVerdict::new(
            file,
            self.probed.as_ref(),
            self.size_bytes,
            self.findings.clone(),
        )
    }
}

fn errors(problems: &[Problem]) -> impl Iterator<Item = &Problem> {
    problems
        .iter()
        .filter(|problem| problem.severity == Severity::Error)
}

/// A new, empty file in the output's directory (so the final rename stays on one file system),
/// hidden and named for what it is; removed when dropped.
fn temporary_beside(output: &Path, extension: &str) -> Result<TempPath, FixError> {
    let dir = match output.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let suffix = format!(".part.{extension}");
    tempfile::Builder::new()
        .prefix(".tokpost-fix-")
        .suffix(&suffix)
        .tempfile_in(dir)
        .map(tempfile::NamedTempFile::into_temp_path)
        .map_err(|source| FixError::Io {
            what: "creating a temporary file in",
            path: dir.to_owned(),
            source,
        })
}

fn file_size(path: &Path) -> Result<u64, FixError> {
    std::fs::metadata(path)
        .map(|metadata| metadata.len())
        .map_err(|source| FixError::Io {
            what: "reading the size of",
            path: path.to_owned(),
            source,
        })
}

/// Renames the finished temporary file to the output: the output never holds a partial file.
fn publish(temporary: TempPath, output: &Path, write: WriteMode) -> Result<(), FixError> {
    use std::os::unix::fs::PermissionsExt;
    // A temporary file is private (0600); the fixed file is an ordinary one.
    std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o644)).map_err(
        |source| FixError::Io {
            what: "setting the permissions of",
            path: temporary.to_path_buf(),
            source,
        },
    )?;
    let persisted = match write {
        WriteMode::CreateNew => temporary.persist_noclobber(output),
        WriteMode::Overwrite => temporary.persist(output),
    };
    persisted.map_err(|error| {
        if error.error.kind() == std::io::ErrorKind::AlreadyExists {
            FixError::OutputExists {
                path: output.to_owned(),
            }
        } else {
            FixError::Io {
                what: "renaming the fixed file to",
                path: output.to_owned(),
                source: error.error,
            }
        }
    })
}
