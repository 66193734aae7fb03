//! Who did something, in words: a principal (a user, an API key, a review link, tokpost itself)
//! resolved to the name people know it by, once per answer however often it appears.

use std::collections::HashMap;

use serde::Serialize;
use tokpost_core::{Principal, WorkspaceId};
use utoipa::ToSchema;

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

    /// The view of `principal`.
    pub(crate) async fn view(&mut self, principal: Principal) -> Result<ActorView, ApiError> {
        if let Some(view) = self.known.get(&principal) {
            return Ok(view.clone());
        }
        let id = principal.id().map(|id| id.to_string());
        let name = match principal {
            Principal::User(user) => match self.state.people().user(user).await? {
                Some(user) => format!("{} <{}>", user.name, user.email),
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
                        self.known.insert(
                            Principal::ApiKey(key.id),
                            ActorView {
                                kind: "api_key",
                                id: Some(key.id.to_string()),
                                name: format!("API key \"{}\" ({}…)", key.name, key.prefix),
                            },
                        );
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
        let view = ActorView {
            kind: principal.kind(),
            id,
            name,
        };
        self.known.insert(principal, view.clone());
        Ok(view)
    }
}
