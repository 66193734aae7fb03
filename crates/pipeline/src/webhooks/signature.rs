//! The one webhook signature scheme, both directions: TikTok signs what it sends tokpost
//! (`TikTok-Signature: t=<unix s>,s=<hex>`, keyed with the app's client secret) and tokpost signs
//! what it sends its users' endpoints (`Tokpost-Signature: t=<unix s>,v1=<hex>`, keyed with the
//! endpoint's secret). Both are HMAC-SHA256 of `<t>.<raw body>` in lowercase hex; only the name
//! of the signature part differs.
//!
//! Verification refuses cheaply first (the header's shape, then the timestamp's age), then
//! computes one MAC and compares it with each offered signature in constant time.

use std::time::Duration;

use hmac::{Hmac, KeyInit as _, Mac as _};
use jiff::Timestamp;
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

/// How a header names its signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scheme {
    /// The key of a signature part: `s` in TikTok's header, `v1` in tokpost's.
    pub signature_key: &'static str,
}

/// TikTok's `TikTok-Signature`.
pub const TIKTOK: Scheme = Scheme { signature_key: "s" };
/// tokpost's own `Tokpost-Signature`, Stripe's layout.
pub const TOKPOST: Scheme = Scheme {
    signature_key: "v1",
};

/// At most this many signatures in one header (a sender rotating secrets offers two, and a few
/// more cost nothing). More is an attack on the CPU, refused unread.
pub const MAX_SIGNATURES: usize = 4;

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no signature header")]
    Missing,
    #[error("the signature header is not `t=<unix seconds>,<key>=<64 hex digits>`")]
    Malformed,
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
    #[error("no signature matches the body")]
    Mismatch,
}

/// HMAC-SHA256 of `<timestamp>.<body>` keyed with `secret`.
#[must_use]
pub fn mac(secret: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length: this never fails.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return [0; 32];
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// The header value signing `body` sent at `timestamp` (unix seconds).
#[must_use]
pub fn header(scheme: Scheme, secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "t={timestamp},{}={}",
        scheme.signature_key,
        hex::encode(mac(secret, timestamp, body))
    )
}

/// Checks a signature header against the raw `body` at `now`: one `t`, one to
/// [`MAX_SIGNATURES`] signatures of 64 hex digits (other parts are ignored), a timestamp at most
/// `tolerance` away from `now`, and a signature that matches.
///
/// # Errors
/// Which of those failed ([`SignatureError`]).
pub fn verify(
    scheme: Scheme,
    header: Option<&str>,
    body: &[u8],
    secret: &str,
    now: Timestamp,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures: Vec<[u8; 32]> = Vec::with_capacity(MAX_SIGNATURES);
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => {
                if timestamp.is_some() {
                    return Err(SignatureError::Malformed);
                }
                timestamp = Some(
                    value
                        .trim()
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                );
            }
            Some((key, value)) if key == scheme.signature_key => {
                if signatures.len() == MAX_SIGNATURES {
                    return Err(SignatureError::Malformed);
                }
                let mut decoded = [0_u8; 32];
                hex::decode_to_slice(value.trim(), &mut decoded)
                    .map_err(|_| SignatureError::Malformed)?;
                signatures.push(decoded);
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if now.as_second().abs_diff(timestamp) > tolerance.as_secs() {
        return Err(SignatureError::Stale);
    }
    let expected = mac(secret, timestamp, body);
    // Every offered signature is compared, each in time independent of where it differs.
    let matched = signatures
        .iter()
        .fold(subtle::Choice::from(0), |found, signature| {
            found | expected.ct_eq(signature)
        });
    if bool::from(matched) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const SECRET: &str = "whsec_test";
    const BODY: &[u8] = br#"{"event":"post.published"}"#;
    const AT: i64 = 1_800_000_000;

    fn now(offset: i64) -> Timestamp {
        Timestamp::from_second(AT + offset).unwrap()
    }

    #[test]
    fn a_signed_body_verifies_under_its_own_scheme_only() {
        for scheme in [TIKTOK, TOKPOST] {
            let signed = header(scheme, SECRET, AT, BODY);
            assert!(signed.starts_with(&format!("t={AT},{}=", scheme.signature_key)));
            let check = |scheme| {
                verify(
                    scheme,
                    Some(&signed),
                    BODY,
                    SECRET,
                    now(0),
                    Duration::from_secs(300),
                )
            };
            assert_eq!(check(scheme), Ok(()));
            let other = if scheme == TIKTOK { TOKPOST } else { TIKTOK };
            assert_eq!(check(other), Err(SignatureError::Malformed));
        }
    }

    #[rstest]
    #[case::missing(None, 0, Err(SignatureError::Missing))]
    #[case::no_timestamp(Some("v1=00"), 0, Err(SignatureError::Malformed))]
    #[case::two_timestamps(Some("t=1,t=2,v1=00"), 0, Err(SignatureError::Malformed))]
    #[case::short_hex(Some("t=1800000000,v1=abcd"), 0, Err(SignatureError::Malformed))]
    #[case::stale(None, 301, Err(SignatureError::Stale))]
    #[case::in_the_future(None, -301, Err(SignatureError::Stale))]
    #[case::within_tolerance(None, 299, Ok(()))]
    fn refusals_name_what_is_wrong(
        #[case] given: Option<&str>,
        #[case] age: i64,
        #[case] expected: Result<(), SignatureError>,
    ) {
        let signed = header(TOKPOST, SECRET, AT, BODY);
        let header = match (given, age) {
            (Some(text), _) => Some(text.to_owned()),
            (None, 0) => None,
            (None, _) => Some(signed),
        };
        assert_eq!(
            verify(
                TOKPOST,
                header.as_deref(),
                BODY,
                SECRET,
                now(age),
                Duration::from_secs(300)
            ),
            expected
        );
    }

    #[test]
    fn a_tampered_body_or_another_secret_does_not_verify_and_a_second_signature_may() {
        let signed = header(TOKPOST, SECRET, AT, BODY);
        let tolerance = Duration::from_secs(300);
        assert_eq!(
            verify(TOKPOST, Some(&signed), b"{}", SECRET, now(0), tolerance),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                TOKPOST,
                Some(&signed),
                BODY,
                "whsec_other",
                now(0),
                tolerance
            ),
            Err(SignatureError::Mismatch)
        );
        let rotated = format!("{},v1={}", header(TOKPOST, "whsec_old", AT, BODY), {
            hex::encode(mac(SECRET, AT, BODY))
        });
        assert_eq!(
            verify(TOKPOST, Some(&rotated), BODY, SECRET, now(0), tolerance),
            Ok(())
        );
    }
}
