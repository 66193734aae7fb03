//! Who did something, in words: a principal (a user, an API key, a review link, tokpost itself)
//! resolved to the name people know it by, once per answer however often it appears.

use std::collections::HashMap;

use serde::Serialize;
use tokpost_core::{Principal, WorkspaceId};
use utoipa::ToSchema;

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::state::AppState;

/// Who acted.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ActorView {
    /// `user`, `api_key`, `review_link` or `service` (tokpost itself).
    kind: &'static str,
    /// The user's, the key's or the review link's id.
    #[schema(value_type = Option<String>, format = Uuid)]
    id: Option<String>,
    /// The user's name and email, the key's name, or what the others are.
    name: String,
}

impl ActorView {
    /// `principal` under `name`.
    fn of(principal: Principal, name: String) -> Self {
        Self {
            kind: principal.kind(),
            id: principal.id().map(|id| id.to_string()),
            name,
        }
    }
}

/// A user as answers name them.
pub(crate) fn user_name(name: &str, email: &str) -> String {
    format!("{name} <{email}>")
}

/// An API key as answers name it (its name and the first characters of its secret).
pub(crate) fn key_name(key: &tokpost_store::ApiKey) -> String {
    format!("API key \"{}\" ({}…)", key.name, key.prefix)
}

/// Resolves principals to [`ActorView`]s, reading each user and the workspace's keys once.
pub(crate) struct Actors<'a> {
    state: &'a AppState,
    workspace: WorkspaceId,
    known: HashMap<Principal, ActorView>,
    keys_read: bool,
}

impl<'a> Actors<'a> {
    pub(crate) fn new(state: &'a AppState, workspace: WorkspaceId) -> Self {
        Self {
            state,
            workspace,
            known: HashMap::new(),
            keys_read: false,
        }
    }

    /// Knows the caller by the name its credential gave (see [`Authenticated::name`]), so
    /// naming the caller reads nothing.
    pub(crate) fn knowing(mut self, caller: &Authenticated) -> Self {
        self.known.insert(
            caller.principal,
            ActorView::of(caller.principal, caller.name.to_string()),
        );
        self
    }

    /// The view of `principal`.
    pub(crate) async fn view(&mut self, principal: Principal) -> Result<ActorView, ApiError> {
        if let Some(view) = self.known.get(&principal) {
            return Ok(view.clone());
        }
        let name = match principal {
            Principal::User(user) => match self.state.people().user(user).await? {
                Some(user) => user_name(&user.name, &user.email),
                None => "a deleted user".to_owned(),
            },
            Principal::ApiKey(_) => {
                if !self.keys_read {
                    self.keys_read = true;
                    for key in self
                        .state
                        .workspaces()
                        .api_keys(Some(self.workspace))
                        .await?
                    {
                        let principal = Principal::ApiKey(key.id);
                        self.known
                            .insert(principal, ActorView::of(principal, key_name(&key)));
                    }
                    if let Some(view) = self.known.get(&principal) {
                        return Ok(view.clone());
                    }
                }
                "an API key of another workspace".to_owned()
            }
            Principal::ReviewLink(link) => match self.state.review_links().review_link(link).await?
            {
                Some(link) => match link.reviewer_email {
                    Some(email) => format!("{} <{email}>, by review link", link.reviewer_name),
                    None => format!("{}, by review link", link.reviewer_name),
                },
                None => "a reviewer with a review link".to_owned(),
            },
            Principal::Service => "tokpost".to_owned(),
        };
        let view = ActorView::of(principal, name);
        self.known.insert(principal, view.clone());
        Ok(view)
    }
}
