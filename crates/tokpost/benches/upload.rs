//! Uploads files of several sizes to the sandbox running as its own `tokpost sandbox` process,
//! with the `tiktok` crate's streaming uploader (as the pipeline runs it) and with `curl`, one
//! process per chunk, on the same endpoint, chunk plan and bytes. Reports time, throughput, the
//! uploader's peak RSS and the sandbox process's peak RSS during each upload.
//!
//! ```text
//! cargo bench -p tokpost --bench upload                                # 256, 1024, 2048 MiB
//! UPLOAD_BENCH_MIB=64,128 UPLOAD_BENCH_RUNS=5 UPLOAD_BENCH_CACHE=cold cargo bench -p tokpost --bench upload
//! ```
//!
//! Every size is uploaded `UPLOAD_BENCH_RUNS` times (3) by each uploader, the two alternating
//! which goes first, in each page-cache state of `UPLOAD_BENCH_CACHE` (`cold,warm`): `cold`
//! evicts the files from the page cache before each upload (`posix_fadvise(DONTNEED)` after a
//! sync: the bytes come from the disk, as for media stored hours before its post), `warm` reads
//! them once first. Figures are medians with their spread; the ratio is the median of the runs'
//! paired tokpost/curl throughputs.
//!
//! Linux only (reads `/proc`); needs `curl` on the PATH and twice the largest size free on disk.
//! With `TOKPOST_PERF_MARKDOWN=<file>` the figures go to that file as one markdown section.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::disallowed_methods // a benchmark measures wall time
)]

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clock::SystemClock;
use secrecy::SecretString;
use tiktok::{
    AccessToken, ChunkPlan, DirectVideoInit, PrivacyLevel, PublishId, PublishInit, PublishStatus,
    Scope, TikTokClient, TikTokConfig, UploadJob, UploadOutcome, UploadRetry, VideoContentType,
    VideoPostInfo, VideoSource,
};
use tokpost_testkit::bench::env_list;
use url::Url;

const MIB: u64 = 1024 * 1024;
const REDIRECT_URI: &str = "http://127.0.0.1:8765/callback";
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tiktok-sandbox/tests/fixtures/ok_720x1280_30fps_4s.mp4"
);
const COMMAND: &str = "cargo bench -p tokpost --bench upload";

/// A field of `/proc/<pid>/status` in KiB (`pid` may be `self`); `None` once the process is
/// gone or a zombie (whose status has no memory fields).
fn proc_status_kib(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Polls one field of a process's status every 20 ms on its own thread and keeps the maximum.
struct Sampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl Sampler {
    fn start(pid: u32, field: &'static str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = Arc::clone(&stop);
            move || {
                let pid = pid.to_string();
                let mut peak = 0;
                loop {
                    if let Some(kib) = proc_status_kib(&pid, field) {
                        peak = peak.max(kib);
                    }
                    if stop.load(Ordering::Relaxed) {
                        return peak;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        });
        Self { stop, thread }
    }

    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// `tokpost sandbox` as a child process, with the addresses and creators its banner printed.
struct SandboxProcess {
    process: Stopped,
    api: Url,
    authorize: Url,
    upload: Url,
    creator: String,
}

impl SandboxProcess {
    /// Starts the sandbox with one public creator allowed `posts_needed` posts a day and no
    /// processing or moderation delay; the configuration is written into `dir`.
    fn start(posts_needed: u64, dir: &Path) -> Self {
        let config = dir.join("sandbox.toml");
        std::fs::write(
            &config,
            format!(
                "# Published at once: each upload waits for the last one's file to be deleted.\n\
                 processing_delay = {{ kind = \"fixed\", ms = 0 }}\n\
                 moderation_delay = {{ kind = \"fixed\", ms = 0 }}\n\
                 [[creators]]\n\
                 open_id = \"-000Up_UploadBenchCreator_9Xk2_U1\"\n\
                 username = \"upload.bench\"\n\
                 nickname = \"Upload bench\"\n\
                 daily_post_cap = {posts_needed}\n"
            ),
        )
        .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tokpost"))
            .args(["sandbox", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .env("TOKPOST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tokpost sandbox");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let process = Stopped(child);
        let (mut api, mut authorize, mut upload, mut creator) = (None, None, None, None);
        loop {
            let mut line = String::new();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "the sandbox exited before printing its banner"
            );
            let line = line.trim();
            if line.starts_with("Press Ctrl-C") {
                break;
            }
            let url = |rest: &str| Url::parse(rest.trim()).unwrap();
            if let Some(rest) = line.strip_prefix("API:") {
                api = Some(url(rest));
            } else if let Some(rest) = line.strip_prefix("authorize:") {
                let page = rest.trim();
                authorize = Some(url(page.strip_suffix("v2/auth/authorize/").unwrap()));
            } else if let Some(rest) = line.strip_prefix("upload:") {
                upload = Some(url(rest));
            } else if let Some(rest) = line.strip_prefix("creator @") {
                // `creator @name open_id (public, cap 15/24h, max 600 s)`
                let cap: u64 = rest
                    .split_once("cap ")
                    .and_then(|(_, cap)| cap.split_once('/'))
                    .and_then(|(cap, _)| cap.parse().ok())
                    .unwrap_or(0);
                if creator.is_none()
                    && rest.contains("(public")
                    && !rest.contains("banned")
                    && cap >= posts_needed
                {
                    creator = rest.split_whitespace().next().map(str::to_owned);
                }
            }
        }
        // Nothing reads the rest, and a full pipe would stall the sandbox.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Self {
            process,
            api: api.expect("API address in the banner"),
            authorize: authorize.expect("authorize address in the banner"),
            upload: upload.expect("upload address in the banner"),
            creator: creator.expect("a public creator with a large enough daily cap"),
        }
    }
}

/// A child process stopped when dropped, also when the bench panics: Ctrl-C first, so that the
/// sandbox removes its media directory, then SIGKILL if it is still running five seconds later.
struct Stopped(Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let interrupted = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status()
            .is_ok_and(|status| status.success());
        if interrupted {
            for _ in 0..100 {
                if !matches!(self.0.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Connects `username` through the sandbox's OAuth flow over HTTP, as a user would.
async fn connect(client: &TikTokClient, username: &str) -> AccessToken {
    tokpost_testkit::oauth::grant(
        client,
        username,
        &[Scope::UserInfoBasic, Scope::VideoPublish],
    )
    .await
    .access_token
}

/// A valid MP4 of exactly `size` bytes: the fixture, then one `free` box up to the size, written
/// through a 1 MiB buffer.
fn write_padded_mp4(path: &Path, size: u64) {
    let fixture = std::fs::read(FIXTURE).unwrap();
    let padding = size - fixture.len() as u64;
    let mut file = std::fs::File::create(path).unwrap();
    file.write_all(&fixture).unwrap();
    file.write_all(&u32::try_from(padding).unwrap().to_be_bytes())
        .unwrap();
    file.write_all(b"free").unwrap();
    let zeros = vec![0_u8; MIB as usize];
    let mut left = padding - 8;
    while left > 0 {
        let n = left.min(MIB);
        file.write_all(&zeros[..n as usize]).unwrap();
        left -= n;
    }
    file.sync_all().unwrap();
}

async fn init(client: &TikTokClient, token: &AccessToken, plan: ChunkPlan) -> PublishInit {
    let mut info = VideoPostInfo::new(PrivacyLevel::SelfOnly);
    info.title = Some("upload bench".to_owned());
    client
        .init_direct_video(
            token,
            &DirectVideoInit {
                post_info: info,
                source_info: VideoSource::FileUpload(plan),
            },
        )
        .await
        .unwrap()
}

/// Whether an upload's bytes come from the page cache or from the disk.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cache {
    Cold,
    Warm,
}

impl Cache {
    fn name(self) -> &'static str {
        match self {
            Self::Cold => "cold",
            Self::Warm => "warm",
        }
    }

    /// Puts `paths` in this state: out of the page cache (written back first, then dropped),
    /// or read once into it.
    fn prepare(self, paths: &[PathBuf]) {
        for path in paths {
            let mut file = std::fs::File::open(path).unwrap();
            match self {
                Self::Cold => {
                    file.sync_all().unwrap();
                    nix::fcntl::posix_fadvise(
                        &file,
                        0,
                        0,
                        nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED,
                    )
                    .unwrap();
                }
                Self::Warm => {
                    std::io::copy(&mut file, &mut std::io::sink()).unwrap();
                }
            }
        }
    }
}

/// One uploader's figures for one upload.
struct Run {
    size_mib: u64,
    cache: Cache,
    uploader: &'static str,
    seconds: f64,
    /// Peak RSS of the uploading process (KiB) and, for tokpost, its growth during the upload.
    uploader_peak_kib: u64,
    uploader_growth_kib: Option<u64>,
    sandbox_peak_kib: u64,
}

impl Run {
    fn mib_per_s(&self) -> f64 {
        self.size_mib as f64 / self.seconds
    }
}

/// The pipeline's upload: the streaming uploader with a status-fetch re-sync.
async fn upload_with_tokpost(
    client: &TikTokClient,
    token: &AccessToken,
    sandbox_pid: u32,
    file: &Path,
    plan: ChunkPlan,
    cache: Cache,
) -> (Run, PublishId) {
    let init = init(client, token, plan).await;
    let job = UploadJob {
        upload_url: init.upload_url.clone().unwrap(),
        source: file.to_owned().into(),
        plan,
        content_type: VideoContentType::Mp4,
        resume_from: 0,
        retry: UploadRetry::default(),
    };
    let publish_id = init.publish_id.clone();
    let resync = || {
        let (token, publish_id) = (token.clone(), publish_id.clone());
        async move {
            client
                .fetch_status(&token, &publish_id)
                .await
                .ok()
                .and_then(|report| report.uploaded_bytes)
        }
    };
    let before = proc_status_kib("self", "VmHWM").unwrap();
    let sandbox = Sampler::start(sandbox_pid, "VmRSS");
    let started = Instant::now();
    let outcome = client
        .upload_with_resync(&job, resync, |_| {})
        .await
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let sandbox_peak_kib = sandbox.finish();
    let after = proc_status_kib("self", "VmHWM").unwrap();
    assert_eq!(
        outcome,
        UploadOutcome::Completed {
            total_bytes: plan.video_size()
        },
        "tokpost's upload did not complete"
    );
    let run = Run {
        size_mib: plan.video_size() / MIB,
        cache,
        uploader: "tokpost",
        seconds,
        uploader_peak_kib: after,
        uploader_growth_kib: Some(after - before),
        sandbox_peak_kib,
    };
    (run, init.publish_id)
}

/// Copies each chunk's byte range into a file of its own (curl sends whole files only).
fn split_chunks(file: &Path, plan: ChunkPlan, dir: &Path) -> Vec<PathBuf> {
    let mut source = std::fs::File::open(file).unwrap();
    plan.chunks()
        .map(|chunk| {
            let path = dir.join(format!("chunk_{}", chunk.index));
            source.seek(SeekFrom::Start(chunk.first_byte)).unwrap();
            let mut out = std::fs::File::create(&path).unwrap();
            let copied = std::io::copy(&mut (&mut source).take(chunk.len), &mut out).unwrap();
            assert_eq!(copied, chunk.len);
            out.sync_all().unwrap();
            path
        })
        .collect()
}

/// The same plan sent by `curl`, one sequential process per chunk; only the processes' run time
/// is counted.
fn upload_with_curl(
    upload_url: &Url,
    sandbox_pid: u32,
    plan: ChunkPlan,
    chunk_files: &[PathBuf],
    cache: Cache,
) -> Run {
    let total = plan.video_size();
    let target = match upload_url.query() {
        Some(query) => format!("{}?{query}", upload_url.path()),
        None => upload_url.path().to_owned(),
    };
    let sandbox = Sampler::start(sandbox_pid, "VmRSS");
    let (mut elapsed, mut curl_peak_kib) = (Duration::ZERO, 0);
    for (chunk, path) in plan.chunks().zip(chunk_files) {
        let started = Instant::now();
        let child = Command::new("curl")
            .args(["-sS", "-f", "-o", "/dev/null", "-w", "%{http_code}", "-T"])
            .arg(path)
            .args(["-H", "Content-Type: video/mp4", "-H"])
            .arg(format!(
                "Content-Range: bytes {}-{}/{total}",
                chunk.first_byte,
                chunk.last_byte()
            ))
            // `-T` appends the file's name to a URL whose path ends in `/`, as the upload URL's
            // does; the request target keeps the request on the URL as given.
            .arg("--request-target")
            .arg(&target)
            .arg(upload_url.as_str())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run curl");
        // Sampled on another thread so that the 20 ms period does not add to the timed run.
        let memory = Sampler::start(child.id(), "VmHWM");
        let output = child.wait_with_output().unwrap();
        elapsed += started.elapsed();
        curl_peak_kib = curl_peak_kib.max(memory.finish());
        let code = String::from_utf8_lossy(&output.stdout);
        let expected = if chunk.end() == total { "201" } else { "206" };
        assert!(
            output.status.success() && code == expected,
            "curl's chunk {} got HTTP {code} ({}), expected {expected}",
            chunk.index,
            output.status
        );
    }
    Run {
        size_mib: total / MIB,
        cache,
        uploader: "curl",
        seconds: elapsed.as_secs_f64(),
        uploader_peak_kib: curl_peak_kib,
        uploader_growth_kib: None,
        sandbox_peak_kib: sandbox.finish(),
    }
}

/// Waits until the sandbox has processed the publish (and deleted its file) and asserts that it
/// was posted, so that no figure comes from an upload whose media was refused and no upload
/// shares the disk with the last one's clean-up.
async fn assert_published(client: &TikTokClient, token: &AccessToken, publish_id: &PublishId) {
    for _ in 0..200 {
        if let Ok(report) = client.fetch_status(token, publish_id).await {
            match report.status {
                PublishStatus::PublishComplete => return,
                PublishStatus::Failed => panic!(
                    "the sandbox refused an uploaded file: {:?}",
                    report.fail_reason
                ),
                _ => {}
            }
        }
        // Status fetch allows 30 calls a minute per token: each upload has a token of its own.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("the sandbox did not finish processing {publish_id:?} within 50 s");
}

fn sorted(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    values
}

/// The median and the spread of `values`, with `digits` decimals.
fn summary(values: impl Iterator<Item = f64>, digits: usize) -> String {
    let values = sorted(values);
    if values.is_empty() {
        return "–".to_owned();
    }
    format!(
        "{:.digits$} ({:.digits$}–{:.digits$})",
        values[values.len() / 2],
        values[0],
        values[values.len() - 1]
    )
}

/// The runs of one size and cache state by one uploader, in the order they ran.
fn runs_of<'a>(
    runs: &'a [Run],
    size_mib: u64,
    cache: Cache,
    uploader: &'a str,
) -> impl Iterator<Item = &'a Run> {
    runs.iter().filter(move |run| {
        run.size_mib == size_mib && run.cache == cache && run.uploader == uploader
    })
}

/// The runs' paired tokpost/curl throughput ratios for one size and cache state.
fn ratios(runs: &[Run], size_mib: u64, cache: Cache) -> Vec<f64> {
    runs_of(runs, size_mib, cache, "tokpost")
        .zip(runs_of(runs, size_mib, cache, "curl"))
        .map(|(ours, curl)| ours.mib_per_s() / curl.mib_per_s())
        .collect()
}

fn markdown(runs: &[Run], sizes: &[u64], caches: &[Cache], rounds: usize, command: &str) -> String {
    let mut text = String::from("## Upload\n\n");
    let _ = writeln!(
        text,
        "Time, throughput and peak resident memory of uploading one MP4 to the sandbox (run as \
         its own `tokpost sandbox` process on 127.0.0.1) with tokpost's streaming uploader and \
         with `curl -T`, one process per chunk, on the same upload endpoint, chunk plan and bytes, \
         timed from the first byte to the last chunk's 201 (which the sandbox sends only after \
         hashing the whole file, for both uploaders). Each size is uploaded {rounds} times by \
         each, the two alternating which goes first; \"cold\" evicts the files from the page \
         cache before each upload (the bytes come from the disk, as for media stored long before \
         its post), \"warm\" reads them once first. Times and throughputs are medians (spread); \
         the ratio is the median of the runs' paired tokpost/curl throughputs; the target is at \
         least 0.9. Reproduce with `{command}`.\n"
    );
    text.push_str(
        "| size (MiB) | page cache | uploader | time (s) | MiB/s | tokpost/curl | uploader peak RSS (MiB) | sandbox peak RSS (MiB) |\n",
    );
    text.push_str("|---:|---|---|---:|---:|---:|---|---:|\n");
    for &size in sizes {
        for &cache in caches {
            for uploader in ["tokpost", "curl"] {
                let of: Vec<&Run> = runs_of(runs, size, cache, uploader).collect();
                let ratio = if uploader == "tokpost" {
                    summary(ratios(runs, size, cache).into_iter(), 2)
                } else {
                    String::new()
                };
                let peak = of
                    .iter()
                    .map(|run| run.uploader_peak_kib)
                    .max()
                    .unwrap_or(0);
                let rss = match of.iter().filter_map(|run| run.uploader_growth_kib).max() {
                    Some(growth) => {
                        format!("{:.1} (+{:.1} during an upload)", mib(peak), mib(growth))
                    }
                    None => format!("{:.1}", mib(peak)),
                };
                let _ = writeln!(
                    text,
                    "| {size} | {} | {uploader} | {} | {} | {ratio} | {rss} | {:.1} |",
                    cache.name(),
                    summary(of.iter().map(|run| run.seconds), 2),
                    summary(of.iter().map(|run| run.mib_per_s()), 0),
                    mib(of.iter().map(|run| run.sandbox_peak_kib).max().unwrap_or(0)),
                );
            }
        }
    }
    let _ = writeln!(text, "\n{}", reading(runs, sizes, caches));
    text
}

fn reading(runs: &[Run], sizes: &[u64], caches: &[Cache]) -> String {
    let mut lowest: Option<(f64, u64, Cache)> = None;
    for &size in sizes {
        for &cache in caches {
            let ratios = sorted(ratios(runs, size, cache).into_iter());
            if let Some(&median) = ratios.get(ratios.len() / 2)
                && lowest.is_none_or(|(low, _, _)| median < low)
            {
                lowest = Some((median, size, cache));
            }
        }
    }
    let verdict = match lowest {
        Some((ratio, size, cache)) => format!(
            "The lowest median ratio is {ratio:.2} ({size} MiB, {}): the target of 0.9 is {}.",
            cache.name(),
            if ratio >= 0.9 {
                "met everywhere"
            } else {
                "not met"
            }
        ),
        None => String::new(),
    };
    let growth = runs
        .iter()
        .filter_map(|run| run.uploader_growth_kib)
        .max()
        .unwrap_or(0);
    let sandbox = |pick: fn(u64, u64) -> u64| {
        runs.iter()
            .map(|run| run.sandbox_peak_kib)
            .reduce(pick)
            .unwrap_or(0)
    };
    format!(
        "{verdict} The uploader's peak RSS grows by at most {:.1} MiB during an upload, and the \
         sandbox process stays between {:.1} and {:.1} MiB because it streams chunks to disk.",
        mib(growth),
        mib(sandbox(u64::min)),
        mib(sandbox(u64::max)),
    )
}

#[tokio::main]
async fn main() {
    let sizes_mib: Vec<u64> = env_list("UPLOAD_BENCH_MIB", "256,1024,2048")
        .iter()
        .map(|size| size.parse().expect("UPLOAD_BENCH_MIB: sizes in MiB"))
        .collect();
    let rounds: usize = env_list("UPLOAD_BENCH_RUNS", "3")
        .first()
        .map_or(3, |runs| runs.parse().expect("UPLOAD_BENCH_RUNS: a number"));
    let caches: Vec<Cache> = env_list("UPLOAD_BENCH_CACHE", "cold,warm")
        .iter()
        .map(|cache| match cache.as_str() {
            "cold" => Cache::Cold,
            "warm" => Cache::Warm,
            other => panic!("UPLOAD_BENCH_CACHE: cold or warm, not {other}"),
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let uploads = (2 * sizes_mib.len() * caches.len() * rounds) as u64;
    let sandbox = SandboxProcess::start(uploads, dir.path());
    let sandbox_pid = sandbox.process.0.id();
    let app = tiktok_sandbox::SandboxConfig::default().apps.remove(0);
    let client = TikTokClient::new(
        TikTokConfig::production(
            app.client_key.clone(),
            SecretString::from(app.client_secret.expose().to_owned()),
            REDIRECT_URI,
        )
        .unwrap()
        .with_base_urls(sandbox.api.clone(), sandbox.authorize.clone()),
        SystemClock::shared(),
    )
    .unwrap();
    // Direct-post inits allow 6 a minute per token: each upload connects anew for its own.

    let mut runs = Vec::new();
    for &size_mib in &sizes_mib {
        let file = dir.path().join(format!("upload_{size_mib}.mp4"));
        write_padded_mp4(&file, size_mib * MIB);
        let plan = ChunkPlan::for_size(size_mib * MIB).unwrap();
        let chunk_dir = tempfile::tempdir_in(dir.path()).unwrap();
        let chunk_files = split_chunks(&file, plan, chunk_dir.path());
        for &cache in &caches {
            for round in 0..rounds {
                let order = if round % 2 == 0 {
                    ["tokpost", "curl"]
                } else {
                    ["curl", "tokpost"]
                };
                for uploader in order {
                    eprintln!(
                        "upload bench: {size_mib} MiB in {} chunks, {}, run {} of {rounds}, {uploader}",
                        plan.total_chunk_count(),
                        cache.name(),
                        round + 1
                    );
                    let token = connect(&client, &sandbox.creator).await;
                    // Nothing of the previous upload is still being written back or deleted.
                    nix::unistd::sync();
                    if uploader == "tokpost" {
                        cache.prepare(std::slice::from_ref(&file));
                        let (run, publish_id) =
                            upload_with_tokpost(&client, &token, sandbox_pid, &file, plan, cache)
                                .await;
                        runs.push(run);
                        assert_published(&client, &token, &publish_id).await;
                    } else {
                        cache.prepare(&chunk_files);
                        let init = init(&client, &token, plan).await;
                        let upload_url = init.upload_url.as_ref().unwrap().as_url().clone();
                        assert_eq!(
                            upload_url.origin(),
                            sandbox.upload.origin(),
                            "the upload URL points at the sandbox's upload listener"
                        );
                        let chunk_files = chunk_files.clone();
                        let run = tokio::task::spawn_blocking(move || {
                            upload_with_curl(&upload_url, sandbox_pid, plan, &chunk_files, cache)
                        })
                        .await
                        .unwrap();
                        runs.push(run);
                        assert_published(&client, &token, &init.publish_id).await;
                    }
                }
            }
        }
        drop(chunk_dir);
        std::fs::remove_file(&file).unwrap();
    }
    drop(sandbox);

    let command = format!(
        "UPLOAD_BENCH_MIB={} UPLOAD_BENCH_RUNS={rounds} UPLOAD_BENCH_CACHE={} {COMMAND}",
        sizes_mib
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(","),
        caches
            .iter()
            .map(|cache| cache.name())
            .collect::<Vec<_>>()
            .join(","),
    );
    let section = markdown(&runs, &sizes_mib, &caches, rounds, &command);
    println!("{section}");
    if let Some(path) = std::env::var_os("TOKPOST_PERF_MARKDOWN") {
        std::fs::write(path, section).unwrap();
    }
}
