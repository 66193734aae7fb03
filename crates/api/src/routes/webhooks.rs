//! Inbound TikTok webhooks: the signature is checked over the raw body (HMAC-SHA256 with the
//! app's client secret, constant time, 5-minute tolerance on the injected clock), each delivery
//! is handled once (TikTok delivers at least once), and then:
//! `post.publish.*` queues a status check of the post due now (the pipeline owns the state
//! change), `authorization.removed` tells the token keeper.
//!
//! Handling is a few database writes and never a TikTok call, so the 200 goes out at once.
//! A webhook only accelerates: the pipeline polls publish status by itself, so an event lost to
//! a failing database delays a post's final state, it does not lose it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use jiff::Timestamp;
use secrecy::ExposeSecret as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokpost_core::{JobKind, OpenId, PublishId};
use tokpost_pipeline::webhooks::signature::{self, SignatureError};
use tokpost_store::{Enqueued, NewJob};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// What became of a delivery.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookAnswer {
    /// `accepted`, `duplicate` (handled before) or `ignored` (nothing to do).
    status: &'static str,
}

/// TikTok's envelope (tiktok-api.md §10); `content` is JSON inside a string.
#[derive(Debug, Deserialize)]
struct Envelope {
    event: String,
    #[serde(default)]
    user_openid: Option<String>,
    #[serde(default)]
    content: Option<String>,
}

/// The largest webhook body accepted: TikTok's events are a few hundred bytes.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// Checks `TikTok-Signature: t=…,s=…` against the raw body, with the scheme tokpost also signs
/// its own webhooks with ([`tokpost_pipeline::webhooks::signature`]).
pub(crate) fn verify_signature(
    header: Option<&str>,
    body: &[u8],
    secret: &str,
    now: Timestamp,
    tolerance: std::time::Duration,
) -> Result<(), SignatureError> {
    signature::verify(signature::TIKTOK, header, body, secret, now, tolerance)
}

/// Receives TikTok's webhooks.
#[utoipa::path(post, path = "/v1/webhooks/tiktok", tag = "webhooks",
    params(("TikTok-Signature" = String, Header, description = "t=<unix seconds>,s=<hex HMAC-SHA256>")),
    request_body(content = Object, description = "TikTok's event envelope"),
    responses(
        (status = 200, description = "Accepted, a duplicate, or nothing to do", body = WebhookAnswer),
        (status = 401, description = "Missing, wrong or stale signature", body = ErrorBody),
        (status = 404, description = "Inbound webhooks are not configured", body = ErrorBody),
        (status = 413, description = "The body is larger than any TikTok event (64 KiB)", body = ErrorBody),
    ))]
pub(crate) async fn tiktok(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<WebhookAnswer>, ApiError> {
    let body = body.map_err(|rejection| ApiError::Refused {
        status: rejection.status(),
        code: "webhook_body_refused",
        message: format!(
            "the body could not be read ({}); TikTok's events are at most {MAX_BODY_BYTES} bytes",
            rejection.body_text()
        ),
        field: None,
        limit: Some(json!(MAX_BODY_BYTES)),
        measured: None,
    })?;
    let Some(secret) = state.settings.webhook_secret.as_ref() else {
        return Err(ApiError::NotFound("webhook endpoint"));
    };
    let now = state.now();
    verify_signature(
        headers
            .get("tiktok-signature")
            .and_then(|v| v.to_str().ok()),
        &body,
        secret.expose_secret(),
        now,
        state.settings.webhook_tolerance,
    )
    .map_err(|error| {
        let (code, message) = match error {
            SignatureError::Missing => ("webhook_signature_missing", "no TikTok-Signature header"),
            SignatureError::Malformed => (
                "webhook_signature_malformed",
                "TikTok-Signature is not t=…,s=…",
            ),
            SignatureError::Mismatch => (
                "webhook_signature_invalid",
                "the signature does not match the body",
            ),
            SignatureError::Stale => (
                "webhook_signature_stale",
                "the signed timestamp is more than 5 minutes away",
            ),
        };
        ApiError::refused(StatusCode::UNAUTHORIZED, code, message)
    })?;
    let delivery = hex::encode(Sha256::digest(&body));
    if !state
        .inbound_webhooks()
        .record_inbound_webhook(&delivery, now)
        .await?
    {
        return Ok(Json(WebhookAnswer {
            status: "duplicate",
        }));
    }
    let status = match handle(&state, &body, now).await {
        Ok(status) => status,
        Err(error) => {
            tracing::error!(%error, "inbound webhook could not be applied; status polling will catch up");
            "accepted"
        }
    };
    Ok(Json(WebhookAnswer { status }))
}

async fn handle(state: &AppState, body: &[u8], now: Timestamp) -> Result<&'static str, ApiError> {
    let Ok(envelope) = serde_json::from_slice::<Envelope>(body) else {
        tracing::warn!("inbound webhook is not TikTok's envelope; ignored");
        return Ok("ignored");
    };
    let content: Value = envelope
        .content
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_else(|| json!({}));
    if envelope.event.starts_with("post.publish.") {
        let Some(publish_id) = content
            .get("publish_id")
            .and_then(Value::as_str)
            .and_then(|id| PublishId::new(id).ok())
        else {
            return Ok("ignored");
        };
        let Some(post) = state.posts().post_by_publish_id(&publish_id).await? else {
            // No post knows this publish: it may be one whose init answer was lost, which the
            // creator's one uncertain post without a publish id adopts.
            let open_id = envelope
                .user_openid
                .as_deref()
                .and_then(|id| OpenId::new(id).ok());
            let Some(open_id) = open_id else {
                return Ok("ignored");
            };
            for account in state.accounts().accounts_by_open_id(&open_id).await? {
                if state
                    .pipeline
                    .publish_reported(account.id, &publish_id)
                    .await?
                    .is_some()
                {
                    return Ok("accepted");
                }
            }
            return Ok("ignored");
        };
        // The pipeline's own key: one status check per post in the queue. One already queued
        // (waiting out its back-off, or a delivered draft's hourly look) is moved up to now.
        let key = format!("status:{}", post.id);
        let queued = state
            .queue()
            .enqueue(
                NewJob {
                    kind: JobKind::CheckPublishStatus,
                    payload: json!({}),
                    account_id: Some(post.account_id),
                    post_id: Some(post.id),
                    run_at: now,
                    dedupe_key: Some(key.clone()),
                },
                now,
            )
            .await?;
        if queued == Enqueued::AlreadyQueued {
            state.queue().hasten_job(&key, now).await?;
        }
        return Ok("accepted");
    }
    if envelope.event == "authorization.removed" {
        let Some(open_id) = envelope.user_openid.and_then(|id| OpenId::new(id).ok()) else {
            return Ok("ignored");
        };
        let accounts = state.accounts().accounts_by_open_id(&open_id).await?;
        if accounts.is_empty() {
            return Ok("ignored");
        }
        let keeper = state.pipeline.keeper();
        for account in accounts {
            keeper.authorization_removed(account.id).await?;
        }
        return Ok("accepted");
    }
    Ok("ignored")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use tokpost_pipeline::webhooks::signature::MAX_SIGNATURES;

    const SECRET: &str = "sandbox-demo-client-secret";
    const BODY: &[u8] = br#"{"event":"post.publish.complete"}"#;

    fn sign(t: i64, body: &[u8]) -> String {
        hex::encode(signature::mac(SECRET, t, body))
    }

    #[rstest]
    #[case::valid(0, None, Ok(()))]
    #[case::four_minutes_old(-240, None, Ok(()))]
    #[case::six_minutes_old(-360, None, Err(SignatureError::Stale))]
    #[case::tampered_body(0, Some(&b"{\"event\":\"post.publish.failed\"}"[..]), Err(SignatureError::Mismatch))]
    fn signatures_hold_only_for_the_signed_body_within_five_minutes(
        #[case] age: i64,
        #[case] delivered: Option<&[u8]>,
        #[case] expected: Result<(), SignatureError>,
    ) {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let t = 1_800_000_000 + age;
        let header = format!("t={t},s={}", sign(t, BODY));
        let result = verify_signature(
            Some(&header),
            delivered.unwrap_or(BODY),
            SECRET,
            now,
            std::time::Duration::from_secs(300),
        );
        assert_eq!(result, expected);
    }

    #[test]
    fn a_header_stuffed_with_signatures_is_refused_before_any_mac() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let good = sign(1_800_000_000, BODY);
        let stuffed = format!(
            "t=1800000000,{}s={good}",
            "s=00000000000000000000000000000000000000000000000000000000000000ff,".repeat(100_000)
        );
        assert_eq!(
            verify_signature(
                Some(&stuffed),
                BODY,
                SECRET,
                now,
                std::time::Duration::from_secs(300)
            ),
            Err(SignatureError::Malformed),
            "more than {MAX_SIGNATURES} signatures"
        );
        // A rotation's two signatures, the right one second, still verify.
        let rotated = format!("t=1800000000,s={},s={good}", "ab".repeat(32));
        assert_eq!(
            verify_signature(
                Some(&rotated),
                BODY,
                SECRET,
                now,
                std::time::Duration::from_secs(300)
            ),
            Ok(())
        );
    }

    #[test]
    fn the_timestamp_is_judged_before_the_body_is_hashed() {
        // A stale header is refused as stale whatever its signature: no MAC was needed.
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let header = format!("t={},s={}", 1_800_000_000 - 3_600, "cd".repeat(32));
        assert_eq!(
            verify_signature(
                Some(&header),
                BODY,
                SECRET,
                now,
                std::time::Duration::from_secs(300)
            ),
            Err(SignatureError::Stale)
        );
    }

    #[rstest]
    #[case::no_header(None, SignatureError::Missing)]
    #[case::two_timestamps(Some("t=1800000000,t=1800000001,s=00"), SignatureError::Malformed)]
    #[case::no_timestamp(Some("s=00"), SignatureError::Malformed)]
    #[case::no_signature(Some("t=1800000000"), SignatureError::Malformed)]
    // Not an HMAC-SHA256 in hex: refused for its shape before anything is hashed.
    #[case::not_hex(Some("t=1800000000,s=zz"), SignatureError::Malformed)]
    #[case::hex_of_another_length(Some("t=1800000000,s=abcdef"), SignatureError::Malformed)]
    fn malformed_signature_headers_are_refused_without_panicking(
        #[case] header: Option<&str>,
        #[case] expected: SignatureError,
    ) {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let result = verify_signature(
            header,
            BODY,
            SECRET,
            now,
            std::time::Duration::from_secs(300),
        );
        assert_eq!(result, Err(expected));
    }
}
