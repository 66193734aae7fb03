//! Uploads a large file to a local server that discards what it receives, and prints the
//! throughput and how much the process's peak resident memory grew. The uploader streams each
//! chunk from disk through a 256 KiB buffer, so the growth must stay far below one chunk,
//! whatever the file size.
//!
//! Run: `cargo bench -p tiktok --bench upload_memory` (Linux: reads `/proc/self/status`).
//! `TIKTOK_BENCH_MIB` sets the file size (default 512).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods, // a benchmark measures wall time
    clippy::indexing_slicing
)]

use std::io::Write;
use std::time::{Duration, Instant};

use clock::SystemClock;
use secrecy::SecretString;
use tiktok::{
    ChunkPlan, TikTokClient, TikTokConfig, UploadJob, UploadRetry, UploadUrl, VideoContentType,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use url::Url;

const MIB: u64 = 1024 * 1024;

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A minimal HTTP/1.1 upload endpoint: reads each chunk, throws it away, answers 206 or 201.
async fn discard_server(listener: TcpListener) {
    loop {
        let (socket, _) = listener.accept().await.unwrap();
        tokio::spawn(async move {
            let mut reader = BufReader::new(socket);
            loop {
                let mut length = 0u64;
                let mut range = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    if let Some(v) = lower.strip_prefix("content-range:") {
                        range = v.trim().to_owned();
                    }
                }
                let copied =
                    tokio::io::copy(&mut (&mut reader).take(length), &mut tokio::io::sink())
                        .await
                        .unwrap();
                assert_eq!(copied, length);
                let (span, total) = range.trim_start_matches("bytes ").split_once('/').unwrap();
                let last: u64 = span.split_once('-').unwrap().1.parse().unwrap();
                let total: u64 = total.parse().unwrap();
                let status = if last + 1 == total {
                    "201 Created"
                } else {
                    "206 Partial Content"
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Range: bytes 0-{last}/{total}\r\nContent-Length: 0\r\n\r\n"
                );
                reader.get_mut().write_all(answer.as_bytes()).await.unwrap();
            }
        });
    }
}

fn main() {
    let size_mib: u64 = std::env::var("TIKTOK_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512);
    let size = size_mib * MIB;
    let mut file = tempfile::NamedTempFile::new().unwrap();
    let block = vec![0x5a_u8; MIB as usize];
    for _ in 0..size_mib {
        file.write_all(&block).unwrap();
    }
    file.flush().unwrap();
    drop(block);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(discard_server(listener));
        let config = TikTokConfig::production("key", SecretString::from("secret"), "https://x/cb")
            .unwrap()
            .with_base_urls(base.clone(), base.clone());
        let client = TikTokClient::new(config, SystemClock::shared()).unwrap();
        let plan = ChunkPlan::for_size(size).unwrap();
        let job = UploadJob {
            upload_url: UploadUrl::new(base.join("video/?upload_id=1&upload_token=t").unwrap()),
            source: file.path().to_owned().into(),
            plan,
            content_type: VideoContentType::Mp4,
            resume_from: 0,
            retry: UploadRetry { first_backoff: Duration::ZERO, ..UploadRetry::default() },
        };
        // Warm up the connection pool and TLS-free HTTP stack so the peak reflects the upload.
        let before = peak_rss_kib();
        let started = Instant::now();
        let outcome = client.upload(&job, |_| {}).await.unwrap();
        let elapsed = started.elapsed();
        let after = peak_rss_kib();
        assert_eq!(outcome.acknowledged_bytes(), size);
        println!(
            "upload_memory: {size_mib} MiB in {} chunks of {} MiB: {:.0} MiB/s; peak RSS {} KiB -> {} KiB (growth {} KiB)",
            plan.total_chunk_count(),
            plan.chunk_size() / MIB,
            size_mib as f64 / elapsed.as_secs_f64(),
            before,
            after,
            after.saturating_sub(before),
        );
    });
}
