//! Query Creator Info (tiktok-api.md §3), including its deliberate HTTP-200 cap errors.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use crate::config::{CreatorConfig, SandboxConfig};
use crate::faults::FaultEndpoint;
use crate::server::{Family, admit, authenticate, respond, with_faults};
use crate::state::{Caller, Shared};
use crate::wire::{ApiError, ErrorCode};

/// `privacy_level_options` for an account.
pub(crate) fn privacy_options(creator: &CreatorConfig) -> &'static [&'static str] {
    if creator.private_account {
        &["FOLLOWER_OF_CREATOR", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"]
    } else {
        &["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"]
    }
}

fn info(creator: &CreatorConfig) -> Value {
    json!({
        "creator_avatar_url": creator.avatar_url,
        "creator_username": creator.username,
        "creator_nickname": creator.nickname,
        "privacy_level_options": privacy_options(creator),
        "comment_disabled": creator.comment_disabled,
        "duet_disabled": creator.private_account || creator.duet_disabled,
        "stitch_disabled": creator.private_account || creator.stitch_disabled,
        "max_video_post_duration_sec": creator.max_video_post_duration_sec,
    })
}

/// The active-creator cap that applies to an app (`None`: unlimited).
pub(crate) fn active_creator_cap(config: &SandboxConfig, audited: bool) -> Option<u32> {
    if audited {
        config.audited_active_creator_cap
    } else {
        Some(config.unaudited_active_creator_cap)
    }
}

/// `POST /v2/post/publish/creator_info/query/` (any body, or none, is accepted).
pub(crate) async fn query(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let caller = authenticate(&shared, &headers);
    let open_id = caller.as_ref().ok().map(|c| c.grant.open_id.clone());
    with_faults(
        &shared,
        FaultEndpoint::CreatorInfo,
        open_id.as_deref(),
        Family::Envelope,
        |_| async {
            respond(
                &shared,
                caller.and_then(|caller| answer(&shared, &caller)).map(Some),
            )
        },
    )
    .await
}

fn answer(shared: &Shared, caller: &Caller) -> Result<Value, ApiError> {
    admit(
        shared,
        caller,
        &["video.publish"],
        FaultEndpoint::CreatorInfo,
        shared.config.rate_limits.creator_info,
    )?;
    let Some(creator) = shared.creator(&caller.grant.open_id) else {
        return Err(ApiError::token_invalid());
    };
    let now = shared.now();
    let mut world = shared.world();
    let audited = shared
        .config
        .app(&caller.grant.client_key)
        .is_some_and(|app| app.audited);
    let cap_error = if creator.banned {
        Some((
            ErrorCode::SpamRiskUserBannedFromPosting,
            "The user is banned from posting.",
        ))
    } else if world.direct_posts_in_window(&creator.open_id, now)
        >= usize::try_from(creator.daily_post_cap).unwrap_or(usize::MAX)
    {
        Some((
            ErrorCode::SpamRiskTooManyPosts,
            "The daily post cap of this creator has been reached.",
        ))
    } else if active_creator_cap(&shared.config, audited).is_some_and(|cap| {
        !world.admits_creator(&caller.grant.client_key, &creator.open_id, cap, now)
    }) {
        Some((
            ErrorCode::ReachedActiveUserCap,
            "The client has reached its daily quota of active posting users.",
        ))
    } else {
        None
    };
    match cap_error {
        None => Ok(info(creator)),
        Some((code, message)) => {
            let mut error = ApiError::new(code, message).with_status(StatusCode::OK);
            if shared.config.cap_errors_include_data {
                error.data = info(creator);
            }
            Err(error)
        }
    }
}
