//! The posting endpoints: video init (direct), inbox video init, photo content init, status
//! fetch and cancel (tiktok-api.md §4, §5, §7, §8, §9), and what happens once the media bytes
//! have arrived (processing, moderation, the final status and its webhooks).
//!
//! Init validation runs in the order §16 suggests: auth → scope → rate limit → body schema
//! (`invalid_params`) → chunk geometry → URL ownership → privacy option → audit gate → caps.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use url::{Host, Url};

use crate::config::{AppConfig, ChunkUnit, CreatorConfig, PublicPostIds};
use crate::creator::{active_creator_cap, privacy_options};
use crate::faults::FaultEndpoint;
use crate::ids::{self, PublishIdKind};
use crate::pull;
use crate::server::{Family, admit, authenticate, respond, with_faults};
use crate::state::{
    Caller, Decision, MediaKind, Outcome, Phase, PostMode, PublicPost, Publish, PullSession,
    Shared, Source, Status, UploadSession,
};
use crate::webhooks::{self, Event, EventKind};
use crate::wire::{ApiError, ErrorCode};

const MAX_VIDEO_CAPTION_UTF16: usize = 2200;
const MAX_PHOTO_TITLE_UTF16: usize = 90;
const MAX_PHOTO_DESCRIPTION_UTF16: usize = 4000;
const MAX_PHOTOS: usize = 35;
const MAX_VIDEO_BYTES: u64 = 4 * 1024 * 1024 * 1024;

#[derive(Debug, Deserialize)]
struct VideoInitBody {
    post_info: Option<VideoPostInfo>,
    source_info: Option<VideoSourceInfo>,
}

// The flags are only type-checked (a string where a bool belongs is `invalid_params`).
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
struct VideoPostInfo {
    privacy_level: Option<String>,
    title: Option<String>,
    disable_duet: Option<bool>,
    disable_stitch: Option<bool>,
    disable_comment: Option<bool>,
    video_cover_timestamp_ms: Option<i32>,
    brand_content_toggle: Option<bool>,
    brand_organic_toggle: Option<bool>,
    is_aigc: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct VideoSourceInfo {
    source: Option<String>,
    video_url: Option<String>,
    video_size: Option<i64>,
    chunk_size: Option<i64>,
    total_chunk_count: Option<i64>,
}

/// Inbox init documents only `source_info`; other fields are ignored.
#[derive(Debug, Deserialize)]
struct InboxInitBody {
    source_info: Option<VideoSourceInfo>,
}

#[derive(Debug, Deserialize)]
struct ContentInitBody {
    media_type: Option<String>,
    post_mode: Option<String>,
    post_info: Option<PhotoPostInfo>,
    source_info: Option<PhotoSourceInfo>,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
struct PhotoPostInfo {
    title: Option<String>,
    description: Option<String>,
    privacy_level: Option<String>,
    disable_comment: Option<bool>,
    auto_add_music: Option<bool>,
    brand_content_toggle: Option<bool>,
    brand_organic_toggle: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct PhotoSourceInfo {
    source: Option<String>,
    photo_images: Option<Vec<String>>,
    photo_cover_index: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct PublishIdBody {
    publish_id: Option<String>,
}

fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|error| ApiError::invalid_params(format!("Invalid request body: {error}")))
}

fn utf16_len(text: &str) -> usize {
    text.encode_utf16().count()
}

fn check_text(field: &str, text: Option<&str>, max: usize) -> Result<(), ApiError> {
    match text {
        Some(text) if utf16_len(text) > max => Err(ApiError::invalid_params(format!(
            "The {field} exceeds {max} UTF-16 code units."
        ))),
        _ => Ok(()),
    }
}

/// The chunk rules of §6.2, with the configured meaning of "MB".
pub(crate) fn check_chunk_geometry(
    video_size: i64,
    chunk_size: i64,
    total_chunk_count: i64,
    unit: ChunkUnit,
) -> Result<(u64, u64, u64), ApiError> {
    let invalid = || ApiError::invalid_params("The chunk size is invalid");
    let (Ok(size), Ok(chunk), Ok(count)) = (
        u64::try_from(video_size),
        u64::try_from(chunk_size),
        u64::try_from(total_chunk_count),
    ) else {
        return Err(invalid());
    };
    if size == 0 || chunk == 0 || count == 0 {
        return Err(invalid());
    }
    if size > MAX_VIDEO_BYTES {
        return Err(ApiError::invalid_params("The video size exceeds 4 GB."));
    }
    let mb = unit.bytes();
    if count > 1000 || count != size / chunk {
        return Err(invalid());
    }
    if size < 5 * mb {
        return if chunk == size && count == 1 {
            Ok((size, chunk, count))
        } else {
            Err(invalid())
        };
    }
    let last = size - (count - 1) * chunk;
    if chunk < 5 * mb || chunk > 64 * mb || last > 128 * mb {
        return Err(invalid());
    }
    Ok((size, chunk, count))
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(domain)) => domain == "localhost",
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Whether a media URL lies on one of the app's verified properties (§12).
pub(crate) fn url_verified(app: &AppConfig, url: &str, allow_insecure_loopback: bool) -> bool {
    let Ok(parsed) = Url::parse(url) else {
        return false;
    };
    let loopback_exception = allow_insecure_loopback && is_loopback(&parsed);
    let scheme_ok = parsed.scheme() == "https" || (loopback_exception && parsed.scheme() == "http");
    if !scheme_ok {
        return false;
    }
    let Some(host) = parsed.host_str() else {
        return false;
    };
    let on_domain = app
        .verified_domains
        .iter()
        .any(|domain| host == domain || host.ends_with(&format!(".{domain}")));
    let on_prefix = app.verified_url_prefixes.iter().any(|prefix| {
        let Ok(prefix_url) = Url::parse(prefix) else {
            return false;
        };
        let host_is_name = matches!(prefix_url.host(), Some(Host::Domain(_)));
        prefix.ends_with('/')
            && (host_is_name || loopback_exception)
            && parsed.as_str().starts_with(prefix_url.as_str())
    });
    on_domain || on_prefix
}

fn check_privacy(creator: &CreatorConfig, privacy: Option<&str>) -> Result<String, ApiError> {
    match privacy {
        Some(level) if privacy_options(creator).contains(&level) => Ok(level.to_owned()),
        _ => Err(ApiError::new(
            ErrorCode::PrivacyLevelOptionMismatch,
            "The privacy level is missing or not one of the creator's privacy_level_options.",
        )),
    }
}

fn check_audit(app: &AppConfig, creator: &CreatorConfig, privacy: &str) -> Result<(), ApiError> {
    if app.audited || (creator.private_account && privacy == "SELF_ONLY") {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::UnauditedClientCanOnlyPostToPrivateAccounts,
            "Unaudited clients can only post to private accounts, as SELF_ONLY.",
        ))
    }
}

fn banned(creator: &CreatorConfig) -> Result<(), ApiError> {
    if creator.banned {
        Err(ApiError::new(
            ErrorCode::SpamRiskUserBannedFromPosting,
            "The user is banned from posting.",
        ))
    } else {
        Ok(())
    }
}

fn direct_post_caps(
    shared: &Shared,
    app: &AppConfig,
    creator: &CreatorConfig,
) -> Result<(), ApiError> {
    banned(creator)?;
    let now = shared.now();
    let mut world = shared.world();
    if active_creator_cap(&shared.config, app.audited)
        .is_some_and(|cap| !world.admits_creator(&app.client_key, &creator.open_id, cap, now))
    {
        return Err(ApiError::new(
            ErrorCode::ReachedActiveUserCap,
            "The client has reached its daily quota of active posting users.",
        ));
    }
    if world.direct_posts_in_window(&creator.open_id, now)
        >= usize::try_from(creator.daily_post_cap).unwrap_or(usize::MAX)
    {
        return Err(ApiError::new(
            ErrorCode::SpamRiskTooManyPosts,
            "The daily post cap of this creator has been reached.",
        ));
    }
    Ok(())
}

fn inbox_caps(shared: &Shared, creator: &CreatorConfig) -> Result<(), ApiError> {
    banned(creator)?;
    let pending = shared
        .world()
        .pending_inbox_shares(&creator.open_id, shared.now());
    if pending >= usize::try_from(shared.config.pending_inbox_share_cap).unwrap_or(usize::MAX) {
        return Err(ApiError::new(
            ErrorCode::SpamRiskTooManyPendingShare,
            "The user has too many pending inbox shares.",
        ));
    }
    Ok(())
}

/// Where the media comes from, validated.
#[derive(Debug)]
enum MediaSource {
    File { size: u64, chunk: u64, count: u64 },
    Urls(Vec<String>),
}

fn video_source(
    shared: &Shared,
    app: &AppConfig,
    source: Option<VideoSourceInfo>,
) -> Result<MediaSource, ApiError> {
    let Some(source) = source else {
        return Err(ApiError::invalid_params("source_info is required."));
    };
    match source.source.as_deref() {
        Some("FILE_UPLOAD") => {
            let (Some(size), Some(chunk), Some(count)) = (
                source.video_size,
                source.chunk_size,
                source.total_chunk_count,
            ) else {
                return Err(ApiError::invalid_params(
                    "video_size, chunk_size and total_chunk_count are required for FILE_UPLOAD.",
                ));
            };
            let (size, chunk, count) =
                check_chunk_geometry(size, chunk, count, shared.config.chunk_unit)?;
            Ok(MediaSource::File { size, chunk, count })
        }
        Some("PULL_FROM_URL") => {
            let Some(url) = source.video_url else {
                return Err(ApiError::invalid_params(
                    "video_url is required for PULL_FROM_URL.",
                ));
            };
            if !url_verified(app, &url, shared.config.allow_insecure_loopback_pull) {
                return Err(url_unverified());
            }
            Ok(MediaSource::Urls(vec![url]))
        }
        _ => Err(ApiError::invalid_params(
            "source_info.source must be FILE_UPLOAD or PULL_FROM_URL.",
        )),
    }
}

/// Refuses a file upload the sandbox has no disk room for.
fn check_disk_budget(shared: &Shared, source: &MediaSource) -> Result<(), ApiError> {
    let MediaSource::File { size, .. } = source else {
        return Ok(());
    };
    let now = shared.now();
    if !shared
        .world()
        .has_disk_room(*size, shared.config.media_disk_budget_bytes, now)
    {
        return Err(ApiError::new(
            ErrorCode::InternalError,
            "The sandbox's disk budget for uploads in flight is used up.",
        ));
    }
    Ok(())
}

fn url_unverified() -> ApiError {
    ApiError::new(
        ErrorCode::UrlOwnershipUnverified,
        "The media URL's domain or URL prefix is not verified for this app.",
    )
}

fn creator_and_app<'a>(
    shared: &'a Shared,
    caller: &Caller,
) -> Result<(&'a AppConfig, &'a CreatorConfig), ApiError> {
    match (
        shared.config.app(&caller.grant.client_key),
        shared.creator(&caller.grant.open_id),
    ) {
        (Some(app), Some(creator)) => Ok((app, creator)),
        _ => Err(ApiError::token_invalid()),
    }
}

/// Everything an accepted init records.
#[derive(Debug)]
struct NewPublish {
    kind: MediaKind,
    mode: PostMode,
    source: MediaSource,
    privacy_level: Option<String>,
    title: Option<String>,
    description: Option<String>,
    forced_fail_reason: Option<String>,
}

fn create(shared: &Arc<Shared>, caller: &Caller, new: NewPublish) -> Value {
    let now = shared.now();
    let id_kind = match (&new.kind, &new.mode, &new.source) {
        (MediaKind::Photo, _, _) => PublishIdKind::Photo,
        (MediaKind::Video, PostMode::Direct, MediaSource::File { .. }) => PublishIdKind::DirectFile,
        (MediaKind::Video, PostMode::Direct, MediaSource::Urls(_)) => PublishIdKind::DirectUrl,
        (MediaKind::Video, PostMode::Inbox, MediaSource::File { .. }) => PublishIdKind::InboxFile,
        (MediaKind::Video, PostMode::Inbox, MediaSource::Urls(_)) => PublishIdKind::InboxUrl,
    };
    let mut world = shared.world();
    world.prune(now);
    let publish_id = ids::publish_id(id_kind, &mut world.rng);
    let (source, data, pull_urls) = match new.source {
        MediaSource::File { size, chunk, count } => {
            let upload_id = ids::nineteen_digits(&mut world.rng);
            let token = ids::upload_token(&mut world.rng);
            let upload_url = shared
                .upload_base
                .join(&format!(
                    "video/?upload_id={upload_id}&upload_token={token}"
                ))
                .map(String::from)
                .unwrap_or_default();
            let session = UploadSession {
                upload_id,
                token,
                video_size: size,
                chunk_size: chunk,
                total_chunks: count,
                expires_at: clock::add(
                    now,
                    std::time::Duration::from_secs(shared.config.upload_window_secs),
                ),
                received: 0,
                path: shared.media_path(&format!("upload-{upload_id}")),
                busy: false,
                discarded: false,
            };
            (
                Source::FileUpload(session),
                json!({ "publish_id": publish_id, "upload_url": upload_url }),
                None,
            )
        }
        MediaSource::Urls(urls) => (
            Source::PullFromUrl(PullSession {
                paths: (0..urls.len())
                    .map(|index| shared.media_path(&format!("pull-{publish_id}-{index}")))
                    .collect(),
                urls: urls.clone(),
                downloaded: 0,
                task: None,
            }),
            json!({ "publish_id": publish_id }),
            Some(urls),
        ),
    };
    if new.mode == PostMode::Direct {
        world.record_direct_post(&caller.grant.open_id, now);
        world.record_active_creator(&caller.grant.client_key, &caller.grant.open_id, now);
    }
    world.insert_publish(
        Publish {
            id: publish_id.clone(),
            grant: caller.grant_id,
            client_key: caller.grant.client_key.clone(),
            open_id: caller.grant.open_id.clone(),
            kind: new.kind,
            mode: new.mode,
            source,
            privacy_level: new.privacy_level,
            title: new.title,
            description: new.description,
            created_at: now,
            forced_fail_reason: new.forced_fail_reason,
            phase: Phase::AwaitingMedia,
            received_sha256: Vec::new(),
        },
        shared.config.max_retained_publishes,
        now,
    );
    drop(world);
    if let Some(urls) = pull_urls {
        pull::start(
            shared,
            publish_id,
            caller.grant.open_id.clone(),
            urls,
            new.kind,
        );
    }
    data
}

/// `POST /v2/post/publish/video/init/` (Direct Post).
pub(crate) async fn video_init(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = authenticate(&shared, &headers);
    let open_id = caller.as_ref().ok().map(|c| c.grant.open_id.clone());
    with_faults(
        &shared,
        FaultEndpoint::VideoInit,
        open_id.as_deref(),
        Family::Envelope,
        |forced| async {
            let result = caller.and_then(|caller| {
                admit(
                    &shared,
                    &caller,
                    &["video.publish"],
                    FaultEndpoint::VideoInit,
                    shared.config.rate_limits.video_init,
                )?;
                let (app, creator) = creator_and_app(&shared, &caller)?;
                let body: VideoInitBody = parse_body(&body)?;
                let Some(post_info) = body.post_info else {
                    return Err(ApiError::invalid_params("post_info is required."));
                };
                check_text("title", post_info.title.as_deref(), MAX_VIDEO_CAPTION_UTF16)?;
                let source = video_source(&shared, app, body.source_info)?;
                let privacy = check_privacy(creator, post_info.privacy_level.as_deref())?;
                check_audit(app, creator, &privacy)?;
                direct_post_caps(&shared, app, creator)?;
                check_disk_budget(&shared, &source)?;
                Ok(create(
                    &shared,
                    &caller,
                    NewPublish {
                        kind: MediaKind::Video,
                        mode: PostMode::Direct,
                        source,
                        privacy_level: Some(privacy),
                        title: post_info.title,
                        description: None,
                        forced_fail_reason: forced,
                    },
                ))
            });
            respond(&shared, result.map(Some))
        },
    )
    .await
}

/// `POST /v2/post/publish/inbox/video/init/` (upload to the creator's inbox).
pub(crate) async fn inbox_init(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = authenticate(&shared, &headers);
    let open_id = caller.as_ref().ok().map(|c| c.grant.open_id.clone());
    with_faults(
        &shared,
        FaultEndpoint::InboxInit,
        open_id.as_deref(),
        Family::Envelope,
        |forced| async {
            let result = caller.and_then(|caller| {
                admit(
                    &shared,
                    &caller,
                    &["video.upload"],
                    FaultEndpoint::InboxInit,
                    shared.config.rate_limits.inbox_init,
                )?;
                let (app, creator) = creator_and_app(&shared, &caller)?;
                let body: InboxInitBody = parse_body(&body)?;
                let source = video_source(&shared, app, body.source_info)?;
                inbox_caps(&shared, creator)?;
                check_disk_budget(&shared, &source)?;
                Ok(create(
                    &shared,
                    &caller,
                    NewPublish {
                        kind: MediaKind::Video,
                        mode: PostMode::Inbox,
                        source,
                        privacy_level: None,
                        title: None,
                        description: None,
                        forced_fail_reason: forced,
                    },
                ))
            });
            respond(&shared, result.map(Some))
        },
    )
    .await
}

/// `POST /v2/post/publish/content/init/` (photos, direct or inbox).
pub(crate) async fn content_init(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = authenticate(&shared, &headers);
    let open_id = caller.as_ref().ok().map(|c| c.grant.open_id.clone());
    with_faults(
        &shared,
        FaultEndpoint::ContentInit,
        open_id.as_deref(),
        Family::Envelope,
        |forced| async {
            let result =
                caller.and_then(|caller| content_init_checked(&shared, &caller, &body, forced));
            respond(&shared, result.map(Some))
        },
    )
    .await
}

fn content_init_checked(
    shared: &Arc<Shared>,
    caller: &Caller,
    body: &[u8],
    forced: Option<String>,
) -> Result<Value, ApiError> {
    // The scope depends on post_mode, so peek at it before the full schema check.
    let peeked_mode = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
        v.get("post_mode")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let scopes: &[&str] = match peeked_mode.as_deref() {
        Some("DIRECT_POST") => &["video.publish"],
        Some("MEDIA_UPLOAD") => &["video.upload"],
        _ => &["video.publish", "video.upload"],
    };
    admit(
        shared,
        caller,
        scopes,
        FaultEndpoint::ContentInit,
        shared.config.rate_limits.content_init,
    )?;
    let (app, creator) = creator_and_app(shared, caller)?;
    let body: ContentInitBody = parse_body(body)?;
    if body.media_type.as_deref() != Some("PHOTO") {
        return Err(ApiError::invalid_params("media_type must be PHOTO."));
    }
    let mode = match body.post_mode.as_deref() {
        Some("DIRECT_POST") => PostMode::Direct,
        Some("MEDIA_UPLOAD") => PostMode::Inbox,
        _ => {
            return Err(ApiError::invalid_params(
                "post_mode must be DIRECT_POST or MEDIA_UPLOAD.",
            ));
        }
    };
    let Some(post_info) = body.post_info else {
        return Err(ApiError::invalid_params("post_info is required."));
    };
    check_text("title", post_info.title.as_deref(), MAX_PHOTO_TITLE_UTF16)?;
    check_text(
        "description",
        post_info.description.as_deref(),
        MAX_PHOTO_DESCRIPTION_UTF16,
    )?;
    let Some(source) = body.source_info else {
        return Err(ApiError::invalid_params("source_info is required."));
    };
    if source.source.as_deref() != Some("PULL_FROM_URL") {
        return Err(ApiError::invalid_params(
            "Photos support only PULL_FROM_URL.",
        ));
    }
    let images = source.photo_images.unwrap_or_default();
    if images.is_empty() || images.len() > MAX_PHOTOS {
        return Err(ApiError::invalid_params(
            "photo_images must hold 1 to 35 URLs.",
        ));
    }
    let cover_ok = source
        .photo_cover_index
        .and_then(|index| usize::try_from(index).ok())
        .is_some_and(|index| index < images.len());
    if !cover_ok {
        return Err(ApiError::invalid_params(
            "photo_cover_index is missing or out of range.",
        ));
    }
    if !images
        .iter()
        .all(|url| url_verified(app, url, shared.config.allow_insecure_loopback_pull))
    {
        return Err(url_unverified());
    }
    let privacy_level = match mode {
        PostMode::Direct => {
            let privacy = check_privacy(creator, post_info.privacy_level.as_deref())?;
            check_audit(app, creator, &privacy)?;
            direct_post_caps(shared, app, creator)?;
            Some(privacy)
        }
        PostMode::Inbox => {
            if creator.outdated_app {
                return Err(ApiError::new(
                    ErrorCode::AppVersionCheckFailed,
                    "The user's TikTok app must be version 31.8 or later.",
                ));
            }
            inbox_caps(shared, creator)?;
            None
        }
    };
    Ok(create(
        shared,
        caller,
        NewPublish {
            kind: MediaKind::Photo,
            mode,
            source: MediaSource::Urls(images),
            privacy_level,
            title: post_info.title,
            description: post_info.description,
            forced_fail_reason: forced,
        },
    ))
}

fn owned_publish_id(shared: &Shared, caller: &Caller, body: &[u8]) -> Result<String, ApiError> {
    let body: PublishIdBody = parse_body(body)?;
    let Some(publish_id) = body.publish_id.filter(|id| !id.is_empty()) else {
        return Err(ApiError::invalid_params("publish_id is required."));
    };
    let world = shared.world();
    let Some(publish) = world.publishes.get(&publish_id) else {
        return Err(ApiError::new(
            ErrorCode::InvalidPublishId,
            "The publish_id does not exist.",
        ));
    };
    if publish.client_key != caller.grant.client_key || publish.open_id != caller.grant.open_id {
        return Err(ApiError::new(
            ErrorCode::TokenNotAuthorizedForSpecifiedPublishId,
            "The access token is not authorized for this publish_id.",
        ));
    }
    Ok(publish_id)
}

/// `POST /v2/post/publish/status/fetch/`.
pub(crate) async fn status_fetch(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = authenticate(&shared, &headers);
    let open_id = caller.as_ref().ok().map(|c| c.grant.open_id.clone());
    with_faults(
        &shared,
        FaultEndpoint::Status,
        open_id.as_deref(),
        Family::Envelope,
        |_| async {
            let result = caller.and_then(|caller| {
                admit(
                    &shared,
                    &caller,
                    &["video.publish", "video.upload"],
                    FaultEndpoint::Status,
                    shared.config.rate_limits.status,
                )?;
                let publish_id = owned_publish_id(&shared, &caller, &body)?;
                let now = shared.now();
                let world = shared.world();
                let Some(publish) = world.publishes.get(&publish_id) else {
                    return Err(ApiError::new(
                        ErrorCode::InvalidPublishId,
                        "The publish_id does not exist.",
                    ));
                };
                Ok(status_data(publish, now))
            });
            respond(&shared, result.map(Some))
        },
    )
    .await
}

fn status_data(publish: &Publish, now: jiff::Timestamp) -> Value {
    let status = publish.status_at(now);
    let mut data = json!({
        "status": status.wire(),
        // Misspelt as in production; u64 values serialise as bare JSON numbers.
        "publicaly_available_post_id": publish.visible_post_ids(now),
    });
    if let Some(object) = data.as_object_mut() {
        if let Some(reason) = status.fail_reason() {
            object.insert("fail_reason".to_owned(), json!(reason));
        }
        let (key, bytes) = match &publish.source {
            Source::FileUpload(upload) => ("uploaded_bytes", upload.received),
            Source::PullFromUrl(pull) => ("downloaded_bytes", pull.downloaded),
        };
        object.insert(key.to_owned(), json!(bytes));
    }
    data
}

/// Stops a pull task, if any.
pub(crate) fn abort_pull(publish: &mut Publish) {
    if let Source::PullFromUrl(PullSession {
        task: Some(task), ..
    }) = &mut publish.source
    {
        task.abort();
    }
}

/// `POST /v2/post/publish/cancel/`: only a pull still downloading can be cancelled.
pub(crate) async fn cancel(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = authenticate(&shared, &headers);
    let open_id = caller.as_ref().ok().map(|c| c.grant.open_id.clone());
    with_faults(
        &shared,
        FaultEndpoint::Cancel,
        open_id.as_deref(),
        Family::Envelope,
        |_| async {
            let result = caller.and_then(|caller| {
                admit(
                    &shared,
                    &caller,
                    &["video.publish", "video.upload"],
                    FaultEndpoint::Cancel,
                    shared.config.rate_limits.cancel,
                )?;
                let publish_id = owned_publish_id(&shared, &caller, &body)?;
                let app = shared.config.app(&caller.grant.client_key);
                let now = shared.now();
                let mut world = shared.world();
                let Some(publish) = world.publishes.get_mut(&publish_id) else {
                    return Err(ApiError::new(
                        ErrorCode::InvalidPublishId,
                        "The publish_id does not exist.",
                    ));
                };
                let Source::PullFromUrl(pull) = &publish.source else {
                    return Err(not_cancellable());
                };
                let still_verified = app.is_some_and(|app| {
                    pull.urls.iter().all(|url| {
                        url_verified(app, url, shared.config.allow_insecure_loopback_pull)
                    })
                });
                if !still_verified {
                    return Err(url_unverified());
                }
                if !matches!(publish.phase, Phase::AwaitingMedia)
                    || publish.status_at(now) != Status::ProcessingDownload
                {
                    return Err(not_cancellable());
                }
                abort_pull(publish);
                let event = fail_in_place(publish, "publish_cancelled", now);
                drop(world);
                webhooks::schedule(&shared, vec![event]);
                Ok(None)
            });
            respond(&shared, result)
        },
    )
    .await
}

fn not_cancellable() -> ApiError {
    ApiError::new(
        ErrorCode::PublishNotCancellable,
        "The publish can no longer be cancelled.",
    )
}

fn fail_in_place(publish: &mut Publish, reason: &str, now: jiff::Timestamp) -> Event {
    publish.phase = Phase::Failed {
        reason: reason.to_owned(),
    };
    publish.source.discard_media();
    Event {
        at: now,
        client_key: publish.client_key.clone(),
        open_id: publish.open_id.clone(),
        publish_type: publish.mode.publish_type(),
        kind: EventKind::PublishFailed {
            publish_id: publish.id.clone(),
            reason: reason.to_owned(),
        },
    }
}

/// Fails a publish that is still waiting for its media (a failed pull).
pub(crate) fn fail_now(shared: &Arc<Shared>, publish_id: &str, reason: &str) {
    let now = shared.now();
    let event = {
        let mut world = shared.world();
        match world.publishes.get_mut(publish_id) {
            Some(publish) if matches!(publish.phase, Phase::AwaitingMedia) => {
                Some(fail_in_place(publish, reason, now))
            }
            _ => None,
        }
    };
    webhooks::schedule(shared, event.into_iter().collect());
}

/// All bytes are in: decides the outcome (injected `fail_reason`, then the media checks) and
/// when it becomes visible (processing, then moderation for public posts).
pub(crate) fn media_arrived(
    shared: &Arc<Shared>,
    publish_id: &str,
    media_failure: Option<&str>,
    received_sha256: Vec<String>,
) {
    let now = shared.now();
    let config = &shared.config;
    let events = {
        let mut world = shared.world();
        let processing = world.sample(&config.processing_delay);
        let moderation = world.sample(&config.moderation_delay);
        let post_id = ids::nineteen_digits(&mut world.rng);
        let Some(publish) = world.publishes.get_mut(publish_id) else {
            return;
        };
        if !matches!(publish.phase, Phase::AwaitingMedia) {
            return;
        }
        publish.received_sha256 = received_sha256;
        publish.source.discard_media();
        let done_at = clock::add(now, processing);
        let outcome = match (publish.forced_fail_reason.clone(), media_failure) {
            (Some(reason), _) => Outcome::Failed(reason),
            (None, Some(reason)) => Outcome::Failed(reason.to_owned()),
            (None, None) if publish.mode == PostMode::Direct => Outcome::Published,
            (None, None) => Outcome::Inbox,
        };
        let reported = shared
            .creator(&publish.open_id)
            .is_some_and(|c| c.public_post_ids == PublicPostIds::Delayed);
        let is_public = publish.privacy_level.as_deref() == Some("PUBLIC_TO_EVERYONE");
        let posts = if outcome == Outcome::Published {
            vec![PublicPost {
                id: post_id,
                created_at: done_at,
                visible_at: is_public.then(|| clock::add(done_at, moderation)),
                reported,
            }]
        } else {
            Vec::new()
        };
        let event = |at, kind| Event {
            at,
            client_key: publish.client_key.clone(),
            open_id: publish.open_id.clone(),
            publish_type: publish.mode.publish_type(),
            kind,
        };
        let id = publish.id.clone();
        let mut events = vec![match &outcome {
            Outcome::Failed(reason) => event(
                done_at,
                EventKind::PublishFailed {
                    publish_id: id.clone(),
                    reason: reason.clone(),
                },
            ),
            Outcome::Published => event(
                done_at,
                EventKind::PublishComplete {
                    publish_id: id.clone(),
                },
            ),
            Outcome::Inbox => event(
                done_at,
                EventKind::InboxDelivered {
                    publish_id: id.clone(),
                },
            ),
        }];
        for post in posts.iter().filter(|post| post.reported) {
            if let Some(at) = post.visible_at {
                events.push(event(
                    at,
                    EventKind::PubliclyAvailable {
                        publish_id: id.clone(),
                        post_id: post.id,
                    },
                ));
            }
        }
        publish.phase = Phase::Decided(Decision {
            done_at,
            outcome,
            user_posted_at: None,
            posts,
        });
        events
    };
    webhooks::schedule(shared, events);
}

/// The creator posts (publicly) from an inbox draft. A draft can be posted several times.
pub(crate) fn user_posts_from_inbox(shared: &Arc<Shared>, publish_id: &str) -> bool {
    let now = shared.now();
    let events = {
        let mut world = shared.world();
        let moderation = world.sample(&shared.config.moderation_delay);
        let post_id = ids::nineteen_digits(&mut world.rng);
        let Some(publish) = world.publishes.get_mut(publish_id) else {
            return false;
        };
        let delivered = matches!(
            publish.status_at(now),
            Status::SendToUserInbox | Status::PublishComplete
        );
        let reported = shared
            .creator(&publish.open_id)
            .is_some_and(|c| c.public_post_ids == PublicPostIds::Delayed);
        let (Phase::Decided(decision), true, PostMode::Inbox) =
            (&mut publish.phase, delivered, publish.mode)
        else {
            return false;
        };
        decision.user_posted_at.get_or_insert(now);
        let visible_at = clock::add(now, moderation);
        decision.posts.push(PublicPost {
            id: post_id,
            created_at: now,
            visible_at: Some(visible_at),
            reported,
        });
        let event = |at, kind| Event {
            at,
            client_key: publish.client_key.clone(),
            open_id: publish.open_id.clone(),
            publish_type: publish.mode.publish_type(),
            kind,
        };
        let mut events = vec![event(
            now,
            EventKind::PublishComplete {
                publish_id: publish.id.clone(),
            },
        )];
        if reported {
            events.push(event(
                visible_at,
                EventKind::PubliclyAvailable {
                    publish_id: publish.id.clone(),
                    post_id,
                },
            ));
        }
        events
    };
    webhooks::schedule(shared, events);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    const MIB: i64 = 1_048_576;

    #[rstest]
    #[case::docs_worked_example(50_000_123, 10_000_000, 5, true)]
    #[case::docs_single_shot(4_194_304, 4_194_304, 1, true)]
    #[case::small_file_split(4_194_304, 2_097_152, 2, false)]
    #[case::count_not_floor(50_000_123, 10_000_000, 6, false)]
    #[case::chunk_below_5_mib(30 * MIB, 4 * MIB, 7, false)]
    #[case::chunk_above_64_mib(200 * MIB, 65 * MIB, 3, false)]
    #[case::chunk_bigger_than_file(6 * MIB, 7 * MIB, 0, false)]
    #[case::zero_size(0, 0, 0, false)]
    #[case::negative(-1, 5 * MIB, 1, false)]
    fn chunk_geometry_follows_the_documented_rules(
        #[case] size: i64,
        #[case] chunk: i64,
        #[case] count: i64,
        #[case] valid: bool,
    ) {
        let verdict = check_chunk_geometry(size, chunk, count, ChunkUnit::Mebibyte);
        assert_eq!(verdict.is_ok(), valid, "{verdict:?}");
        if let Err(error) = verdict {
            assert_eq!(error.message, "The chunk size is invalid");
        }
    }

    #[test]
    fn the_chunk_unit_decides_whether_a_5_000_000_byte_chunk_is_big_enough() {
        let size = 5_000_000 * 3;
        assert!(check_chunk_geometry(size, 5_000_000, 3, ChunkUnit::Megabyte).is_ok());
        assert!(check_chunk_geometry(size, 5_000_000, 3, ChunkUnit::Mebibyte).is_err());
    }

    #[rstest]
    #[case::prefix("https://media.example.com/tokpost/a.mp4", false, true)]
    #[case::outside_prefix("https://media.example.com/other/a.mp4", false, false)]
    #[case::domain("https://cdn.example.org/x.mp4", false, true)]
    #[case::subdomain("https://video.cdn.example.org/x.mp4", false, true)]
    #[case::parent_domain("https://example.org/x.mp4", false, false)]
    #[case::plain_http("http://media.example.com/tokpost/a.mp4", false, false)]
    #[case::loopback_http_off("http://127.0.0.1:9000/media/a.mp4", false, false)]
    #[case::loopback_http_on("http://127.0.0.1:9000/media/a.mp4", true, true)]
    #[case::not_a_url("not a url", true, false)]
    fn media_urls_must_lie_on_a_verified_property(
        #[case] url: &str,
        #[case] insecure: bool,
        #[case] expected: bool,
    ) {
        let mut app = AppConfig::default();
        app.verified_url_prefixes
            .push("http://127.0.0.1:9000/media/".to_owned());
        assert_eq!(url_verified(&app, url, insecure), expected);
    }

    #[test]
    fn captions_are_measured_in_utf16_units() {
        let emoji = "😀".repeat(1100);
        assert!(check_text("title", Some(&emoji), 2200).is_ok());
        let too_long = format!("{emoji}a");
        assert!(check_text("title", Some(&too_long), 2200).is_err());
    }

    proptest! {
        #[test]
        fn chunk_geometry_never_panics(size in any::<i64>(), chunk in any::<i64>(), count in any::<i64>()) {
            let _ = check_chunk_geometry(size, chunk, count, ChunkUnit::Mebibyte);
        }
    }
}
