//! Expiring signed URLs for TikTok's `PULL_FROM_URL`.
//!
//! TikTok downloads media only from an https URL prefix the app has verified, with no redirect,
//! and may take up to an hour. A signed URL names one object and an expiry; the HMAC-SHA256 over
//! both (with the service's secret) is the only credential, so the URL can be handed to TikTok
//! and expires by itself. Time comes from the injected clock, never the wall clock.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use clock::{SharedClock, Timestamp};
use hmac::{Hmac, KeyInit as _, Mac as _};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::Sha256;
use url::Url;

use crate::key::MediaKey;

/// Domain separation: a MAC made here cannot be replayed as any other tokpost signature.
const CONTEXT: &[u8] = b"tokpost-media-pull-v1";
/// The shortest signing secret accepted.
const MIN_KEY_BYTES: usize = 32;

/// The verified https prefix every pull URL starts with (TikTok's "URL prefix property":
/// `https://` + a host name, not an IP + a path ending in `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullBaseUrl(Url);

/// Why a URL cannot be a pull prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPullBaseUrl {
    #[error("the pull base URL is not a URL: {0}")]
    NotAUrl(#[from] url::ParseError),
    #[error("the pull base URL must be https (TikTok pulls nothing else)")]
    NotHttps,
    #[error(
        "the pull base URL's host must be a domain name, not an IP address (TikTok verifies names)"
    )]
    HostIsNotAName,
    #[error("the pull base URL's path must end with '/' (it is a prefix)")]
    NoTrailingSlash,
    #[error("the pull base URL must not carry a query, a fragment or credentials")]
    ExtraParts,
    #[error("a loopback pull base URL must be http(s) on 127.0.0.1, ::1 or localhost")]
    NotLoopback,
}

impl PullBaseUrl {
    /// Validates `raw` as a pull prefix.
    pub fn parse(raw: &str) -> Result<Self, InvalidPullBaseUrl> {
        let url = Url::parse(raw)?;
        if url.scheme() != "https" {
            return Err(InvalidPullBaseUrl::NotHttps);
        }
        let host = url.host_str().unwrap_or_default();
        let bracketless = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || bracketless.parse::<IpAddr>().is_ok() {
            return Err(InvalidPullBaseUrl::HostIsNotAName);
        }
        if !url.path().ends_with('/') {
            return Err(InvalidPullBaseUrl::NoTrailingSlash);
        }
        if url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(InvalidPullBaseUrl::ExtraParts);
        }
        Ok(Self(url))
    }

    /// A prefix on this machine's loopback interface (`http://127.0.0.1:PORT/media/pull/`),
    /// for tests and the built-in sandbox, which pull over loopback where TikTok never could.
    /// Everything but the scheme and host rules of [`PullBaseUrl::parse`] still applies.
    pub fn parse_loopback(raw: &str) -> Result<Self, InvalidPullBaseUrl> {
        let url = Url::parse(raw)?;
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => name == "localhost",
            None => false,
        };
        if !loopback || !matches!(url.scheme(), "http" | "https") {
            return Err(InvalidPullBaseUrl::NotLoopback);
        }
        if !url.path().ends_with('/') {
            return Err(InvalidPullBaseUrl::NoTrailingSlash);
        }
        if url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(InvalidPullBaseUrl::ExtraParts);
        }
        Ok(Self(url))
    }

    /// The prefix as a URL.
    #[must_use]
    pub fn as_url(&self) -> &Url {
        &self.0
    }
}

/// The signing secret is too short to be a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the URL signing key must be at least {MIN_KEY_BYTES} bytes")]
pub struct InvalidSigningKey;

/// Why a pull request was refused (all answered with 403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureRejected {
    #[error("the URL carries no well-formed expires/signature pair")]
    Malformed,
    #[error("the URL's signature does not match")]
    BadSignature,
    #[error("the URL expired at {expired_at}")]
    Expired { expired_at: Timestamp },
}

/// Makes and checks signed pull URLs.
///
/// ```text
/// https://media.example.com/media/pull/sha256/9f86…08?expires=1767229200&signature=3a7b…e1
/// ```
#[derive(Clone)]
pub struct UrlSigner {
    base: PullBaseUrl,
    mac: Hmac<Sha256>,
    clock: SharedClock,
}

impl fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UrlSigner")
            .field("base", &self.base.0.as_str())
            .finish_non_exhaustive()
    }
}

impl UrlSigner {
    /// A signer for URLs under `base`, keyed with `secret` (at least 32 bytes), reading expiry
    /// against `clock`.
    pub fn new(
        base: PullBaseUrl,
        secret: &SecretString,
        clock: SharedClock,
    ) -> Result<Self, InvalidSigningKey> {
        let key = secret.expose_secret().as_bytes();
        if key.len() < MIN_KEY_BYTES {
            return Err(InvalidSigningKey);
        }
        let mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| InvalidSigningKey)?;
        Ok(Self { base, mac, clock })
    }

    /// The prefix every URL starts with.
    #[must_use]
    pub fn base(&self) -> &PullBaseUrl {
        &self.base
    }

    /// A URL for `key` that is refused from `expires_at` on (to the second).
    #[must_use]
    pub fn sign(&self, key: &MediaKey, expires_at: Timestamp) -> Url {
        let expires = expires_at.as_second();
        let signature = hex::encode(self.mac_for(key.as_str(), expires).finalize().into_bytes());
        let mut url = self.base.0.clone();
        let path = format!("{}{}", url.path(), key.as_str());
        url.set_path(&path);
        url.query_pairs_mut()
            .append_pair("expires", &expires.to_string())
            .append_pair("signature", &signature);
        url
    }

    /// A URL for `key` valid for `ttl` from the clock's now (TikTok's pull may run for an hour
    /// after it starts: leave room for that).
    #[must_use]
    pub fn sign_valid_for(&self, key: &MediaKey, ttl: Duration) -> Url {
        self.sign(key, clock::add(self.clock.now(), ttl))
    }

    /// Checks the signature (in constant time) and then the expiry of a request for the object
    /// at `raw_key` carrying `query`.
    pub fn verify(&self, raw_key: &str, query: Option<&str>) -> Result<(), SignatureRejected> {
        let (expires, signature) = parse_query(query.unwrap_or_default())?;
        self.mac_for(raw_key, expires)
            .verify_slice(&signature)
            .map_err(|_| SignatureRejected::BadSignature)?;
        let expired_at =
            Timestamp::from_second(expires).map_err(|_| SignatureRejected::Malformed)?;
        if self.clock.now() >= expired_at {
            return Err(SignatureRejected::Expired { expired_at });
        }
        Ok(())
    }

    fn mac_for(&self, raw_key: &str, expires: i64) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(CONTEXT);
        mac.update(b"\n");
        mac.update(raw_key.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac
    }
}

fn parse_query(query: &str) -> Result<(i64, Vec<u8>), SignatureRejected> {
    let mut expires = None;
    let mut signature = None;
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let slot = match name.as_ref() {
            "expires" => &mut expires,
            "signature" => &mut signature,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(SignatureRejected::Malformed);
        }
    }
    let expires = expires
        .filter(|text| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|text| text.parse::<i64>().ok())
        .ok_or(SignatureRejected::Malformed)?;
    let signature = signature
        .filter(|text| text.len() == 64)
        .and_then(|text| hex::decode(text.as_bytes()).ok())
        .ok_or(SignatureRejected::Malformed)?;
    Ok((expires, signature))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use clock::ManualClock;
    use rstest::rstest;

    use super::*;

    fn signer(clock: Arc<ManualClock>) -> UrlSigner {
        UrlSigner::new(
            PullBaseUrl::parse("https://media.example.com/media/pull/").unwrap(),
            &SecretString::from("0123456789abcdef0123456789abcdef-test-only"),
            clock,
        )
        .unwrap()
    }

    fn key() -> MediaKey {
        MediaKey::parse("sha256/abc").unwrap()
    }

    #[test]
    fn a_signed_url_lies_under_the_base_and_verifies_until_it_expires() {
        let clock = ManualClock::at_fixed_start();
        let signer = signer(Arc::clone(&clock));
        let url = signer.sign_valid_for(&key(), Duration::from_secs(7200));
        assert!(
            url.as_str()
                .starts_with("https://media.example.com/media/pull/sha256/abc?expires=")
        );
        assert_eq!(signer.verify("sha256/abc", url.query()), Ok(()));
        clock.advance(Duration::from_secs(7199));
        assert_eq!(signer.verify("sha256/abc", url.query()), Ok(()));
        clock.advance(Duration::from_secs(1));
        assert!(matches!(
            signer.verify("sha256/abc", url.query()),
            Err(SignatureRejected::Expired { .. })
        ));
    }

    #[test]
    fn a_signature_does_not_transfer_to_another_key_or_expiry() {
        let signer = signer(ManualClock::at_fixed_start());
        let url = signer.sign_valid_for(&key(), Duration::from_secs(60));
        assert_eq!(
            signer.verify("sha256/abd", url.query()),
            Err(SignatureRejected::BadSignature)
        );
        let query = url.query().unwrap();
        let (expires, _) = parse_query(query).unwrap();
        let later = query.replace(&expires.to_string(), &(expires + 3600).to_string());
        assert_eq!(
            signer.verify("sha256/abc", Some(&later)),
            Err(SignatureRejected::BadSignature)
        );
    }

    #[test]
    fn another_secret_makes_other_signatures() {
        let clock = ManualClock::at_fixed_start();
        let ours = signer(Arc::clone(&clock));
        let theirs = UrlSigner::new(
            ours.base().clone(),
            &SecretString::from("another secret of at least thirty-two bytes"),
            clock,
        )
        .unwrap();
        let url = theirs.sign_valid_for(&key(), Duration::from_secs(60));
        assert_eq!(
            ours.verify("sha256/abc", url.query()),
            Err(SignatureRejected::BadSignature)
        );
    }

    #[rstest]
    #[case::nothing(None)]
    #[case::no_signature(Some("expires=1767229200"))]
    #[case::short_signature(Some("expires=1767229200&signature=abcd"))]
    #[case::not_hex(Some(
        "expires=1767229200&signature=zz00000000000000000000000000000000000000000000000000000000000000"
    ))]
    #[case::negative_expiry(Some(
        "expires=-5&signature=0000000000000000000000000000000000000000000000000000000000000000"
    ))]
    #[case::repeated(Some(
        "expires=1&expires=2&signature=0000000000000000000000000000000000000000000000000000000000000000"
    ))]
    fn malformed_queries_are_refused(#[case] query: Option<&str>) {
        let signer = signer(ManualClock::at_fixed_start());
        assert_eq!(
            signer.verify("sha256/abc", query),
            Err(SignatureRejected::Malformed)
        );
    }

    #[rstest]
    #[case::http("http://media.example.com/pull/", InvalidPullBaseUrl::NotHttps)]
    #[case::ipv4("https://127.0.0.1/pull/", InvalidPullBaseUrl::HostIsNotAName)]
    #[case::ipv6("https://[::1]/pull/", InvalidPullBaseUrl::HostIsNotAName)]
    #[case::no_slash("https://media.example.com/pull", InvalidPullBaseUrl::NoTrailingSlash)]
    #[case::query("https://media.example.com/pull/?a=b", InvalidPullBaseUrl::ExtraParts)]
    #[case::credentials(
        "https://user:pw@media.example.com/pull/",
        InvalidPullBaseUrl::ExtraParts
    )]
    fn only_verifiable_https_prefixes_are_pull_bases(
        #[case] raw: &str,
        #[case] why: InvalidPullBaseUrl,
    ) {
        assert_eq!(PullBaseUrl::parse(raw), Err(why));
    }

    #[test]
    fn a_short_secret_is_refused_and_the_secret_never_shows_in_debug() {
        let base = PullBaseUrl::parse("https://media.example.com/").unwrap();
        assert!(
            UrlSigner::new(
                base.clone(),
                &SecretString::from("short"),
                ManualClock::at_fixed_start()
            )
            .is_err()
        );
        let signer = signer(ManualClock::at_fixed_start());
        let shown = format!("{signer:?}");
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
    }
}
