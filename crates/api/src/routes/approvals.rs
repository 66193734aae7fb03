//! Approval before publishing: the workspace's setting and each account's override, approving
//! or rejecting a post that awaits approval, and comments on a post.
//!
//! One decision path ([`decide`]) serves the team (owners and reviewers, here) and review links
//! (`review_links`): it checks the post still awaits approval at the revision the decider saw,
//! applies the late rule (`tokpost_core::late_approval`: within the late grace a late approval
//! goes out now, beyond it the approval must give a new time), and records who decided.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::SignedDuration;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokpost_core::{
    AccountApproval, AccountId, Action, EventKind, LateApproval, NewPostEvent, Post, PostState,
    Principal, ScheduleTime, late_approval,
};
use tokpost_store::{Decision, Verdict};
use utoipa::ToSchema;

use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorBody};
use crate::json::JsonBody;
use crate::routes::parse_id;
use crate::routes::post_changes::check_revision;
use crate::routes::posts::{PostView, full_view, owned_post, parse_time, required};
use crate::state::AppState;

/// The longest comment accepted (with a rejection, or on its own).
pub(crate) const MAX_COMMENT_CHARS: usize = 2_000;

/// 422 for a rejection without a comment: the author needs to know what to change.
pub(crate) fn rejection_needs_a_comment() -> ApiError {
    ApiError::Refused {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code: "required",
        message: "a rejection goes back to the post's author: say in `comment` what should change"
            .to_owned(),
        field: Some("comment".to_owned()),
        limit: None,
        measured: None,
    }
}

/// An approval.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Approve {
    /// The revision you reviewed (`revision` of the post). Recommended: without it, whatever
    /// revision the post is at when the approval arrives is approved.
    revision: Option<u32>,
    /// A new time (RFC 3339 with an offset). Required when the post's time passed longer ago
    /// than the late grace (`approval_too_late`).
    scheduled_at: Option<String>,
    /// A note for the author, kept in the post's history.
    comment: Option<String>,
}

/// A rejection.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Reject {
    /// The revision you reviewed.
    revision: Option<u32>,
    /// Required: what the author should change.
    comment: Option<String>,
}

/// A comment on a post.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewComment {
    /// Up to 2,000 characters.
    text: Option<String>,
}

/// What someone decided, parsed.
pub(crate) struct DecisionRequest {
    pub(crate) approve: bool,
    pub(crate) revision: Option<u32>,
    pub(crate) scheduled_at: Option<ScheduleTime>,
    pub(crate) comment: Option<String>,
}

/// A comment, trimmed and within [`MAX_COMMENT_CHARS`]; `None` when blank.
///
/// # Errors
/// 422 `too_long`.
pub(crate) fn comment_text(text: Option<&str>, field: &str) -> Result<Option<String>, ApiError> {
    let Some(text) = text.map(str::trim).filter(|text| !text.is_empty()) else {
        return Ok(None);
    };
    let chars = text.chars().count();
    if chars > MAX_COMMENT_CHARS {
        return Err(ApiError::unprocessable(
            "too_long",
            field,
            format!("the comment has {chars} characters; the limit is {MAX_COMMENT_CHARS}"),
            json!(MAX_COMMENT_CHARS),
            json!(chars),
        ));
    }
    Ok(Some(text.to_owned()))
}

fn words(duration: std::time::Duration) -> String {
    let whole = std::time::Duration::from_secs(duration.as_secs());
    format!(
        "{:#}",
        SignedDuration::try_from(whole).unwrap_or(SignedDuration::MAX)
    )
}

/// Decides on `post` for `by`: the one path of every approval and rejection.
///
/// # Errors
/// 409 `not_awaiting_approval`, `revision_changed`, `approval_too_late`, `state_changed`; 422
/// for a new time the daily cap or the calendar refuses.
pub(crate) async fn decide(
    state: &AppState,
    post: Post,
    by: Principal,
    request: DecisionRequest,
) -> Result<Post, ApiError> {
    if post.state != PostState::AwaitingApproval {
        return Err(ApiError::Refused {
            status: StatusCode::CONFLICT,
            code: "not_awaiting_approval",
            message: format!(
                "only a post awaiting approval is approved or rejected; this one is `{}`",
                post.state.kind().as_str()
            ),
            field: None,
            limit: None,
            measured: Some(json!(post.state.kind().as_str())),
        });
    }
    if let Some(seen) = request.revision {
        check_revision(&post, seen)?;
    }
    let now = state.now();
    let revision = post.revision;
    let comment = request
        .comment
        .as_deref()
        .map_or_else(String::new, |text| format!(": {text}"));
    let (verdict, message) = if request.approve {
        if let Some(at) = request.scheduled_at
            && let Some(refusal) = super::planning::daily_cap_refusal(state, &post, at.at()).await?
        {
            return Err(refusal);
        }
        let due = request
            .scheduled_at
            .map_or_else(|| post.scheduled_at.at(), ScheduleTime::at);
        let grace = state.pipeline.publisher().policy().late_grace;
        let (run_at, late) = match late_approval(due, now, grace) {
            LateApproval::OnTime => (due, String::new()),
            LateApproval::WithinGrace { late } => (
                now,
                format!(
                    ", {} after its time: it goes out now (within the late grace of {})",
                    words(late),
                    words(grace)
                ),
            ),
            LateApproval::TooLate { late } => {
                return Err(ApiError::Refused {
                    status: StatusCode::CONFLICT,
                    code: "approval_too_late",
                    message: format!(
                        "its time, {due}, passed {} ago, more than the late grace of {}: it would go out that late, so approve it with a new `scheduled_at`",
                        words(late),
                        words(grace)
                    ),
                    field: Some("scheduled_at".to_owned()),
                    limit: Some(json!(grace.as_secs())),
                    measured: Some(json!(late.as_secs())),
                });
            }
        };
        let when = request
            .scheduled_at
            .map_or_else(String::new, |at| format!(" for {}", at.at()));
        (
            Verdict::Approve {
                scheduled_at: request.scheduled_at,
                run_at,
            },
            format!("approved revision {revision}{when}{late}{comment}"),
        )
    } else {
        (
            Verdict::Reject,
            format!("rejected revision {revision}{comment}"),
        )
    };
    let kind = if request.approve {
        EventKind::Approved
    } else {
        EventKind::Rejected
    };
    let decided = state
        .posts()
        .decide_post(
            Decision {
                post: post.id,
                revision,
                verdict,
                event: NewPostEvent::new(now, kind, message).by(by),
            },
            now,
        )
        .await?;
    decided.ok_or_else(|| {
        ApiError::refused(
            StatusCode::CONFLICT,
            "state_changed",
            "the post was decided, edited or cancelled meanwhile; read it again",
        )
    })
}

/// Approves a post awaiting approval: it is scheduled (and checked again before it goes out).
#[utoipa::path(post, path = "/v1/posts/{id}/approve", tag = "approval",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The post id")),
    request_body(content = Option<Approve>, description = "Optional: the revision reviewed, a new time, a comment"),
    responses(
        (status = 200, description = "Approved: `scheduled`", body = PostView),
        (status = 400, description = "Not JSON, or not this shape", body = ErrorBody),
        (status = 401, description = "No valid API key or session", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`: owners and reviewers decide)", body = ErrorBody),
        (status = 404, description = "No such post in this workspace", body = ErrorBody),
        (status = 409, description = "Not awaiting approval, edited since the revision sent (`revision_changed`), or its time passed longer ago than the late grace (`approval_too_late`: send a new `scheduled_at`)", body = ErrorBody),
        (status = 422, description = "The new time is not acceptable, or the comment is too long", body = ErrorBody),
    ))]
pub(crate) async fn approve(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<PostView>, ApiError> {
    auth.require(Action::Review)?;
    let request: Approve = if body.iter().all(u8::is_ascii_whitespace) {
        Approve::default()
    } else {
        crate::json::parse(&body)?
    };
    let post = owned_post(&state, &auth, &id).await?;
    let scheduled_at = request
        .scheduled_at
        .as_deref()
        .map(|text| {
            let at = parse_time(text, "scheduled_at")?;
            Ok::<_, ApiError>(ScheduleTime::new(at, state.now())?)
        })
        .transpose()?;
    let decided = decide(
        &state,
        post,
        auth.principal,
        DecisionRequest {
            approve: true,
            revision: request.revision,
            scheduled_at,
            comment: comment_text(request.comment.as_deref(), "comment")?,
        },
    )
    .await?;
    Ok(Json(full_view(&state, decided).await?))
}

/// Rejects a post awaiting approval, with a comment: back to its author, who edits it (which
/// asks for approval again) or cancels it.
#[utoipa::path(post, path = "/v1/posts/{id}/reject", tag = "approval",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The post id")),
    request_body = Reject,
    responses(
        (status = 200, description = "Rejected", body = PostView),
        (status = 400, description = "Not JSON, or not this shape", body = ErrorBody),
        (status = 401, description = "No valid API key or session", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`: owners and reviewers decide)", body = ErrorBody),
        (status = 404, description = "No such post in this workspace", body = ErrorBody),
        (status = 409, description = "Not awaiting approval, or edited since the revision sent (`revision_changed`)", body = ErrorBody),
        (status = 422, description = "No comment, or too long", body = ErrorBody),
    ))]
pub(crate) async fn reject(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<Reject>,
) -> Result<Json<PostView>, ApiError> {
    auth.require(Action::Review)?;
    let comment = comment_text(request.comment.as_deref(), "comment")?
        .ok_or_else(rejection_needs_a_comment)?;
    let post = owned_post(&state, &auth, &id).await?;
    let decided = decide(
        &state,
        post,
        auth.principal,
        DecisionRequest {
            approve: false,
            revision: request.revision,
            scheduled_at: None,
            comment: Some(comment),
        },
    )
    .await?;
    Ok(Json(full_view(&state, decided).await?))
}

/// Adds a comment to a post's history (any role; the post does not change).
#[utoipa::path(post, path = "/v1/posts/{id}/comments", tag = "approval",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The post id")),
    request_body = NewComment,
    responses(
        (status = 201, description = "The post with the comment in its history", body = PostView),
        (status = 400, description = "Not JSON, or not this shape", body = ErrorBody),
        (status = 401, description = "No valid API key or session", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`)", body = ErrorBody),
        (status = 404, description = "No such post in this workspace", body = ErrorBody),
        (status = 422, description = "No text, or too long", body = ErrorBody),
    ))]
pub(crate) async fn comment(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<NewComment>,
) -> Result<(StatusCode, Json<PostView>), ApiError> {
    auth.require(Action::Comment)?;
    let text = comment_text(request.text.as_deref(), "text")?.ok_or_else(|| required("text"))?;
    let post = owned_post(&state, &auth, &id).await?;
    state
        .posts()
        .append_post_event(
            post.id,
            NewPostEvent::new(state.now(), EventKind::Comment, text).by(auth.principal),
        )
        .await?;
    let post = owned_post(&state, &auth, &id).await?;
    Ok((StatusCode::CREATED, Json(full_view(&state, post).await?)))
}

/// The workspace's approval settings.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ApprovalSettingsView {
    /// Every post needs approval unless its account says otherwise.
    required: bool,
    /// Each account, its choice and what follows from it.
    accounts: Vec<AccountApprovalView>,
}

/// One account's approval choice.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccountApprovalView {
    #[schema(value_type = String, format = Uuid)]
    account_id: AccountId,
    display_name: String,
    /// `inherit` (the workspace's setting), `required` or `not_required`.
    approval: String,
    /// Whether a post for this account needs approval now.
    requires_approval: bool,
}

/// A change of the approval settings; what is absent stays.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangeApprovalSettings {
    /// Whether every post needs approval unless its account says otherwise.
    required: Option<bool>,
    /// Account id → `inherit`, `required` or `not_required`.
    #[serde(default)]
    accounts: BTreeMap<String, String>,
}

async fn settings_view(
    state: &AppState,
    auth: &Authenticated,
) -> Result<ApprovalSettingsView, ApiError> {
    let settings = state
        .approvals()
        .approval_settings(auth.workspace_id)
        .await?;
    let accounts = state.accounts().accounts(auth.workspace_id).await?;
    Ok(ApprovalSettingsView {
        required: settings.workspace_requires,
        accounts: accounts
            .into_iter()
            .map(|account| AccountApprovalView {
                account_id: account.id,
                display_name: account.display_name,
                approval: settings.choice(account.id).as_str().to_owned(),
                requires_approval: settings.requires(account.id),
            })
            .collect(),
    })
}

/// Who must approve before a post goes out: the workspace's setting and each account's.
#[utoipa::path(get, path = "/v1/approval-settings", tag = "approval",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The settings", body = ApprovalSettingsView),
        (status = 401, description = "No valid API key or session", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`)", body = ErrorBody),
    ))]
pub(crate) async fn settings(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<ApprovalSettingsView>, ApiError> {
    auth.require(Action::Read)?;
    Ok(Json(settings_view(&state, &auth).await?))
}

/// Changes who must approve. Posts already waiting keep waiting; a post created or edited
/// from now on follows the new settings.
#[utoipa::path(put, path = "/v1/approval-settings", tag = "approval",
    security(("api_key" = [])),
    request_body = ChangeApprovalSettings,
    responses(
        (status = 200, description = "The settings now", body = ApprovalSettingsView),
        (status = 400, description = "Not JSON, or not this shape", body = ErrorBody),
        (status = 401, description = "No valid API key or session", body = ErrorBody),
        (status = 403, description = "Only owners change settings (code `forbidden`)", body = ErrorBody),
        (status = 404, description = "An account is not in this workspace", body = ErrorBody),
        (status = 422, description = "An unknown choice", body = ErrorBody),
    ))]
pub(crate) async fn change_settings(
    State(state): State<AppState>,
    auth: Authenticated,
    JsonBody(request): JsonBody<ChangeApprovalSettings>,
) -> Result<Json<ApprovalSettingsView>, ApiError> {
    auth.require(Action::ManageSettings)?;
    let mut choices = Vec::with_capacity(request.accounts.len());
    for (id, choice) in &request.accounts {
        let field = format!("accounts.{id}");
        let account: AccountId = parse_id(id, "account")?;
        let choice = AccountApproval::parse(choice.trim()).ok_or_else(|| {
            ApiError::unprocessable(
                "unknown_choice",
                &field,
                format!("`{choice}` is not a choice: inherit, required or not_required"),
                json!(["inherit", "required", "not_required"]),
                json!(choice),
            )
        })?;
        choices.push((account, choice));
    }
    for (account, _) in &choices {
        state
            .accounts()
            .account(*account)
            .await?
            .filter(|found| found.workspace_id == auth.workspace_id)
            .ok_or(ApiError::NotFound("account"))?;
    }
    if let Some(required) = request.required {
        state
            .approvals()
            .set_workspace_approval(auth.workspace_id, required)
            .await?;
    }
    for (account, choice) in choices {
        state
            .approvals()
            .set_account_approval(auth.workspace_id, account, choice)
            .await?;
    }
    Ok(Json(settings_view(&state, &auth).await?))
}
