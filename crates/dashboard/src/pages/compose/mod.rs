//! Compose: the page TikTok's audit looks at (content-sharing guidelines, Points 1–5).
//!
//! Every render asks TikTok for fresh creator info (Point 1): who is posting, their privacy
//! options, the interactions they turned off, their longest video. When TikTok says the creator
//! cannot post now, there is no form: the page says why and when the next slot frees. Otherwise
//! the form starts with nothing chosen for the person (no privacy, no interaction, disclosure
//! off), and `assets/compose.js` keeps TikTok's rules while they choose. The same rules are the
//! API's, so a form sent without the script is refused the same way: this module only maps the
//! form onto `POST /v1/posts/validate` and `POST /v1/posts`.
//!
//! The same page edits a post that has not gone out (`/posts/{id}/edit`): the form starts with
//! the post's choices, and saving it is `PUT /v1/posts/{id}` at the revision read.
//!
//! ```text
//! mod.rs      the page and its two submissions (check, publish or save)
//! form.rs     the submitted form and the API request it becomes
//! creator.rs  the creator as shown, and why they cannot post now
//! ```

mod creator;
mod form;

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;
use tokpost_core::{AccountId, BRANDED_CONTENT_NOT_PRIVATE, DISCLOSURE_NEEDS_A_CHOICE, PostMode};
use tokpost_store::QuotaKind;

use self::creator::{CannotPost, CreatorView};
pub(crate) use self::form::ComposeForm;
use self::form::request_from;
pub(crate) use self::form::schedule_instant;
use super::media::{LibraryItem, library};
use super::{Chrome, SignedIn, render};
use crate::Dashboard;
use crate::error::PageError;
use crate::session::random_token;
use crate::views;

/// TikTok's caption limit for videos, in UTF-16 code units (tiktok-api.md §3).
const CAPTION_LIMIT: usize = 2200;
/// A photo post's title limit.
const TITLE_LIMIT: usize = 90;
/// A photo post's description limit.
const DESCRIPTION_LIMIT: usize = 4000;
/// TikTok's Music Usage Confirmation, linked from the consent line (Point 2 note).
const MUSIC_USAGE_URL: &str =
    "https://www.tiktok.com/legal/page/global/music-usage-confirmation/en";
/// TikTok's Branded Content Policy, linked when branded content is ticked (Point 4).
const BRANDED_CONTENT_POLICY_URL: &str = "https://www.tiktok.com/legal/page/global/bc-policy/en";

/// One preflight finding as shown.
#[derive(Debug, Clone)]
struct Verdict {
    severity: String,
    field: String,
    message: String,
    measured: String,
    limit: String,
    fix: String,
}

/// The creator cannot post now: why, and when to try again.
#[derive(Debug, Clone)]
struct Stopped {
    why: String,
    next_slot: Option<String>,
}

#[derive(Template)]
#[template(path = "compose.html")]
struct ComposePage {
    chrome: Chrome,
    accounts: Vec<(String, String)>,
    account_id: String,
    account_name: String,
    creator: Option<CreatorView>,
    stopped: Option<Stopped>,
    creator_error: Option<String>,
    form: ComposeForm,
    library: Vec<LibraryItem>,
    /// The chosen photos in order, for a redisplayed form.
    chosen_photos: Vec<LibraryItem>,
    /// Why photo posts cannot be made here, when they cannot.
    photos_unavailable: Option<String>,
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

    fn units(text: &str) -> usize {
        text.encode_utf16().count()
    }

    fn caption_limit(&self) -> usize {
        CAPTION_LIMIT
    }

    fn title_limit(&self) -> usize {
        TITLE_LIMIT
    }

    fn description_limit(&self) -> usize {
        DESCRIPTION_LIMIT
    }

    fn music_usage_url(&self) -> &'static str {
        MUSIC_USAGE_URL
    }

    fn branded_content_policy_url(&self) -> &'static str {
        BRANDED_CONTENT_POLICY_URL
    }

    fn branded_not_private(&self) -> &'static str {
        BRANDED_CONTENT_NOT_PRIVATE
    }

    fn disclosure_needs_a_choice(&self) -> &'static str {
        DISCLOSURE_NEEDS_A_CHOICE
    }

    /// Whether the form was sent with branded content ticked (switch on).
    fn branded(&self) -> bool {
        self.form.disclose.is_some() && self.form.brand_content.is_some()
    }

    /// The label TikTok puts on the post, once a box is ticked ("Paid partnership" wins).
    fn label_line(&self) -> &'static str {
        if self.form.disclose.is_none() {
            ""
        } else if self.form.brand_content.is_some() {
            "Your photo/video will be labeled as 'Paid partnership'"
        } else if self.form.brand_organic.is_some() {
            "Your photo/video will be labeled as 'Promotional content'"
        } else {
            ""
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct ComposeQuery {
    account: Option<String>,
    kind: Option<String>,
}

pub(crate) async fn compose_page(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Query(query): Query<ComposeQuery>,
) -> Result<Response, PageError> {
    signed_in.require(tokpost_core::Action::Compose)?;
    let form = ComposeForm {
        account_id: query.account.unwrap_or_default(),
        kind: match query.kind.as_deref() {
            Some("photo") => "photo",
            _ => "video",
        }
        .to_owned(),
        mode: "direct".to_owned(),
        when: "now".to_owned(),
        draft_key: random_token(),
        ..ComposeForm::default()
    };
    let page = compose_view(&state, &signed_in, form, None, None).await?;
    render(&page)
}

/// The composer with a post's choices, to edit it.
pub(crate) async fn edit_page(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, PageError> {
    let value = state
        .api
        .get(
            signed_in.key(),
            &format!("/v1/posts/{}", super::encode_segment(&id)),
        )
        .await?;
    let post: views::PostJson = serde_json::from_value(value)
        .map_err(|_| PageError::Internal("the API's post could not be read"))?;
    let author = post
        .created_by
        .as_ref()
        .and_then(views::ActorJson::principal);
    if !signed_in.may_change(author) {
        return Err(PageError::NotAllowed(
            "only an owner, or the editor who wrote it, edits this post".to_owned(),
        ));
    }
    if !tokpost_core::StateKind::parse(&post.state)
        .is_some_and(tokpost_core::StateKind::is_editable)
    {
        return Err(PageError::BadInput(format!(
            "this post is {}: only a post that has not gone to TikTok can be edited",
            post.state.replace('_', " ")
        )));
    }
    let form = ComposeForm::of_post(&post, signed_in.zone());
    let page = compose_view(&state, &signed_in, form, None, None).await?;
    render(&page)
}

/// Saves an edit: `PUT /v1/posts/{id}` at the revision the form was made from. A time equal to
/// the post's own to the minute (the form shows minutes) keeps its exact time.
async fn save_edit(
    state: &Dashboard,
    signed_in: &SignedIn,
    form: &ComposeForm,
    mut request: Value,
) -> Result<Result<String, String>, PageError> {
    let path = format!("/v1/posts/{}", super::encode_segment(&form.edit));
    let current: views::PostJson =
        serde_json::from_value(state.api.get(signed_in.key(), &path).await?)
            .map_err(|_| PageError::Internal("the API's post could not be read"))?;
    if let Some(object) = request.as_object_mut() {
        object.remove("idempotency_key");
        if let Ok(revision) = form.revision.trim().parse::<u32>() {
            object.insert("revision".to_owned(), serde_json::json!(revision));
        }
        let to_minute = |at: jiff::Timestamp| at.as_second().div_euclid(60);
        match object
            .get("scheduled_at")
            .and_then(Value::as_str)
            .map(str::parse::<jiff::Timestamp>)
        {
            Some(Ok(at)) if to_minute(at) == to_minute(current.scheduled_at) => {
                object.remove("scheduled_at");
            }
            None => {
                // "Now": the edit goes out at once (absent would keep its time).
                object.insert(
                    "scheduled_at".to_owned(),
                    serde_json::json!(state.app.now().to_string()),
                );
            }
            _ => {}
        }
    }
    let answer = state
        .api
        .send_json(signed_in.key(), Method::PUT, &path, &request)
        .await?;
    Ok(if answer.status.is_success() {
        Ok(current.id)
    } else {
        Err(answer.error_message())
    })
}

/// Fresh creator info for the account, or why the creator cannot post now.
async fn creator_state(
    state: &Dashboard,
    signed_in: &SignedIn,
    account_id: &str,
    account_name: &str,
) -> Result<(Option<CreatorView>, Option<Stopped>, Option<String>), PageError> {
    let answer = state
        .api
        .call(
            Some(signed_in.key()),
            Method::GET,
            &format!("/v1/accounts/{account_id}/creator-info"),
            None,
        )
        .await?;
    if answer.status.is_success() {
        return Ok((Some(CreatorView::from_answer(&answer.body)), None, None));
    }
    let Some(reason) = CannotPost::from_error(&answer.body) else {
        return Ok((None, None, Some(answer.error_message())));
    };
    // The cap planner knows when the rolling window frees a slot. TikTok counts the creator's
    // posts from every app: when it says the cap is reached before our own count does, the
    // posts we counted are the cap, and the oldest of them frees the next slot.
    let next_slot = match account_id.parse::<AccountId>() {
        Ok(account) => next_free_slot(state, account, reason).await?,
        Err(_) => None,
    }
    .map(|at| views::when(at, signed_in.zone()));
    Ok((
        None,
        Some(Stopped {
            why: reason.explain(account_name),
            next_slot,
        }),
        None,
    ))
}

async fn next_free_slot(
    state: &Dashboard,
    account: AccountId,
    reason: CannotPost,
) -> Result<Option<jiff::Timestamp>, PageError> {
    let now = state.app.now();
    let store = state.app.store.as_ref();
    let planned = tokpost_pipeline::caps::blocking_cap(
        store,
        state.app.pipeline.publisher().policy(),
        account,
        PostMode::Direct,
        now,
    )
    .await?;
    if let Some(block) = planned {
        return Ok(Some(block.frees_at));
    }
    if reason != CannotPost::DailyCap {
        return Ok(None);
    }
    let uses = store
        .quota_use_times(
            account,
            QuotaKind::DirectPost,
            tokpost_pipeline::caps::window_start(now),
        )
        .await?;
    Ok(tokpost_pipeline::caps::frees_at(&uses, uses.len() as u64))
}

async fn compose_view(
    state: &Dashboard,
    signed_in: &SignedIn,
    form: ComposeForm,
    report: Option<&Value>,
    error: Option<String>,
) -> Result<ComposePage, PageError> {
    let list = super::accounts::account_list(state, signed_in).await?;
    let accounts: Vec<(String, String)> = list
        .iter()
        .filter(|a| a.get("status").and_then(Value::as_str) == Some("connected"))
        .filter_map(|a| {
            Some((
                a.get("id")?.as_str()?.to_owned(),
                a.get("display_name")?.as_str()?.to_owned(),
            ))
        })
        .collect();
    // An edited post keeps its account.
    let accounts: Vec<(String, String)> = if form.is_edit() {
        accounts
            .into_iter()
            .filter(|(id, _)| *id == form.account_id)
            .collect()
    } else {
        accounts
    };
    let (account_id, account_name) = accounts
        .iter()
        .find(|(id, _)| *id == form.account_id)
        .or_else(|| accounts.first())
        .cloned()
        .unwrap_or_default();
    let (mut creator, mut stopped, mut creator_error, mut next_slot) = (None, None, None, None);
    if !account_id.is_empty() {
        (creator, stopped, creator_error) =
            creator_state(state, signed_in, &account_id, &account_name).await?;
        let account = super::accounts::account_json(state, signed_in, &account_id).await?;
        next_slot = account.health.and_then(|h| {
            h.next_slot_at.map(|at| {
                format!(
                    "The daily cap is reached: a post made now waits until the next slot frees, {}.",
                    views::when(at, signed_in.zone())
                )
            })
        });
    }
    let kind = if form.is_photo() { "photo" } else { "video" };
    let library = library(state, signed_in, kind).await?;
    let chosen_photos = form
        .photos()
        .iter()
        .filter_map(|id| library.iter().find(|item| item.id == *id).cloned())
        .collect();
    let photos_unavailable = state
        .app
        .pipeline
        .media()
        .and_then(tokpost_pipeline::MediaAccess::pull_base)
        .is_none()
        .then(|| {
            "TikTok takes photos only by downloading them, and this tokpost has no media.pull_base_url (a URL prefix verified with TikTok) to let it download uploads. Photos registered by URL (POST /v1/media/url) can still be posted.".to_owned()
        });
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
                field: text("field"),
                message: text("message"),
                measured: text("measured"),
                limit: text("limit"),
                fix: text("fix"),
            }
        })
        .collect();
    Ok(ComposePage {
        chrome: signed_in.chrome("compose"),
        accounts,
        account_id,
        account_name,
        creator,
        stopped,
        creator_error,
        library,
        chosen_photos,
        photos_unavailable,
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

async fn redisplay(
    state: &Dashboard,
    signed_in: &SignedIn,
    form: ComposeForm,
    report: Option<&Value>,
    error: String,
) -> Result<Response, PageError> {
    let page = compose_view(state, signed_in, form, report, Some(error)).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page.render()?)).into_response())
}

/// The form's two buttons: `check` runs preflight and shows the verdict; `publish` runs it
/// again and, when it passes, creates the post and opens it with the processing notice.
pub(crate) async fn compose(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Form(form): Form<ComposeForm>,
) -> Result<Response, PageError> {
    if form.is_edit() {
        signed_in.require(tokpost_core::Action::ChangeOwnPost)?;
    } else {
        signed_in.require(tokpost_core::Action::Compose)?;
    }
    signed_in.check_csrf(&form.csrf)?;
    let request = match request_from(&form) {
        Ok(request) => request,
        Err(error) => return redisplay(&state, &signed_in, form, None, error.to_string()).await,
    };
    let check = state
        .api
        .post_json(signed_in.key(), "/v1/posts/validate", &request)
        .await?;
    if !check.status.is_success() {
        let message = check.error_message();
        return redisplay(&state, &signed_in, form, None, message).await;
    }
    let passes = check.body.get("passes").and_then(Value::as_bool) == Some(true);
    if form.intent != "publish" || !passes {
        let page = compose_view(&state, &signed_in, form, Some(&check.body), None).await?;
        return render(&page);
    }
    if form.is_edit() {
        return match save_edit(&state, &signed_in, &form, request).await? {
            Ok(id) => {
                Ok(Redirect::to(&format!("/posts/{}", super::encode_segment(&id))).into_response())
            }
            Err(message) => redisplay(&state, &signed_in, form, Some(&check.body), message).await,
        };
    }
    let created = state
        .api
        .post_json(signed_in.key(), "/v1/posts", &request)
        .await?;
    match created.body.get("id").and_then(Value::as_str) {
        Some(id) if created.status.is_success() => Ok(Redirect::to(&format!(
            "/posts/{}?sent=1",
            super::encode_segment(id)
        ))
        .into_response()),
        _ => {
            let message = created.error_message();
            redisplay(&state, &signed_in, form, Some(&check.body), message).await
        }
    }
}
