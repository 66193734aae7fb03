//! Malformed input never panics: arbitrary bodies against every endpoint's judgement, arbitrary
//! progress headers, arbitrary callback queries. Also pins that the client's futures are
//! `Send`, so workers can spawn them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // helpers of a test crate may fail loudly

mod support;

use proptest::prelude::*;
use support::{client_for, token};
use tiktok::oauth::AuthorizationCallback;
use tiktok::upload::resync_offset;
use tiktok::{ChunkPlan, PublishId, RefreshToken};
use wiremock::matchers::any as any_request;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn json_ish() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[{}\\[\\]\":,a-z0-9 ]{0,80}",
        Just(r#"{"data":null,"error":null}"#.to_owned()),
        Just(r#"{"data":{"status":null},"error":{"code":"ok"}}"#.to_owned()),
        Just(r#"{"data":{"publicaly_available_post_id":[-1,1.5,"x"],"status":"FAILED"},"error":{"code":"ok"}}"#.to_owned()),
        Just(r#"{"error":{"code":42,"message":[],"log_id":{}}}"#.to_owned()),
        Just(r#"{"error":"","access_token":7}"#.to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn arbitrary_answers_become_values_or_classified_failures_never_panics(
        status in prop_oneof![Just(200u16), Just(201), Just(400), Just(401), Just(403), Just(429), Just(500), Just(502), 200u16..600],
        body in json_ish(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let server = MockServer::start().await;
            Mock::given(any_request())
                .respond_with(ResponseTemplate::new(status).set_body_string(body.clone()))
                .mount(&server)
                .await;
            let client = client_for(&server);
            let publish_id = PublishId::new("p");
            let outcomes = [
                client.creator_info(&token()).await.map(drop),
                client.fetch_status(&token(), &publish_id).await.map(drop),
                client.cancel(&token(), &publish_id).await,
                client.refresh(&RefreshToken::new("rft.x")).await.map(drop),
                client.revoke(&token()).await,
            ];
            for outcome in outcomes {
                if let Err(failure) = outcome {
                    assert_eq!(failure.http_status, Some(status));
                    assert!(!failure.to_string().is_empty());
                }
            }
        });
    }

    #[test]
    fn arbitrary_progress_headers_never_panic_and_only_resync_to_boundaries(
        header in prop_oneof![any::<String>(), "bytes [0-9*]{0,12}-[0-9]{0,12}/[0-9]{0,12}"],
        size in 1u64..200_000_000,
    ) {
        let plan = ChunkPlan::for_size(size).unwrap();
        if let Some(offset) = resync_offset(&plan, &header) {
            prop_assert!(offset == size || plan.chunk_starting_at(offset).is_some());
        }
    }

    #[test]
    fn arbitrary_callback_queries_never_panic(query in any::<String>()) {
        let _ = AuthorizationCallback::from_query(&query);
    }
}

fn assert_send<T: Send>(_: &T) {}

#[tokio::test]
async fn every_client_future_is_send() {
    let server = MockServer::start().await;
    let client = client_for(&server);
    let publish_id = PublishId::new("p");
    let refresh = RefreshToken::new("r");
    let token = token();
    assert_send(&client.creator_info(&token));
    assert_send(&client.fetch_status(&token, &publish_id));
    assert_send(&client.cancel(&token, &publish_id));
    assert_send(&client.refresh(&refresh));
    assert_send(&client.exchange_code("c", None));
    assert_send(&client.revoke(&token));
}
