//! The configuration: both backends parse, bad settings fail at start-up with a reason, and the
//! S3 secret never shows.

use rstest::rstest;
use tokpost_media_store::{MediaStoreConfig, MediaStoreError, S3Tuning, open};

const SECRET: &str = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";

fn s3_json(extra: &str) -> String {
    format!(
        r#"{{"backend": "s3", "endpoint": "https://s3.eu-central-1.amazonaws.com",
            "bucket": "tokpost-media", "region": "eu-central-1",
            "access_key_id": "AKIAEXAMPLE", "secret_access_key": "{SECRET}"{extra}}}"#
    )
}

#[test]
fn a_local_configuration_opens_a_directory_store_without_creating_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("not-yet");
    let config: MediaStoreConfig = serde_json::from_value(serde_json::json!({
        "backend": "local", "dir": root,
    }))
    .unwrap();
    let store = open(&config).unwrap();
    assert!(format!("{store:?}").contains("LocalMediaStore"));
    assert!(!root.exists());
}

#[test]
fn an_s3_configuration_opens_with_default_tuning_and_never_shows_its_secret() {
    let config: MediaStoreConfig = serde_json::from_str(&s3_json("")).unwrap();
    let MediaStoreConfig::S3(s3) = &config else {
        panic!("expected the S3 backend, got {config:?}");
    };
    assert_eq!(s3.tuning, S3Tuning::default());
    assert!(!s3.allow_http);
    let store = open(&config).unwrap();
    for shown in [format!("{config:?}"), format!("{store:?}")] {
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(shown.contains("tokpost-media"), "{shown}");
    }
}

#[rstest]
#[case::plain_http(
    r#", "endpoint": "http://10.0.0.1:9000""#,
    "plain http; set allow_http = true"
)]
#[case::tiny_parts(
    r#", "tuning": {"part_size_bytes": 1048576, "parts_in_flight": 2}"#,
    "below S3's minimum"
)]
#[case::no_parts_in_flight(
    r#", "tuning": {"part_size_bytes": 8388608, "parts_in_flight": 0}"#,
    "parts_in_flight must be at least 1"
)]
#[case::not_a_url(r#", "endpoint": "s3 bucket please""#, "is not a URL")]
fn an_unworkable_s3_configuration_fails_at_start_up_with_the_reason(
    #[case] extra: &str,
    #[case] reason: &str,
) {
    // A later duplicate key would be rejected by serde, so replace the endpoint in place.
    let json = if extra.contains("\"endpoint\"") {
        let endpoint = extra.trim_start_matches(", ");
        s3_json("").replace(
            r#""endpoint": "https://s3.eu-central-1.amazonaws.com""#,
            endpoint,
        )
    } else {
        s3_json(extra)
    };
    let config: MediaStoreConfig = serde_json::from_str(&json).unwrap();
    let error = open(&config).err().unwrap();
    assert!(matches!(error, MediaStoreError::Config(_)), "{error}");
    let message = error.to_string();
    assert!(message.contains(reason), "{message}");
    assert!(!message.contains(SECRET), "{message}");
}

#[test]
fn an_unknown_backend_or_field_is_refused() {
    assert!(
        serde_json::from_str::<MediaStoreConfig>(r#"{"backend": "ftp", "dir": "/x"}"#).is_err()
    );
    assert!(serde_json::from_str::<MediaStoreConfig>(&s3_json(r#", "acl": "public""#)).is_err());
}
