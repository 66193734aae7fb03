//! Bulk scheduling: `POST /v1/posts/batch` takes a CSV or JSON file of posts (read by
//! `crate::import`), turns each row into exactly the request `POST /v1/posts` takes, judges it
//! with the same parser (`posts::parse_draft`) and the same preflight as
//! `POST /v1/posts/validate`, and, unless it is a dry run, creates every valid row with an
//! idempotency key (the row's own, or one derived from its content), so that importing the same
//! file again creates nothing new. Invalid rows are reported, never created.
//!
//! A dry run stores no post. Rows naming media by URL register the URL as
//! `POST /v1/media/url` does (verified prefixes only; the same URL is the same media item),
//! since a post can only be judged against a media item.

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokpost_core::{AccountId, IdempotencyKey, MediaId, ValidationError};
use tokpost_pipeline::PostDraft;
use tokpost_store::{Inserted, MediaKind, NewPost};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Authenticated;
use crate::error::{ApiError, ErrorBody, ErrorDetail};
use crate::import::{self, Format, Kind, MediaRefs, Plan, Row};
use crate::routes::media::{owned_media, register_url_media};
use crate::routes::posts::{CreatePost, parse_draft};
use crate::state::AppState;
use tokpost_core::Action;

/// The import's options.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct BatchQuery {
    /// `true`: judge every row and store nothing. Also `"dry_run": true` in a JSON body.
    dry_run: Option<String>,
    /// The IANA zone of local times (`2026-12-01 18:00`) in rows without a `time_zone` column.
    time_zone: Option<String>,
}

/// One row of a JSON import: the columns of a CSV import (every one optional here; the row's
/// verdict names what is missing). Booleans may also be given as `"yes"`/`"no"`; media as an
/// array or as ids or URLs separated by `|`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the request; rows are read as JSON objects by `crate::import`
pub(crate) struct ImportRow {
    /// An account id, or the creator's `@username` or display name (unique in the workspace).
    account: Option<String>,
    /// `video` or `photo`; implied by a title/description or several media (photo), a caption
    /// (video), or the media themselves.
    kind: Option<String>,
    /// Uploaded media ids (several photos separated by `|`).
    #[schema(value_type = Option<Vec<String>>)]
    media_id: Option<Value>,
    /// URLs on a verified prefix (several photos separated by `|`).
    #[schema(value_type = Option<Vec<String>>)]
    media_url: Option<Value>,
    /// A video's caption (2200 UTF-16 units at most).
    caption: Option<String>,
    /// A photo post's title.
    title: Option<String>,
    /// A photo post's description.
    description: Option<String>,
    /// Required: `PUBLIC_TO_EVERYONE`, `MUTUAL_FOLLOW_FRIENDS`, `FOLLOWER_OF_CREATOR` or `SELF_ONLY`.
    privacy_level: Option<String>,
    /// RFC 3339 with an offset, or a local date and time read in `time_zone`; empty: now.
    scheduled_at: Option<String>,
    /// IANA zone of a local `scheduled_at`.
    time_zone: Option<String>,
    /// Empty is off.
    allow_comment: Option<bool>,
    allow_duet: Option<bool>,
    allow_stitch: Option<bool>,
    commercial_disclosure: Option<bool>,
    brand_organic: Option<bool>,
    brand_content: Option<bool>,
    is_aigc: Option<bool>,
    auto_add_music: Option<bool>,
    /// `direct` (default) or `inbox`.
    mode: Option<String>,
    /// `file_upload` or `pull_from_url` (videos).
    source: Option<String>,
    cover_timestamp_ms: Option<u64>,
    cover_index: Option<u64>,
    /// The row's own idempotency key; without one, `import:` + the hex SHA-256 of its request.
    idempotency_key: Option<String>,
}

/// A JSON import: an array of rows, or rows with options.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the request
#[serde(untagged)]
pub(crate) enum ImportBody {
    Rows(Vec<ImportRow>),
    WithOptions {
        rows: Vec<ImportRow>,
        dry_run: Option<bool>,
    },
}

/// One row's verdict.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RowReport {
    /// The row's 1-based number among the file's rows.
    row: usize,
    /// The line of the CSV file the row starts on.
    line: Option<u64>,
    /// `valid` or `invalid` (dry run); `created`, `existing` (an earlier import or post with
    /// this idempotency key) or `invalid`.
    status: String,
    /// The row's cells by column, as read.
    #[schema(value_type = Object)]
    fields: Value,
    /// Every problem, each naming the row's column (`privacy_level`, `caption`, `media_id`).
    errors: Vec<ErrorDetail>,
    /// Preflight's findings (errors and warnings), their `field` named as the row names it.
    #[schema(value_type = Vec<Object>)]
    findings: Vec<Value>,
    /// The account the row resolved to.
    account_id: Option<String>,
    /// `video` or `photo`.
    kind: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    scheduled_at: Option<Timestamp>,
    idempotency_key: Option<String>,
    /// The post, once created (or found by its idempotency key).
    post_id: Option<String>,
}

/// What an import did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BatchReport {
    dry_run: bool,
    /// `csv` or `json`.
    format: String,
    total: usize,
    /// Rows that pass every rule (in a real run: created plus existing).
    valid: usize,
    invalid: usize,
    created: usize,
    existing: usize,
    rows: Vec<RowReport>,
}

/// Imports many posts from a CSV or JSON file.
#[utoipa::path(post, path = "/v1/posts/batch", tag = "posts",
    security(("api_key" = [])),
    params(BatchQuery),
    request_body(
        description = "CSV with a header row (columns as in the JSON rows; UTF-8, a BOM is ignored) or JSON. At most 500 rows and 2 MiB.",
        content((ImportBody = "application/json"), (String = "text/csv")),
    ),
    responses(
        (status = 200, description = "Every row's verdict; valid rows created unless a dry run", body = BatchReport),
        (status = 400, description = "Not CSV or JSON of this shape (the line or field at fault)", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "The caller's role may not do this (code `forbidden`: the role and the roles that may)", body = ErrorBody),
        (status = 413, description = "The body is larger than 2 MiB", body = ErrorBody),
        (status = 415, description = "Neither CSV nor JSON", body = ErrorBody),
        (status = 422, description = "No rows, more than 500, an unknown column, or a bad option", body = ErrorBody),
    ))]
pub(crate) async fn import(
    State(state): State<AppState>,
    auth: Authenticated,
    query: Result<Query<BatchQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<BatchReport>, ApiError> {
    auth.require(Action::Compose)?;
    let Query(query) = query.map_err(|rejection| ApiError::MalformedBody {
        code: "invalid_query",
        path: None,
        message: rejection.body_text(),
    })?;
    let query_dry_run = match query.dry_run.as_deref().map(str::trim) {
        None | Some("false" | "0" | "") => false,
        Some("true" | "1") => true,
        Some(_) => {
            return Err(ApiError::field(
                "malformed",
                "dry_run",
                "dry_run is true or false",
            ));
        }
    };
    let default_zone = query
        .time_zone
        .as_deref()
        .map(|name| {
            TimeZone::get(name.trim()).map_err(|_| {
                ApiError::field(
                    "malformed",
                    "time_zone",
                    format!("“{name}” is not an IANA time zone such as Europe/Berlin"),
                )
            })
        })
        .transpose()?;
    let format = format_of(&headers)?;
    let bytes = read_body(&headers, body).await?;
    let format = format.unwrap_or_else(|| Format::sniff(&bytes));
    let parsed = import::parse(&bytes, format).map_err(|problem| {
        let status = match problem.code {
            "malformed_csv" | "malformed_json" | "invalid_body" => StatusCode::BAD_REQUEST,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::Refused {
            status,
            code: problem.code,
            message: problem.message,
            field: problem.field,
            limit: problem.limit,
            measured: problem.measured,
        }
    })?;
    let dry_run = query_dry_run || parsed.dry_run == Some(true);
    let judge = Judge {
        state: &state,
        auth: &auth,
        accounts: named_accounts(&state, &auth).await?,
        zone: default_zone,
        dry_run,
    };
    let mut rows = Vec::with_capacity(parsed.rows.len());
    for row in &parsed.rows {
        rows.push(judge.row(row).await?);
    }
    let count = |status: &str| rows.iter().filter(|r| r.status == status).count();
    let (created, existing, invalid) = (count("created"), count("existing"), count("invalid"));
    metrics::counter!("tokpost_posts_created_total").increment(created as u64);
    Ok(Json(BatchReport {
        dry_run,
        format: format.as_str().to_owned(),
        total: rows.len(),
        valid: rows.len() - invalid,
        invalid,
        created,
        existing,
        rows,
    }))
}

/// The declared format: `None` when the body must say (no content type, or a generic one).
fn format_of(headers: &HeaderMap) -> Result<Option<Format>, ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().to_ascii_lowercase();
    let essence = text.split(';').next().unwrap_or_default().trim().to_owned();
    match essence.as_str() {
        "text/csv" | "application/csv" | "text/comma-separated-values" => Ok(Some(Format::Csv)),
        "application/json" => Ok(Some(Format::Json)),
        json if json.starts_with("application/") && json.ends_with("+json") => {
            Ok(Some(Format::Json))
        }
        "" | "text/plain" | "application/octet-stream" => Ok(None),
        _ => Err(ApiError::Refused {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "unsupported_media_type",
            message: format!("an import is text/csv or application/json, not {essence}"),
            field: Some("Content-Type".to_owned()),
            limit: Some(json!(["text/csv", "application/json"])),
            measured: Some(json!(essence)),
        }),
    }
}

async fn read_body(headers: &HeaderMap, body: Body) -> Result<axum::body::Bytes, ApiError> {
    let too_large = |measured: Option<u64>| ApiError::Refused {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        code: "batch_too_large",
        message: match measured {
            Some(measured) => format!(
                "the file is {measured} bytes; an import takes at most {} bytes: split it",
                import::MAX_BYTES
            ),
            None => format!(
                "the file is larger than {} bytes (reading stopped there): split it",
                import::MAX_BYTES
            ),
        },
        field: Some("body".to_owned()),
        limit: Some(json!(import::MAX_BYTES)),
        measured: measured.map(|m| json!(m)),
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(length) = declared
        && length > import::MAX_BYTES as u64
    {
        return Err(too_large(Some(length)));
    }
    axum::body::to_bytes(body, import::MAX_BYTES)
        .await
        .map_err(|_| too_large(declared))
}

/// An account of the workspace with the names a row may use for it.
struct NamedAccount {
    id: AccountId,
    display_name: String,
    username: Option<String>,
}

async fn named_accounts(
    state: &AppState,
    auth: &Authenticated,
) -> Result<Vec<NamedAccount>, ApiError> {
    let mut named = Vec::new();
    for account in state.accounts().accounts(auth.workspace_id).await? {
        let username = state
            .accounts()
            .latest_creator_info(account.id)
            .await?
            .and_then(|snapshot| snapshot.username().map(str::to_owned));
        named.push(NamedAccount {
            id: account.id,
            display_name: account.display_name,
            username,
        });
    }
    Ok(named)
}

/// What judging every row of one import shares.
struct Judge<'a> {
    state: &'a AppState,
    auth: &'a Authenticated,
    accounts: Vec<NamedAccount>,
    zone: Option<TimeZone>,
    dry_run: bool,
}

impl Judge<'_> {
    /// The row's verdict; `Err` only when the store fails (the whole import answers 500).
    async fn row(&self, row: &Row) -> Result<RowReport, ApiError> {
        let mut report = RowReport {
            row: row.number,
            line: row.line,
            status: "invalid".to_owned(),
            fields: json!(row.cells),
            errors: Vec::new(),
            findings: Vec::new(),
            account_id: None,
            kind: None,
            scheduled_at: None,
            idempotency_key: None,
            post_id: None,
        };
        let plan = match import::plan(row, self.zone.as_ref()) {
            Ok(plan) => plan,
            Err(problems) => {
                report.errors = problems;
                return Ok(report);
            }
        };
        report.scheduled_at = plan.scheduled_at;
        let column = plan.media.column();
        let account_id = match self.account(&plan.account) {
            Ok(id) => id,
            Err(problem) => {
                report.errors.push(problem);
                return Ok(report);
            }
        };
        report.account_id = Some(account_id.clone());
        let (kind, media_ids) = match self.media(&plan).await {
            Ok(Ok(resolved)) => resolved,
            Ok(Err(problem)) => {
                report.errors.push(problem);
                return Ok(report);
            }
            Err(error) => return Err(error),
        };
        report.kind = Some(kind.as_str().to_owned());
        let request = match plan.request(&account_id, kind, &media_ids) {
            Ok(request) => request,
            Err(problem) => {
                report.errors.push(problem);
                return Ok(report);
            }
        };
        let key = match &plan.idempotency_key {
            Some(own) => IdempotencyKey::new(own.clone()),
            None => IdempotencyKey::new(import::derived_key(&request)),
        };
        let key = match key {
            Ok(key) => key,
            Err(error) => {
                report
                    .errors
                    .push(detail(&ApiError::Validation(error), column));
                return Ok(report);
            }
        };
        report.idempotency_key = Some(key.as_str().to_owned());
        let draft = match self.draft(request).await {
            Ok(draft) => draft,
            Err(error @ ApiError::Store(_)) => return Err(error),
            Err(error) => {
                report.errors.push(detail(&error, column));
                return Ok(report);
            }
        };
        let preflight = self
            .state
            .pipeline
            .preflight(&PostDraft {
                workspace_id: self.auth.workspace_id,
                account_id: draft.account_id,
                spec: draft.spec.clone(),
                scheduled_at: draft.scheduled_at.at(),
                post_id: None,
            })
            .await?;
        report.scheduled_at = Some(draft.scheduled_at.at());
        for finding in &preflight.findings {
            let field = import::row_field(&finding.field, column);
            if finding.is_error() {
                report.errors.push(ErrorDetail {
                    code: finding.code.clone(),
                    message: finding.message.clone(),
                    field: Some(field.clone()),
                    limit: finding.limit.as_ref().map(|l| json!(l)),
                    measured: finding.measured.as_ref().map(|m| json!(m)),
                    tiktok: None,
                });
            }
            let mut shown = serde_json::to_value(finding).unwrap_or(Value::Null);
            if let Some(object) = shown.as_object_mut() {
                object.insert("field".to_owned(), json!(field));
            }
            report.findings.push(shown);
        }
        if !preflight.passes() {
            return Ok(report);
        }
        if self.dry_run {
            "valid".clone_into(&mut report.status);
            return Ok(report);
        }
        let inserted = self
            .state
            .posts()
            .create_post(
                NewPost {
                    workspace_id: self.auth.workspace_id,
                    account_id: draft.account_id,
                    spec: draft.spec,
                    scheduled_at: draft.scheduled_at,
                    idempotency_key: Some(key),
                    created_by: self.auth.principal,
                },
                self.state.now(),
            )
            .await?;
        let (status, post) = match inserted {
            Inserted::Created(post) => ("created", post),
            Inserted::Existing(post) => ("existing", post),
        };
        status.clone_into(&mut report.status);
        report.post_id = Some(post.id.to_string());
        report.scheduled_at = Some(post.scheduled_at.at());
        Ok(report)
    }

    /// The row's account: an id (checked by `parse_draft`), or a unique `@username` or name.
    fn account(&self, text: &str) -> Result<String, ErrorDetail> {
        if text.parse::<AccountId>().is_ok() {
            return Ok(text.to_owned());
        }
        let wanted = text.trim_start_matches('@').to_lowercase();
        let matches: Vec<&NamedAccount> = self
            .accounts
            .iter()
            .filter(|a| {
                a.username.as_deref().map(str::to_lowercase).as_deref() == Some(wanted.as_str())
                    || a.display_name.to_lowercase() == wanted
                    || a.display_name.to_lowercase() == text.to_lowercase()
            })
            .collect();
        match matches.as_slice() {
            [one] => Ok(one.id.to_string()),
            [] => Err(import::detail(
                "not_found",
                "account",
                format!(
                    "no account of this workspace is “{text}” (an account id, the creator's @username or display name)"
                ),
                None,
                Some(json!(text)),
            )),
            several => Err(import::detail(
                "ambiguous_account",
                "account",
                format!(
                    "“{text}” names {} accounts of this workspace: use the account id",
                    several.len()
                ),
                None,
                Some(json!(
                    several.iter().map(|a| a.id.to_string()).collect::<Vec<_>>()
                )),
            )),
        }
    }

    /// The row's kind and media ids; URLs are registered (as `POST /v1/media/url`).
    async fn media(
        &self,
        plan: &Plan,
    ) -> Result<Result<(Kind, Vec<String>), ErrorDetail>, ApiError> {
        match &plan.media {
            MediaRefs::Ids(ids) => {
                let kind = match plan.kind {
                    Some(kind) => kind,
                    None => self.kind_of_media(ids.first()).await?,
                };
                Ok(Ok((kind, ids.clone())))
            }
            MediaRefs::Urls(urls) => {
                let Some(kind) = plan
                    .kind
                    .or_else(|| urls.first().and_then(|u| Kind::of_url(u)))
                else {
                    return Ok(Err(import::detail(
                        "required",
                        "kind",
                        "kind is needed (video or photo): the media URL does not say",
                        Some(json!(["video", "photo"])),
                        None,
                    )));
                };
                let media_kind = match kind {
                    Kind::Video => MediaKind::Video,
                    Kind::Photo => MediaKind::Photo,
                };
                let mut ids = Vec::with_capacity(urls.len());
                for url in urls {
                    match register_url_media(self.state, self.auth, media_kind, url).await {
                        Ok(Inserted::Created(asset) | Inserted::Existing(asset)) => {
                            ids.push(asset.id.to_string());
                        }
                        Err(error @ ApiError::Store(_)) => return Err(error),
                        Err(error) => return Ok(Err(detail(&error, "media_url"))),
                    }
                }
                Ok(Ok((kind, ids)))
            }
        }
    }

    /// An uploaded media item's kind; a video when it cannot be known (then `parse_draft`
    /// names the media id that is wrong).
    async fn kind_of_media(&self, first: Option<&String>) -> Result<Kind, ApiError> {
        let Some(id) = first.and_then(|text| text.trim().parse::<MediaId>().ok()) else {
            return Ok(Kind::Video);
        };
        Ok(match owned_media(self.state, self.auth, id).await? {
            Some(asset) if asset.kind == MediaKind::Photo => Kind::Photo,
            _ => Kind::Video,
        })
    }

    async fn draft(
        &self,
        request: Map<String, Value>,
    ) -> Result<crate::routes::posts::Draft, ApiError> {
        let create: CreatePost = serde_json::from_value(Value::Object(request)).map_err(|e| {
            ApiError::MalformedBody {
                code: "invalid_row",
                path: None,
                message: e.to_string(),
            }
        })?;
        parse_draft(self.state, self.auth, create).await
    }
}

/// A refusal of `POST /v1/posts`, its field named as the row names it.
fn detail(error: &ApiError, media_column: &str) -> ErrorDetail {
    if let ApiError::Validation(validation) = error {
        let renamed = ValidationError {
            field: import::row_field(&validation.field, media_column),
            ..validation.clone()
        };
        return ApiError::Validation(renamed).detail();
    }
    let mut detail = error.detail();
    detail.field = Some(
        detail
            .field
            .as_deref()
            .map_or_else(|| "row".to_owned(), |f| import::row_field(f, media_column)),
    );
    detail
}
