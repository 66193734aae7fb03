//! Outbound webhooks: signing and the delivery loop.
//!
//! Deliveries are written by the store in the same transaction as the change they announce
//! (`tokpost_store::webhooks`); this loop claims due ones with a lease, POSTs each to its
//! endpoint and records the attempt. A 2xx delivers; anything else (another status, a refused
//! connection, a timeout) is retried with exponential back-off and jitter until
//! [`DeliverySettings::max_attempts`]; an endpoint that keeps failing is paused
//! ([`DeliverySettings::pause`]) until someone resumes it through the API.
//!
//! # The signature (the same scheme as Stripe's)
//!
//! Every request carries `Tokpost-Signature: t=<unix seconds>,v1=<hex>` where `<hex>` is
//! HMAC-SHA256, keyed with the endpoint's secret (`whsec_…`, shown once when the endpoint is
//! created), of the bytes `<t>.<raw body>`. A receiver recomputes it over the raw body, compares
//! in constant time, and refuses a `t` older than its tolerance (5 minutes is usual) to stop
//! replays. `Tokpost-Event-Id` is the same for every endpoint and every retry of one event, so a
//! receiver can deduplicate on it; `Tokpost-Delivery` names this delivery in the delivery log.
//!
//! Endpoints are untrusted input: a request goes only to a public address (see [`address`]),
//! redirects are not followed, and at most [`MAX_ANSWER_BYTES`] of an answer are read.
//!
//! It lives in the pipeline, below the API: a worker process sends deliveries without the HTTP
//! API's crate. The API registers endpoints (refusing internal addresses with [`address`]) and
//! checks TikTok's inbound signatures with the same [`signature`] code.

pub mod address;
pub mod digest;
pub mod message;
pub mod signature;

use std::sync::Arc;
use std::time::Duration;

use crate::WorkerSettings;
use crate::mail::Mailer;
use address::{AddressPolicy, GuardedResolver};
use clock::SharedClock;
use jiff::Timestamp;
use secrecy::ExposeSecret as _;
use serde_json::Value;
use tokio::sync::watch;
use tokpost_store::{
    ChannelFormat, ClaimedDelivery, DeliveryResult, PausePolicy, SettleDelivery, SettleOutcome,
    Store, StoreError, WebhookAttempt, WorkerId,
};

/// The header carrying the timestamp and the signature.
pub const SIGNATURE_HEADER: &str = "Tokpost-Signature";
/// The event's type (`post.published`, …).
pub const EVENT_HEADER: &str = "Tokpost-Event";
/// The event's id, the same across endpoints and retries.
pub const EVENT_ID_HEADER: &str = "Tokpost-Event-Id";
/// The delivery's id (one event to one endpoint).
pub const DELIVERY_HEADER: &str = "Tokpost-Delivery";

/// The most of an endpoint's answer kept in the delivery log.
const MAX_ERROR_BODY_CHARS: usize = 200;
/// The most of an endpoint's answer read at all: the rest is never taken off the wire.
pub const MAX_ANSWER_BYTES: usize = 512;

/// How the delivery loop behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliverySettings {
    /// How long a claim holds a delivery before another sender may take it.
    pub lease: Duration,
    /// Deliveries sent at once.
    pub batch: u32,
    /// The longest sleep without looking for due deliveries.
    pub idle_poll: Duration,
    /// How long an endpoint may take to answer.
    pub timeout: Duration,
    /// The first retry delay; doubles with each attempt (minus up to a fifth of jitter).
    pub first_backoff: Duration,
    /// The longest retry delay.
    pub max_backoff: Duration,
    /// Attempts before a delivery is given up.
    pub max_attempts: u32,
    /// When an endpoint that keeps failing is paused.
    pub pause: PausePolicy,
}

impl Default for DeliverySettings {
    /// 30 s doubling to 1 h, 24 attempts (about 18 hours); pause after 20 failures in a row or
    /// 24 hours without a success.
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(60),
            batch: 8,
            idle_poll: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
            first_backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(3_600),
            max_attempts: 24,
            pause: PausePolicy {
                after_consecutive_failures: 20,
                after_failing_for: Duration::from_secs(24 * 3_600),
            },
        }
    }
}

/// The `Tokpost-Signature` value for `body` sent at `timestamp` (unix seconds).
#[must_use]
pub fn signature_header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    signature::header(signature::TOKPOST, secret, timestamp, body)
}

/// A new endpoint secret: `whsec_` and 64 hex characters (256 bits).
#[must_use]
pub fn generate_secret() -> String {
    let random: [u8; 32] = rand::random();
    format!("whsec_{}", hex::encode(random))
}

/// The body sent for a stored event: the event itself, with a `post.failed`'s catalog code
/// expanded into the catalog's full classification (static data, so every retry sends the same
/// bytes).
#[must_use]
pub fn render_body(payload: &Value) -> Vec<u8> {
    let mut payload = payload.clone();
    if let Some(failure) = payload
        .get_mut("data")
        .and_then(|data| data.get_mut("failure"))
    {
        let entry = failure
            .get("code")
            .and_then(Value::as_str)
            .and_then(tiktok::catalog::lookup)
            .and_then(|entry| serde_json::to_value(entry).ok());
        if let (Some(entry), Some(failure)) = (entry, failure.as_object_mut()) {
            failure.insert("classification".to_owned(), entry);
        }
    }
    serde_json::to_vec(&payload).unwrap_or_default()
}

/// What the formats for people need: where their links point and how email leaves.
#[derive(Debug, Clone)]
pub struct MessageSettings {
    /// The dashboard's public URL (`http.public_base_url`), ending in `/`.
    pub public_base_url: url::Url,
    /// The operator's SMTP server; without it an email delivery fails and says so.
    pub mailer: Option<Mailer>,
    /// When the daily digest goes out.
    pub digest: digest::DigestSettings,
}

/// One sender: claims due deliveries and sends them.
#[derive(Debug)]
pub struct Deliverer {
    id: WorkerId,
    store: Arc<dyn Store>,
    clock: SharedClock,
    http: reqwest::Client,
    settings: DeliverySettings,
    addresses: Arc<AddressPolicy>,
    messages: MessageSettings,
}

impl Deliverer {
    /// A sender named `id` (unique among running senders, like a worker id).
    ///
    /// # Errors
    /// When the HTTP client cannot be built (no TLS backend).
    pub fn new(
        id: WorkerId,
        store: Arc<dyn Store>,
        clock: SharedClock,
        settings: DeliverySettings,
        addresses: AddressPolicy,
        messages: MessageSettings,
    ) -> Result<Self, reqwest::Error> {
        let addresses = Arc::new(addresses);
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            // A redirect is the receiver's misconfiguration; following it would send the signed
            // event somewhere nobody registered.
            .redirect(reqwest::redirect::Policy::none())
            // Connections go only to addresses judged as they were resolved; a proxy would
            // resolve for us and escape the judgement.
            .dns_resolver(Arc::new(GuardedResolver::new(Arc::clone(&addresses))))
            .no_proxy()
            .user_agent(concat!("tokpost-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            id,
            store,
            clock,
            http,
            settings,
            addresses,
            messages,
        })
    }

    /// Starts the sending loop of a process (`serve` or `worker`) until `shutdown` turns true.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn spawn(
        process: &str,
        store: Arc<dyn Store>,
        clock: SharedClock,
        settings: DeliverySettings,
        addresses: AddressPolicy,
        messages: MessageSettings,
        shutdown: watch::Receiver<bool>,
    ) -> Result<tokio::task::JoinHandle<()>, reqwest::Error> {
        let sender = Self::new(
            WorkerId::new(format!("{process}:webhooks")),
            store,
            clock,
            settings,
            addresses,
            messages,
        )?;
        Ok(tokio::spawn(async move { sender.run(shutdown).await }))
    }

    /// Claims what is due and sends it. Returns how many deliveries were attempted.
    ///
    /// # Errors
    /// Store failures of the claim (a failing endpoint is recorded, not returned).
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let claimed = self
            .store
            .claim_webhook_deliveries(
                &self.id,
                self.clock.now(),
                self.settings.lease,
                self.settings.batch.max(1),
            )
            .await?;
        let count = claimed.len();
        let results = futures_util::future::join_all(
            claimed.into_iter().map(|delivery| self.deliver(delivery)),
        )
        .await;
        for result in results {
            if let Err(error) = result {
                tracing::warn!(sender = %self.id, %error, "recording a webhook attempt failed; the delivery is retried when its lease ends");
            }
        }
        Ok(count)
    }

    /// Sends until `shutdown` turns true, sleeping until the next delivery is due, the queue
    /// changes or [`DeliverySettings::idle_poll`] passes.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        let mut changes = self.store.job_changes();
        let mut next_digest = self.clock.now();
        loop {
            if *shutdown.borrow() {
                return;
            }
            if self.clock.now() >= next_digest {
                next_digest = self.queue_digest().await;
            }
            match self.run_once().await {
                Ok(sent) if sent >= usize::try_from(self.settings.batch.max(1)).unwrap_or(1) => {
                    continue;
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(sender = %self.id, %error, "claiming webhook deliveries failed");
                }
            }
            let idle = clock::add(self.clock.now(), self.settings.idle_poll);
            let wake = match self.store.next_webhook_delivery_at().await {
                Ok(Some(next)) => next.min(idle),
                Ok(None) | Err(_) => idle,
            }
            .min(next_digest);
            tokio::select! {
                () = self.clock.sleep_until(wake) => {}
                // A change with a due time is a job's, never a delivery's.
                changed = changes.due_before(wake) => {
                    if changed.is_err() {
                        changes = self.store.job_changes();
                    }
                }
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Queues the digest that is due, if a workspace has not had it yet; returns when to look
    /// again (the next day's hour, or in a minute when the store failed).
    pub async fn queue_digest(&self) -> Timestamp {
        let now = self.clock.now();
        let retry = clock::add(now, Duration::from_secs(60));
        let Some(window) = self.messages.digest.due(now) else {
            return retry;
        };
        match self.store.queue_daily_digests(&window, now).await {
            Ok(queued) => {
                if queued > 0 {
                    tracing::info!(day = %window.day, workspaces = queued, "daily digests queued");
                }
                self.messages.digest.next_after(now).unwrap_or(retry)
            }
            Err(error) => {
                tracing::warn!(%error, "queuing the daily digests failed; trying again in a minute");
                retry
            }
        }
    }

    async fn deliver(&self, claimed: ClaimedDelivery) -> Result<(), StoreError> {
        let delivery = &claimed.delivery;
        let started = self.clock.now();
        let alert = || {
            message::alert(
                delivery.event_type,
                &delivery.payload,
                &self.messages.public_base_url,
            )
        };
        let answer = if claimed.format == ChannelFormat::Email {
            self.email(&claimed.url, &alert()).await
        } else {
            let body = match claimed.format {
                ChannelFormat::Tokpost | ChannelFormat::Email => render_body(&delivery.payload),
                chat => message::chat_body(chat, &alert(), claimed.chat_id.as_deref())
                    .unwrap_or_default(),
            };
            let signature =
                signature_header(claimed.secret.expose_secret(), started.as_second(), &body);
            match self.refused(&claimed.url) {
                Some(refusal) => Err(refusal),
                None => self.send(&claimed, delivery, signature, body).await,
            }
        };
        let (status_code, error) = match answer {
            Ok(answer) => answer,
            Err(error) => (None, Some(error)),
        };
        let finished = self.clock.now();
        let latency_ms = u64::try_from(finished.duration_since(started).as_millis()).unwrap_or(0);
        let result = if error.is_none() {
            DeliveryResult::Delivered
        } else if delivery.attempts >= self.settings.max_attempts {
            DeliveryResult::GiveUp
        } else {
            DeliveryResult::RetryAt(clock::add(
                finished,
                self.backoff(delivery.attempts, delivery.id.as_uuid()),
            ))
        };
        metrics::counter!(
            "tokpost_webhook_deliveries_total",
            "event" => delivery.event_type.as_str(),
            "outcome" => match result {
                DeliveryResult::Delivered => "delivered",
                DeliveryResult::RetryAt(_) => "retry",
                DeliveryResult::GiveUp => "given_up",
            },
        )
        .increment(1);
        let outcome = self
            .store
            .settle_webhook_delivery(SettleDelivery {
                id: delivery.id,
                worker: self.id.clone(),
                attempt: WebhookAttempt {
                    attempt: delivery.attempts,
                    at: finished,
                    status_code: status_code.map(|status| status.as_u16()),
                    latency_ms,
                    error: error.clone(),
                },
                result,
                pause: self.settings.pause,
            })
            .await?;
        match outcome {
            SettleOutcome::Settled { paused: true } => tracing::warn!(
                endpoint = %delivery.endpoint_id,
                "webhook endpoint paused after repeated failures; resume it through the API once it answers"
            ),
            SettleOutcome::Settled { paused: false } => {
                if let Some(error) = error {
                    tracing::info!(delivery = %delivery.id, attempt = delivery.attempts, %error, "webhook attempt failed");
                }
            }
            SettleOutcome::LeaseLost => tracing::info!(
                delivery = %delivery.id,
                "webhook delivery's lease ended before its attempt was recorded"
            ),
        }
        Ok(())
    }

    /// Why an endpoint's URL may not be sent to before any connection: an address literal
    /// inside the operator's network (names are judged by the resolver as they resolve).
    fn refused(&self, url: &str) -> Option<String> {
        let url = match url::Url::parse(url) {
            Ok(url) => url,
            Err(error) => return Some(format!("the endpoint URL is not valid: {error}")),
        };
        self.addresses
            .check_literal(&url)
            .err()
            .map(|refusal| format!("not sent: {refusal}"))
    }

    /// POSTs one delivery: the answer's status, and the error to log when it is not a 2xx
    /// (with at most [`MAX_ANSWER_BYTES`] of the answer read).
    async fn send(
        &self,
        claimed: &ClaimedDelivery,
        delivery: &tokpost_store::WebhookDelivery,
        signature: String,
        body: Vec<u8>,
    ) -> Result<(Option<reqwest::StatusCode>, Option<String>), String> {
        let sent = self
            .http
            .post(&claimed.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header(EVENT_HEADER, delivery.event_type.as_str())
            .header(EVENT_ID_HEADER, delivery.event_id.to_string())
            .header(DELIVERY_HEADER, delivery.id.to_string())
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            // Without the URL: an endpoint URL may carry a token of the receiver's.
            Err(error) => return Err(error_chain(&error.without_url())),
        };
        let status = response.status();
        if status.is_success() {
            return Ok((Some(status), None));
        }
        let excerpt = answer_excerpt(response).await;
        let error = if excerpt.trim().is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {excerpt}")
        };
        Ok((Some(status), Some(error)))
    }

    /// Emails an alert to the delivery's `mailto:` address through the operator's server.
    async fn email(
        &self,
        url: &str,
        alert: &message::Alert,
    ) -> Result<(Option<reqwest::StatusCode>, Option<String>), String> {
        let Some(mailer) = &self.messages.mailer else {
            return Err(
                "not sent: email is not set up on this server (email.smtp_url in the configuration)"
                    .to_owned(),
            );
        };
        let Some(to) = url.strip_prefix("mailto:") else {
            return Err("the endpoint is not a mailto: address".to_owned());
        };
        let (subject, body) = message::email(alert, &self.messages.public_base_url);
        mailer
            .send(to, &subject, &body)
            .await
            .map(|()| (None, None))
            .map_err(|error| error.to_string())
    }

    /// The pipeline's back-off (doubling, capped, jittered by the delivery id's random bits).
    fn backoff(&self, attempts: u32, id: uuid::Uuid) -> Duration {
        let seed = u64::from_le_bytes(
            id.as_bytes()
                .get(8..16)
                .and_then(|bytes| bytes.try_into().ok())
                .unwrap_or_default(),
        );
        WorkerSettings {
            first_backoff: self.settings.first_backoff,
            max_backoff: self.settings.max_backoff,
            ..WorkerSettings::default()
        }
        .backoff(attempts, seed)
    }
}

/// Whether a `Tokpost-Signature` header is valid for `body` at `now` (for receivers written in
/// Rust, and the tests): constant-time comparison, `tolerance` on the timestamp's age.
#[must_use]
pub fn verify_signature(
    header: &str,
    body: &[u8],
    secret: &str,
    now: Timestamp,
    tolerance: Duration,
) -> bool {
    signature::verify(
        signature::TOKPOST,
        Some(header),
        body,
        secret,
        now,
        tolerance,
    )
    .is_ok()
}

/// The start of an answer: at most [`MAX_ANSWER_BYTES`] read off the wire (the rest is left
/// there, the connection dropped), at most [`MAX_ERROR_BODY_CHARS`] characters kept.
async fn answer_excerpt(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::with_capacity(MAX_ANSWER_BYTES);
    while bytes.len() < MAX_ANSWER_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_ANSWER_BYTES - bytes.len();
                bytes.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
            }
            Ok(None) | Err(_) => break,
        }
    }
    String::from_utf8_lossy(&bytes)
        .chars()
        .take(MAX_ERROR_BODY_CHARS)
        .collect()
}

/// An error with its causes (`error sending request: … : 10.0.0.1 is a private address…`),
/// each cause once.
#[must_use]
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body_and_verifies_only_unchanged() {
        let body = br#"{"type":"post.published"}"#;
        let header = signature_header("whsec_test", 1_700_000_000, body);
        // From openssl: printf '1700000000.{"type":"post.published"}' |
        //   openssl dgst -sha256 -hmac whsec_test
        let expected = "57603c0a7786ce43788f019c93361cfc4fb164ec36482b91570d08894779159a";
        assert_eq!(header, format!("t=1700000000,v1={expected}"));
        let at = Timestamp::from_second(1_700_000_100).unwrap();
        let five_minutes = Duration::from_secs(300);
        assert!(verify_signature(
            &header,
            body,
            "whsec_test",
            at,
            five_minutes
        ));
        assert!(!verify_signature(
            &header,
            b"{}",
            "whsec_test",
            at,
            five_minutes
        ));
        assert!(!verify_signature(
            &header,
            body,
            "whsec_other",
            at,
            five_minutes
        ));
        let late = Timestamp::from_second(1_700_000_301).unwrap();
        assert!(!verify_signature(
            &header,
            body,
            "whsec_test",
            late,
            five_minutes
        ));
    }

    #[test]
    fn a_failed_posts_catalog_code_is_expanded_into_its_classification() {
        let payload = serde_json::json!({
            "type": "post.failed",
            "data": {"failure": {"code": "spam_risk_text", "action": "retry_later"}},
        });
        let body: Value = serde_json::from_slice(&render_body(&payload)).unwrap();
        let classification = &body["data"]["failure"]["classification"];
        assert!(classification.is_object(), "{body}");
        assert_eq!(body["data"]["failure"]["action"], "retry_later");
        let unknown = serde_json::json!({"data": {"failure": {"code": null}}});
        let body: Value = serde_json::from_slice(&render_body(&unknown)).unwrap();
        assert!(body["data"]["failure"].get("classification").is_none());
    }

    #[test]
    fn secrets_are_long_random_and_prefixed() {
        let one = generate_secret();
        let two = generate_secret();
        assert!(one.starts_with("whsec_"));
        assert_eq!(one.len(), "whsec_".len() + 64);
        assert_ne!(one, two);
    }
}
