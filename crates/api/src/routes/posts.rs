//! Posts: create (stored with its publish job; the pipeline does the rest), validate (the full
//! preflight, nothing stored), list with filters, get with the event history and, on failure,
//! the catalog's classification. Changes to a post live in `post_changes`, decisions on it in
//! `approvals`.
//!
//! Every request is parsed here into `tokpost-core` types; every refusal names the field path
//! as the client sent it (`video.caption`, `photos.media_ids[2]`, `privacy_level`).

use std::str::FromStr as _;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokpost_core::{
    AccountId, IdempotencyKey, InteractionSettings, MediaId, PhotoDescription, PhotoTitle, Post,
    PostContent, PostId, PostMode, PostSpec, PostState, PrivacyLevel, ScheduleTime, StateKind,
    UploadSource, ValidationError, ValidationProblem, VideoCaption,
};
use tokpost_pipeline::PostDraft;
use tokpost_store::{Inserted, MediaKind, NewPost, PostFilter};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorBody};
use crate::json::JsonBody;
use crate::routes::actors::{ActorView, Actors};
use crate::routes::media::{is_url_location, owned_media};
use crate::routes::{paging, parse_id};
use crate::state::AppState;
use tokpost_core::Action;

/// A post to create (or validate). Exactly one of `video` and `photos`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreatePost {
    /// The account that posts.
    pub(crate) account_id: Option<String>,
    video: Option<VideoRequest>,
    photos: Option<PhotosRequest>,
    /// Required, no default: `PUBLIC_TO_EVERYONE`, `MUTUAL_FOLLOW_FRIENDS`,
    /// `FOLLOWER_OF_CREATOR` or `SELF_ONLY` (what the creator allows: creator info).
    privacy_level: Option<String>,
    #[serde(default)]
    disable_comment: bool,
    #[serde(default)]
    disable_duet: bool,
    #[serde(default)]
    disable_stitch: bool,
    /// TikTok's commercial content disclosure switch. When `true`, at least one of
    /// `brand_organic` and `brand_content` must be `true` (TikTok: "You need to indicate if your
    /// content promotes yourself, a third party, or both."). Either flag alone also discloses.
    commercial_disclosure: Option<bool>,
    /// Paid partnership promoting a third party ("Branded content"): never `SELF_ONLY`.
    #[serde(default)]
    brand_content: bool,
    /// Promotes the creator's own business.
    #[serde(default)]
    brand_organic: bool,
    /// AI-generated content.
    #[serde(default)]
    is_aigc: bool,
    /// Photos, direct posts only.
    #[serde(default)]
    auto_add_music: bool,
    /// `direct` (default) or `inbox` (a draft the creator finishes in TikTok).
    mode: Option<String>,
    /// RFC 3339 with an offset (`2026-12-01T18:00:00+01:00`); absent means now (an edit: its
    /// time stays).
    pub(crate) scheduled_at: Option<String>,
    /// Makes the create idempotent (also accepted as the `Idempotency-Key` header).
    pub(crate) idempotency_key: Option<String>,
    /// Edits only (`PUT /v1/posts/{id}`): the revision you read. The edit is refused
    /// (`revision_changed`) if someone edited the post since.
    pub(crate) revision: Option<u32>,
}

/// A video post.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VideoRequest {
    media_id: Option<String>,
    /// Up to 2200 UTF-16 units, hashtags and mentions included.
    #[serde(default)]
    caption: String,
    cover_timestamp_ms: Option<u32>,
    /// How TikTok gets an uploaded video: `file_upload` (tokpost sends it in chunks, the
    /// default) or `pull_from_url` (TikTok downloads it from a signed URL under the configured
    /// `media.pull_base_url`). Media registered by URL are always pulled.
    source: Option<String>,
}

/// A photo post (1–35 photos registered by URL, or uploaded when a pull base URL is configured).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PhotosRequest {
    #[serde(default)]
    media_ids: Vec<String>,
    #[serde(default)]
    cover_index: u32,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
}

/// A post.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PostView {
    #[schema(value_type = String, format = Uuid)]
    id: PostId,
    #[schema(value_type = String, format = Uuid)]
    account_id: AccountId,
    /// The state's name (`scheduled`, `processing`, `published`, `failed`, …).
    state: String,
    /// The state with its data (`until` and `why` of a deferral, `action` and `who` of a failure).
    #[schema(value_type = Object)]
    state_detail: Value,
    /// Everything the user decided.
    #[schema(value_type = Object)]
    spec: Value,
    #[schema(value_type = String, format = DateTime)]
    scheduled_at: Timestamp,
    idempotency_key: Option<String>,
    /// TikTok's id of the current publish.
    publish_id: Option<String>,
    /// TikTok's public post ids, once moderation finished.
    public_post_ids: Vec<String>,
    uploaded_bytes: u64,
    /// The version of its content and time: grows with every edit. Send it back with an edit
    /// or an approval so that neither applies to a version you did not see.
    revision: u32,
    /// Who wrote the post (absent for posts written before tokpost recorded it).
    created_by: Option<ActorView>,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    updated_at: Timestamp,
    /// The history, with TikTok's native answers (single-post answers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    events: Option<Vec<EventView>>,
    /// On failure: what to do, who acts, and the catalog's classification.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    failure: Option<Value>,
}

/// One event of a post's history.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventView {
    sequence: u32,
    #[schema(value_type = String, format = DateTime)]
    at: Timestamp,
    kind: String,
    /// The post's state after the event.
    state: String,
    message: String,
    #[schema(value_type = Option<Object>)]
    native_response: Option<Value>,
    /// Who acted: a person, an API key, a review link, or tokpost itself.
    by: ActorView,
}

/// A page of posts.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PostPage {
    posts: Vec<PostView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
}

fn post_view(post: Post) -> PostView {
    PostView {
        id: post.id,
        account_id: post.account_id,
        state: post.state.kind().as_str().to_owned(),
        state_detail: serde_json::to_value(post.state).unwrap_or(Value::Null),
        spec: serde_json::to_value(&post.spec).unwrap_or(Value::Null),
        scheduled_at: post.scheduled_at.at(),
        idempotency_key: post.idempotency_key.map(String::from),
        publish_id: post.progress.publish_id.map(String::from),
        public_post_ids: post.progress.public_post_ids,
        uploaded_bytes: post.progress.uploaded_bytes,
        revision: post.revision.0,
        created_by: None,
        created_at: post.created_at,
        updated_at: post.updated_at,
        events: None,
        failure: None,
    }
}

/// Posts' views with their authors' names, each author read once.
async fn with_authors(
    state: &AppState,
    workspace: tokpost_core::WorkspaceId,
    posts: Vec<Post>,
) -> Result<Vec<PostView>, ApiError> {
    views_by(Actors::new(state, workspace), posts).await
}

/// Posts' views with their authors' names, as `actors` resolves them.
async fn views_by(mut actors: Actors<'_>, posts: Vec<Post>) -> Result<Vec<PostView>, ApiError> {
    let mut views = Vec::with_capacity(posts.len());
    for post in posts {
        let author = match post.created_by {
            Some(author) => Some(actors.view(author).await?),
            None => None,
        };
        let mut view = post_view(post);
        view.created_by = author;
        views.push(view);
    }
    Ok(views)
}

/// A post's view with its author's name, read only when the author is not `caller`.
async fn with_author(
    state: &AppState,
    caller: &Authenticated,
    post: Post,
) -> Result<PostView, ApiError> {
    let actors = Actors::new(state, post.workspace_id).knowing(caller);
    let mut views = views_by(actors, vec![post]).await?;
    views.pop().ok_or(ApiError::NotFound("post"))
}

/// The post `id` of the caller's workspace; any other answers 404.
pub(crate) async fn owned_post(
    state: &AppState,
    auth: &Authenticated,
    id: &str,
) -> Result<Post, ApiError> {
    let id: PostId = parse_id(id, "post")?;
    state
        .posts()
        .post(id)
        .await?
        .filter(|post| post.workspace_id == auth.workspace_id)
        .ok_or(ApiError::NotFound("post"))
}

/// A post as parsed from a request.
pub(crate) struct Draft {
    pub(crate) account_id: AccountId,
    pub(crate) spec: PostSpec,
    pub(crate) scheduled_at: ScheduleTime,
}

pub(crate) fn required(field: &str) -> ApiError {
    ApiError::Validation(ValidationError::new(field, ValidationProblem::Missing))
}

pub(crate) fn malformed(field: &str, expected: &'static str) -> ApiError {
    ApiError::Validation(ValidationError::new(
        field,
        ValidationProblem::Malformed { expected },
    ))
}

fn not_in_workspace(field: &str, what: &str) -> ApiError {
    ApiError::Refused {
        status: StatusCode::NOT_FOUND,
        code: "not_found",
        message: format!("no {what} with this id in this workspace"),
        field: Some(field.to_owned()),
        limit: None,
        measured: None,
    }
}

fn parse_uuid_field<T: std::str::FromStr>(text: &str, field: &str) -> Result<T, ApiError> {
    text.trim()
        .parse::<T>()
        .map_err(|_| malformed(field, "a UUID"))
}

/// Field paths of the domain's whole-spec rules, renamed to the request's shape.
fn request_field(error: ValidationError, photos: bool) -> ValidationError {
    let field = match error.field.as_str() {
        "content.media" if photos => "photos.media_ids".to_owned(),
        "content.cover_index" if photos => "photos.cover_index".to_owned(),
        "interactions" => "disable_duet".to_owned(),
        other => other.to_owned(),
    };
    ValidationError { field, ..error }
}

pub(crate) fn parse_time(text: &str, field: &str) -> Result<Timestamp, ApiError> {
    Timestamp::from_str(text.trim()).map_err(|_| {
        malformed(
            field,
            "an RFC 3339 time with an offset, e.g. 2026-12-01T18:00:00+01:00",
        )
    })
}

/// The request as domain types, every rule of a post applied (the bulk import's rows too).
pub(crate) async fn parse_draft(
    state: &AppState,
    auth: &Authenticated,
    request: CreatePost,
) -> Result<Draft, ApiError> {
    let now = state.now();
    let account_text = request.account_id.ok_or_else(|| required("account_id"))?;
    let account_id: AccountId = parse_uuid_field(&account_text, "account_id")?;
    state
        .accounts()
        .account(account_id)
        .await?
        .filter(|account| account.workspace_id == auth.workspace_id)
        .ok_or_else(|| not_in_workspace("account_id", "account"))?;
    let privacy = PrivacyLevel::parse(
        request
            .privacy_level
            .as_deref()
            .ok_or_else(|| required("privacy_level"))?,
    )?;
    let mode = match request.mode.as_deref() {
        None | Some("direct") => PostMode::Direct,
        Some("inbox") => PostMode::Inbox,
        Some(_) => return Err(malformed("mode", "direct or inbox")),
    };
    let (content, source) = match (request.video, request.photos) {
        (Some(video), None) => {
            let media_text = video.media_id.ok_or_else(|| required("video.media_id"))?;
            let media_id: MediaId = parse_uuid_field(&media_text, "video.media_id")?;
            let asset = owned_media(state, auth, media_id)
                .await?
                .ok_or_else(|| not_in_workspace("video.media_id", "media"))?;
            if asset.kind != MediaKind::Video {
                return Err(malformed(
                    "video.media_id",
                    "a video (this media is a photo)",
                ));
            }
            let caption = VideoCaption::new(video.caption).map_err(|mut error| {
                error.field = "video.caption".to_owned();
                error
            })?;
            let pullable = state
                .pipeline
                .media()
                .and_then(tokpost_pipeline::MediaAccess::pull_base)
                .is_some();
            let source = match (is_url_location(&asset.location), video.source.as_deref()) {
                (true, None | Some("pull_from_url")) => UploadSource::PullFromUrl,
                (true, Some(_)) => {
                    return Err(ApiError::field(
                        "source_mismatch",
                        "video.source",
                        "media registered by URL can only be pulled: source is `pull_from_url` or left out",
                    ));
                }
                (false, None | Some("file_upload")) => UploadSource::FileUpload,
                (false, Some("pull_from_url")) if pullable => UploadSource::PullFromUrl,
                (false, Some("pull_from_url")) => {
                    return Err(ApiError::field(
                        "pull_not_configured",
                        "video.source",
                        "pull_from_url of an uploaded video needs media.pull_base_url (a prefix verified with TikTok); none is configured",
                    ));
                }
                (false, Some(_)) => {
                    return Err(malformed("video.source", "file_upload or pull_from_url"));
                }
            };
            (
                PostContent::Video {
                    media: media_id,
                    caption,
                    cover_timestamp_ms: video.cover_timestamp_ms,
                },
                source,
            )
        }
        (None, Some(photos)) => {
            let mut media = Vec::with_capacity(photos.media_ids.len());
            for (index, text) in photos.media_ids.iter().enumerate() {
                let field = format!("photos.media_ids[{index}]");
                let media_id: MediaId = parse_uuid_field(text, &field)?;
                let asset = owned_media(state, auth, media_id)
                    .await?
                    .ok_or_else(|| not_in_workspace(&field, "media"))?;
                if asset.kind != MediaKind::Photo {
                    return Err(malformed(&field, "a photo (this media is a video)"));
                }
                // TikTok only pulls photos: an uploaded one goes through a signed URL, which
                // needs a pull base URL.
                let pullable = state
                    .pipeline
                    .media()
                    .and_then(tokpost_pipeline::MediaAccess::pull_base)
                    .is_some();
                if !is_url_location(&asset.location) && !pullable {
                    return Err(malformed(
                        &field,
                        "a photo registered by URL (POST /v1/media/url): TikTok only pulls photos, and no media.pull_base_url is configured for uploaded ones",
                    ));
                }
                media.push(media_id);
            }
            let title = PhotoTitle::new(photos.title).map_err(|e| e.within("photos"))?;
            let description =
                PhotoDescription::new(photos.description).map_err(|e| e.within("photos"))?;
            (
                PostContent::Photos {
                    media,
                    cover_index: photos.cover_index,
                    title,
                    description,
                },
                UploadSource::PullFromUrl,
            )
        }
        (Some(_), Some(_)) => {
            return Err(malformed("video", "either `video` or `photos`, not both"));
        }
        (None, None) => return Err(required("video")),
    };
    if request.commercial_disclosure == Some(true)
        && !request.brand_organic
        && !request.brand_content
    {
        return Err(ApiError::Validation(ValidationError::new(
            "commercial_disclosure",
            ValidationProblem::Conflict {
                code: "disclosure_without_choice",
                rule: tokpost_core::DISCLOSURE_NEEDS_A_CHOICE,
            },
        )));
    }
    let photos = matches!(content, PostContent::Photos { .. });
    let spec = PostSpec {
        content,
        privacy,
        interactions: InteractionSettings {
            disable_comment: request.disable_comment,
            disable_duet: request.disable_duet,
            disable_stitch: request.disable_stitch,
        },
        brand_content: request.brand_content,
        brand_organic: request.brand_organic,
        is_aigc: request.is_aigc,
        auto_add_music: request.auto_add_music,
        mode,
        source,
    }
    .validate()
    .map_err(|error| request_field(error, photos))?;
    let at = match request.scheduled_at.as_deref() {
        Some(text) => parse_time(text, "scheduled_at")?,
        None => now,
    };
    let scheduled_at = ScheduleTime::new(at, now)?;
    Ok(Draft {
        account_id,
        spec,
        scheduled_at,
    })
}

fn idempotency_key(
    headers: &HeaderMap,
    field: Option<String>,
) -> Result<Option<IdempotencyKey>, ApiError> {
    let header = match headers.get("idempotency-key") {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| malformed("Idempotency-Key", "printable ASCII without spaces"))?
                .to_owned(),
        ),
        None => None,
    };
    match (header, field) {
        (Some(header), Some(field)) if header != field => Err(malformed(
            "idempotency_key",
            "the same key in the Idempotency-Key header and the body (or only one of them)",
        )),
        (Some(key), _) => Ok(Some(IdempotencyKey::new(key).map_err(|e| {
            ValidationError {
                field: "Idempotency-Key".to_owned(),
                ..e
            }
        })?)),
        (None, Some(key)) => Ok(Some(IdempotencyKey::new(key)?)),
        (None, None) => Ok(None),
    }
}

/// Schedules a post (or publishes it now when `scheduled_at` is absent).
#[utoipa::path(post, path = "/v1/posts", tag = "posts",
    security(("api_key" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried create return the first post")),
    request_body = CreatePost,
    responses(
        (status = 201, description = "Created and queued (`awaiting_approval`, with no job, when its account requires approval)", body = PostView),
        (status = 200, description = "The idempotency key was used before: the first post", body = PostView),
        (status = 400, description = "Not JSON, or not this shape (serde's path and message)", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`: the role and the roles that may)", body = ErrorBody),
        (status = 404, description = "The account or a media item is not in this workspace", body = ErrorBody),
        (status = 422, description = "A rule is broken: code, field, limit, measured", body = ErrorBody),
    ))]
pub(crate) async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    JsonBody(request): JsonBody<CreatePost>,
) -> Result<(StatusCode, Json<PostView>), ApiError> {
    auth.require(Action::Compose)?;
    if request.revision.is_some() {
        return Err(malformed(
            "revision",
            "nothing: a revision is sent with an edit (PUT /v1/posts/{id}), not a create",
        ));
    }
    let key = idempotency_key(&headers, request.idempotency_key.clone())?;
    let draft = parse_draft(&state, &auth, request).await?;
    let inserted = state
        .posts()
        .create_post(
            NewPost {
                workspace_id: auth.workspace_id,
                account_id: draft.account_id,
                spec: draft.spec,
                scheduled_at: draft.scheduled_at,
                idempotency_key: key,
                created_by: auth.principal,
            },
            state.now(),
        )
        .await?;
    metrics::counter!("tokpost_posts_created_total").increment(u64::from(inserted.is_created()));
    Ok(match inserted {
        Inserted::Created(post) => (
            StatusCode::CREATED,
            Json(with_author(&state, &auth, post).await?),
        ),
        Inserted::Existing(post) => (
            StatusCode::OK,
            Json(with_author(&state, &auth, post).await?),
        ),
    })
}

/// The full preflight of a post, nothing stored.
#[utoipa::path(post, path = "/v1/posts/validate", tag = "posts",
    security(("api_key" = [])),
    request_body = CreatePost,
    responses(
        (status = 200, description = "The preflight report: `passes`, findings, media verdicts, a full cap", body = Object),
        (status = 400, description = "Not JSON, or not this shape", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`: the role and the roles that may)", body = ErrorBody),
        (status = 404, description = "The account or a media item is not in this workspace", body = ErrorBody),
        (status = 422, description = "A rule is broken before preflight could run", body = ErrorBody),
    ))]
pub(crate) async fn validate(
    State(state): State<AppState>,
    auth: Authenticated,
    JsonBody(request): JsonBody<CreatePost>,
) -> Result<Json<Value>, ApiError> {
    auth.require(Action::Compose)?;
    let draft = parse_draft(&state, &auth, request).await?;
    let report = state
        .pipeline
        .preflight(&PostDraft {
            workspace_id: auth.workspace_id,
            account_id: draft.account_id,
            spec: draft.spec,
            scheduled_at: draft.scheduled_at.at(),
            post_id: None,
        })
        .await?;
    let mut body = serde_json::to_value(&report).unwrap_or(Value::Null);
    if let Some(object) = body.as_object_mut() {
        object.insert("passes".to_owned(), json!(report.passes()));
    }
    Ok(Json(body))
}

/// Listing filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// A state name (`scheduled`, `failed`, …).
    state: Option<String>,
    /// Only this account's posts.
    account_id: Option<String>,
    /// Scheduled at or after (RFC 3339 with offset).
    from: Option<String>,
    /// Scheduled before (RFC 3339 with offset).
    to: Option<String>,
    /// Page size, 1–200 (default 50).
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The workspace's posts by schedule time, filtered, a page at a time.
#[utoipa::path(get, path = "/v1/posts", tag = "posts",
    security(("api_key" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "A page of posts", body = PostPage),
        (status = 400, description = "A query parameter is not understood", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`: the role and the roles that may)", body = ErrorBody),
        (status = 422, description = "A filter value is malformed", body = ErrorBody),
    ))]
pub(crate) async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<PostPage>, ApiError> {
    auth.require(Action::Read)?;
    let query = paging::query(query)?;
    let state_filter = query
        .state
        .as_deref()
        .map(|name| {
            StateKind::parse(name.trim()).ok_or_else(|| {
                malformed(
                    "state",
                    "a post state name such as scheduled, published or failed",
                )
            })
        })
        .transpose()?;
    let account_id = query
        .account_id
        .as_deref()
        .map(|text| parse_uuid_field::<AccountId>(text, "account_id"))
        .transpose()?;
    let scheduled_from = query
        .from
        .as_deref()
        .map(|t| parse_time(t, "from"))
        .transpose()?;
    let scheduled_before = query
        .to
        .as_deref()
        .map(|t| parse_time(t, "to"))
        .transpose()?;
    let limit = paging::limit(query.limit.as_deref())?;
    let after = paging::cursor::<PostId>(query.cursor.as_deref())?;
    let posts = state
        .posts()
        .list_posts(&PostFilter {
            workspace_id: auth.workspace_id,
            state: state_filter,
            account_id,
            scheduled_from,
            scheduled_before,
            after,
            limit,
        })
        .await?;
    let next_cursor = paging::next_cursor(
        posts.len(),
        limit,
        posts.last().map(|last| (last.scheduled_at.at(), last.id)),
    );
    Ok(Json(PostPage {
        posts: with_authors(&state, auth.workspace_id, posts).await?,
        next_cursor,
    }))
}

/// One post with its history and, on failure, the classification.
#[utoipa::path(get, path = "/v1/posts/{id}", tag = "posts",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The post id")),
    responses(
        (status = 200, description = "The post", body = PostView),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`: the role and the roles that may)", body = ErrorBody),
        (status = 404, description = "No such post in this workspace", body = ErrorBody),
    ))]
pub(crate) async fn get(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<PostView>, ApiError> {
    auth.require(Action::Read)?;
    let post = owned_post(&state, &auth, &id).await?;
    Ok(Json(full_view(&state, post).await?))
}

pub(crate) async fn full_view(state: &AppState, post: Post) -> Result<PostView, ApiError> {
    let events = state.posts().post_events(post.id).await?;
    let failure = match post.state {
        PostState::Failed { action, who } => {
            let native = events.iter().rev().find_map(|event| {
                event
                    .native_response
                    .clone()
                    .filter(|n| n.get("classification").is_some())
            });
            let entry = native
                .as_ref()
                .and_then(|n| n.get("classification"))
                .and_then(Value::as_str)
                .and_then(tiktok::catalog::lookup);
            Some(json!({
                "action": action,
                "who": who,
                "reason": events.last().map(|e| e.message.clone()),
                "classification": entry,
                "native_response": native,
            }))
        }
        _ => None,
    };
    let mut actors = Actors::new(state, post.workspace_id);
    let created_by = match post.created_by {
        Some(author) => Some(actors.view(author).await?),
        None => None,
    };
    let mut views = Vec::with_capacity(events.len());
    for event in events {
        views.push(EventView {
            sequence: event.sequence,
            at: event.at,
            kind: event.kind.as_str().to_owned(),
            state: event.state.as_str().to_owned(),
            message: event.message,
            native_response: event.native_response,
            by: actors.view(event.by).await?,
        });
    }
    let mut view = post_view(post);
    view.created_by = created_by;
    view.events = Some(views);
    view.failure = failure;
    Ok(view)
}
