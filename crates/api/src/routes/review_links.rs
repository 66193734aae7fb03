//! Review links: a post shown to a reviewer outside the team, who approves or rejects it without
//! signing in. The team makes, lists and revokes links (the link itself is shown once, and
//! emailed when the server can); the reviewer opens one (`/v1/review-links/open`) and decides
//! (`/v1/review-links/decide`) with the link's secret in the body, never in a URL the server
//! logs. A decision goes through the same path as the team's (`approvals::decide`), recorded as
//! the link's.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokpost_core::{Action, EventKind, PostId, ReviewLinkId, StateKind};
use tokpost_store::{NewReviewLink, ReviewLink};
use utoipa::ToSchema;

use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorBody};
use crate::json::JsonBody;
use crate::people;
use crate::routes::actors::{ActorView, Actors};
use crate::routes::approvals::{DecisionRequest, comment_text, decide, rejection_needs_a_comment};
use crate::routes::parse_id;
use crate::routes::posts::owned_post;
use crate::routes::sessions::closed_link;
use crate::state::AppState;

/// How long a review link works unless its maker says otherwise.
pub(crate) const DEFAULT_LIFETIME_HOURS: u32 = 72;
/// The longest a review link may work.
pub(crate) const MAX_LIFETIME_HOURS: u32 = 30 * 24;

/// A review link to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateReviewLink {
    /// Who it is for, as they will be named in the post's history ("Dana at Acme").
    reviewer_name: Option<String>,
    /// Emailed the link when given and the server can send email.
    reviewer_email: Option<String>,
    /// 1 to 720 hours (default 72).
    expires_in_hours: Option<u32>,
}

/// A review link (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReviewLinkView {
    #[schema(value_type = String, format = Uuid)]
    id: ReviewLinkId,
    #[schema(value_type = String, format = Uuid)]
    post_id: PostId,
    reviewer_name: String,
    reviewer_email: Option<String>,
    created_by: Option<ActorView>,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    expires_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    revoked_at: Option<Timestamp>,
    /// Whether the link opens its post now.
    open: bool,
}

/// A link just made: the only time its URL is shown.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedReviewLink {
    link: ReviewLinkView,
    /// Give this to the reviewer; it is not shown again.
    url: String,
    /// Whether it was emailed to `reviewer_email`.
    emailed: bool,
    /// Why it was not emailed, when an email was given.
    email_problem: Option<String>,
}

/// A post's review links.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReviewLinkList {
    links: Vec<ReviewLinkView>,
}

async fn link_view(
    actors: &mut Actors<'_>,
    link: ReviewLink,
    now: Timestamp,
) -> Result<ReviewLinkView, ApiError> {
    let created_by = match link.created_by {
        Some(by) => Some(actors.view(by).await?),
        None => None,
    };
    Ok(ReviewLinkView {
        open: link.is_open(now),
        id: link.id,
        post_id: link.post_id,
        reviewer_name: link.reviewer_name,
        reviewer_email: link.reviewer_email,
        created_by,
        created_at: link.created_at,
        expires_at: link.expires_at,
        revoked_at: link.revoked_at,
    })
}

/// Makes a link that shows one post to a reviewer outside the team, who may approve or reject
/// it while it awaits approval.
#[utoipa::path(post, path = "/v1/posts/{id}/review-links", tag = "approval",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The post id")),
    request_body = CreateReviewLink,
    responses(
        (status = 201, description = "The link, shown once", body = CreatedReviewLink),
        (status = 400, description = "Not JSON, or not this shape", body = ErrorBody),
        (status = 401, description = "No valid API key or session", body = ErrorBody),
        (status = 403, description = "The caller's role may not change this post (code `forbidden`)", body = ErrorBody),
        (status = 404, description = "No such post in this workspace", body = ErrorBody),
        (status = 409, description = "The post is final (`post_final`)", body = ErrorBody),
        (status = 422, description = "No name, a malformed email, or a lifetime outside 1–720 hours", body = ErrorBody),
    ))]
pub(crate) async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<CreateReviewLink>,
) -> Result<(StatusCode, Json<CreatedReviewLink>), ApiError> {
    auth.require(Action::ChangeOwnPost)?;
    let post = owned_post(&state, &auth, &id).await?;
    auth.require_post_change(post.created_by)?;
    let name = people::normalize_name(
        request.reviewer_name.as_deref().unwrap_or_default(),
        "reviewer_name",
    )?;
    let email = request
        .reviewer_email
        .as_deref()
        .filter(|email| !email.trim().is_empty())
        .map(|email| people::normalize_email(email, "reviewer_email"))
        .transpose()?;
    let hours = request.expires_in_hours.unwrap_or(DEFAULT_LIFETIME_HOURS);
    if !(1..=MAX_LIFETIME_HOURS).contains(&hours) {
        return Err(ApiError::unprocessable(
            "out_of_range",
            "expires_in_hours",
            format!("a review link works for 1 to {MAX_LIFETIME_HOURS} hours; {hours} was asked"),
            json!(MAX_LIFETIME_HOURS),
            json!(hours),
        ));
    }
    if post.state.is_final() {
        return Err(ApiError::refused(
            StatusCode::CONFLICT,
            "post_final",
            format!(
                "this post is `{}`: there is nothing left to review",
                post.state.kind().as_str()
            ),
        ));
    }
    let (secret, secret_hash) = people::link_secret("tpl_");
    let now = state.now();
    let link = state
        .review_links()
        .create_review_link(
            NewReviewLink {
                workspace_id: auth.workspace_id,
                post_id: post.id,
                reviewer_name: name,
                reviewer_email: email,
                secret_hash,
                created_by: auth.principal,
                expires_at: clock::add(now, Duration::from_secs(u64::from(hours) * 3_600)),
            },
            now,
        )
        .await?;
    let url = state.link(&format!("review/{secret}"));
    let (emailed, email_problem) = match (&link.reviewer_email, &state.settings.mailer) {
        (None, _) => (false, None),
        (Some(_), None) => (
            false,
            Some(
                "email is not configured on this server (email.smtp_url); send the link yourself"
                    .to_owned(),
            ),
        ),
        (Some(to), Some(mailer)) => {
            let workspace = state
                .workspaces()
                .workspace(auth.workspace_id)
                .await?
                .map_or_else(|| "A team".to_owned(), |workspace| workspace.name);
            match mailer
                .send(
                    to,
                    &format!("{workspace} asks you to review a TikTok post"),
                    &format!(
                        "Hello {name},\n\n{workspace} asks you to review a TikTok post before it \
                         goes out. Open this link to see it exactly as it will be published, and \
                         approve it or say what should change (no account needed; the link works \
                         until {until}):\n{url}\n\nThe link is yours: anyone holding it can \
                         decide on this post.\n",
                        name = link.reviewer_name,
                        until = link.expires_at,
                    ),
                )
                .await
            {
                Ok(()) => (true, None),
                Err(error) => {
                    tracing::warn!(%error, "a review link could not be emailed");
                    (false, Some(format!("{error}; send the link yourself")))
                }
            }
        }
    };
    let mut actors = Actors::new(&state, auth.workspace_id);
    Ok((
        StatusCode::CREATED,
        Json(CreatedReviewLink {
            link: link_view(&mut actors, link, now).await?,
            url,
            emailed,
            email_problem,
        }),
    ))
}

/// A post's review links, newest first.
#[utoipa::path(get, path = "/v1/posts/{id}/review-links", tag = "approval",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The post id")),
    responses(
        (status = 200, description = "The links", body = ReviewLinkList),
        (status = 401, description = "No valid API key or session", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`)", body = ErrorBody),
        (status = 404, description = "No such post in this workspace", body = ErrorBody),
    ))]
pub(crate) async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<ReviewLinkList>, ApiError> {
    auth.require(Action::Read)?;
    let post = owned_post(&state, &auth, &id).await?;
    let now = state.now();
    let mut actors = Actors::new(&state, auth.workspace_id);
    let mut links = Vec::new();
    for link in state.review_links().review_links(post.id).await? {
        links.push(link_view(&mut actors, link, now).await?);
    }
    Ok(Json(ReviewLinkList { links }))
}

/// Revokes an open review link: it stops working at once.
#[utoipa::path(delete, path = "/v1/review-links/{id}", tag = "approval",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The review link id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No valid API key or session", body = ErrorBody),
        (status = 403, description = "The caller's role may not change this post (code `forbidden`)", body = ErrorBody),
        (status = 404, description = "No open review link with this id in this workspace", body = ErrorBody),
    ))]
pub(crate) async fn revoke(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require(Action::ChangeOwnPost)?;
    let id: ReviewLinkId = parse_id(&id, "review link")?;
    let link = state
        .review_links()
        .review_link(id)
        .await?
        .filter(|link| link.workspace_id == auth.workspace_id)
        .ok_or(ApiError::NotFound("review link"))?;
    let post = owned_post(&state, &auth, &link.post_id.to_string()).await?;
    auth.require_post_change(post.created_by)?;
    if state
        .review_links()
        .revoke_review_link(id, auth.workspace_id, state.now())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("review link"))
    }
}

/// What a review link shows.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReviewView {
    /// Who the link is for.
    reviewer_name: String,
    #[schema(value_type = String, format = DateTime)]
    expires_at: Timestamp,
    /// The team asking.
    workspace_name: String,
    /// The TikTok account it goes out on.
    account_name: String,
    /// Its @username, as TikTok last reported it (empty before the first creator info).
    account_username: String,
    #[schema(value_type = String, format = Uuid)]
    post_id: PostId,
    /// The post's state (`awaiting_approval` while a decision is possible).
    state: String,
    /// Send it back with a decision.
    revision: u32,
    #[schema(value_type = String, format = DateTime)]
    scheduled_at: Timestamp,
    /// Everything that goes out: media, caption or title and description, who can view it,
    /// interactions, disclosure.
    #[schema(value_type = Object)]
    spec: Value,
    /// Whether the link may approve or reject now.
    decidable: bool,
    /// What this link decided or said before, oldest first.
    history: Vec<ReviewEvent>,
}

/// A decision or comment made through the link.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReviewEvent {
    #[schema(value_type = String, format = DateTime)]
    at: Timestamp,
    /// `approved`, `rejected` or `comment`.
    kind: String,
    message: String,
}

/// A reviewer's decision through a link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LinkDecision {
    /// The secret from the link (`tpl_…`).
    token: String,
    /// `approve` or `reject`.
    decision: String,
    /// The revision shown (`revision` from `/v1/review-links/open`).
    revision: Option<u32>,
    /// Required to reject: what should change.
    comment: Option<String>,
}

async fn open_link(state: &AppState, token: &str) -> Result<ReviewLink, ApiError> {
    state
        .review_links()
        .review_link_by_hash(&crate::auth::hash_key(token.trim()))
        .await?
        .filter(|link| link.is_open(state.now()))
        .ok_or_else(|| closed_link("review"))
}

async fn review_view(state: &AppState, link: ReviewLink) -> Result<ReviewView, ApiError> {
    let post = state
        .posts()
        .post(link.post_id)
        .await?
        .ok_or(ApiError::NotFound("post"))?;
    let account_name = state
        .accounts()
        .account(post.account_id)
        .await?
        .map_or_else(String::new, |account| account.display_name);
    let account_username = state
        .accounts()
        .latest_creator_info(post.account_id)
        .await?
        .and_then(|snapshot| snapshot.username().map(str::to_owned))
        .unwrap_or_default();
    let workspace_name = state
        .workspaces()
        .workspace(link.workspace_id)
        .await?
        .map_or_else(String::new, |workspace| workspace.name);
    let by_link = link.principal();
    let history = state
        .posts()
        .post_events(post.id)
        .await?
        .into_iter()
        .filter(|event| {
            event.by == by_link
                && matches!(
                    event.kind,
                    EventKind::Approved | EventKind::Rejected | EventKind::Comment
                )
        })
        .map(|event| ReviewEvent {
            at: event.at,
            kind: event.kind.as_str().to_owned(),
            message: event.message,
        })
        .collect();
    Ok(ReviewView {
        reviewer_name: link.reviewer_name,
        expires_at: link.expires_at,
        workspace_name,
        account_name,
        account_username,
        post_id: post.id,
        state: post.state.kind().as_str().to_owned(),
        revision: post.revision.0,
        scheduled_at: post.scheduled_at.at(),
        spec: serde_json::to_value(&post.spec).unwrap_or(Value::Null),
        decidable: post.state.kind() == StateKind::AwaitingApproval,
        history,
    })
}

/// What a review link shows (no credential: the link is the credential).
#[utoipa::path(post, path = "/v1/review-links/open", tag = "approval",
    request_body = crate::routes::sessions::LinkToken,
    responses(
        (status = 200, description = "The post as it will go out", body = ReviewView),
        (status = 400, description = "Not JSON, or not this shape", body = ErrorBody),
        (status = 410, description = "Unknown, revoked or expired (`link_closed`)", body = ErrorBody),
    ))]
pub(crate) async fn open(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<crate::routes::sessions::LinkToken>,
) -> Result<Json<ReviewView>, ApiError> {
    let link = open_link(&state, &request.token).await?;
    Ok(Json(review_view(&state, link).await?))
}

/// Approves or rejects the link's post (no credential: the link is the credential). The
/// decision is recorded as the reviewer's, named as the link names them.
#[utoipa::path(post, path = "/v1/review-links/decide", tag = "approval",
    request_body = LinkDecision,
    responses(
        (status = 200, description = "Decided: what the link shows now", body = ReviewView),
        (status = 400, description = "Not JSON, or not this shape", body = ErrorBody),
        (status = 409, description = "Not awaiting approval, edited since the revision shown (`revision_changed`), or its time passed longer ago than the late grace (`approval_too_late`: the team picks a new time)", body = ErrorBody),
        (status = 410, description = "Unknown, revoked or expired (`link_closed`)", body = ErrorBody),
        (status = 422, description = "An unknown decision, a rejection without a comment, or a comment too long", body = ErrorBody),
    ))]
pub(crate) async fn decide_by_link(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<LinkDecision>,
) -> Result<Json<ReviewView>, ApiError> {
    let link = open_link(&state, &request.token).await?;
    let approve = match request.decision.trim() {
        "approve" => true,
        "reject" => false,
        other => {
            return Err(ApiError::unprocessable(
                "unknown_decision",
                "decision",
                format!("`{other}` is not a decision: approve or reject"),
                json!(["approve", "reject"]),
                json!(other),
            ));
        }
    };
    let comment = comment_text(request.comment.as_deref(), "comment")?;
    if !approve && comment.is_none() {
        return Err(rejection_needs_a_comment());
    }
    let post = state
        .posts()
        .post(link.post_id)
        .await?
        .filter(|post| post.workspace_id == link.workspace_id)
        .ok_or(ApiError::NotFound("post"))?;
    decide(
        &state,
        post,
        link.principal(),
        DecisionRequest {
            approve,
            revision: request.revision,
            scheduled_at: None,
            comment,
        },
    )
    .await?;
    Ok(Json(review_view(&state, link).await?))
}
