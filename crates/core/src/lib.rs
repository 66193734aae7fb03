//! The tokpost domain: identifiers, accounts, posts with every TikTok setting, the publishing
//! state machine, post events and the validation errors the API renders.
//!
//! Everything here is pure: no IO, no async, no clock reads (instants come in as arguments).
//! It must not know about SQL, HTTP or TikTok's wire format; the worker maps these types to the
//! `tiktok` crate's wire types, and the store persists them.

pub mod account;
pub mod alerts;
pub mod approval;
pub mod event;
pub mod ids;
pub mod insights;
pub mod job;
pub mod people;
pub mod post;
pub mod state;
pub mod text;
pub mod validation;

pub use account::{Account, AccountStatus, ReconnectReason, Scope};
pub use approval::{AccountApproval, LateApproval, Revision, late_approval, requires_approval};
pub use event::{EventKind, NewPostEvent, PostEvent};
pub use ids::{
    AccountEventId, AccountId, ApiKeyId, InvitationId, JobId, MediaFixId, MediaId, OpenId, PostId,
    PublishId, ReviewLinkId, UserId, WorkspaceId,
};
pub use job::JobKind;
pub use people::{Action, Principal, Role, may_change_post};
pub use post::{
    BRANDED_CONTENT_NOT_PRIVATE, DISCLOSURE_NEEDS_A_CHOICE, IdempotencyKey, InteractionSettings,
    Post, PostContent, PostMode, PostSpec, PrivacyLevel, PublishProgress, ScheduleTime,
    UploadSource,
};
pub use state::{Actor, DeferReason, IllegalTransition, PostState, RequiredAction, StateKind};
pub use text::{PhotoDescription, PhotoTitle, VideoCaption};
pub use validation::{ValidationError, ValidationProblem};
