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
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, KeyInit as _, Mac as _};
use jiff::Timestamp;
use secrecy::ExposeSecret as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokpost_core::{JobKind, OpenId, PublishId};
use tokpost_store::NewJob;
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

/// Why a signature is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignatureError {
    Missing,
    Malformed,
    Mismatch,
    Stale,
}

/// Checks `TikTok-Signature: t=…,s=…` against the raw body.
pub(crate) fn verify_signature(
    header: Option<&str>,
    body: &[u8],
    secret: &str,
    now: Timestamp,
    tolerance: std::time::Duration,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.trim().parse::<i64>().ok(),
            Some(("s", value)) => signatures.push(value.trim()),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let matches = signatures.iter().any(|signature| {
        let Ok(expected) = hex::decode(signature) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
            return false;
        };
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        // `verify_slice` compares in constant time.
        mac.verify_slice(&expected).is_ok()
    });
    if !matches {
        return Err(SignatureError::Mismatch);
    }
    let age = now.as_second().abs_diff(timestamp);
    if age > tolerance.as_secs() {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

/// Receives TikTok's webhooks.
#[utoipa::path(post, path = "/v1/webhooks/tiktok", tag = "webhooks",
    params(("TikTok-Signature" = String, Header, description = "t=<unix seconds>,s=<hex HMAC-SHA256>")),
    request_body(content = Object, description = "TikTok's event envelope"),
    responses(
        (status = 200, description = "Accepted, a duplicate, or nothing to do", body = WebhookAnswer),
        (status = 401, description = "Missing, wrong or stale signature", body = ErrorBody),
        (status = 404, description = "Inbound webhooks are not configured", body = ErrorBody),
    ))]
pub(crate) async fn tiktok(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookAnswer>, ApiError> {
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
    if !state.store.record_inbound_webhook(&delivery, now).await? {
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
        let Some(post) = state.store.post_by_publish_id(&publish_id).await? else {
            // No post knows this publish: it may be one whose init answer was lost, which the
            // creator's one uncertain post without a publish id adopts.
            let open_id = envelope
                .user_openid
                .as_deref()
                .and_then(|id| OpenId::new(id).ok());
            let Some(open_id) = open_id else {
                return Ok("ignored");
            };
            for account in state.store.accounts_by_open_id(&open_id).await? {
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
        state
            .store
            .enqueue(
                NewJob {
                    kind: JobKind::CheckPublishStatus,
                    payload: json!({}),
                    account_id: Some(post.account_id),
                    post_id: Some(post.id),
                    run_at: now,
                    // The pipeline's own key: one status check per post in the queue.
                    dedupe_key: Some(format!("status:{}", post.id)),
                },
                now,
            )
            .await?;
        return Ok("accepted");
    }
    if envelope.event == "authorization.removed" {
        let Some(open_id) = envelope.user_openid.and_then(|id| OpenId::new(id).ok()) else {
            return Ok("ignored");
        };
        let accounts = state.store.accounts_by_open_id(&open_id).await?;
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

    const SECRET: &str = "sandbox-demo-client-secret";
    const BODY: &[u8] = br#"{"event":"post.publish.complete"}"#;

    fn sign(t: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
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

    #[rstest]
    #[case::no_header(None, SignatureError::Missing)]
    #[case::no_timestamp(Some("s=00"), SignatureError::Malformed)]
    #[case::no_signature(Some("t=1800000000"), SignatureError::Malformed)]
    #[case::not_hex(Some("t=1800000000,s=zz"), SignatureError::Mismatch)]
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
