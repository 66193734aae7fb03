//! Queue round trip (enqueue → claim with lease → complete) on both backends, and the time to
//! create a post with its event and job. Run with `cargo bench -p tokpost-store --bench queue`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use clock::{Clock as _, ManualClock};
use criterion::{Criterion, criterion_group, criterion_main};
use tokpost_core::JobKind;
use tokpost_store::{NewJob, Store, TokenCipher, WorkerId};
use tokpost_testkit::postgres::PostgresServer;

fn cipher() -> TokenCipher {
    TokenCipher::from_base64(&TokenCipher::generate_key().unwrap()).unwrap()
}

fn round_trip(
    c: &mut Criterion,
    name: &str,
    runtime: &tokio::runtime::Runtime,
    store: &Arc<dyn Store>,
) {
    let now = ManualClock::at_fixed_start().now();
    let worker = WorkerId::new("bench");
    c.bench_function(name, |b| {
        b.iter(|| {
            runtime.block_on(async {
                let job = NewJob {
                    kind: JobKind::SyncCreatorInfo,
                    payload: serde_json::json!({}),
                    account_id: None,
                    post_id: None,
                    run_at: now,
                    dedupe_key: None,
                };
                store.enqueue(job, now).await.unwrap();
                let claimed = store
                    .claim(&worker, now, Duration::from_secs(60), 1)
                    .await
                    .unwrap();
                for job in claimed {
                    store.complete(job.id, &worker).await.unwrap();
                }
            });
        });
    });
}

fn queue(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let sqlite = runtime
        .block_on(tokpost_store::open(&url, cipher()))
        .unwrap();
    round_trip(c, "sqlite enqueue+claim+complete", &runtime, &sqlite);

    let server = runtime
        .block_on(PostgresServer::start())
        .expect("PostgreSQL for the benchmark");
    let pg_url = runtime.block_on(server.fresh_database()).unwrap();
    let pg = runtime
        .block_on(tokpost_store::open(&pg_url, cipher()))
        .unwrap();
    round_trip(c, "postgres enqueue+claim+complete", &runtime, &pg);
    drop(pg);
    drop(server);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = queue
}
criterion_main!(benches);
