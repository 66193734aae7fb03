//! Moving a post: `POST /calendar/move/{id}` takes a drop from `calendar.js` (JSON, the CSRF
//! token in `X-CSRF-Token`) or the move form (`/calendar/move/{id}`, for keyboards and browsers
//! without JavaScript), turns the day and time into an instant in the person's zone
//! (`grid::drop_instant`) and calls the API's `POST /v1/posts/{id}/reschedule`, whose refusal
//! (a past time, a post already on its way, a full daily cap) is shown with its own words.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Json, Redirect, Response};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::json;

use super::grid::{self, Drop, View};
use super::href;
use crate::Dashboard;
use crate::error::PageError;
use crate::pages::{Chrome, SignedIn, encode_segment, render};
use crate::session::tokens_match;
use crate::views::{self, PostJson};

/// The header `calendar.js` sends the session's CSRF token in.
const CSRF_HEADER: &str = "x-csrf-token";

/// Why a move did not happen, with the status to answer.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl From<PageError> for Refusal {
    fn from(error: PageError) -> Self {
        let status = match &error {
            PageError::SignInNeeded => StatusCode::UNAUTHORIZED,
            PageError::Forbidden | PageError::NotAllowed(_) => StatusCode::FORBIDDEN,
            PageError::NotFound => StatusCode::NOT_FOUND,
            PageError::BadInput(_) => StatusCode::UNPROCESSABLE_ENTITY,
            PageError::Api(_) => StatusCode::BAD_GATEWAY,
            PageError::Store(_) | PageError::Internal(_) | PageError::Render(_) => {
                tracing::error!(%error, "a calendar move failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        Self::new(status, error.to_string())
    }
}

/// The post as the API has it.
async fn read_post(state: &Dashboard, signed_in: &SignedIn, id: &str) -> Result<PostJson, Refusal> {
    let path = format!("/v1/posts/{}", encode_segment(id));
    let answer = state
        .api
        .call(Some(signed_in.key()), Method::GET, &path, None)
        .await?;
    if answer.status == StatusCode::NOT_FOUND {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "there is no such post in this workspace",
        ));
    }
    if !answer.status.is_success() {
        return Err(Refusal::new(
            StatusCode::BAD_GATEWAY,
            answer.error_message(),
        ));
    }
    serde_json::from_value(answer.body).map_err(|_| {
        Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the API's post could not be read",
        )
    })
}

/// Moves post `id` to where `drop` says, through the reschedule endpoint; the new instant.
async fn reschedule(
    state: &Dashboard,
    signed_in: &SignedIn,
    id: &str,
    drop: Drop,
) -> Result<Timestamp, Refusal> {
    let post = read_post(state, signed_in, id).await?;
    let at = grid::drop_instant(drop, post.scheduled_at, signed_in.zone())
        .map_err(|message| Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, message))?;
    let answer = state
        .api
        .post_json(
            signed_in.key(),
            &format!("/v1/posts/{}/reschedule", encode_segment(id)),
            &json!({ "scheduled_at": at.to_string() }),
        )
        .await?;
    if answer.status.is_success() {
        Ok(at)
    } else {
        let status = answer.page_status();
        Err(Refusal::new(status, answer.error_message()))
    }
}

/// A drop from `calendar.js`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DropJson {
    date: String,
    #[serde(default)]
    time: Option<String>,
}

/// The move form's fields.
#[derive(Debug, Default)]
struct MoveForm {
    csrf: String,
    at: String,
    view: String,
    account: String,
}

impl MoveForm {
    fn parse(body: &[u8]) -> Self {
        let mut form = Self::default();
        for (key, value) in url::form_urlencoded::parse(body) {
            let slot = match key.as_ref() {
                "csrf" => &mut form.csrf,
                "at" => &mut form.at,
                "view" => &mut form.view,
                "account" => &mut form.account,
                _ => continue,
            };
            *slot = value.into_owned();
        }
        form
    }
}

/// Where the move form returns to: the calendar's view and account filter.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ReturnTo {
    #[serde(default)]
    view: Option<String>,
    #[serde(default)]
    account: Option<String>,
}

#[derive(Template)]
#[template(path = "calendar_move.html")]
struct MovePage {
    chrome: Chrome,
    id: String,
    text: String,
    account_name: String,
    state: String,
    current: String,
    value: String,
    movable: bool,
    view: String,
    account: String,
    back: String,
    slot: String,
    error: Option<String>,
}

/// `view` as the calendar knows it, else the week.
fn view_of(text: &str) -> View {
    View::parse(Some(text)).unwrap_or(View::Week)
}

/// An account filter that can only be an id (it is put back into a link).
fn account_of(text: &str) -> String {
    encode_segment(text.trim())
}

async fn move_form_page(
    state: &Dashboard,
    signed_in: &SignedIn,
    id: &str,
    back: (View, String),
    value: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Result<Response, PageError> {
    let post = match read_post(state, signed_in, id).await {
        Ok(post) => post,
        Err(refusal) if refusal.status == StatusCode::NOT_FOUND => {
            return Err(PageError::NotFound);
        }
        Err(refusal) => return Err(PageError::Api(refusal.message)),
    };
    let zone = signed_in.zone();
    let account = super::super::accounts::account_json(state, signed_in, &post.account_id).await?;
    let slot = account.health.as_ref().map_or_else(String::new, |health| {
        let next = health
            .next_slot_at
            .filter(|at| *at > state.app.now())
            .map_or_else(|| "now".to_owned(), |at| views::when(at, zone));
        format!(
            "{} of {} posts in the last 24 h; next free slot: {next}",
            health.posts_last_24h, health.daily_post_cap
        )
    });
    let kind = tokpost_core::StateKind::parse(&post.state);
    let page = MovePage {
        chrome: signed_in.chrome("calendar"),
        text: views::post_text(&post.spec),
        account_name: account.display_name,
        state: post.state.replace('_', " "),
        current: views::when(post.scheduled_at, zone),
        value: value.unwrap_or_else(|| {
            post.scheduled_at
                .to_zoned(zone.clone())
                .strftime("%Y-%m-%dT%H:%M")
                .to_string()
        }),
        movable: kind.is_some_and(grid::movable)
            && signed_in.may_change(
                post.created_by
                    .as_ref()
                    .and_then(views::ActorJson::principal),
            ),
        view: back.0.as_str().to_owned(),
        back: href(back.0, None, &back.1),
        account: back.1,
        slot,
        error: error.as_ref().map(|(_, message)| message.clone()),
        id: post.id,
    };
    let mut response = render(&page)?;
    if let Some((status, _)) = error {
        *response.status_mut() = status;
    }
    Ok(response)
}

/// `GET /calendar/move/{id}`: the form that moves a post without dragging.
pub(crate) async fn move_page(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Query(back): Query<ReturnTo>,
) -> Result<Response, PageError> {
    let view = view_of(back.view.as_deref().unwrap_or_default());
    let account = account_of(back.account.as_deref().unwrap_or_default());
    move_form_page(&state, &signed_in, &id, (view, account), None, None).await
}

/// `POST /calendar/move/{id}`: a drop (JSON, answered in JSON) or the move form (answered with
/// the calendar at the new day, or the form again with the refusal).
pub(crate) async fn move_post(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json {
        return Ok(move_json(&state, &signed_in, &id, &headers, &body).await);
    }
    let form = MoveForm::parse(&body);
    signed_in.check_csrf(&form.csrf)?;
    let back = (view_of(&form.view), account_of(&form.account));
    let outcome = match Drop::parse_local(&form.at) {
        Ok(drop) => reschedule(&state, &signed_in, &id, drop).await,
        Err(message) => Err(Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, message)),
    };
    match outcome {
        Ok(at) => {
            let day = at.to_zoned(signed_in.zone().clone()).date();
            let target = format!(
                "{}&moved={}",
                href(back.0, Some(day), &back.1),
                encode_segment(&id)
            );
            Ok(Redirect::to(&target).into_response())
        }
        Err(refusal) if refusal.status == StatusCode::NOT_FOUND => Err(PageError::NotFound),
        Err(refusal) => {
            move_form_page(
                &state,
                &signed_in,
                &id,
                back,
                Some(form.at),
                Some((refusal.status, refusal.message)),
            )
            .await
        }
    }
}

async fn move_json(
    state: &Dashboard,
    signed_in: &SignedIn,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let refused = |refusal: Refusal| {
        (
            refusal.status,
            Json(json!({ "error": { "message": refusal.message } })),
        )
            .into_response()
    };
    let token = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !tokens_match(signed_in.csrf(), token) {
        return refused(Refusal::from(PageError::Forbidden));
    }
    let drop = serde_json::from_slice::<DropJson>(body)
        .map_err(|error| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                format!("the drop is not {{\"date\", \"time\"}} JSON: {error}"),
            )
        })
        .and_then(|drop| {
            Drop::parse(&drop.date, drop.time.as_deref())
                .map_err(|message| Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, message))
        });
    let moved = match drop {
        Ok(drop) => reschedule(state, signed_in, id, drop).await,
        Err(refusal) => Err(refusal),
    };
    match moved {
        Ok(at) => {
            let zoned = at.to_zoned(signed_in.zone().clone());
            Json(json!({
                "id": id,
                "scheduled_at": at.to_string(),
                "date": zoned.date().to_string(),
                "hour": zoned.hour(),
                "time": zoned.strftime("%H:%M").to_string(),
                "label": views::when(at, signed_in.zone()),
            }))
            .into_response()
        }
        Err(refusal) => refused(refusal),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_move_form_is_read_from_its_urlencoded_body() {
        let form = MoveForm::parse(b"csrf=abc&at=2026-01-06T14%3A30&view=month&account=x&other=1");
        assert_eq!(form.csrf, "abc");
        assert_eq!(form.at, "2026-01-06T14:30");
        assert_eq!(form.view, "month");
        assert_eq!(form.account, "x");
    }

    #[test]
    fn the_way_back_cannot_leave_the_calendar() {
        assert_eq!(view_of("month"), View::Month);
        assert_eq!(view_of("https://evil.example"), View::Week);
        assert_eq!(account_of("a/../../x?y=1"), "axy1");
    }
}
