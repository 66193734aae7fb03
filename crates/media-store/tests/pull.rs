//! Signed pull URLs served by a real axum server on 127.0.0.1, fetched with reqwest, from both
//! backends.

// The harness outside `#[test]` functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use clock::ManualClock;
use common::{Backend, BackendKind, MIB, content, small_parts, stream_of};
use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, ETAG, IF_RANGE, LOCATION, RANGE,
};
use rstest::rstest;
use secrecy::SecretString;
use tokpost_media_store::{
    MediaKey, PULL_ROUTE_PREFIX, PullBaseUrl, PutOptions, StoredObject, UrlSigner, pull_router,
};

/// Two parts and a bit on S3, so ranges cross a part boundary.
const LEN: usize = 5 * MIB + 300_000;

struct PullServer {
    backend: Backend,
    clock: Arc<ManualClock>,
    signer: Arc<UrlSigner>,
    address: std::net::SocketAddr,
    http: reqwest::Client,
    data: Vec<u8>,
    stored: StoredObject,
}

impl PullServer {
    async fn start(kind: BackendKind) -> Option<Self> {
        let backend = Backend::start(kind, small_parts(2)).await?;
        let data = content(21, LEN);
        let stored = backend
            .store
            .put(
                stream_of(data.clone(), 64 * 1024),
                PutOptions::limited_to(1 << 30),
            )
            .await
            .unwrap();
        let clock = ManualClock::at_fixed_start();
        let signer = Arc::new(
            UrlSigner::new(
                PullBaseUrl::parse("https://media.example.com/media/pull/").unwrap(),
                &SecretString::from("pull-test-secret-0123456789abcdef0123456789"),
                clock.clone(),
            )
            .unwrap(),
        );
        let app = axum::Router::new().nest(
            PULL_ROUTE_PREFIX,
            pull_router(Arc::clone(&backend.store), Arc::clone(&signer)),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Some(Self {
            backend,
            clock,
            signer,
            address,
            http,
            data,
            stored,
        })
    }

    /// The signed URL as TikTok would get it, sent to the local server instead of the public
    /// host (what a reverse proxy in front of the service does).
    fn local(&self, signed: &url::Url) -> String {
        format!(
            "http://{}{}?{}",
            self.address,
            signed.path(),
            signed.query().unwrap_or_default()
        )
    }

    fn signed_for_an_hour(&self, key: &MediaKey) -> String {
        self.local(&self.signer.sign_valid_for(key, Duration::from_secs(3600)))
    }

    async fn get(
        &self,
        url: &str,
        headers: &[(reqwest::header::HeaderName, &str)],
    ) -> reqwest::Response {
        let mut request = self.http.get(url);
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        request.send().await.unwrap()
    }
}

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> &str {
    response
        .headers()
        .get(&name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

#[rstest]
#[case::local(BackendKind::Local)]
#[case::s3(BackendKind::S3)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_url_serves_the_whole_object_with_its_exact_length(#[case] kind: BackendKind) {
    let Some(server) = PullServer::start(kind).await else {
        return;
    };
    let response = server
        .get(&server.signed_for_an_hour(&server.stored.key), &[])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, CONTENT_LENGTH), LEN.to_string());
    assert_eq!(header(&response, ACCEPT_RANGES), "bytes");
    assert_eq!(
        header(&response, ETAG),
        format!("\"sha256-{}\"", server.stored.sha256_hex)
    );
    let body = response.bytes().await.unwrap();
    assert!(body.as_ref() == server.data.as_slice());
}

#[rstest]
#[case::local(BackendKind::Local)]
#[case::s3(BackendKind::S3)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_range_is_served_as_206_with_its_content_range(#[case] kind: BackendKind) {
    let Some(server) = PullServer::start(kind).await else {
        return;
    };
    let url = server.signed_for_an_hour(&server.stored.key);
    let len = LEN as u64;
    let part = 5 * MIB as u64;
    let cases = [
        ("bytes=0-99".to_owned(), 0..100),
        (
            format!("bytes={}-{}", part - 10, part + 9),
            part - 10..part + 10,
        ),
        (format!("bytes={}-", len - 5), len - 5..len),
        ("bytes=-1000".to_owned(), len - 1000..len),
        (format!("bytes=1000-{}", len * 2), 1000..len),
    ];
    for (range_header, expected) in cases {
        let response = server.get(&url, &[(RANGE, range_header.as_str())]).await;
        assert_eq!(
            response.status(),
            StatusCode::PARTIAL_CONTENT,
            "{range_header}"
        );
        assert_eq!(
            header(&response, CONTENT_RANGE),
            format!("bytes {}-{}/{len}", expected.start, expected.end - 1),
            "{range_header}"
        );
        assert_eq!(
            header(&response, CONTENT_LENGTH),
            (expected.end - expected.start).to_string(),
            "{range_header}"
        );
        let body = response.bytes().await.unwrap();
        assert!(
            body.as_ref() == &server.data[expected.start as usize..expected.end as usize],
            "{range_header}: wrong bytes"
        );
    }
}

#[rstest]
#[case::local(BackendKind::Local)]
#[case::s3(BackendKind::S3)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsatisfiable_range_gets_416_naming_the_length(#[case] kind: BackendKind) {
    let Some(server) = PullServer::start(kind).await else {
        return;
    };
    let url = server.signed_for_an_hour(&server.stored.key);
    for range_header in [
        format!("bytes={LEN}-"),
        format!("bytes={}-{}", LEN + 10, LEN + 20),
        "bytes=-0".to_owned(),
    ] {
        let response = server.get(&url, &[(RANGE, range_header.as_str())]).await;
        assert_eq!(
            response.status(),
            StatusCode::RANGE_NOT_SATISFIABLE,
            "{range_header}"
        );
        assert_eq!(header(&response, CONTENT_RANGE), format!("bytes */{LEN}"));
    }
}

#[rstest]
#[case::local(BackendKind::Local)]
#[case::s3(BackendKind::S3)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_that_cannot_be_honoured_get_the_whole_object(#[case] kind: BackendKind) {
    let Some(server) = PullServer::start(kind).await else {
        return;
    };
    let url = server.signed_for_an_hour(&server.stored.key);
    let cases: [&[(reqwest::header::HeaderName, &str)]; 3] = [
        &[(RANGE, "bytes=0-1,5-6")],
        &[(RANGE, "bytes=9-5")],
        &[(RANGE, "bytes=0-99"), (IF_RANGE, "\"some-other-version\"")],
    ];
    for headers in cases {
        let response = server.get(&url, headers).await;
        assert_eq!(response.status(), StatusCode::OK, "{headers:?}");
        assert_eq!(header(&response, CONTENT_LENGTH), LEN.to_string());
    }
    let etag = format!("\"sha256-{}\"", server.stored.sha256_hex);
    let response = server
        .get(&url, &[(RANGE, "bytes=0-99"), (IF_RANGE, etag.as_str())])
        .await;
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
}

#[rstest]
#[case::local(BackendKind::Local)]
#[case::s3(BackendKind::S3)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_url_is_refused_with_403_and_never_redirected(#[case] kind: BackendKind) {
    let Some(server) = PullServer::start(kind).await else {
        return;
    };
    let signed = server
        .signer
        .sign_valid_for(&server.stored.key, Duration::from_secs(3600));
    let good = server.local(&signed);
    let last = good.chars().last().unwrap();
    let flipped = if last == '0' { '1' } else { '0' };
    let other_key = MediaKey::parse(&format!("sha256/{}", "f".repeat(64))).unwrap();
    let tampered = [
        format!("{}{flipped}", &good[..good.len() - 1]),
        good.replace(server.stored.key.as_str(), other_key.as_str()),
        good.split('?').next().unwrap().to_owned(),
        good.replace("expires=", "expires=1"),
        format!("{}/", good.split('?').next().unwrap()) + "?" + signed.query().unwrap(),
    ];
    for url in tampered {
        let response = server.get(&url, &[]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{url}");
        assert!(response.headers().get(LOCATION).is_none());
    }
}

#[rstest]
#[case::local(BackendKind::Local)]
#[case::s3(BackendKind::S3)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_is_refused_once_the_clock_passes_its_expiry(#[case] kind: BackendKind) {
    let Some(server) = PullServer::start(kind).await else {
        return;
    };
    let url = server.local(
        &server
            .signer
            .sign_valid_for(&server.stored.key, Duration::from_secs(7200)),
    );
    let response = server.get(&url, &[(RANGE, "bytes=0-0")]).await;
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);

    server.clock.advance(Duration::from_secs(7199));
    let response = server.get(&url, &[(RANGE, "bytes=0-0")]).await;
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);

    server.clock.advance(Duration::from_secs(1));
    let response = server.get(&url, &[]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.text().await.unwrap(), "this link has expired");
}

#[rstest]
#[case::local(BackendKind::Local)]
#[case::s3(BackendKind::S3)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validly_signed_url_for_a_missing_object_is_404(#[case] kind: BackendKind) {
    let Some(server) = PullServer::start(kind).await else {
        return;
    };
    server
        .backend
        .store
        .delete(&server.stored.key)
        .await
        .unwrap();
    let response = server
        .get(&server.signed_for_an_hour(&server.stored.key), &[])
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[rstest]
#[case::local(BackendKind::Local)]
#[case::s3(BackendKind::S3)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_answers_the_length_without_a_body(#[case] kind: BackendKind) {
    let Some(server) = PullServer::start(kind).await else {
        return;
    };
    let response = server
        .http
        .head(server.signed_for_an_hour(&server.stored.key))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, CONTENT_LENGTH), LEN.to_string());
    assert!(response.bytes().await.unwrap().is_empty());
}
