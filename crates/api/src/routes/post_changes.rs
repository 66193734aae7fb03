//! Changes to a post people make: cancel, retry as a new post, move in time, edit. An edit or
//! a move is a new revision, written only over the revision and state read; where approval is
//! required it sends the post for approval again (the store decides, in its transaction).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use tokpost_core::{
    Action, EventKind, NewPostEvent, Post, PostContent, PostSpec, PostState, Revision,
    ScheduleTime, StateKind,
};
use tokpost_store::{NewPost, Revise, Transition, TransitionOutcome};
use utoipa::ToSchema;

use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorBody};
use crate::json::JsonBody;
use crate::routes::posts::{
    CreatePost, PostView, full_view, malformed, owned_post, parse_draft, parse_time, required,
};
use crate::state::AppState;

/// Cancels a post that TikTok does not hold yet.
#[utoipa::path(post, path = "/v1/posts/{id}/cancel", tag = "posts",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The post id")),
    responses(
        (status = 200, description = "Cancelled", body = PostView),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`: the role and the roles that may)", body = ErrorBody),
        (status = 404, description = "No such post in this workspace", body = ErrorBody),
        (status = 409, description = "The post can no longer be cancelled (TikTok may hold it, or it is final)", body = ErrorBody),
    ))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<PostView>, ApiError> {
    auth.require(Action::ChangeOwnPost)?;
    let post = owned_post(&state, &auth, &id).await?;
    auth.require_post_change(post.created_by)?;
    let not_cancellable = |current: StateKind| ApiError::Refused {
        status: StatusCode::CONFLICT,
        code: "not_cancellable",
        message: format!(
            "a post in `{}` cannot be cancelled{}",
            current.as_str(),
            if current.tiktok_may_have_it() {
                ": TikTok may already hold it"
            } else {
                ""
            }
        ),
        field: None,
        limit: None,
        measured: Some(json!(current.as_str())),
    };
    if post.state.check_transition(&PostState::Cancelled).is_err() {
        return Err(not_cancellable(post.state.kind()));
    }
    let outcome = state
        .posts()
        .transition_post(Transition {
            post: post.id,
            expected: post.state,
            to: PostState::Cancelled,
            event: NewPostEvent::new(state.now(), EventKind::UserAction, "cancelled")
                .by(auth.principal),
            progress: None,
            quota_use: None,
            next_job: None,
            completes: None,
            lease: None,
        })
        .await?;
    match outcome {
        TransitionOutcome::Applied(post) => Ok(Json(full_view(&state, *post).await?)),
        // Refused from the very state it was read in: its init was recorded, so TikTok may
        // already be taking it.
        TransitionOutcome::Stale { current } if current == post.state => Err(ApiError::Refused {
            status: StatusCode::CONFLICT,
            code: "init_in_flight",
            message: "the post is being sent to TikTok (its init request went out); it can no longer be cancelled. Follow it: if TikTok refuses it, it fails; if TikTok takes it, delete it on TikTok".to_owned(),
            field: None,
            limit: None,
            measured: Some(json!(current.kind().as_str())),
        }),
        TransitionOutcome::Stale { current } => Err(not_cancellable(current.kind())),
        TransitionOutcome::LeaseLost => Err(ApiError::refused(
            StatusCode::CONFLICT,
            "state_changed",
            "the post changed meanwhile; read it and try again",
        )),
    }
}

/// When to publish.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct When {
    /// RFC 3339 with an offset; absent means now.
    scheduled_at: Option<String>,
}

fn schedule_from(state: &AppState, when: Option<&str>) -> Result<ScheduleTime, ApiError> {
    let now = state.now();
    let at = when
        .map(|t| parse_time(t, "scheduled_at"))
        .transpose()?
        .unwrap_or(now);
    Ok(ScheduleTime::new(at, now)?)
}

/// A new post copying a failed (or missed) one, for when the cause was fixed.
#[utoipa::path(post, path = "/v1/posts/{id}/retry", tag = "posts",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The failed post's id")),
    request_body(content = Option<When>, description = "Optional new time"),
    responses(
        (status = 201, description = "The new post", body = PostView),
        (status = 400, description = "Not JSON, or not this shape", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`: the role and the roles that may)", body = ErrorBody),
        (status = 404, description = "No such post in this workspace", body = ErrorBody),
        (status = 409, description = "Only failed or missed posts are retried", body = ErrorBody),
        (status = 422, description = "The time is not acceptable", body = ErrorBody),
    ))]
pub(crate) async fn retry(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<PostView>), ApiError> {
    auth.require(Action::ChangeOwnPost)?;
    let old = owned_post(&state, &auth, &id).await?;
    auth.require_post_change(old.created_by)?;
    let when: When = if body.iter().all(u8::is_ascii_whitespace) {
        When { scheduled_at: None }
    } else {
        crate::json::parse(&body)?
    };
    if !matches!(old.state.kind(), StateKind::Failed | StateKind::Missed) {
        return Err(ApiError::Refused {
            status: StatusCode::CONFLICT,
            code: "not_retryable",
            message: format!(
                "only failed or missed posts are retried; this one is `{}`",
                old.state.kind().as_str()
            ),
            field: None,
            limit: None,
            measured: Some(json!(old.state.kind().as_str())),
        });
    }
    let scheduled_at = schedule_from(&state, when.scheduled_at.as_deref())?;
    let now = state.now();
    let new = state
        .posts()
        .create_post(
            NewPost {
                workspace_id: old.workspace_id,
                account_id: old.account_id,
                spec: old.spec.clone(),
                scheduled_at,
                idempotency_key: None,
                created_by: auth.principal,
            },
            now,
        )
        .await?
        .into_inner();
    state
        .posts()
        .append_post_event(
            old.id,
            NewPostEvent::new(
                now,
                EventKind::UserAction,
                format!("retried as post {}", new.id),
            )
            .by(auth.principal),
        )
        .await?;
    state
        .posts()
        .append_post_event(
            new.id,
            NewPostEvent::new(now, EventKind::Note, format!("a retry of post {}", old.id))
                .by(auth.principal),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(full_view(&state, new).await?)))
}

/// Moves a post that has not started to another time, unless a rolling 24 hours around that
/// time already holds the creator's daily cap of posts (the post would only wait there). Where
/// approval is required, a post approved before is sent for approval again.
#[utoipa::path(post, path = "/v1/posts/{id}/reschedule", tag = "posts",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The post id")),
    request_body = When,
    responses(
        (status = 200, description = "Rescheduled (`awaiting_approval` when its account requires approval)", body = PostView),
        (status = 400, description = "Not JSON, or not this shape", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`: the role and the roles that may)", body = ErrorBody),
        (status = 404, description = "No such post in this workspace", body = ErrorBody),
        (status = 409, description = "The post has started (or ended), or changed meanwhile", body = ErrorBody),
        (status = 422, description = "The time is not acceptable: in the past, more than a year ahead, or in a rolling 24 hours that already holds the creator's daily cap of posts (`daily_post_cap_planned`)", body = ErrorBody),
    ))]
pub(crate) async fn reschedule(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    JsonBody(when): JsonBody<When>,
) -> Result<Json<PostView>, ApiError> {
    auth.require(Action::ChangeOwnPost)?;
    let post = owned_post(&state, &auth, &id).await?;
    auth.require_post_change(post.created_by)?;
    let text = when.scheduled_at.ok_or_else(|| required("scheduled_at"))?;
    let scheduled_at = schedule_from(&state, Some(&text))?;
    revise(
        &state,
        &auth,
        post,
        None,
        scheduled_at,
        format!("rescheduled to {}", scheduled_at.at()),
    )
    .await
}

/// Replaces what a post that has not started will publish: the same body as creating one
/// (`scheduled_at` absent keeps its time; `account_id` absent keeps its account, and cannot
/// change). Where approval is required it goes to `awaiting_approval`, approved before or not;
/// a rejected post edited this way is sent for approval again.
#[utoipa::path(put, path = "/v1/posts/{id}", tag = "posts",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The post id")),
    request_body = CreatePost,
    responses(
        (status = 200, description = "Edited: a new revision (`awaiting_approval` when its account requires approval)", body = PostView),
        (status = 400, description = "Not JSON, or not this shape", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`: the role and the roles that may)", body = ErrorBody),
        (status = 404, description = "No such post, account or media in this workspace", body = ErrorBody),
        (status = 409, description = "The post has started or ended (`not_editable`), or was edited since the `revision` sent (`revision_changed`)", body = ErrorBody),
        (status = 422, description = "A rule is broken: code, field, limit, measured", body = ErrorBody),
    ))]
pub(crate) async fn edit(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    JsonBody(mut request): JsonBody<CreatePost>,
) -> Result<Json<PostView>, ApiError> {
    auth.require(Action::ChangeOwnPost)?;
    let post = owned_post(&state, &auth, &id).await?;
    auth.require_post_change(post.created_by)?;
    if request.idempotency_key.is_some() {
        return Err(malformed(
            "idempotency_key",
            "nothing: an edit is not a create (send `revision` to guard against another edit)",
        ));
    }
    if let Some(seen) = request.revision.take() {
        check_revision(&post, seen)?;
    }
    let account = post.account_id.to_string();
    match request.account_id.as_deref() {
        None => request.account_id = Some(account),
        Some(given) if given.trim() == account => {}
        Some(_) => {
            return Err(ApiError::unprocessable(
                "account_fixed",
                "account_id",
                "a post's account cannot change; cancel it and create the post for the other account",
                json!(account),
                json!(request.account_id),
            ));
        }
    }
    let keeps_time = request.scheduled_at.is_none();
    let draft = parse_draft(&state, &auth, request).await?;
    let scheduled_at = if keeps_time {
        post.scheduled_at
    } else {
        draft.scheduled_at
    };
    let changes = changed_parts(&post.spec, &draft.spec, post.scheduled_at != scheduled_at);
    if changes.is_empty() {
        return Ok(Json(full_view(&state, post).await?));
    }
    revise(
        &state,
        &auth,
        post,
        Some(draft.spec),
        scheduled_at,
        format!("edited: {}", changes.join(", ")),
    )
    .await
}

/// What an edit changed, in words ("caption", "who can view", "time").
fn changed_parts(old: &PostSpec, new: &PostSpec, time: bool) -> Vec<&'static str> {
    let mut parts = Vec::new();
    if old.content != new.content {
        parts.push(match (&old.content, &new.content) {
            (PostContent::Video { media: a, .. }, PostContent::Video { media: b, .. })
                if a == b =>
            {
                "caption or cover"
            }
            (PostContent::Photos { media: a, .. }, PostContent::Photos { media: b, .. })
                if a == b =>
            {
                "title, description or cover"
            }
            _ => "media",
        });
    }
    if old.privacy != new.privacy {
        parts.push("who can view");
    }
    if old.interactions != new.interactions {
        parts.push("comments, duet or stitch");
    }
    if old.brand_content != new.brand_content
        || old.brand_organic != new.brand_organic
        || old.is_aigc != new.is_aigc
    {
        parts.push("disclosure");
    }
    if old.mode != new.mode || old.source != new.source || old.auto_add_music != new.auto_add_music
    {
        parts.push("how it is posted");
    }
    if time {
        parts.push("time");
    }
    parts
}

/// 409 `revision_changed` unless the post is still at the revision the caller saw.
pub(crate) fn check_revision(post: &Post, seen: u32) -> Result<(), ApiError> {
    if post.revision == Revision(seen) {
        return Ok(());
    }
    Err(ApiError::Refused {
        status: StatusCode::CONFLICT,
        code: "revision_changed",
        message: format!(
            "the post was edited since revision {seen} was read; it is at revision {}: read it again",
            post.revision
        ),
        field: Some("revision".to_owned()),
        limit: None,
        measured: Some(json!(post.revision.0)),
    })
}

/// The states an edit or a move in time may start from.
const EDITABLE: &str = "`scheduled`, `awaiting_approval`, `rejected`, or prepared ahead (`preflighted`, `creator_checked`) and more than {frozen} s before its time";

async fn revise(
    state: &AppState,
    auth: &Authenticated,
    post: Post,
    spec: Option<PostSpec>,
    scheduled_at: ScheduleTime,
    what: String,
) -> Result<Json<PostView>, ApiError> {
    let frozen = tokpost_pipeline::policy::PREPARED_POST_FROZEN_FOR;
    let started = |current: StateKind| ApiError::Refused {
        status: StatusCode::CONFLICT,
        code: "not_editable",
        message: format!(
            "this post is `{}`; only a post not yet sent to TikTok changes: {}",
            current.as_str(),
            EDITABLE.replace("{frozen}", &frozen.as_secs().to_string())
        ),
        field: None,
        limit: None,
        measured: Some(json!(current.as_str())),
    };
    if !post.state.kind().is_editable() {
        return Err(started(post.state.kind()));
    }
    if scheduled_at != post.scheduled_at
        && let Some(refusal) =
            super::planning::daily_cap_refusal(state, &post, scheduled_at.at()).await?
    {
        return Err(refusal);
    }
    let now = state.now();
    let revised = state
        .posts()
        .revise_post(
            Revise {
                post: post.id,
                expected: post.state,
                revision: post.revision,
                spec,
                scheduled_at,
                event: NewPostEvent::new(now, EventKind::Edited, what).by(auth.principal),
                prepared_frozen_from: clock::add(now, frozen),
            },
            now,
        )
        .await?;
    match revised {
        Some(post) => Ok(Json(full_view(state, post).await?)),
        None => {
            let current = owned_post(state, auth, &post.id.to_string()).await?;
            check_revision(&current, post.revision.0)?;
            Err(started(current.state.kind()))
        }
    }
}
