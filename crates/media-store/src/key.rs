//! The names objects are stored under, parsed once at the edge.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The opaque name of a stored media object.
///
/// Keys come from outside (a database row, a signed URL's path), and both backends turn them into
/// file paths or object names, so a key is only ever built through [`MediaKey::parse`] or
/// [`MediaKey::for_content`]: `/`-separated segments of `a-z 0-9 . _ -`, no empty segment, no
/// segment starting with a dot (which rules out `.` and `..`), at most [`MediaKey::MAX_LEN`]
/// bytes. Lower case only, so that a case-insensitive file system cannot fold two keys into one
/// file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MediaKey(String);

/// Why a string is not a [`MediaKey`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidMediaKey {
    #[error("a media key must not be empty")]
    Empty,
    #[error("a media key is at most {max} bytes, this one has {len}")]
    TooLong { len: usize, max: usize },
    #[error("a media key must not start or end with '/' nor contain '//'")]
    EmptySegment,
    #[error("a media key segment must not start with '.' (this rules out '..')")]
    DotSegment,
    #[error("a media key may only contain a-z, 0-9, '.', '_', '-' and '/', found {found:?}")]
    ForbiddenCharacter { found: char },
}

const CONTENT_PREFIX: &str = "sha256/";

impl MediaKey {
    /// The longest key accepted (well under S3's 1,024-byte limit and common path limits).
    pub const MAX_LEN: usize = 512;

    /// Validates `raw` as a key.
    pub fn parse(raw: &str) -> Result<Self, InvalidMediaKey> {
        if raw.is_empty() {
            return Err(InvalidMediaKey::Empty);
        }
        if raw.len() > Self::MAX_LEN {
            return Err(InvalidMediaKey::TooLong {
                len: raw.len(),
                max: Self::MAX_LEN,
            });
        }
        for segment in raw.split('/') {
            if segment.is_empty() {
                return Err(InvalidMediaKey::EmptySegment);
            }
            if segment.starts_with('.') {
                return Err(InvalidMediaKey::DotSegment);
            }
            if let Some(found) = segment.chars().find(|c| !is_key_char(*c)) {
                return Err(InvalidMediaKey::ForbiddenCharacter { found });
            }
        }
        Ok(Self(raw.to_owned()))
    }

    /// The key content with this SHA-256 is stored under, so the same bytes are stored once.
    #[must_use]
    pub fn for_content(sha256: &Sha256Hex) -> Self {
        Self(format!("{CONTENT_PREFIX}{}", sha256.as_str()))
    }

    /// The SHA-256 this key was derived from, when it is a content key.
    #[must_use]
    pub fn content_sha256(&self) -> Option<Sha256Hex> {
        self.0
            .strip_prefix(CONTENT_PREFIX)
            .and_then(|hex| Sha256Hex::parse(hex).ok())
    }

    /// The key as text (safe to use as a relative path or an object name).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key's segments, in order.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
}

impl fmt::Display for MediaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for MediaKey {
    type Error = InvalidMediaKey;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<MediaKey> for String {
    fn from(key: MediaKey) -> Self {
        key.0
    }
}

/// A SHA-256 digest as 64 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256Hex(String);

/// The text is not 64 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a SHA-256 is 64 lower-case hex digits")]
pub struct InvalidSha256Hex;

impl Sha256Hex {
    /// Validates `raw` as a hex SHA-256.
    pub fn parse(raw: &str) -> Result<Self, InvalidSha256Hex> {
        let well_formed = raw.len() == 64
            && raw
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if well_formed {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidSha256Hex)
        }
    }

    pub(crate) fn from_digest(digest: &[u8]) -> Self {
        Self(hex::encode(digest))
    }

    /// The digest as hex text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Sha256Hex {
    type Error = InvalidSha256Hex;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Sha256Hex> for String {
    fn from(hex: Sha256Hex) -> Self {
        hex.0
    }
}

/// A byte count shown the way people read file sizes ("4.2 GB"), with the exact count beside
/// it so that two sizes that round alike still read differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 3] = [(1_000_000_000, "GB"), (1_000_000, "MB"), (1_000, "kB")];
        let bytes = self.0;
        for (scale, unit) in UNITS {
            if bytes >= scale {
                let tenths = (u128::from(bytes) * 10 + u128::from(scale) / 2) / u128::from(scale);
                let (whole, fraction) = (tenths / 10, tenths % 10);
                return if fraction == 0 {
                    write!(f, "{whole} {unit} ({bytes} bytes)")
                } else {
                    write!(f, "{whole}.{fraction} {unit} ({bytes} bytes)")
                };
            }
        }
        write!(f, "{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    #[rstest]
    #[case::content_key("sha256/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    #[case::nested("workspace-1/videos/clip_01.mp4")]
    #[case::single("a")]
    fn accepts_safe_keys(#[case] raw: &str) {
        assert_eq!(MediaKey::parse(raw).unwrap().as_str(), raw);
    }

    #[rstest]
    #[case::empty("", InvalidMediaKey::Empty)]
    #[case::leading_slash("/etc/passwd", InvalidMediaKey::EmptySegment)]
    #[case::trailing_slash("a/", InvalidMediaKey::EmptySegment)]
    #[case::double_slash("a//b", InvalidMediaKey::EmptySegment)]
    #[case::parent("a/../b", InvalidMediaKey::DotSegment)]
    #[case::only_parent("..", InvalidMediaKey::DotSegment)]
    #[case::current("./a", InvalidMediaKey::DotSegment)]
    #[case::hidden(".env", InvalidMediaKey::DotSegment)]
    #[case::backslash("a\\..\\b", InvalidMediaKey::ForbiddenCharacter { found: '\\' })]
    #[case::upper_case("Clip.mp4", InvalidMediaKey::ForbiddenCharacter { found: 'C' })]
    #[case::percent("a%2f..", InvalidMediaKey::ForbiddenCharacter { found: '%' })]
    #[case::nul("a\0b", InvalidMediaKey::ForbiddenCharacter { found: '\0' })]
    fn rejects_unsafe_keys(#[case] raw: &str, #[case] why: InvalidMediaKey) {
        assert_eq!(MediaKey::parse(raw), Err(why));
    }

    #[test]
    fn rejects_a_key_longer_than_the_limit() {
        let raw = "a".repeat(MediaKey::MAX_LEN + 1);
        assert_eq!(
            MediaKey::parse(&raw),
            Err(InvalidMediaKey::TooLong {
                len: MediaKey::MAX_LEN + 1,
                max: MediaKey::MAX_LEN
            })
        );
    }

    #[test]
    fn content_key_round_trips_its_digest() {
        let digest = Sha256Hex::parse(&"ab".repeat(32)).unwrap();
        let key = MediaKey::for_content(&digest);
        assert_eq!(MediaKey::parse(key.as_str()).unwrap(), key);
        assert_eq!(key.content_sha256(), Some(digest));
        assert_eq!(MediaKey::parse("videos/a").unwrap().content_sha256(), None);
    }

    #[rstest]
    #[case(4_200_000_000, "4.2 GB (4200000000 bytes)")]
    #[case(4_000_000_000, "4 GB (4000000000 bytes)")]
    #[case(20_000_000, "20 MB (20000000 bytes)")]
    #[case(1_500, "1.5 kB (1500 bytes)")]
    #[case(999, "999 bytes")]
    #[case(u64::MAX, "18446744073.7 GB (18446744073709551615 bytes)")]
    fn byte_sizes_read_like_file_sizes(#[case] bytes: u64, #[case] shown: &str) {
        assert_eq!(ByteSize(bytes).to_string(), shown);
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_accepted_keys_are_safe_paths(raw in "\\PC{0,40}") {
            if let Ok(key) = MediaKey::parse(&raw) {
                prop_assert!(!key.as_str().starts_with('/'));
                prop_assert!(key.segments().all(|s| !s.is_empty() && s != ".." && s != "."));
                prop_assert!(key.as_str().chars().all(|c| is_key_char(c) || c == '/'));
            }
        }

        #[test]
        fn every_key_built_from_safe_segments_parses_back(
            segments in proptest::collection::vec("[a-z0-9_-][a-z0-9._-]{0,12}", 1..6)
        ) {
            let raw = segments.join("/");
            let key = MediaKey::parse(&raw).unwrap();
            prop_assert_eq!(key.as_str(), raw.as_str());
            let via_serde: MediaKey = serde_json::from_str(&serde_json::to_string(&key).unwrap()).unwrap();
            prop_assert_eq!(via_serde, key);
        }

        #[test]
        fn paths_with_a_parent_segment_are_always_rejected(
            before in "[a-z]{0,5}", after in "[a-z]{0,5}"
        ) {
            let raw = format!("{before}/../{after}");
            prop_assert!(MediaKey::parse(&raw).is_err());
        }
    }
}
