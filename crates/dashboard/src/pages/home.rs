//! The overview: posts by state and how many accounts are connected.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use tokpost_core::StateKind;

use super::{CALENDAR_LIMIT, Chrome, SignedIn, render};
use crate::Dashboard;
use crate::error::PageError;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    counts: Vec<(String, usize)>,
    accounts: usize,
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
    render(&HomePage {
        chrome: signed_in.chrome("home"),
        counts: counts
            .into_iter()
            .map(|(kind, n)| (kind.as_str().to_owned(), n))
            .collect(),
        accounts,
    })
}
