//! Compose: the creator's options shape the form; preflight before scheduling.

use askama::Template;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Form, Json};
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use serde::Deserialize;
use serde_json::{Value, json};

use super::accounts::account_json;
use super::{Chrome, SignedIn, render};
use crate::Dashboard;
use crate::error::PageError;
use crate::views;

/// TikTok's caption limit, in UTF-16 code units (tiktok-api.md §3).
const CAPTION_LIMIT: usize = 2200;

/// What the compose form holds (the submitted values, redisplayed after a check).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ComposeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    account_id: String,
    #[serde(default)]
    media_id: String,
    #[serde(default)]
    caption: String,
    #[serde(default)]
    privacy_level: String,
    allow_comment: Option<String>,
    allow_duet: Option<String>,
    allow_stitch: Option<String>,
    disclose: Option<String>,
    brand_organic: Option<String>,
    brand_content: Option<String>,
    is_aigc: Option<String>,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    scheduled_at: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    intent: String,
}

/// The creator's answer that shapes the form.
#[derive(Debug, Clone, Default)]
struct Creator {
    nickname: String,
    privacy_options: Vec<String>,
    comment_disabled: bool,
    duet_disabled: bool,
    stitch_disabled: bool,
    max_duration_sec: Option<u64>,
}

/// One preflight finding as shown.
#[derive(Debug, Clone)]
struct Verdict {
    severity: String,
    message: String,
    measured: String,
    limit: String,
    fix: String,
}

#[derive(Template)]
#[template(path = "compose.html")]
struct ComposePage {
    chrome: Chrome,
    accounts: Vec<(String, String)>,
    account_id: String,
    creator: Option<Creator>,
    creator_error: Option<String>,
    form: ComposeForm,
    caption_units: usize,
    caption_limit: usize,
    next_slot: Option<String>,
    checked: bool,
    passes: bool,
    verdicts: Vec<Verdict>,
    error: Option<String>,
}

impl ComposePage {
    fn is_checked(value: &Option<String>) -> bool {
        value.is_some()
    }

    /// TikTok's privacy options in the words of its own app; an option tokpost does not know
    /// is shown as TikTok named it.
    fn privacy_label(option: &str) -> &str {
        match option {
            "PUBLIC_TO_EVERYONE" => "Everyone",
            "MUTUAL_FOLLOW_FRIENDS" => "Friends (followers you follow back)",
            "FOLLOWER_OF_CREATOR" => "Followers",
            "SELF_ONLY" => "Only me",
            other => other,
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct ComposeQuery {
    account: Option<String>,
}

pub(crate) async fn compose_page(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Query(query): Query<ComposeQuery>,
) -> Result<Response, PageError> {
    let form = ComposeForm {
        account_id: query.account.unwrap_or_default(),
        mode: "direct".to_owned(),
        ..ComposeForm::default()
    };
    compose_view(&state, &signed_in, form, None, None)
        .await
        .and_then(|page| render(&page))
}

async fn compose_view(
    state: &Dashboard,
    signed_in: &SignedIn,
    form: ComposeForm,
    report: Option<&Value>,
    error: Option<String>,
) -> Result<ComposePage, PageError> {
    let list = state.api.get(signed_in.key(), "/v1/accounts").await?;
    let accounts: Vec<(String, String)> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a.get("status").and_then(Value::as_str) == Some("connected"))
        .filter_map(|a| {
            Some((
                a.get("id")?.as_str()?.to_owned(),
                a.get("display_name")?.as_str()?.to_owned(),
            ))
        })
        .collect();
    let account_id = accounts
        .iter()
        .find(|(id, _)| *id == form.account_id)
        .or_else(|| accounts.first())
        .map(|(id, _)| id.clone())
        .unwrap_or_default();
    let (mut creator, mut creator_error, mut next_slot) = (None, None, None);
    if !account_id.is_empty() {
        let answer = state
            .api
            .call(
                signed_in.key(),
                Method::GET,
                &format!("/v1/accounts/{account_id}/creator-info"),
                None,
            )
            .await?;
        if answer.status.is_success() {
            creator = Some(creator_from(&answer.body));
        } else {
            creator_error = Some(answer.error_message());
        }
        let account = account_json(state, signed_in, &account_id).await?;
        next_slot = account.health.and_then(|h| {
            let near = h.posts_last_24h.saturating_add(2) >= u64::from(h.daily_post_cap);
            match h.next_slot_at {
                Some(at) => Some(format!(
                    "The daily cap is reached: the next slot frees {}.",
                    views::when(at, signed_in.zone())
                )),
                None if near => Some(format!(
                    "{} of {} posts in the last 24 h: the cap is near.",
                    h.posts_last_24h, h.daily_post_cap
                )),
                None => None,
            }
        });
    }
    let verdicts = report
        .and_then(|r| r.get("findings"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|f| {
            let text = |key: &str| {
                f.get(key)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            Verdict {
                severity: text("severity"),
                message: text("message"),
                measured: text("measured"),
                limit: text("limit"),
                fix: text("fix"),
            }
        })
        .collect();
    Ok(ComposePage {
        chrome: signed_in.chrome("compose"),
        caption_units: form.caption.encode_utf16().count(),
        caption_limit: CAPTION_LIMIT,
        accounts,
        account_id,
        creator,
        creator_error,
        next_slot,
        checked: report.is_some(),
        passes: report
            .and_then(|r| r.get("passes"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        verdicts,
        form,
        error,
    })
}

fn creator_from(body: &Value) -> Creator {
    let flag = |key: &str| body.get(key).and_then(Value::as_bool).unwrap_or(false);
    Creator {
        nickname: body
            .get("creator_nickname")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        privacy_options: body
            .get("privacy_level_options")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        comment_disabled: flag("comment_disabled"),
        duet_disabled: flag("duet_disabled"),
        stitch_disabled: flag("stitch_disabled"),
        max_duration_sec: body
            .get("max_video_post_duration_sec")
            .and_then(Value::as_u64),
    }
}

/// The date and time the user typed, in their zone, as the API's RFC 3339 instant. Empty: now.
fn schedule_instant(text: &str, zone: &str) -> Result<Option<String>, PageError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let civil: DateTime = text
        .parse()
        .map_err(|_| PageError::BadInput(format!("“{text}” is not a date and time")))?;
    let zone = TimeZone::get(zone.trim()).unwrap_or(TimeZone::UTC);
    let zoned = civil
        .to_zoned(zone)
        .map_err(|_| PageError::BadInput(format!("“{text}” does not exist in this time zone")))?;
    Ok(Some(zoned.timestamp().to_string()))
}

fn request_from(form: &ComposeForm) -> Result<Value, PageError> {
    let disclose = form.disclose.is_some();
    let mut request = json!({
        "account_id": form.account_id,
        "video": {"media_id": form.media_id.trim(), "caption": form.caption},
        "disable_comment": form.allow_comment.is_none(),
        "disable_duet": form.allow_duet.is_none(),
        "disable_stitch": form.allow_stitch.is_none(),
        "brand_organic": disclose && form.brand_organic.is_some(),
        "brand_content": disclose && form.brand_content.is_some(),
        "is_aigc": form.is_aigc.is_some(),
        "mode": if form.mode == "inbox" { "inbox" } else { "direct" },
    });
    if let Some(object) = request.as_object_mut() {
        if !form.privacy_level.is_empty() {
            object.insert("privacy_level".to_owned(), json!(form.privacy_level));
        }
        if let Some(at) = schedule_instant(&form.scheduled_at, &form.time_zone)? {
            object.insert("scheduled_at".to_owned(), json!(at));
        }
    }
    Ok(request)
}

pub(crate) async fn compose(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Form(form): Form<ComposeForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf)?;
    let request = match request_from(&form) {
        Ok(request) => request,
        Err(error) => {
            let page =
                compose_view(&state, &signed_in, form, None, Some(error.to_string())).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page.render()?)).into_response());
        }
    };
    let check = state
        .api
        .post_json(signed_in.key(), "/v1/posts/validate", &request)
        .await?;
    if !check.status.is_success() {
        let message = check.error_message();
        let page = compose_view(&state, &signed_in, form, None, Some(message)).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page.render()?)).into_response());
    }
    let passes = check.body.get("passes").and_then(Value::as_bool) == Some(true);
    if form.intent != "schedule" || !passes {
        let page = compose_view(&state, &signed_in, form, Some(&check.body), None).await?;
        return render(&page);
    }
    let created = state
        .api
        .post_json(signed_in.key(), "/v1/posts", &request)
        .await?;
    match created.body.get("id").and_then(Value::as_str) {
        Some(id) if created.status.is_success() => {
            Ok(Redirect::to(&format!("/posts/{id}")).into_response())
        }
        _ => {
            let message = created.error_message();
            let page =
                compose_view(&state, &signed_in, form, Some(&check.body), Some(message)).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page.render()?)).into_response())
        }
    }
}

/// Streams a file from the compose page to the API's media upload (the CSRF token comes in a
/// header, since the body is the file itself).
pub(crate) async fn upload_media(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, PageError> {
    let token = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    signed_in.check_csrf(token)?;
    let answer = state
        .api
        .call(
            signed_in.key(),
            Method::POST,
            "/v1/media",
            Some(("application/octet-stream", body)),
        )
        .await?;
    Ok((answer.status, Json(answer.body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("2026-12-01T18:00", "Europe/Berlin", Some("2026-12-01T17:00:00Z"))]
    #[case("2026-07-01T18:00", "Europe/Berlin", Some("2026-07-01T16:00:00Z"))]
    #[case("2026-12-01T18:00", "Not/AZone", Some("2026-12-01T18:00:00Z"))]
    #[case("", "UTC", None)]
    fn a_scheduled_time_is_read_in_the_users_zone(
        #[case] text: &str,
        #[case] zone: &str,
        #[case] expected: Option<&str>,
    ) {
        assert_eq!(schedule_instant(text, zone).unwrap().as_deref(), expected);
    }

    #[test]
    fn a_time_that_is_not_one_is_refused() {
        assert!(matches!(
            schedule_instant("tomorrow-ish", "UTC"),
            Err(PageError::BadInput(_))
        ));
    }

    #[test]
    fn unticked_interactions_are_disabled_and_disclosure_needs_its_switch() {
        let form = ComposeForm {
            account_id: "a".to_owned(),
            allow_comment: Some("on".to_owned()),
            brand_content: Some("on".to_owned()),
            ..ComposeForm::default()
        };
        let request = request_from(&form).unwrap();
        assert_eq!(request["disable_comment"], false);
        assert_eq!(request["disable_duet"], true);
        assert_eq!(request["brand_content"], false, "disclosure switch is off");
        assert!(request.get("privacy_level").is_none(), "no default privacy");
    }
}
