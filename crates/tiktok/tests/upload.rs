//! The streaming uploader against a fake TikTok upload endpoint that keeps real progress:
//! headers, 206/201, re-sync after 416, retries after 5xx and dropped connections, re-sync by
//! probe or hook when the server answers early and drops the connection, expiry, resume, and
//! back-off on the injected clock.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // helpers of a test crate may fail loudly

mod support;

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clock::ManualClock;
use support::config_for;
use tiktok::upload::MIN_CHUNK_SIZE;
use tiktok::{
    ChunkPlan, TikTokClient, UploadError, UploadJob, UploadOutcome, UploadProgress, UploadRetry,
    UploadUrl, VideoContentType,
};
use url::Url;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Match, Mock, MockServer, Request, Respond, ResponseTemplate};

/// What the fake does instead of its normal behaviour for one request (1-based number).
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Answer this status without storing the chunk.
    Answer(u16),
    /// Store the chunk but answer this status (the real answer got lost).
    StoreThenAnswer(u16),
}

#[derive(Default)]
struct FakeState {
    received: Vec<u8>,
    requests: usize,
    faults: HashMap<usize, Fault>,
    /// Refusals of a chunk (416, or a `Fault::Answer`) are sent before the body is read, so
    /// the client sees a dropped connection instead of the answer. Probes (no body) get theirs.
    answers_early: bool,
}

/// TikTok's upload endpoint, honestly: sequential ranges, 206 until complete, then 201; 416
/// with a progress header for out-of-order ranges.
#[derive(Clone)]
struct FakeUpload {
    total: u64,
    state: Arc<Mutex<FakeState>>,
}

impl FakeUpload {
    fn new(total: u64) -> Self {
        Self {
            total,
            state: Arc::default(),
        }
    }

    fn with_fault(self, request: usize, fault: Fault) -> Self {
        self.state.lock().unwrap().faults.insert(request, fault);
        self
    }

    fn answering_early(self) -> Self {
        self.state.lock().unwrap().answers_early = true;
        self
    }

    fn already_received(self, bytes: Vec<u8>) -> Self {
        self.state.lock().unwrap().received = bytes;
        self
    }

    fn received(&self) -> Vec<u8> {
        self.state.lock().unwrap().received.clone()
    }

    fn progress_header(&self, received: u64) -> String {
        if received == 0 {
            format!("bytes */{}", self.total)
        } else {
            format!("bytes 0-{}/{}", received - 1, self.total)
        }
    }
}

fn content_range(request: &Request) -> (String, u64) {
    let range = request
        .headers
        .get("content-range")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let (span, total) = range
        .strip_prefix("bytes ")
        .unwrap()
        .split_once('/')
        .unwrap();
    (span.to_owned(), total.parse().unwrap())
}

/// Counts every request (so fault numbers cover dropped ones too) and matches the chunks that an
/// early-answering fake refuses without reading them; mounted first, it answers those with a
/// dropped connection.
struct EarlyRefusal(FakeUpload);

impl Match for EarlyRefusal {
    fn matches(&self, request: &Request) -> bool {
        let mut state = self.0.state.lock().unwrap();
        state.requests += 1;
        if !state.answers_early || request.body.is_empty() {
            return false;
        }
        let refused_by_fault = matches!(state.faults.get(&state.requests), Some(Fault::Answer(_)));
        let (span, _) = content_range(request);
        let first: u64 = span.split_once('-').unwrap().0.parse().unwrap();
        refused_by_fault || first != state.received.len() as u64
    }
}

impl Respond for FakeUpload {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.state.lock().unwrap();
        let fault = state.faults.get(&state.requests).copied();
        if let Some(Fault::Answer(status)) = fault {
            return ResponseTemplate::new(status);
        }
        let (span, total) = content_range(request);
        assert_eq!(total, self.total);
        if span == "*" {
            // A probe: no body, just TikTok's account of what it holds.
            assert!(request.body.is_empty(), "a probe carries no body");
            let held = state.received.len() as u64;
            return ResponseTemplate::new(416)
                .insert_header("content-range", self.progress_header(held));
        }
        let (first, last) = span.split_once('-').unwrap();
        let (first, last): (u64, u64) = (first.parse().unwrap(), last.parse().unwrap());
        let length: u64 = request
            .headers
            .get("content-length")
            .unwrap()
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        if length != request.body.len() as u64 || last - first + 1 != length {
            return ResponseTemplate::new(400);
        }
        let held = state.received.len() as u64;
        if first != held {
            return ResponseTemplate::new(416)
                .insert_header("content-range", self.progress_header(held));
        }
        state.received.extend_from_slice(&request.body);
        let held = state.received.len() as u64;
        if let Some(Fault::StoreThenAnswer(status)) = fault {
            return ResponseTemplate::new(status);
        }
        let status = if held == self.total { 201 } else { 206 };
        ResponseTemplate::new(status).insert_header("content-range", self.progress_header(held))
    }
}

struct Setup {
    server: MockServer,
    fake: FakeUpload,
    file: tempfile::NamedTempFile,
    bytes: Vec<u8>,
    job: UploadJob,
}

const UPLOAD_PATH: &str = "/video/";

async fn setup(size: usize, fake: impl FnOnce(FakeUpload) -> FakeUpload) -> Setup {
    let bytes: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(&bytes).unwrap();
    file.flush().unwrap();
    let server = MockServer::start().await;
    let fake = fake(FakeUpload::new(size as u64));
    Mock::given(method("PUT"))
        .and(EarlyRefusal(fake.clone()))
        .respond_with_err(|_: &Request| {
            std::io::Error::new(std::io::ErrorKind::ConnectionReset, "answered early")
        })
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(UPLOAD_PATH))
        .and(query_param("upload_id", "67890"))
        .and(query_param("upload_token", "Xza123"))
        .respond_with(fake.clone())
        .mount(&server)
        .await;
    let upload_url = UploadUrl::new(
        Url::parse(&format!(
            "{}{UPLOAD_PATH}?upload_id=67890&upload_token=Xza123",
            server.uri()
        ))
        .unwrap(),
    );
    let job = UploadJob {
        upload_url,
        source: file.path().to_owned().into(),
        plan: ChunkPlan::new(size as u64, MIN_CHUNK_SIZE).unwrap(),
        content_type: VideoContentType::Mp4,
        resume_from: 0,
        retry: UploadRetry {
            attempts_per_chunk: 3,
            first_backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
            max_resyncs: 3,
        },
    };
    Setup {
        server,
        fake,
        file,
        bytes,
        job,
    }
}

fn client(server: &MockServer) -> TikTokClient {
    TikTokClient::new(config_for(server), ManualClock::at_fixed_start().shared()).unwrap()
}

async fn run(setup: &Setup) -> (UploadOutcome, Vec<u64>) {
    let mut progress = Vec::new();
    let outcome = client(&setup.server)
        .upload(&setup.job, |p: UploadProgress| {
            progress.push(p.acknowledged_bytes)
        })
        .await
        .unwrap();
    (outcome, progress)
}

async fn ranges(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            r.headers
                .get("content-range")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

const MIB: usize = 1024 * 1024;
const SIXTEEN_MIB: usize = 16 * MIB;

#[tokio::test]
async fn uploads_every_chunk_in_order_with_exact_headers_then_completes() {
    let setup = setup(SIXTEEN_MIB, |f| f).await;
    assert_eq!(setup.job.plan.total_chunk_count(), 3);
    let (outcome, progress) = run(&setup).await;
    assert_eq!(
        outcome,
        UploadOutcome::Completed {
            total_bytes: SIXTEEN_MIB as u64
        }
    );
    assert_eq!(
        progress,
        vec![5 * MIB as u64, 10 * MIB as u64, SIXTEEN_MIB as u64]
    );
    assert_eq!(
        ranges(&setup.server).await,
        vec![
            "bytes 0-5242879/16777216",
            "bytes 5242880-10485759/16777216",
            "bytes 10485760-16777215/16777216",
        ]
    );
    for request in setup.server.received_requests().await.unwrap() {
        assert_eq!(request.headers.get("content-type").unwrap(), "video/mp4");
        assert_eq!(
            request
                .headers
                .get("content-length")
                .unwrap()
                .to_str()
                .unwrap(),
            request.body.len().to_string()
        );
        assert!(request.headers.get("authorization").is_none());
        assert!(request.headers.get("transfer-encoding").is_none());
    }
    assert!(
        setup.fake.received() == setup.bytes,
        "the bytes TikTok holds differ from the file"
    );
}

#[tokio::test]
async fn a_small_file_goes_in_one_put_answered_201() {
    let setup = setup(4_194_304, |f| f).await;
    let (outcome, progress) = run(&setup).await;
    assert_eq!(
        outcome,
        UploadOutcome::Completed {
            total_bytes: 4_194_304
        }
    );
    assert_eq!(progress, vec![4_194_304]);
    assert_eq!(ranges(&setup.server).await, vec!["bytes 0-4194303/4194304"]);
}

#[tokio::test]
async fn upload_retries_the_same_chunk_after_a_5xx() {
    let setup = setup(SIXTEEN_MIB, |f| f.with_fault(2, Fault::Answer(503))).await;
    let (outcome, _) = run(&setup).await;
    assert_eq!(
        outcome,
        UploadOutcome::Completed {
            total_bytes: SIXTEEN_MIB as u64
        }
    );
    let ranges = ranges(&setup.server).await;
    assert_eq!(ranges.len(), 4);
    assert_eq!(ranges[1], ranges[2], "the failed chunk is sent again");
    assert!(setup.fake.received() == setup.bytes);
}

#[tokio::test]
async fn upload_retries_the_same_chunk_after_a_dropped_connection() {
    let setup = setup(SIXTEEN_MIB, |f| f).await;
    Mock::given(method("PUT"))
        .and(path(UPLOAD_PATH))
        .respond_with_err(|_: &Request| {
            std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset")
        })
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&setup.server)
        .await;
    let (outcome, _) = run(&setup).await;
    assert_eq!(
        outcome,
        UploadOutcome::Completed {
            total_bytes: SIXTEEN_MIB as u64
        }
    );
    let ranges = ranges(&setup.server).await;
    assert_eq!(
        ranges[0], ranges[1],
        "the first chunk is sent again after the reset"
    );
    assert!(setup.fake.received() == setup.bytes);
}

#[tokio::test]
async fn upload_resyncs_from_the_progress_header_after_416() {
    // TikTok stores chunk 0 but the answer is lost (500): the client resends chunk 0, gets 416
    // with progress "bytes 0-5242879/…", and continues with chunk 1.
    let setup = setup(SIXTEEN_MIB, |f| {
        f.with_fault(1, Fault::StoreThenAnswer(500))
    })
    .await;
    let (outcome, progress) = run(&setup).await;
    assert_eq!(
        outcome,
        UploadOutcome::Completed {
            total_bytes: SIXTEEN_MIB as u64
        }
    );
    assert_eq!(
        ranges(&setup.server).await,
        vec![
            "bytes 0-5242879/16777216",
            "bytes 0-5242879/16777216",
            "bytes 5242880-10485759/16777216",
            "bytes 10485760-16777215/16777216",
        ]
    );
    assert_eq!(
        progress,
        vec![5 * MIB as u64, 10 * MIB as u64, SIXTEEN_MIB as u64]
    );
    assert!(setup.fake.received() == setup.bytes);
}

#[tokio::test]
async fn a_lost_final_201_is_recognised_as_complete_from_the_progress_header() {
    let setup = setup(SIXTEEN_MIB, |f| {
        f.with_fault(3, Fault::StoreThenAnswer(502))
    })
    .await;
    let (outcome, _) = run(&setup).await;
    assert_eq!(
        outcome,
        UploadOutcome::Completed {
            total_bytes: SIXTEEN_MIB as u64
        }
    );
    assert_eq!(ranges(&setup.server).await.len(), 4);
}

#[tokio::test]
async fn an_expired_upload_url_is_its_own_outcome() {
    let setup = setup(SIXTEEN_MIB, |f| f.with_fault(2, Fault::Answer(403))).await;
    let (outcome, _) = run(&setup).await;
    let UploadOutcome::UrlExpired {
        acknowledged_bytes,
        failure,
    } = outcome
    else {
        panic!("expected UrlExpired, got {outcome:?}");
    };
    assert_eq!(acknowledged_bytes, 5 * MIB as u64);
    assert_eq!(failure.classification.id(), "upload_url_expired");
    assert_eq!(failure.http_status, Some(403));
    assert_eq!(ranges(&setup.server).await.len(), 2, "no retry after 403");
}

#[tokio::test]
async fn an_unknown_upload_task_is_reported_as_not_found() {
    let setup = setup(SIXTEEN_MIB, |f| f.with_fault(1, Fault::Answer(404))).await;
    let (outcome, _) = run(&setup).await;
    assert!(
        matches!(
            outcome,
            UploadOutcome::TaskNotFound {
                acknowledged_bytes: 0,
                ..
            }
        ),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_rejected_chunk_is_not_resent() {
    let setup = setup(SIXTEEN_MIB, |f| f.with_fault(1, Fault::Answer(400))).await;
    let (outcome, _) = run(&setup).await;
    assert_eq!(
        outcome.failure().unwrap().classification.id(),
        "upload_rejected"
    );
    assert!(matches!(outcome, UploadOutcome::Rejected { .. }));
    assert_eq!(ranges(&setup.server).await.len(), 1);
}

#[tokio::test]
async fn upload_gives_up_after_its_retry_budget_and_says_where_to_resume() {
    let setup = setup(SIXTEEN_MIB, |f| {
        f.with_fault(2, Fault::Answer(500))
            .with_fault(3, Fault::Answer(502))
            .with_fault(4, Fault::Answer(503))
    })
    .await;
    let (outcome, _) = run(&setup).await;
    let UploadOutcome::GaveUp {
        acknowledged_bytes,
        failure,
    } = outcome
    else {
        panic!("expected GaveUp, got {outcome:?}");
    };
    assert_eq!(acknowledged_bytes, 5 * MIB as u64);
    assert_eq!(failure.classification.id(), "http_5xx");
    assert_eq!(failure.http_status, Some(503));
    assert_eq!(
        ranges(&setup.server).await.len(),
        4,
        "1 success + 3 attempts at chunk 1"
    );
}

#[tokio::test]
async fn upload_resumes_from_a_given_offset() {
    let mut setup = setup(SIXTEEN_MIB, |f| f).await;
    let first_chunk = setup.bytes[..5 * MIB].to_vec();
    setup.fake = setup.fake.clone().already_received(first_chunk);
    setup.job.resume_from = 5 * MIB as u64;
    let (outcome, progress) = run(&setup).await;
    assert_eq!(
        outcome,
        UploadOutcome::Completed {
            total_bytes: SIXTEEN_MIB as u64
        }
    );
    assert_eq!(progress, vec![10 * MIB as u64, SIXTEEN_MIB as u64]);
    assert_eq!(
        ranges(&setup.server).await[0],
        "bytes 5242880-10485759/16777216"
    );
    assert!(setup.fake.received() == setup.bytes);
}

#[tokio::test]
async fn resuming_inside_a_chunk_or_with_a_changed_file_is_refused_before_sending() {
    let mut setup = setup(SIXTEEN_MIB, |f| f).await;
    setup.job.resume_from = 12_345;
    let error = client(&setup.server)
        .upload(&setup.job, |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(error, UploadError::ResumeOffset { offset: 12_345, .. }),
        "{error:?}"
    );

    setup.job.resume_from = 0;
    setup.file.write_all(b"one more byte").unwrap();
    setup.file.flush().unwrap();
    let error = client(&setup.server)
        .upload(&setup.job, |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(error, UploadError::SizeMismatch { .. }),
        "{error:?}"
    );
    assert!(setup.server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn back_off_between_retries_waits_on_the_injected_clock() {
    let mut setup = setup(4 * MIB, |f| f.with_fault(1, Fault::Answer(503))).await;
    setup.job.retry.first_backoff = Duration::from_secs(30);
    setup.job.retry.max_backoff = Duration::from_secs(30);
    let clock = ManualClock::at_fixed_start();
    let client = TikTokClient::new(config_for(&setup.server), clock.shared()).unwrap();
    let job = setup.job.clone();
    let upload = tokio::spawn(async move { client.upload(&job, |_| {}).await });

    // Wait (bounded) until the first attempt has been answered and the uploader sleeps.
    for _ in 0..3000 {
        if setup.server.received_requests().await.unwrap().len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!upload.is_finished(), "the retry must wait for the clock");
    assert_eq!(setup.server.received_requests().await.unwrap().len(), 1);

    // With jitter the wait lies between 15 s and 30 s: still waiting after 14 s.
    clock.advance(Duration::from_secs(14));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !upload.is_finished(),
        "the retry waited less than half the back-off"
    );
    assert_eq!(setup.server.received_requests().await.unwrap().len(), 1);

    clock.advance(Duration::from_secs(16));
    let outcome = tokio::time::timeout(Duration::from_secs(30), upload)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        outcome,
        UploadOutcome::Completed {
            total_bytes: 4 * MIB as u64
        }
    );
    assert_eq!(setup.server.received_requests().await.unwrap().len(), 2);
}

const PROBE: &str = "bytes */16777216";

#[tokio::test]
async fn upload_probes_and_moves_on_when_the_server_answers_early_and_drops_the_connection() {
    // TikTok stores chunk 0 but its answer is lost (500). Every resend of chunk 0 is refused
    // (416) before the body is read, so the client only sees dropped connections. After the
    // second drop a zero-length probe learns that chunk 0 is held, and the upload continues.
    let setup = setup(SIXTEEN_MIB, |f| {
        f.with_fault(1, Fault::StoreThenAnswer(500))
            .answering_early()
    })
    .await;
    let (outcome, progress) = run(&setup).await;
    assert_eq!(
        outcome,
        UploadOutcome::Completed {
            total_bytes: SIXTEEN_MIB as u64
        }
    );
    assert_eq!(
        ranges(&setup.server).await,
        vec![
            "bytes 0-5242879/16777216",
            "bytes 0-5242879/16777216",
            "bytes 0-5242879/16777216",
            PROBE,
            "bytes 5242880-10485759/16777216",
            "bytes 10485760-16777215/16777216",
        ]
    );
    let probe = &setup.server.received_requests().await.unwrap()[3];
    assert_eq!(probe.headers.get("content-length").unwrap(), "0");
    assert!(probe.body.is_empty());
    assert_eq!(
        progress,
        vec![5 * MIB as u64, 10 * MIB as u64, SIXTEEN_MIB as u64]
    );
    assert!(setup.fake.received() == setup.bytes);
}

#[tokio::test]
async fn upload_asks_the_resync_hook_instead_of_probing_when_given_one() {
    let setup = setup(SIXTEEN_MIB, |f| {
        f.with_fault(1, Fault::StoreThenAnswer(500))
            .answering_early()
    })
    .await;
    let calls = Arc::new(Mutex::new(0u32));
    let hook = {
        let (fake, calls) = (setup.fake.clone(), Arc::clone(&calls));
        move || {
            *calls.lock().unwrap() += 1;
            let held = fake.received().len() as u64;
            async move { Some(held) }
        }
    };
    let outcome = client(&setup.server)
        .upload_with_resync(&setup.job, hook, |_| {})
        .await
        .unwrap();
    assert_eq!(
        outcome,
        UploadOutcome::Completed {
            total_bytes: SIXTEEN_MIB as u64
        }
    );
    assert_eq!(*calls.lock().unwrap(), 1);
    assert_eq!(
        ranges(&setup.server).await,
        vec![
            "bytes 0-5242879/16777216",
            "bytes 0-5242879/16777216",
            "bytes 0-5242879/16777216",
            "bytes 5242880-10485759/16777216",
            "bytes 10485760-16777215/16777216",
        ],
        "no probe is sent when a hook answers"
    );
    assert!(setup.fake.received() == setup.bytes);
}

#[tokio::test]
async fn a_resync_hook_answer_inside_a_chunk_is_ignored() {
    let setup = setup(SIXTEEN_MIB, |f| {
        f.with_fault(1, Fault::StoreThenAnswer(500))
            .answering_early()
    })
    .await;
    let outcome = client(&setup.server)
        .upload_with_resync(&setup.job, || async { Some(12_345) }, |_| {})
        .await
        .unwrap();
    assert!(
        matches!(
            outcome,
            UploadOutcome::GaveUp {
                acknowledged_bytes: 0,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(ranges(&setup.server).await.len(), 3);
}

#[tokio::test]
async fn a_probe_that_finds_the_url_expired_ends_the_upload_as_url_expired() {
    // The URL expires after chunk 0: the server refuses chunk 1 with 403 before reading it.
    let setup = setup(SIXTEEN_MIB, |f| {
        f.with_fault(2, Fault::Answer(403))
            .with_fault(3, Fault::Answer(403))
            .with_fault(4, Fault::Answer(403))
            .answering_early()
    })
    .await;
    let (outcome, _) = run(&setup).await;
    let UploadOutcome::UrlExpired {
        acknowledged_bytes,
        failure,
    } = outcome
    else {
        panic!("expected UrlExpired, got {outcome:?}");
    };
    assert_eq!(acknowledged_bytes, 5 * MIB as u64);
    assert_eq!(failure.classification.id(), "upload_url_expired");
    let ranges = ranges(&setup.server).await;
    assert_eq!(ranges.len(), 4);
    assert_eq!(ranges[3], PROBE);
}

#[tokio::test]
async fn a_server_that_keeps_dropping_the_expected_chunk_still_exhausts_the_retry_budget() {
    let setup = setup(SIXTEEN_MIB, |f| f).await;
    Mock::given(method("PUT"))
        .and(|request: &Request| !request.body.is_empty())
        .respond_with_err(|_: &Request| {
            std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset")
        })
        .with_priority(1)
        .mount(&setup.server)
        .await;
    let (outcome, progress) = run(&setup).await;
    assert!(
        matches!(
            outcome,
            UploadOutcome::GaveUp {
                acknowledged_bytes: 0,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert!(progress.is_empty());
    let chunk_0 = "bytes 0-5242879/16777216";
    assert_eq!(
        ranges(&setup.server).await,
        vec![chunk_0, chunk_0, PROBE, chunk_0, PROBE]
    );
}
