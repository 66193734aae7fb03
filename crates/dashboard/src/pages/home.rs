//! The overview: what waits for this person (posts to approve, their posts sent back), posts by
//! state and how many accounts are connected.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use tokpost_core::{Action, Principal, StateKind};
use tokpost_store::PostFilter;

use super::{CALENDAR_LIMIT, Chrome, SignedIn, render};
use crate::Dashboard;
use crate::error::PageError;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    counts: Vec<(String, usize)>,
    accounts: usize,
    /// Posts awaiting approval, for someone who may approve.
    to_approve: usize,
    /// This person's posts rejected with a comment.
    sent_back: usize,
}

pub(crate) async fn home(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    let posts = state
        .app
        .posts()
        .posts(signed_in.session.workspace_id, CALENDAR_LIMIT)
        .await?;
    let mut counts: BTreeMap<StateKind, usize> = BTreeMap::new();
    for post in &posts {
        *counts.entry(post.state.kind()).or_default() += 1;
    }
    let accounts = state
        .app
        .accounts()
        .accounts(signed_in.session.workspace_id)
        .await?
        .len();
    let waiting = |kind: StateKind| PostFilter {
        workspace_id: signed_in.session.workspace_id,
        state: Some(kind),
        account_id: None,
        scheduled_from: None,
        scheduled_before: None,
        after: None,
        limit: CALENDAR_LIMIT,
    };
    let to_approve = if signed_in.may(Action::Review) {
        state
            .app
            .posts()
            .list_posts(&waiting(StateKind::AwaitingApproval))
            .await?
            .len()
    } else {
        0
    };
    let me = Principal::User(signed_in.session.user.id);
    let sent_back = state
        .app
        .posts()
        .list_posts(&waiting(StateKind::Rejected))
        .await?
        .iter()
        .filter(|post| post.created_by == Some(me))
        .count();
    render(&HomePage {
        to_approve,
        sent_back,
        chrome: signed_in.chrome("home"),
        counts: counts
            .into_iter()
            .map(|(kind, n)| (kind.as_str().to_owned(), n))
            .collect(),
        accounts,
    })
}
