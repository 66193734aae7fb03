//! Preflight: everything tokpost can know about a post before TikTok is asked, so that TikTok
//! never rejects what we could have caught. The first publishing step runs it again at publish
//! time, and the API runs it as a dry run (`POST /v1/posts/validate`).
//!
//! Findings are errors (TikTok would reject: the post cannot go as it is) or warnings (it may be
//! rejected or look bad), each with the field, the measured value, the limit and the fix. A cap
//! that is full is not an error: the post is deferred to [`PreflightReport::cap`]'s `frees_at`.

use std::collections::HashMap;
use std::path::Path;

use clock::{SignedDuration, Timestamp};
use media::{CaptionField, FileVerdict, Limits, PostFingerprint, Problem, Severity};
use serde::Serialize;
use tokpost_core::{
    Account, AccountId, AccountStatus, MediaId, Post, PostContent, PostId, PostMode, PostSpec,
    PrivacyLevel, Scope, StateKind, UploadSource, WorkspaceId,
};
use tokpost_media_store::MediaStoreError;
use tokpost_store::{MediaAsset, MediaAssetStore, MediaKind, PostStore, Store, StoreError};

use crate::caps::{CapBlock, blocking_cap};
use crate::media_access::{MediaAccess, MediaLocation};
use crate::policy::PublishPolicy;

/// What preflight judges: a post as it would be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostDraft {
    pub workspace_id: WorkspaceId,
    pub account_id: AccountId,
    pub spec: PostSpec,
    pub scheduled_at: Timestamp,
    /// The stored post itself, kept out of its own duplicate check.
    pub post_id: Option<PostId>,
}

impl PostDraft {
    /// The draft of a stored post.
    #[must_use]
    pub fn of(post: &Post) -> Self {
        Self {
            workspace_id: post.workspace_id,
            account_id: post.account_id,
            spec: post.spec.clone(),
            scheduled_at: post.scheduled_at.at(),
            post_id: Some(post.id),
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `error` (TikTok would reject) or `warning`.
    pub severity: &'static str,
    /// A stable machine code (`video_too_long`, `privacy_level_option_mismatch`, …).
    pub code: String,
    /// The field of the post it is about (`content.media[0]`, `privacy_level`, …).
    pub field: String,
    pub message: String,
    pub measured: Option<String>,
    pub limit: Option<String>,
    /// What to do, in one sentence.
    pub fix: String,
    /// The TikTok error or fail reason it would cause, if TikTok were asked.
    pub tiktok_error: Option<String>,
}

impl Finding {
    fn error(code: &str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: "error",
            code: code.to_owned(),
            field: field.into(),
            message: message.into(),
            measured: None,
            limit: None,
            fix: String::new(),
            tiktok_error: Some(code.to_owned()),
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = fix.into();
        self
    }

    fn measured(mut self, measured: impl Into<String>, limit: impl Into<String>) -> Self {
        self.measured = Some(measured.into());
        self.limit = Some(limit.into());
        self
    }

    fn from_problem(field: impl Into<String>, problem: &Problem) -> Self {
        Self {
            severity: match problem.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            },
            code: problem.code.as_str().to_owned(),
            field: field.into(),
            message: problem.message.clone(),
            measured: problem.measured.clone(),
            limit: problem.limit.clone(),
            fix: problem.fix.clone(),
            tiktok_error: problem.tiktok_error.map(str::to_owned),
        }
    }

    /// Whether TikTok would reject the post for this.
    #[must_use]
    pub fn is_error(&self) -> bool {
        self.severity == "error"
    }
}

/// Preflight's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreflightReport {
    pub findings: Vec<Finding>,
    /// The media verdicts of local files (probe results), in the post's order.
    pub media: Vec<FileVerdict>,
    /// A full cap: the post would be deferred until `frees_at`.
    pub cap: Option<CapBlock>,
    /// The media store could not be read (not: the media are gone), so the media were not
    /// judged; the publishing steps retry later instead of failing the post.
    pub media_unavailable: Option<String>,
}

impl PreflightReport {
    /// No errors (warnings and a full cap do not stop a post).
    #[must_use]
    pub fn passes(&self) -> bool {
        !self.findings.iter().any(Finding::is_error)
    }

    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|finding| finding.is_error())
    }
}

/// What the latest creator-info snapshot tells preflight.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreatorFacts {
    pub privacy_level_options: Vec<PrivacyLevel>,
    pub comment_disabled: bool,
    pub duet_disabled: bool,
    pub stitch_disabled: bool,
    pub max_video_post_duration_sec: Option<u32>,
    pub nickname: Option<String>,
}

impl CreatorFacts {
    /// Reads a stored creator-info answer (TikTok's `data` object). Unknown privacy names are
    /// ignored, as the client does.
    #[must_use]
    pub fn from_snapshot(info: &serde_json::Value) -> Self {
        let flag = |name: &str| {
            info.get(name)
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false)
        };
        Self {
            privacy_level_options: info
                .get("privacy_level_options")
                .and_then(serde_json::Value::as_array)
                .map(|options| {
                    options
                        .iter()
                        .filter_map(serde_json::Value::as_str)
                        .filter_map(|name| PrivacyLevel::parse(name).ok())
                        .collect()
                })
                .unwrap_or_default(),
            comment_disabled: flag("comment_disabled"),
            duet_disabled: flag("duet_disabled"),
            stitch_disabled: flag("stitch_disabled"),
            max_video_post_duration_sec: info
                .get("max_video_post_duration_sec")
                .and_then(serde_json::Value::as_u64)
                .and_then(|secs| u32::try_from(secs).ok()),
            nickname: info
                .get("creator_nickname")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned),
        }
    }

    /// TikTok offers no way to ask whether an account is private; a private account is one that
    /// is not offered `PUBLIC_TO_EVERYONE`.
    #[must_use]
    pub fn is_private_account(&self) -> bool {
        !self
            .privacy_level_options
            .contains(&PrivacyLevel::PublicToEveryone)
    }
}

/// A creator-info answer in the shape it is stored and read back by
/// [`CreatorFacts::from_snapshot`]: TikTok's own `data` keys, unrecognised privacy options kept.
#[must_use]
pub fn creator_info_snapshot(info: &tiktok::CreatorInfo) -> serde_json::Value {
    let mut options: Vec<String> = info
        .privacy_level_options
        .iter()
        .map(|level| level.as_str().to_owned())
        .collect();
    options.extend(info.unrecognised_privacy_options.iter().cloned());
    serde_json::json!({
        "creator_avatar_url": info.creator_avatar_url,
        "creator_username": info.creator_username,
        "creator_nickname": info.creator_nickname,
        "privacy_level_options": options,
        "comment_disabled": info.comment_disabled,
        "duet_disabled": info.duet_disabled,
        "stitch_disabled": info.stitch_disabled,
        "max_video_post_duration_sec": info.max_video_post_duration_sec,
    })
}

/// Runs every check on `draft` at `now`. `creator` is the freshest creator info available
/// (`None`: never fetched; the creator-info step checks later). Duplicate detection reads the
/// workspace's recent posts: the API's dry run and post creation ask for it, the publishing
/// steps (which ran it when the post was created) do not.
///
/// # Errors
/// Store failures only; every problem with the post is a finding.
pub async fn preflight(
    store: &dyn Store,
    policy: &PublishPolicy,
    media_access: Option<&MediaAccess>,
    draft: &PostDraft,
    creator: Option<&CreatorFacts>,
    now: Timestamp,
    include_duplicates: bool,
) -> Result<PreflightReport, StoreError> {
    let mut findings = Vec::new();
    let account = store.account(draft.account_id).await?;
    match &account {
        Some(account) if account.workspace_id == draft.workspace_id => {
            check_account(account, &draft.spec, &mut findings);
        }
        _ => findings.push(
            Finding::error(
                "account_not_found",
                "account_id",
                "no such account in this workspace",
            )
            .fix("Connect the account first, or pick one of the workspace's accounts."),
        ),
    }
    let limits = Limits {
        creator_max_video_duration_s: creator.and_then(|facts| facts.max_video_post_duration_sec),
    };
    let mut verdicts = Vec::new();
    let mut hashes = Vec::new();
    let mut media_unavailable = None;
    for (index, id) in draft.spec.content.media().into_iter().enumerate() {
        let field = match draft.spec.content {
            PostContent::Video { .. } => "content.media".to_owned(),
            PostContent::Photos { .. } => format!("content.media[{index}]"),
        };
        let Some(asset) = store
            .media(id)
            .await?
            .filter(|asset| asset.workspace_id == draft.workspace_id)
        else {
            findings.push(
                Finding::error(
                    "media_not_found",
                    field,
                    format!("no media {id} in this workspace"),
                )
                .fix("Upload the media first and use the id it was given."),
            );
            continue;
        };
        hashes.push(asset.content_hash.clone());
        let stored = match MediaLocation::of(&asset.location) {
            MediaLocation::Stored(key) => {
                let probed = match (draft.spec.source, media_access) {
                    (UploadSource::FileUpload, Some(access)) => {
                        Some(access.probe(&key, limits).await)
                    }
                    _ => None,
                };
                Some(StoredMedia {
                    probed,
                    pull_base: media_access.and_then(MediaAccess::pull_base),
                    configured: media_access.is_some(),
                })
            }
            _ => None,
        };
        if let Some(StoredMedia {
            probed: Some(Err(error)),
            ..
        }) = &stored
            && !matches!(error, MediaStoreError::NotFound { .. })
        {
            media_unavailable = Some(format!("media {}: {error}", asset.id));
        }
        check_media(
            &asset,
            &draft.spec,
            &field,
            policy,
            &limits,
            stored,
            &mut findings,
            &mut verdicts,
        );
    }
    check_text(&draft.spec, &mut findings);
    check_settings(&draft.spec, creator, policy, &mut findings);
    if include_duplicates {
        check_duplicates(store, draft, &hashes, &mut findings).await?;
    }
    let cap = if account.is_some() {
        blocking_cap(
            store,
            policy,
            draft.account_id,
            draft.spec.mode,
            now.max(draft.scheduled_at),
        )
        .await?
    } else {
        None
    };
    Ok(PreflightReport {
        findings,
        media: verdicts,
        cap,
        media_unavailable,
    })
}

fn check_account(account: &Account, spec: &PostSpec, findings: &mut Vec<Finding>) {
    match account.status {
        AccountStatus::Connected => {}
        AccountStatus::NeedsReconnect { .. } => findings.push(Finding {
            severity: "warning",
            ..Finding::error(
                "account_needs_reconnect",
                "account_id",
                "the account must be reconnected; the post will wait for it",
            )
            .fix("Reconnect the TikTok account.")
        }),
        AccountStatus::Disconnected => findings.push(
            Finding::error(
                "account_disconnected",
                "account_id",
                "the account was disconnected",
            )
            .fix("Connect the TikTok account again."),
        ),
    }
    let needed = match spec.mode {
        PostMode::Direct => Scope::VIDEO_PUBLISH,
        PostMode::Inbox => Scope::VIDEO_UPLOAD,
    };
    if account.status == AccountStatus::Connected && !account.has_scope(needed) {
        findings.push(
            Finding::error(
                "scope_not_authorized",
                "mode",
                format!("the creator did not grant {needed}, which this post needs"),
            )
            .measured(
                account
                    .scopes
                    .iter()
                    .map(Scope::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
                needed,
            )
            .fix(format!("Reconnect the account and grant {needed}.")),
        );
    }
}

/// What preflight knows of an asset kept in the media store.
struct StoredMedia<'a> {
    /// The probe of its bytes, for a file upload (read by range from the store).
    probed: Option<Result<FileVerdict, MediaStoreError>>,
    /// Where signed pull URLs start, when pulls of uploaded media are configured.
    pull_base: Option<&'a url::Url>,
    /// Whether this process has a media store at all.
    configured: bool,
}

#[allow(clippy::too_many_arguments)] // one call site; the findings are gathered in place
fn check_media(
    asset: &MediaAsset,
    spec: &PostSpec,
    field: &str,
    policy: &PublishPolicy,
    limits: &Limits,
    stored: Option<StoredMedia<'_>>,
    findings: &mut Vec<Finding>,
    verdicts: &mut Vec<FileVerdict>,
) {
    let expected = match spec.content {
        PostContent::Video { .. } => MediaKind::Video,
        PostContent::Photos { .. } => MediaKind::Photo,
    };
    if asset.kind != expected {
        findings.push(
            Finding::error(
                "media_kind_mismatch",
                field,
                format!(
                    "media {} is a {:?}, the post needs a {:?}",
                    asset.id, asset.kind, expected
                ),
            )
            .fix("Pick media of the kind the post is."),
        );
        return;
    }
    let is_url = is_url(&asset.location);
    match (spec.source, is_url) {
        (UploadSource::FileUpload, true) => findings.push(
            Finding::error(
                "source_mismatch",
                "source",
                "a file upload needs an uploaded file, this media is a URL",
            )
            .fix("Use source pull_from_url for media registered by URL, or upload the file."),
        ),
        (UploadSource::PullFromUrl, false) => {
            // TikTok downloads the file itself; what the probe found at upload still holds.
            findings.extend(recorded_problems(&asset.probe, field));
            match stored.as_ref().and_then(|s| s.pull_base) {
            // TikTok pulls an uploaded file through a signed URL under the pull base, which
            // must itself lie under a prefix verified for the app.
            Some(base) if policy
                .verified_url_prefixes
                .iter()
                .any(|prefix| base.as_str().starts_with(prefix.as_str())) => {}
            Some(base) => findings.push(
                Finding::error(
                    "url_ownership_unverified",
                    field,
                    "the media store's pull URLs are not under a URL prefix verified for the app",
                )
                .measured(
                    base.to_string(),
                    if policy.verified_url_prefixes.is_empty() {
                        "no verified prefix is configured".to_owned()
                    } else {
                        policy.verified_url_prefixes.join(" or ")
                    },
                )
                .fix("Set media.pull_base_url under one of tiktok.verified_url_prefixes, or verify its prefix with TikTok."),
            ),
            None => findings.push(
                Finding::error(
                    "source_mismatch",
                    "source",
                    "pull_from_url of an uploaded file needs media.pull_base_url (signed URLs TikTok downloads from); none is configured",
                )
                .fix("Use source file_upload for uploaded files, or configure media.pull_base_url."),
            ),
            }
        }
        (UploadSource::PullFromUrl, true) => {
            if !policy
                .verified_url_prefixes
                .iter()
                .any(|prefix| asset.location.starts_with(prefix.as_str()))
            {
                findings.push(
                    Finding::error(
                        "url_ownership_unverified",
                        field,
                        "TikTok only pulls from URL prefixes verified for the app",
                    )
                    .measured(
                        asset.location.clone(),
                        if policy.verified_url_prefixes.is_empty() {
                            "no verified prefix is configured".to_owned()
                        } else {
                            policy.verified_url_prefixes.join(" or ")
                        },
                    )
                    .fix("Serve the media under a verified prefix, or verify the domain with TikTok and add it to the configuration."),
                );
            }
        }
        (UploadSource::FileUpload, false) => {
            let verdict = match stored {
                None => media::preflight_file(Path::new(&asset.location), limits),
                Some(StoredMedia {
                    probed: Some(Ok(verdict)),
                    ..
                }) => verdict,
                Some(StoredMedia {
                    probed: Some(Err(MediaStoreError::NotFound { .. })),
                    ..
                }) => {
                    findings.push(
                        Finding::error(
                            "media_missing",
                            field,
                            format!(
                                "the bytes of media {} are no longer in the media store",
                                asset.id
                            ),
                        )
                        .fix("Upload the file again and use the new media id."),
                    );
                    return;
                }
                // The store failed: `media_unavailable` says so and the caller retries.
                Some(StoredMedia {
                    probed: Some(Err(_)),
                    ..
                }) => return,
                Some(StoredMedia {
                    probed: None,
                    configured,
                    ..
                }) => {
                    findings.push(
                        Finding::error(
                            "media_store_not_configured",
                            field,
                            format!(
                                "media {} is in the media store, which this process {}",
                                asset.id,
                                if configured {
                                    "did not read"
                                } else {
                                    "has no access to"
                                }
                            ),
                        )
                        .fix("Give every tokpost process the same [media] configuration."),
                    );
                    return;
                }
            };
            findings.extend(
                verdict
                    .problems
                    .iter()
                    .map(|problem| Finding::from_problem(field, problem)),
            );
            verdicts.push(verdict);
        }
    }
}

/// The problems the probe recorded for an upload (`media_assets.probe`), as findings of `field`.
fn recorded_problems(probe: &serde_json::Value, field: &str) -> Vec<Finding> {
    let text = |problem: &serde_json::Value, key: &str| {
        problem
            .get(key)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    probe
        .get("problems")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|problem| {
            Some(Finding {
                severity: match problem.get("severity")?.as_str()? {
                    "error" => "error",
                    _ => "warning",
                },
                code: text(problem, "code")?,
                field: field.to_owned(),
                message: text(problem, "message")?,
                measured: text(problem, "measured"),
                limit: text(problem, "limit"),
                fix: text(problem, "fix").unwrap_or_default(),
                tiktok_error: text(problem, "tiktok_error"),
            })
        })
        .collect()
}

fn check_text(spec: &PostSpec, findings: &mut Vec<Finding>) {
    let texts: Vec<(&str, CaptionField, &str)> = match &spec.content {
        PostContent::Video { caption, .. } => vec![(
            caption.as_str(),
            CaptionField::VideoTitle,
            "content.caption",
        )],
        PostContent::Photos {
            title, description, ..
        } => vec![
            (title.as_str(), CaptionField::PhotoTitle, "content.title"),
            (
                description.as_str(),
                CaptionField::PhotoDescription,
                "content.description",
            ),
        ],
    };
    for (text, kind, field) in texts {
        findings.extend(
            media::check_caption(text, kind)
                .iter()
                .map(|problem| Finding::from_problem(field, problem)),
        );
    }
}

fn check_settings(
    spec: &PostSpec,
    creator: Option<&CreatorFacts>,
    policy: &PublishPolicy,
    findings: &mut Vec<Finding>,
) {
    if !policy.audited && spec.privacy != PrivacyLevel::SelfOnly {
        findings.push(
            Finding::error(
                "unaudited_client_can_only_post_to_private_accounts",
                "privacy_level",
                "this TikTok app is not audited: TikTok accepts only SELF_ONLY posts to private accounts",
            )
            .measured(spec.privacy.as_str(), "SELF_ONLY")
            .fix("Choose SELF_ONLY, or get the app audited by TikTok and set tiktok.audited."),
        );
    }
    let Some(creator) = creator else {
        return;
    };
    if !policy.audited && !creator.is_private_account() {
        findings.push(
            Finding::error(
                "unaudited_client_can_only_post_to_private_accounts",
                "account_id",
                "this TikTok app is not audited and the account is public: TikTok accepts posts only to private accounts",
            )
            .fix("Make the TikTok account private, or get the app audited by TikTok."),
        );
    }
    if !creator.privacy_level_options.contains(&spec.privacy) {
        findings.push(
            Finding::error(
                "privacy_level_option_mismatch",
                "privacy_level",
                "the creator cannot post with this privacy level now",
            )
            .measured(
                spec.privacy.as_str(),
                creator
                    .privacy_level_options
                    .iter()
                    .map(|level| level.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
            .fix("Pick one of the creator's privacy options."),
        );
    }
    let interactions = [
        (
            creator.comment_disabled,
            spec.interactions.disable_comment,
            "comments",
        ),
        (
            creator.duet_disabled,
            spec.interactions.disable_duet,
            "duets",
        ),
        (
            creator.stitch_disabled,
            spec.interactions.disable_stitch,
            "stitches",
        ),
    ];
    let is_video = matches!(spec.content, PostContent::Video { .. });
    for (creator_disabled, post_disables, what) in interactions {
        if creator_disabled && !post_disables && (is_video || what == "comments") {
            findings.push(Finding {
                severity: "warning",
                tiktok_error: None,
                ..Finding::error(
                    "interaction_disabled_by_creator",
                    "interactions",
                    format!(
                        "the creator turned {what} off in TikTok; the post goes out with {what} off"
                    ),
                )
                .fix(format!(
                    "Nothing to do, or ask the creator to allow {what} in TikTok."
                ))
            });
        }
    }
}

/// Duplicate warnings against the workspace's recent posts (what TikTok's spam filter
/// punishes): the same media or caption, on this account or on another.
async fn check_duplicates(
    store: &(impl PostStore + MediaAssetStore + ?Sized),
    draft: &PostDraft,
    hashes: &[String],
    findings: &mut Vec<Finding>,
) -> Result<(), StoreError> {
    const RECENT_POSTS: u32 = 1_000;
    let candidate = PostFingerprint {
        account_id: draft.account_id.to_string(),
        media: hashes
            .iter()
            .filter_map(|hash| media::ContentHash::from_hex(hash))
            .collect(),
        caption: media::CaptionFingerprint::of(caption_of(&draft.spec)),
        at: draft.scheduled_at,
    };
    let mut media_hashes: HashMap<MediaId, Option<media::ContentHash>> = HashMap::new();
    let mut prior = Vec::new();
    for post in store.posts(draft.workspace_id, RECENT_POSTS).await? {
        let counts = !matches!(
            post.state.kind(),
            StateKind::Cancelled | StateKind::Failed | StateKind::Missed
        );
        if Some(post.id) == draft.post_id || !counts {
            continue;
        }
        let mut post_media = Vec::new();
        for id in post.spec.content.media() {
            if let Some(hash) = media_hashes.get(&id) {
                post_media.extend(*hash);
                continue;
            }
            let hash = store
                .media(id)
                .await?
                .and_then(|asset| media::ContentHash::from_hex(&asset.content_hash));
            media_hashes.insert(id, hash);
            post_media.extend(hash);
        }
        prior.push(PostFingerprint {
            account_id: post.account_id.to_string(),
            media: post_media,
            caption: media::CaptionFingerprint::of(caption_of(&post.spec)),
            at: post.scheduled_at.at(),
        });
    }
    let windows = media::DuplicateWindows {
        same_account: SignedDuration::from_hours(7 * 24),
        other_account: SignedDuration::from_hours(30 * 24),
    };
    findings.extend(
        media::find_duplicates(&candidate, &prior, &windows)
            .iter()
            .map(|problem| Finding::from_problem("content", problem)),
    );
    Ok(())
}

fn caption_of(spec: &PostSpec) -> &str {
    match &spec.content {
        PostContent::Video { caption, .. } => caption.as_str(),
        PostContent::Photos { description, .. } => description.as_str(),
    }
}

/// Whether a media location is a URL (registered for PULL_FROM_URL) rather than a stored file.
#[must_use]
pub fn is_url(location: &str) -> bool {
    location.starts_with("https://") || location.starts_with("http://")
}
