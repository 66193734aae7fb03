//! The failure catalog as a table: every published pattern with its published category and
//! action, every further documented code, and the tokpost-side ids.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // helpers of a test crate may fail loudly

use rstest::rstest;
use tiktok::catalog::{
    self, Action, CATALOG, Category, Classification, Occurrence, RetryPolicy, RetryWindow, WhoActs,
};

#[rstest]
#[case(1, "access_token_invalid", Category::Authentication, Action::Reconnect)]
#[case(2, "scope_not_authorized", Category::Authentication, Action::Reconnect)]
#[case(
    3,
    "scope_permission_missed",
    Category::Authentication,
    Action::Reconnect
)]
#[case(
    4,
    "spam_risk_user_banned_from_posting",
    Category::Spam,
    Action::FixInput
)]
#[case(5, "spam_risk_text", Category::Spam, Action::FixInput)]
#[case(6, "spam_risk_too_many_posts", Category::Spam, Action::FixInput)]
#[case(
    7,
    "spam_risk_too_many_pending_share",
    Category::Spam,
    Action::FixInput
)]
#[case(8, "spam_risk", Category::Spam, Action::FixInput)]
#[case(9, "reached_active_user_cap", Category::Spam, Action::FixInput)]
#[case(
    10,
    "file_format_check_failed",
    Category::VideoFormat,
    Action::FixInput
)]
#[case(11, "duration_check_failed", Category::VideoFormat, Action::FixInput)]
#[case(12, "frame_rate_check_failed", Category::VideoFormat, Action::FixInput)]
#[case(
    13,
    "picture_size_check_failed",
    Category::VideoFormat,
    Action::FixInput
)]
#[case(14, "video_too_long", Category::VideoFormat, Action::FixInput)]
#[case(15, "file_too_large", Category::VideoFormat, Action::FixInput)]
#[case(16, "video_pull_failed", Category::Media, Action::RetryLater)]
#[case(17, "photo_pull_failed", Category::Media, Action::RetryLater)]
#[case(18, "invalid_file_upload", Category::Media, Action::FixInput)]
#[case(19, "rate_limit_exceeded", Category::RateLimit, Action::RetryLater)]
#[case(20, "http_429", Category::RateLimit, Action::RetryLater)]
#[case(
    21,
    "unaudited_client_can_only_post_to_private_accounts",
    Category::AppStatus,
    Action::FixInput
)]
#[case(22, "url_ownership_unverified", Category::AppStatus, Action::FixInput)]
#[case(
    23,
    "privacy_level_option_mismatch",
    Category::AppStatus,
    Action::FixInput
)]
#[case(24, "internal_error", Category::Server, Action::RetryLater)]
#[case(25, "invalid_params", Category::Server, Action::FixInput)]
fn all_25_published_patterns_are_present_with_their_published_category_and_action(
    #[case] pattern: u8,
    #[case] id: &str,
    #[case] category: Category,
    #[case] action: Action,
) {
    let entry = catalog::lookup(id).unwrap_or_else(|| panic!("{id} missing"));
    assert_eq!(entry.published_pattern, Some(pattern));
    assert_eq!(entry.category, category);
    assert_eq!(entry.action, Some(action));
}

#[test]
fn published_lists_the_25_patterns_in_order() {
    let numbers: Vec<u8> = catalog::published()
        .filter_map(|e| e.published_pattern)
        .collect();
    assert_eq!(numbers, (1..=25).collect::<Vec<u8>>());
}

#[test]
fn published_categories_and_actions_render_in_the_references_words() {
    let categories: Vec<&str> = catalog::published().map(|e| e.category.label()).collect();
    for label in [
        "Authentication",
        "Spam",
        "Video Format",
        "Media",
        "Rate Limit",
        "App Status",
        "Server",
    ] {
        assert!(categories.contains(&label), "{label}");
    }
    assert_eq!(Action::FixInput.label(), "Fix input");
    assert_eq!(Action::RetryLater.label(), "Retry later");
    assert_eq!(
        serde_json::to_value(Category::VideoFormat).unwrap(),
        "Video Format"
    );
    assert_eq!(
        serde_json::to_value(Action::RetryLater).unwrap(),
        "Retry later"
    );
}

#[rstest]
#[case::singular_param("invalid_param", "invalid_params")]
#[case::fail_reason_internal("internal", "internal_error")]
#[case::response_type("unsupported_response_type", "unsupported_grant_type")]
#[case::canonical("url_ownership_unverified", "url_ownership_unverified")]
fn aliases_resolve_to_their_entry(#[case] alias: &str, #[case] id: &str) {
    assert_eq!(catalog::lookup(alias).unwrap().id, id);
}

#[rstest]
#[case("invalid_publish_id")]
#[case("token_not_authorized_for_specified_publish_id")]
#[case("publish_not_cancellable")]
#[case("app_version_check_failed")]
#[case("publish_cancelled")]
#[case("auth_removed")]
#[case("invalid_grant")]
#[case("invalid_client")]
#[case("invalid_request")]
#[case("invalid_scope")]
#[case("access_denied")]
#[case("unauthorized_client")]
#[case("unsupported_grant_type")]
#[case("server_error")]
#[case("temporarily_unavailable")]
#[case("http_5xx")]
#[case("malformed_response")]
#[case("transport_timeout")]
#[case("transport_connect")]
#[case("transport_interrupted")]
#[case("upload_url_expired")]
#[case("upload_not_found")]
#[case("upload_rejected")]
#[case("upload_range_mismatch")]
fn further_documented_codes_and_tokpost_ids_are_recognised(#[case] code: &str) {
    let entry = catalog::lookup(code).unwrap_or_else(|| panic!("{code} missing"));
    assert_eq!(entry.published_pattern, None);
}

#[rstest]
#[case::token_is_fixed_by_refresh(
    "access_token_invalid",
    RetryPolicy::AfterRefresh,
    WhoActs::Service
)]
#[case::daily_cap_is_fixed_by_time("spam_risk_too_many_posts", RetryPolicy::AfterWindow { window: RetryWindow::Rolling24Hours }, WhoActs::Time)]
#[case::rate_limit_waits_a_minute("rate_limit_exceeded", RetryPolicy::AfterWindow { window: RetryWindow::PerMinute }, WhoActs::Time)]
#[case::unaudited_app_is_the_operators(
    "unaudited_client_can_only_post_to_private_accounts",
    RetryPolicy::Never,
    WhoActs::Operator
)]
#[case::active_user_cap_is_the_operators("reached_active_user_cap", RetryPolicy::AfterWindow { window: RetryWindow::Rolling24Hours }, WhoActs::Operator)]
#[case::server_errors_back_off("internal", RetryPolicy::Backoff, WhoActs::Time)]
#[case::timeouts_back_off("transport_timeout", RetryPolicy::Backoff, WhoActs::Time)]
#[case::bad_params_are_a_bug("invalid_param", RetryPolicy::Never, WhoActs::Developer)]
#[case::caption_is_the_users("spam_risk_text", RetryPolicy::Never, WhoActs::User)]
#[case::pending_drafts_are_the_creators("spam_risk_too_many_pending_share", RetryPolicy::AfterWindow { window: RetryWindow::Rolling24Hours }, WhoActs::Creator)]
fn tokpost_decides_finer_than_the_published_action(
    #[case] code: &str,
    #[case] retry: RetryPolicy,
    #[case] first_actor: WhoActs,
) {
    let entry = catalog::lookup(code).unwrap();
    assert_eq!(entry.retry, retry);
    assert_eq!(entry.who_acts.first(), Some(&first_actor));
}

#[test]
fn transport_failures_are_transient_and_occur_in_transport() {
    for id in [
        "transport_timeout",
        "transport_connect",
        "transport_interrupted",
    ] {
        let classification = catalog::classify(id);
        assert!(classification.is_transient(), "{id}");
        assert_eq!(
            classification.entry().unwrap().occurs,
            &[Occurrence::Transport]
        );
    }
    assert_eq!(catalog::classify("made_up"), Classification::Unknown);
}

#[test]
fn the_catalog_serialises_to_json_for_the_cli() {
    let json = serde_json::to_value(CATALOG).unwrap();
    let first = &json[0];
    assert_eq!(first["id"], "access_token_invalid");
    assert_eq!(first["category"], "Authentication");
    assert_eq!(first["action"], "Reconnect");
    assert_eq!(first["who_acts"], serde_json::json!(["service", "user"]));
    assert_eq!(
        first["retry"],
        serde_json::json!({"policy": "after_refresh"})
    );
    let cap = &json
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "spam_risk_too_many_posts")
        .unwrap()["retry"];
    assert_eq!(
        *cap,
        serde_json::json!({"policy": "after_window", "window": "rolling_24h"})
    );
}
