//! Who a person's own alert reaches.
//!
//! A workspace's channels (a Slack channel, a team mailbox) receive every event they subscribe
//! to. A person's own alerts (their email) are narrower: an event reaches them only when it is
//! theirs to act on or to know, by its [`Audience`]:
//!
//! - a post awaiting approval reaches the people who may approve it;
//! - an approval or a rejection reaches the post's author (or, when no person wrote it, the
//!   owners, since somebody must edit or cancel it);
//! - an account's reconnect or expiring refresh token reaches the people who manage accounts;
//! - the rest (a failure, a deferral, a missed post, a publish, the digest) reaches the team.
//!
//! Invariants, judged by [`reaches`] alone:
//! - nobody is alerted about their own act (an owner approving does not get "approved");
//! - a role is asked through [`Role::may`], never by name.

use crate::ids::UserId;
use crate::people::{Action, Principal, Role};

/// Whom an event concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    /// Everybody in the workspace.
    Team,
    /// Whoever may approve or reject a post.
    Reviewers,
    /// Whoever connects and reconnects TikTok accounts.
    AccountManagers,
    /// The post's author; the owners when no person wrote it.
    Author,
}

/// Whether events for `audience` can concern someone holding `role` at all: what a person may
/// choose for their own alerts.
#[must_use]
pub const fn concerns(audience: Audience, role: Role) -> bool {
    match audience {
        Audience::Team => true,
        Audience::Reviewers => role.may(Action::Review),
        Audience::AccountManagers => role.may(Action::ManageAccounts),
        Audience::Author => role.may(Action::Compose) || role.may(Action::ChangeAnyPost),
    }
}

/// Whether an event for `audience`, written by `author` and caused by `actor`, reaches `user`
/// holding `role`.
#[must_use]
pub fn reaches(
    audience: Audience,
    user: UserId,
    role: Role,
    author: Option<Principal>,
    actor: Option<Principal>,
) -> bool {
    if actor == Some(Principal::User(user)) {
        return false;
    }
    match audience {
        Audience::Team => true,
        Audience::Reviewers => role.may(Action::Review),
        Audience::AccountManagers => role.may(Action::ManageAccounts),
        Audience::Author => match author {
            Some(Principal::User(writer)) => writer == user,
            _ => role.may(Action::ChangeAnyPost),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: u128) -> UserId {
        UserId::from_uuid(uuid::Uuid::from_u128(n))
    }

    #[test]
    fn approvals_reach_reviewers_and_owners_never_editors() {
        for (role, expected) in [
            (Role::Owner, true),
            (Role::Reviewer, true),
            (Role::Editor, false),
        ] {
            assert_eq!(
                reaches(Audience::Reviewers, user(1), role, None, None),
                expected,
                "{role}"
            );
        }
    }

    #[test]
    fn a_decision_reaches_the_author_alone_or_the_owners_of_an_authorless_post() {
        let author = Some(Principal::User(user(7)));
        assert!(reaches(
            Audience::Author,
            user(7),
            Role::Editor,
            author,
            None
        ));
        assert!(!reaches(
            Audience::Author,
            user(8),
            Role::Owner,
            author,
            None
        ));
        assert!(reaches(Audience::Author, user(8), Role::Owner, None, None));
        assert!(!reaches(
            Audience::Author,
            user(8),
            Role::Editor,
            None,
            None
        ));
    }

    #[test]
    fn nobody_hears_of_their_own_act() {
        let me = user(3);
        for audience in [
            Audience::Team,
            Audience::Reviewers,
            Audience::AccountManagers,
            Audience::Author,
        ] {
            assert!(!reaches(
                audience,
                me,
                Role::Owner,
                Some(Principal::User(me)),
                Some(Principal::User(me))
            ));
        }
        assert!(reaches(
            Audience::Team,
            me,
            Role::Reviewer,
            None,
            Some(Principal::Service)
        ));
    }

    #[test]
    fn what_a_role_may_choose_covers_everything_that_can_reach_it() {
        let audiences = [
            Audience::Team,
            Audience::Reviewers,
            Audience::AccountManagers,
            Audience::Author,
        ];
        for role in Role::ALL {
            for audience in audiences {
                // Only a role that composes writes posts.
                let authored = role
                    .may(Action::Compose)
                    .then_some(Principal::User(user(1)));
                let can_reach = reaches(audience, user(1), role, authored, None)
                    || reaches(audience, user(1), role, None, None);
                assert!(
                    !can_reach || concerns(audience, role),
                    "{role} {audience:?}"
                );
            }
        }
        assert!(!concerns(Audience::Author, Role::Reviewer));
    }

    #[test]
    fn account_trouble_reaches_whoever_can_reconnect() {
        assert!(reaches(
            Audience::AccountManagers,
            user(1),
            Role::Owner,
            None,
            None
        ));
        assert!(!reaches(
            Audience::AccountManagers,
            user(1),
            Role::Editor,
            None,
            None
        ));
    }
}
