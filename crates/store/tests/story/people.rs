//! People on both databases: a session lives while its user is enabled, a member at the epoch
//! it was opened at; the last owner is kept through concurrent demotions; an invitation link is
//! taken once however many clicks race for it; a reset link sets a password once.

use std::sync::Arc;
use std::time::Duration;

use tokpost_core::{Principal, Role, UserId, WorkspaceId};
use tokpost_store::{
    Accepted, MembershipChange, NewInvitation, NewSession, NewUser, PasswordHash, Store,
};

use super::Harness;

async fn user(h: &Harness, email: &str) -> UserId {
    h.store
        .create_user(
            NewUser {
                email: email.to_owned(),
                name: email.split('@').next().unwrap().to_owned(),
                password_hash: Some(PasswordHash(format!("$argon2id$hash-of-{email}"))),
            },
            h.now(),
        )
        .await
        .unwrap()
        .expect("a new email")
        .id
}

async fn open(h: &Harness, user: UserId, workspace: WorkspaceId, secret: &str) {
    h.store
        .open_session(
            NewSession {
                secret_hash: secret.to_owned(),
                user_id: user,
                workspace_id: workspace,
                time_zone: "Europe/Paris".to_owned(),
                expires_at: clock::add(h.now(), Duration::from_secs(3_600)),
            },
            h.now(),
        )
        .await
        .unwrap();
}

pub(super) async fn a_session_lives_only_while_its_user_may_use_it(h: Harness) {
    let ws = h.workspace().await;
    let ana = user(&h, "ana@example.com").await;
    let bob = user(&h, "bob@example.com").await;
    assert!(
        h.store
            .create_user(
                NewUser {
                    email: "ana@example.com".to_owned(),
                    name: "again".to_owned(),
                    password_hash: None,
                },
                h.now(),
            )
            .await
            .unwrap()
            .is_none(),
        "an email names one user"
    );
    assert!(h.store.join(ana, ws, Role::Owner, h.now()).await.unwrap());
    assert!(h.store.join(bob, ws, Role::Editor, h.now()).await.unwrap());
    assert!(!h.store.join(bob, ws, Role::Owner, h.now()).await.unwrap());
    assert_eq!(
        h.store.memberships(bob).await.unwrap(),
        vec![(ws, Role::Editor)]
    );

    open(&h, bob, ws, "hash-1").await;
    let session = h.store.session("hash-1", h.now()).await.unwrap().unwrap();
    assert_eq!((session.user.id, session.role), (bob, Role::Editor));
    assert_eq!(session.time_zone, "Europe/Paris");
    assert!(
        h.store
            .session("hash-unknown", h.now())
            .await
            .unwrap()
            .is_none()
    );

    // Expiry.
    h.advance(Duration::from_secs(3_601));
    assert!(h.store.session("hash-1", h.now()).await.unwrap().is_none());

    // A role change, a new password, disabling and leaving each end the session.
    open(&h, bob, ws, "hash-2").await;
    assert_eq!(
        h.store.set_role(bob, ws, Role::Reviewer).await.unwrap(),
        MembershipChange::Changed
    );
    assert!(h.store.session("hash-2", h.now()).await.unwrap().is_none());
    open(&h, bob, ws, "hash-3").await;
    assert_eq!(
        h.store
            .session("hash-3", h.now())
            .await
            .unwrap()
            .unwrap()
            .role,
        Role::Reviewer
    );
    assert!(
        h.store
            .set_password(bob, PasswordHash("$argon2id$new".to_owned()))
            .await
            .unwrap()
    );
    assert!(h.store.session("hash-3", h.now()).await.unwrap().is_none());
    open(&h, bob, ws, "hash-4").await;
    assert_eq!(
        h.store.set_disabled(bob, true, h.now()).await.unwrap(),
        MembershipChange::Changed
    );
    assert!(h.store.session("hash-4", h.now()).await.unwrap().is_none());
    open(&h, bob, ws, "hash-5").await;
    assert!(
        h.store.session("hash-5", h.now()).await.unwrap().is_none(),
        "a disabled user's new session is no session"
    );
    assert_eq!(
        h.store.set_disabled(bob, false, h.now()).await.unwrap(),
        MembershipChange::Changed
    );
    open(&h, bob, ws, "hash-6").await;
    assert!(h.store.session("hash-6", h.now()).await.unwrap().is_some());
    assert_eq!(
        h.store.leave(bob, ws).await.unwrap(),
        MembershipChange::Changed
    );
    assert!(h.store.session("hash-6", h.now()).await.unwrap().is_none());
    assert_eq!(
        h.store.leave(bob, ws).await.unwrap(),
        MembershipChange::NotMember
    );

    // Signing out.
    open(&h, ana, ws, "hash-7").await;
    h.store.close_session("hash-7").await.unwrap();
    assert!(h.store.session("hash-7", h.now()).await.unwrap().is_none());

    // The last owner stays.
    assert_eq!(
        h.store.set_role(ana, ws, Role::Editor).await.unwrap(),
        MembershipChange::LastOwner
    );
    assert_eq!(
        h.store.leave(ana, ws).await.unwrap(),
        MembershipChange::LastOwner
    );
    assert_eq!(
        h.store.set_disabled(ana, true, h.now()).await.unwrap(),
        MembershipChange::LastOwner
    );
    let members = h.store.members(ws).await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!((members[0].user.id, members[0].role), (ana, Role::Owner));
}

pub(super) async fn two_owners_demoting_each_other_at_once_leave_one_owner(h: Harness) {
    for round in 0..8 {
        let ws = h.workspace().await;
        let a = user(&h, &format!("a{round}@example.com")).await;
        let b = user(&h, &format!("b{round}@example.com")).await;
        h.store.join(a, ws, Role::Owner, h.now()).await.unwrap();
        h.store.join(b, ws, Role::Owner, h.now()).await.unwrap();
        let store: Arc<dyn Store> = Arc::clone(&h.store);
        let other = Arc::clone(&h.store);
        let (first, second) = tokio::join!(
            tokio::spawn(async move { store.set_role(a, ws, Role::Editor).await.unwrap() }),
            tokio::spawn(async move { other.leave(b, ws).await.unwrap() }),
        );
        let outcomes = [first.unwrap(), second.unwrap()];
        assert!(
            outcomes.contains(&MembershipChange::LastOwner),
            "round {round}: {outcomes:?}"
        );
        let owners = h
            .store
            .members(ws)
            .await
            .unwrap()
            .into_iter()
            .filter(|member| member.role == Role::Owner)
            .count();
        assert_eq!(owners, 1, "round {round}: {outcomes:?}");
    }
}

pub(super) async fn an_invitation_is_taken_once_however_many_clicks_race(h: Harness) {
    let ws = h.workspace().await;
    let owner = user(&h, "owner@example.com").await;
    h.store.join(owner, ws, Role::Owner, h.now()).await.unwrap();
    let invitation = h
        .store
        .create_invitation(
            NewInvitation {
                workspace_id: ws,
                email: "new@example.com".to_owned(),
                role: Role::Reviewer,
                secret_hash: "invite-hash".to_owned(),
                invited_by: Principal::User(owner),
                expires_at: clock::add(h.now(), Duration::from_secs(3_600)),
            },
            h.now(),
        )
        .await
        .unwrap();
    let found = h
        .store
        .invitation_by_hash("invite-hash")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, invitation);
    assert!(found.is_open(h.now()));
    let mut clicks = Vec::new();
    for n in 0..6 {
        let store = Arc::clone(&h.store);
        let now = h.now();
        clicks.push(tokio::spawn(async move {
            store
                .accept_invitation(
                    "invite-hash",
                    &format!("click {n}"),
                    Some(PasswordHash(format!("$argon2id$click-{n}"))),
                    now,
                )
                .await
                .unwrap()
        }));
    }
    let mut joined = 0;
    for click in clicks {
        match click.await.unwrap() {
            Accepted::Joined { user, invitation } => {
                joined += 1;
                assert_eq!(user.email, "new@example.com");
                assert_eq!(invitation.role, Role::Reviewer);
            }
            Accepted::Closed => {}
            Accepted::UserDisabled => panic!("nobody is disabled"),
        }
    }
    assert_eq!(joined, 1);
    let members = h.store.members(ws).await.unwrap();
    assert_eq!(members.len(), 2);
    assert!(
        members
            .iter()
            .any(|m| m.user.email == "new@example.com" && m.role == Role::Reviewer)
    );
    let listed = h.store.invitations(ws).await.unwrap();
    assert!(listed[0].accepted_at.is_some());

    // A revoked one and an expired one are closed.
    for (hash, revoke) in [("revoked-hash", true), ("expired-hash", false)] {
        let invitation = h
            .store
            .create_invitation(
                NewInvitation {
                    workspace_id: ws,
                    email: format!("{hash}@example.com"),
                    role: Role::Editor,
                    secret_hash: hash.to_owned(),
                    invited_by: Principal::Service,
                    expires_at: clock::add(h.now(), Duration::from_secs(60)),
                },
                h.now(),
            )
            .await
            .unwrap();
        if revoke {
            assert!(
                h.store
                    .revoke_invitation(invitation.id, ws, h.now())
                    .await
                    .unwrap()
            );
            assert!(
                !h.store
                    .revoke_invitation(invitation.id, ws, h.now())
                    .await
                    .unwrap()
            );
        }
    }
    h.advance(Duration::from_secs(61));
    for hash in ["revoked-hash", "expired-hash"] {
        assert_eq!(
            h.store
                .accept_invitation(hash, "x", None, h.now())
                .await
                .unwrap(),
            Accepted::Closed
        );
    }
}

pub(super) async fn a_reset_link_sets_a_password_once_and_counts_failures(h: Harness) {
    let ws = h.workspace().await;
    let ana = user(&h, "ana@example.com").await;
    h.store.join(ana, ws, Role::Owner, h.now()).await.unwrap();
    open(&h, ana, ws, "session").await;
    let expires = clock::add(h.now(), Duration::from_secs(3_600));
    h.store
        .create_password_reset(ana, "reset-1", expires, h.now())
        .await
        .unwrap();
    h.store
        .create_password_reset(ana, "reset-2", expires, h.now())
        .await
        .unwrap();
    assert_eq!(
        h.store.password_reset("reset-1", h.now()).await.unwrap(),
        Some(ana)
    );
    let set = h
        .store
        .use_password_reset(
            "reset-1",
            PasswordHash("$argon2id$reset".to_owned()),
            h.now(),
        )
        .await
        .unwrap();
    assert_eq!(set, Some(ana));
    let user = h.store.user(ana).await.unwrap().unwrap();
    assert_eq!(
        user.password_hash,
        Some(PasswordHash("$argon2id$reset".to_owned()))
    );
    assert!(h.store.session("session", h.now()).await.unwrap().is_none());
    for used in ["reset-1", "reset-2"] {
        assert!(
            h.store
                .use_password_reset(used, PasswordHash("$argon2id$again".to_owned()), h.now())
                .await
                .unwrap()
                .is_none(),
            "{used}: a link works once, and the user's other links die with it"
        );
    }

    let since = h.now();
    for n in 1..=3 {
        assert_eq!(
            h.store
                .record_sign_in_failure("ana@example.com", since, h.now())
                .await
                .unwrap(),
            n
        );
        h.advance(Duration::from_secs(10));
    }
    let (count, oldest) = h
        .store
        .sign_in_failures("ana@example.com", since)
        .await
        .unwrap();
    assert_eq!(count, 3);
    assert!(oldest.is_some());
    h.store
        .clear_sign_in_failures("ana@example.com")
        .await
        .unwrap();
    assert_eq!(
        h.store
            .sign_in_failures("ana@example.com", since)
            .await
            .unwrap()
            .0,
        0
    );
}
