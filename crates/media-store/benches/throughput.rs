//! Put and read throughput of a 256 MiB file on the local backend and on moto (S3 on
//! loopback), and how much the process's peak RSS grows during a put (it must stay near a few
//! parts, not the file's size).
//!
//! ```text
//! cargo bench -p tokpost-media-store --bench throughput
//! ```

// A benchmark measures wall time and prints its figures.
#![allow(
    clippy::disallowed_methods,
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use futures_util::{StreamExt as _, stream};
use tokio::runtime::Runtime;
use tokpost_media_store::{
    ByteStream, LocalMediaStore, MediaStore, PutOptions, S3MediaStore, S3Tuning,
};
use tokpost_testkit::moto::MotoServer;

const FILE: usize = 256 * 1024 * 1024;
const BLOCK: usize = 1024 * 1024;

/// `FILE` bytes in 1 MiB chunks, each a fresh allocation as a network body's would be (a
/// shared block would hide what the store holds on to), the first 8 bytes set to `nonce` so
/// that every put is new content (no deduplication short-cut).
fn file_stream(block: &Bytes, nonce: u64) -> ByteStream {
    let block = block.clone();
    Box::pin(stream::iter(0..FILE / BLOCK).map(move |index| {
        let mut chunk = block.to_vec();
        if index == 0 {
            chunk[..8].copy_from_slice(&nonce.to_le_bytes());
        }
        Ok::<_, std::io::Error>(Bytes::from(chunk))
    }))
}

/// Resets the kernel's peak-RSS mark (`VmHWM`) to the current RSS, so each backend's put is
/// measured from its own start.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn block() -> Bytes {
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    let bytes: Vec<u8> = (0..BLOCK)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    Bytes::from(bytes)
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn drain(mut read: ByteStream) -> usize {
    let mut total = 0;
    while let Some(chunk) = read.next().await {
        total += chunk.unwrap().len();
    }
    total
}

struct Backend {
    name: &'static str,
    store: Arc<dyn MediaStore>,
    _keep: Box<dyn std::any::Any>,
}

fn backends(runtime: &Runtime) -> Vec<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let mut backends = vec![Backend {
        name: "local",
        store: Arc::new(LocalMediaStore::new(dir.path().join("media"))),
        _keep: Box::new(dir),
    }];
    match runtime.block_on(MotoServer::start()) {
        Ok(moto) => {
            let config = runtime
                .block_on(moto.create_bucket("bench", S3Tuning::default()))
                .unwrap();
            backends.push(Backend {
                name: "moto-s3",
                store: Arc::new(S3MediaStore::new(&config).unwrap()),
                _keep: Box::new(moto),
            });
        }
        Err(error) => println!("moto unavailable, S3 figures skipped: {error}"),
    }
    backends
}

fn throughput(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let block = block();
    let backends = backends(&runtime);
    let mut nonce = 0_u64;

    // Peak RSS first, before criterion's own allocations blur it.
    for backend in &backends {
        nonce += 1;
        reset_peak_rss();
        let before = peak_rss_kib();
        let stored = runtime
            .block_on(
                backend
                    .store
                    .put(file_stream(&block, nonce), PutOptions::limited_to(1 << 34)),
            )
            .unwrap();
        let after = peak_rss_kib();
        runtime.block_on(backend.store.delete(&stored.key)).unwrap();
        println!(
            "{}: put of a {} MiB file grew peak RSS by {:.1} MiB (VmHWM {:.1} -> {:.1} MiB)",
            backend.name,
            FILE / BLOCK,
            (after.saturating_sub(before)) as f64 / 1024.0,
            before as f64 / 1024.0,
            after as f64 / 1024.0,
        );
    }

    let mut group = c.benchmark_group("media-store 256 MiB");
    group
        .throughput(Throughput::Bytes(FILE as u64))
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1));
    for backend in &backends {
        group.measurement_time(Duration::from_secs(if backend.name == "local" {
            20
        } else {
            60
        }));
        group.bench_function(format!("put/{}", backend.name), |b| {
            b.iter_custom(|iterations| {
                let mut spent = Duration::ZERO;
                for _ in 0..iterations {
                    nonce += 1;
                    let content = file_stream(&block, nonce);
                    let started = Instant::now();
                    let stored = runtime
                        .block_on(backend.store.put(content, PutOptions::limited_to(1 << 34)))
                        .unwrap();
                    spent += started.elapsed();
                    runtime.block_on(backend.store.delete(&stored.key)).unwrap();
                }
                spent
            });
        });

        nonce += 1;
        let stored = runtime
            .block_on(
                backend
                    .store
                    .put(file_stream(&block, nonce), PutOptions::limited_to(1 << 34)),
            )
            .unwrap();
        group.bench_function(format!("read/{}", backend.name), |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let read = backend
                        .store
                        .read_range(&stored.key, 0..FILE as u64)
                        .await
                        .unwrap();
                    assert_eq!(drain(read).await, FILE);
                });
            });
        });
        runtime.block_on(backend.store.delete(&stored.key)).unwrap();
    }
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
