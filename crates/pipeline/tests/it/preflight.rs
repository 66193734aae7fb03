//! The dry run (`Publisher::preflight`, the API's `POST /v1/posts/validate`) against stored
//! posts and creator snapshots: duplicates found from what the workspace already scheduled,
//! the creator's options, the audit rule, a full cap with the instant its slot frees.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::support;

use clock::Clock as _;
use support::{ADA, BO, Backend, Setup, start, video};
use tokpost_core::PrivacyLevel;
use tokpost_pipeline::PostDraft;

fn codes(report: &tokpost_pipeline::PreflightReport) -> Vec<(&str, &str)> {
    report
        .findings
        .iter()
        .map(|finding| (finding.severity, finding.code.as_str()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_media_or_caption_already_scheduled_is_flagged_from_the_store() {
    let env = start(Setup::new(Backend::Sqlite)).await;
    let ada = env.connect(ADA).await;
    let bo = env.connect(BO).await;
    let media = env.small_video(1).await;
    env.schedule(
        ada,
        video(media, "launch day! #tokpost", PrivacyLevel::SelfOnly),
        3_600,
    )
    .await;

    let draft = |account, caption: &str, media| PostDraft {
        workspace_id: env.workspace,
        account_id: account,
        spec: video(media, caption, PrivacyLevel::SelfOnly)
            .validate()
            .unwrap(),
        scheduled_at: env.at(7_200),
        post_id: None,
    };
    let cross_posted = env
        .publisher
        .preflight(&draft(bo, "launch day! #tokpost", media))
        .await
        .unwrap();
    assert!(cross_posted.passes(), "duplicates are warnings");
    let found = codes(&cross_posted);
    assert!(
        found.contains(&("warning", "duplicate_media_other_account")),
        "{found:?}"
    );
    assert!(
        found.contains(&("warning", "duplicate_caption_other_account")),
        "{found:?}"
    );

    let repeat = env
        .publisher
        .preflight(&draft(ada, "something new", media))
        .await
        .unwrap();
    let found = codes(&repeat);
    assert!(
        found.contains(&("warning", "duplicate_media_same_account")),
        "{found:?}"
    );
    assert!(
        !found.iter().any(|(_, code)| code.contains("caption")),
        "{found:?}"
    );

    let fresh_media = env.small_video(2).await;
    let fresh = env
        .publisher
        .preflight(&draft(ada, "something new", fresh_media))
        .await
        .unwrap();
    assert!(
        !codes(&fresh)
            .iter()
            .any(|(_, code)| code.starts_with("duplicate")),
        "{:?}",
        codes(&fresh)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dry_run_checks_privacy_against_the_creators_options_and_the_audit_rule() {
    let mut setup = Setup::new(Backend::Sqlite);
    setup.policy.audited = false;
    let env = start(setup).await;
    let bo = env.connect(BO).await;
    env.store
        .save_creator_info(
            bo,
            &serde_json::json!({
                "creator_nickname": "Bo",
                "privacy_level_options": ["FOLLOWER_OF_CREATOR", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"],
                "max_video_post_duration_sec": 300
            }),
            env.clock.now(),
        )
        .await
        .unwrap();
    let media = env.small_video(3).await;
    let draft = PostDraft {
        workspace_id: env.workspace,
        account_id: bo,
        spec: video(media, "public please", PrivacyLevel::PublicToEveryone)
            .validate()
            .unwrap(),
        scheduled_at: env.at(60),
        post_id: None,
    };
    let report = env.publisher.preflight(&draft).await.unwrap();
    assert!(!report.passes());
    let errors: Vec<_> = report
        .errors()
        .map(|finding| (finding.field.as_str(), finding.code.as_str()))
        .collect();
    assert!(
        errors.contains(&(
            "privacy_level",
            "unaudited_client_can_only_post_to_private_accounts"
        )),
        "{errors:?}"
    );
    assert!(
        errors.contains(&("privacy_level", "privacy_level_option_mismatch")),
        "{errors:?}"
    );
    let mismatch = report
        .errors()
        .find(|finding| finding.code == "privacy_level_option_mismatch")
        .unwrap();
    assert_eq!(mismatch.measured.as_deref(), Some("PUBLIC_TO_EVERYONE"));
    assert_eq!(
        mismatch.limit.as_deref(),
        Some("FOLLOWER_OF_CREATOR, MUTUAL_FOLLOW_FRIENDS, SELF_ONLY")
    );
    assert_eq!(report.media.len(), 1, "the file was probed");
}
