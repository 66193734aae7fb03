//! The Display API (tiktok-display-api.md): `GET /v2/user/info/`, `POST /v2/video/list/` and
//! `POST /v2/video/query/`, over the posts this sandbox published.
//!
//! A post is in the Display API once its public id is visible and only when it went out public
//! (`PUBLIC_TO_EVERYONE`, or posted by the creator from their inbox): private, friends-only and
//! `SELF_ONLY` posts are absent, as TikTok documents. Its counts grow with the sandbox's clock
//! from the moment it became visible, deterministically (the same post at the same instant
//! always has the same counts) and never decrease: a quick rise in the first hours, then a slow
//! tail, with likes, comments and shares in proportions seeded by the post id. A creator's
//! followers grow with their views. Scopes are enforced as TikTok does: `video.list` for the
//! video endpoints (`scope_not_authorized`), and profile or stats fields without
//! `user.info.profile` or `user.info.stats` fail the whole call (`scope_permission_missed`).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::faults::FaultEndpoint;
use crate::server::{Family, admit, authenticate, respond, with_faults};
use crate::state::{Caller, Shared};
use crate::wire::{ApiError, ErrorCode};

/// The most videos one list page or query holds.
const MAX_VIDEOS: usize = 20;

/// One public post as the Display API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DisplayVideo {
    pub(crate) id: u64,
    /// `create_time`: when it was posted.
    pub(crate) created_at: Timestamp,
    /// When moderation let it out; its counts grow from then.
    pub(crate) visible_at: Timestamp,
    pub(crate) title: String,
    /// The description of a photo post; a video's caption is its title.
    pub(crate) description: String,
}

/// Lifetime counts of a post `age_secs` after it became visible: views, likes, comments,
/// shares. Monotonic in the age.
pub(crate) fn counts(id: u64, age_secs: i64) -> (u64, u64, u64, u64) {
    let age = u64::try_from(age_secs.max(0)).unwrap_or(0);
    let seed = id % 997;
    // Most views arrive in the first day: a saturating rise toward `reach`, then a slow tail
    // of one view per `tail` seconds.
    let reach = 500 + seed * 23;
    let half_life = 3 * 3_600;
    let rise = reach * age / (age + half_life);
    let tail = age / (600 + seed * 3);
    let views = rise + tail;
    let likes = views * (4 + seed % 9) / 100;
    let comments = likes / (8 + seed % 7);
    let shares = likes / (15 + seed % 11);
    (views, likes, comments, shares)
}

fn video_json(video: &DisplayVideo, now: Timestamp, username: &str) -> Value {
    let (views, likes, comments, shares) =
        counts(video.id, now.as_second() - video.visible_at.as_second());
    json!({
        // Display sends ids as strings (status fetch sends numbers).
        "id": video.id.to_string(),
        "create_time": video.created_at.as_second(),
        "title": video.title,
        "video_description": video.description,
        "duration": 15,
        "share_url": format!("https://www.tiktok.com/@{username}/video/{}", video.id),
        "view_count": views,
        "like_count": likes,
        "comment_count": comments,
        "share_count": shares,
    })
}

/// The fields `?fields=` asks for.
#[derive(Debug, Deserialize)]
pub(crate) struct Fields {
    #[serde(default)]
    fields: String,
}

fn asked(fields: &Fields) -> Vec<&str> {
    fields
        .fields
        .split(',')
        .map(str::trim)
        .filter(|field| !field.is_empty())
        .collect()
}

fn permission_missed(scope: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ScopePermissionMissed,
        format!("Some fields need the {scope} scope, which the user did not authorize."),
    )
}

/// One Display API call: the caller authenticated, faults applied, `answer` judged into the
/// v2 envelope.
async fn serve<T>(
    shared: &Shared,
    headers: &HeaderMap,
    endpoint: FaultEndpoint,
    input: T,
    answer: fn(&Shared, &Caller, T) -> Result<Value, ApiError>,
) -> Response {
    let caller = authenticate(shared, headers);
    let open_id = caller.as_ref().ok().map(|c| c.grant.open_id.clone());
    with_faults(
        shared,
        endpoint,
        open_id.as_deref(),
        Family::Envelope,
        |_| async {
            respond(
                shared,
                caller
                    .and_then(|caller| answer(shared, &caller, input))
                    .map(Some),
            )
        },
    )
    .await
}

/// `GET /v2/user/info/?fields=…`
pub(crate) async fn user_info(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(fields): Query<Fields>,
) -> Response {
    serve(
        &shared,
        &headers,
        FaultEndpoint::UserInfo,
        fields,
        user_answer,
    )
    .await
}

fn user_answer(shared: &Shared, caller: &Caller, fields: Fields) -> Result<Value, ApiError> {
    admit(
        shared,
        caller,
        &["user.info.basic"],
        FaultEndpoint::UserInfo,
        shared.config.rate_limits.user_info,
    )?;
    let asked = asked(&fields);
    if asked.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidParams,
            "fields is required.",
        ));
    }
    let Some(creator) = shared.creator(&caller.grant.open_id) else {
        return Err(ApiError::token_invalid());
    };
    let now = shared.now();
    let videos = shared.world().display_videos(&creator.open_id, now);
    let totals = videos.iter().fold((0, 0), |(views, likes), video| {
        let (v, l, ..) = counts(video.id, now.as_second() - video.visible_at.as_second());
        (views + v, likes + l)
    });
    let base_followers = 120 + creator.open_id.bytes().map(u64::from).sum::<u64>() % 900;
    let mut user = serde_json::Map::new();
    for field in asked {
        let value = match field {
            "open_id" => json!(creator.open_id),
            "union_id" => json!(format!("union-{}", creator.open_id)),
            "avatar_url" | "avatar_url_100" | "avatar_large_url" => json!(creator.avatar_url),
            "display_name" => json!(creator.nickname),
            "bio_description" | "profile_deep_link" | "username" | "is_verified" => {
                if !caller.grant.has_scope("user.info.profile") {
                    return Err(permission_missed("user.info.profile"));
                }
                match field {
                    "username" => json!(creator.username),
                    "is_verified" => json!(false),
                    "profile_deep_link" => {
                        json!(format!("https://www.tiktok.com/@{}", creator.username))
                    }
                    _ => json!(""),
                }
            }
            "follower_count" | "following_count" | "likes_count" | "video_count" => {
                if !caller.grant.has_scope("user.info.stats") {
                    return Err(permission_missed("user.info.stats"));
                }
                match field {
                    "follower_count" => json!(base_followers + totals.0 / 40),
                    "following_count" => json!(base_followers / 3),
                    "likes_count" => json!(totals.1),
                    _ => json!(videos.len()),
                }
            }
            other => {
                return Err(ApiError::new(
                    ErrorCode::InvalidParams,
                    format!("Unknown field: {other}."),
                ));
            }
        };
        user.insert(field.to_owned(), value);
    }
    Ok(json!({ "user": user }))
}

/// `POST /v2/video/list/` body.
#[derive(Debug, Deserialize)]
pub(crate) struct ListBody {
    cursor: Option<i64>,
    max_count: Option<i64>,
}

/// `POST /v2/video/list/?fields=…`
pub(crate) async fn video_list(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Option<Json<ListBody>>,
) -> Response {
    let body = body.map(|Json(body)| body);
    serve(
        &shared,
        &headers,
        FaultEndpoint::VideoList,
        body,
        list_answer,
    )
    .await
}

fn list_answer(
    shared: &Shared,
    caller: &Caller,
    body: Option<ListBody>,
) -> Result<Value, ApiError> {
    admit(
        shared,
        caller,
        &["video.list"],
        FaultEndpoint::VideoList,
        shared.config.rate_limits.video_list,
    )?;
    let (cursor, max_count) = body.map_or((None, None), |body| (body.cursor, body.max_count));
    let max = match max_count {
        None => 10,
        Some(n) if (1..=20).contains(&n) => usize::try_from(n).unwrap_or(MAX_VIDEOS),
        Some(n) => {
            return Err(ApiError::new(
                ErrorCode::InvalidParams,
                format!("max_count must be between 1 and 20 (got {n})."),
            ));
        }
    };
    let Some(creator) = shared.creator(&caller.grant.open_id) else {
        return Err(ApiError::token_invalid());
    };
    let now = shared.now();
    let mut videos = shared.world().display_videos(&creator.open_id, now);
    // Newest first; the cursor (epoch milliseconds) keeps those posted before it.
    videos.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    let older: Vec<DisplayVideo> = videos
        .into_iter()
        .filter(|video| cursor.is_none_or(|cursor| video.created_at.as_millisecond() < cursor))
        .collect();
    let page: Vec<&DisplayVideo> = older.iter().take(max).collect();
    let next = page
        .last()
        .map_or(cursor.unwrap_or(now.as_millisecond()), |video| {
            video.created_at.as_millisecond()
        });
    Ok(json!({
        "videos": page.iter().map(|video| video_json(video, now, &creator.username)).collect::<Vec<_>>(),
        "cursor": next,
        "has_more": older.len() > page.len(),
    }))
}

/// `POST /v2/video/query/` body.
#[derive(Debug, Deserialize)]
pub(crate) struct QueryBody {
    filters: Option<QueryFilters>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct QueryFilters {
    #[serde(default)]
    video_ids: Vec<String>,
}

/// `POST /v2/video/query/?fields=…`
pub(crate) async fn video_query(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Option<Json<QueryBody>>,
) -> Response {
    let body = body.map(|Json(body)| body);
    serve(
        &shared,
        &headers,
        FaultEndpoint::VideoQuery,
        body,
        query_answer,
    )
    .await
}

fn query_answer(
    shared: &Shared,
    caller: &Caller,
    body: Option<QueryBody>,
) -> Result<Value, ApiError> {
    admit(
        shared,
        caller,
        &["video.list"],
        FaultEndpoint::VideoQuery,
        shared.config.rate_limits.video_query,
    )?;
    let ids = body
        .and_then(|body| body.filters)
        .map(|filters| filters.video_ids)
        .unwrap_or_default();
    if ids.is_empty() || ids.len() > MAX_VIDEOS {
        return Err(ApiError::new(
            ErrorCode::InvalidParams,
            format!(
                "filters.video_ids must hold 1 to 20 ids (got {}).",
                ids.len()
            ),
        ));
    }
    let Some(creator) = shared.creator(&caller.grant.open_id) else {
        return Err(ApiError::token_invalid());
    };
    let now = shared.now();
    let videos = shared.world().display_videos(&creator.open_id, now);
    // Ids that are not this creator's public videos are simply absent.
    let found: Vec<Value> = ids
        .iter()
        .filter_map(|id| id.trim().parse::<u64>().ok())
        .filter_map(|id| videos.iter().find(|video| video.id == id))
        .map(|video| video_json(video, now, &creator.username))
        .collect();
    Ok(json!({ "videos": found, "cursor": 0, "has_more": false }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_start_at_zero_never_fall_and_keep_their_proportions() {
        let id = 7_602_997_517_160_123_666;
        assert_eq!(counts(id, 0), (0, 0, 0, 0));
        assert_eq!(counts(id, -60), (0, 0, 0, 0));
        let mut last = counts(id, 0);
        for age in (60..=90 * 86_400).step_by(3_571) {
            let now = counts(id, age);
            assert!(now.0 >= last.0 && now.1 >= last.1 && now.2 >= last.2 && now.3 >= last.3);
            assert!(now.1 <= now.0 && now.2 <= now.1 && now.3 <= now.1);
            last = now;
        }
        let (day_one, ..) = counts(id, 86_400);
        let (week, ..) = counts(id, 7 * 86_400);
        assert!(day_one > 0 && week > day_one);
        assert_eq!(counts(id, 5_000), counts(id, 5_000), "deterministic");
    }
}
