//! Running ffmpeg, bounded: found once (a configured path or `PATH`), started in a process group
//! of its own, its `-progress` lines turned into [`Progress`] reports, stopped as a whole group
//! when it runs past its time, writes past its size or is dropped (a cancelled job), and the tail
//! of its stderr kept for the error.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::Command;

use crate::progress::{Progress, ProgressParser};

/// Bytes of stderr kept for an error message.
const STDERR_TAIL_BYTES: usize = 4096;
/// Lines of that tail an error message shows.
const STDERR_TAIL_LINES: usize = 12;

/// ffmpeg is not where it was looked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FfmpegNotFound {
    #[error(
        "ffmpeg was not found on PATH; install it (apt install ffmpeg) or set its path (tokpost fix --ffmpeg PATH)"
    )]
    NotOnPath,
    #[error(
        "ffmpeg was not found at {path} (the configured path): {problem}; install it (apt install ffmpeg) or correct the path"
    )]
    NotAt { path: PathBuf, problem: String },
}

/// An ffmpeg run that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("could not start ffmpeg at {path}: {source}")]
    Spawn {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("ffmpeg failed ({status}): {stderr_tail}")]
    Failed { status: String, stderr_tail: String },
    #[error(
        "ffmpeg did not finish within {} s and was stopped (its whole process group killed)",
        timeout.as_secs_f64()
    )]
    TimedOut { timeout: Duration },
    #[error(
        "the output reached {written} bytes, past the limit of {limit} bytes; ffmpeg was stopped"
    )]
    OutputTooLarge { limit: u64, written: u64 },
    #[error("reading ffmpeg's output: {0}")]
    Io(#[from] std::io::Error),
}

/// An ffmpeg executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ffmpeg {
    path: PathBuf,
}

impl Ffmpeg {
    /// The configured path when given (it must be an executable file), else `ffmpeg` on `PATH`.
    pub fn locate(configured: Option<&Path>) -> Result<Self, FfmpegNotFound> {
        if let Some(path) = configured {
            return match executable(path) {
                Ok(()) => Ok(Self {
                    path: path.to_owned(),
                }),
                Err(problem) => Err(FfmpegNotFound::NotAt {
                    path: path.to_owned(),
                    problem,
                }),
            };
        }
        let search = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&search)
            .map(|dir| dir.join("ffmpeg"))
            .find(|candidate| executable(candidate).is_ok())
            .map(|path| Self { path })
            .ok_or(FfmpegNotFound::NotOnPath)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs ffmpeg with `args` (from [`crate::args`]), reporting progress against `expected`
    /// (how long the output will play). Fails when ffmpeg fails, runs longer than `timeout`, or
    /// its output passes `max_output_bytes`; each time its process group is killed first. When
    /// the returned future is dropped before it ends, the group is killed too.
    pub async fn run(
        &self,
        args: &[OsString],
        expected: Option<Duration>,
        timeout: Duration,
        max_output_bytes: Option<u64>,
        on_progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<(), RunError> {
        let mut child = Command::new(&self.path)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| RunError::Spawn {
                path: self.path.clone(),
                source,
            })?;
        let mut group = GroupGuard::of(child.id());
        let stderr = child
            .stderr
            .take()
            .map(|stderr| tokio::spawn(tail_of(stderr)));
        let stdout = child.stdout.take();

        let watched = async {
            let mut parser = ProgressParser::new(expected);
            if let Some(stdout) = stdout {
                let mut lines = BufReader::new(stdout).lines();
                while let Some(line) = lines.next_line().await? {
                    let Some(progress) = parser.line(&line) else {
                        continue;
                    };
                    if let Some(limit) = max_output_bytes
                        && progress.output_bytes >= limit
                    {
                        return Ok(Ended::TooLarge(progress.output_bytes));
                    }
                    on_progress(progress);
                }
            }
            Ok::<_, std::io::Error>(Ended::Exited(child.wait().await?))
        };
        let ended = tokio::time::timeout(timeout, watched).await;
        let failure = match ended {
            Ok(Ok(Ended::Exited(status))) => {
                group.disarm();
                if status.success() {
                    return Ok(());
                }
                let stderr_tail = match stderr {
                    Some(task) => task.await.unwrap_or_default(),
                    None => String::new(),
                };
                return Err(RunError::Failed {
                    status: describe(status),
                    stderr_tail,
                });
            }
            Ok(Ok(Ended::TooLarge(written))) => RunError::OutputTooLarge {
                limit: max_output_bytes.unwrap_or_default(),
                written,
            },
            Ok(Err(error)) => RunError::Io(error),
            Err(_elapsed) => RunError::TimedOut { timeout },
        };
        group.kill();
        // Reap ffmpeg so that it leaves no zombie; the kill above cannot be ignored.
        let _ = child.wait().await;
        Err(failure)
    }
}

enum Ended {
    Exited(ExitStatus),
    TooLarge(u64),
}

/// Kills ffmpeg's process group when dropped armed: ffmpeg and anything it started.
#[derive(Debug)]
struct GroupGuard {
    group: Option<Pid>,
}

impl GroupGuard {
    fn of(pid: Option<u32>) -> Self {
        Self {
            group: pid
                .and_then(|pid| i32::try_from(pid).ok())
                .map(Pid::from_raw),
        }
    }

    fn kill(&mut self) {
        if let Some(group) = self.group.take() {
            // ESRCH (the group is already gone) is the outcome we want.
            let _ = killpg(group, Signal::SIGKILL);
        }
    }

    /// ffmpeg ended by itself: its group id may be reused, so it must not be killed later.
    fn disarm(&mut self) {
        self.group = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether `path` is a file someone may execute; else why not.
fn executable(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = std::fs::metadata(path).map_err(|error| error.to_string())?;
    if !metadata.is_file() {
        return Err("not a file".to_owned());
    }
    if metadata.permissions().mode() & 0o111 == 0 {
        return Err("not executable".to_owned());
    }
    Ok(())
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}

/// Reads a stream to its end and returns its last lines (at most [`STDERR_TAIL_BYTES`] bytes,
/// [`STDERR_TAIL_LINES`] lines).
async fn tail_of(mut stream: impl AsyncRead + Unpin) -> String {
    let mut tail: VecDeque<u8> = VecDeque::with_capacity(STDERR_TAIL_BYTES);
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => {
                tail.extend(buffer.iter().take(read));
                let excess = tail.len().saturating_sub(STDERR_TAIL_BYTES);
                tail.drain(..excess);
            }
        }
    }
    let text = String::from_utf8_lossy(tail.make_contiguous()).into_owned();
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    let start = lines.len().saturating_sub(STDERR_TAIL_LINES);
    let kept = lines.get(start..).unwrap_or_default().join("\n");
    if kept.is_empty() {
        "(nothing on stderr)".to_owned()
    } else {
        kept
    }
}
