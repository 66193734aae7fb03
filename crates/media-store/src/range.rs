//! The HTTP `Range` header (RFC 9110 §14.1.2), single byte ranges only.

use std::ops::Range;

/// One byte range as a client asked for it, before the object's length is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRangeSpec {
    /// `bytes=first-last` (both inclusive).
    FromTo { first: u64, last: u64 },
    /// `bytes=first-`: from `first` to the end.
    From { first: u64 },
    /// `bytes=-n`: the last `n` bytes.
    Suffix { len: u64 },
}

impl ByteRangeSpec {
    /// The half-open range this spec selects from an object of `len` bytes, or `None` when it
    /// is unsatisfiable (answered with 416 and `Content-Range: bytes */len`).
    #[must_use]
    pub fn resolve(self, len: u64) -> Option<Range<u64>> {
        match self {
            Self::FromTo { first, last } if first < len => {
                Some(first..last.saturating_add(1).min(len))
            }
            Self::From { first } if first < len => Some(first..len),
            Self::Suffix { len: suffix } if suffix > 0 && len > 0 => {
                Some(len.saturating_sub(suffix)..len)
            }
            _ => None,
        }
    }
}

/// Parses a `Range` header value holding a single byte range.
///
/// `None` means "ignore the header and send the whole object", which RFC 9110 allows for a
/// syntactically invalid header, another unit, or several ranges (never needed by a media
/// downloader, and a multipart/byteranges body would defeat a fixed `Content-Length`).
#[must_use]
pub fn parse_range_header(value: &str) -> Option<ByteRangeSpec> {
    let (unit, spec) = value.trim().split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return None;
    }
    let spec = spec.trim();
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    match (first.is_empty(), last.is_empty()) {
        (true, true) => None,
        (true, false) => Some(ByteRangeSpec::Suffix {
            len: parse_digits(last)?,
        }),
        (false, true) => Some(ByteRangeSpec::From {
            first: parse_digits(first)?,
        }),
        (false, false) => {
            let (first, last) = (parse_digits(first)?, parse_digits(last)?);
            (first <= last).then_some(ByteRangeSpec::FromTo { first, last })
        }
    }
}

/// Digits only: `u64::from_str` would also take a leading `+`.
fn parse_digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    #[rstest]
    #[case::closed("bytes=0-99", Some(ByteRangeSpec::FromTo { first: 0, last: 99 }))]
    #[case::open_ended("bytes=100-", Some(ByteRangeSpec::From { first: 100 }))]
    #[case::suffix("bytes=-500", Some(ByteRangeSpec::Suffix { len: 500 }))]
    #[case::unit_case_and_spaces(" Bytes = 5 - 9 ", Some(ByteRangeSpec::FromTo { first: 5, last: 9 }))]
    #[case::reversed("bytes=9-5", None)]
    #[case::several("bytes=0-1,5-6", None)]
    #[case::other_unit("items=0-1", None)]
    #[case::no_dash("bytes=5", None)]
    #[case::only_dash("bytes=-", None)]
    #[case::plus_sign("bytes=+5-9", None)]
    #[case::negative("bytes=-5-9", None)]
    #[case::overflow("bytes=0-99999999999999999999999", None)]
    #[case::empty("", None)]
    fn parses_single_byte_ranges_and_ignores_the_rest(
        #[case] header: &str,
        #[case] expected: Option<ByteRangeSpec>,
    ) {
        assert_eq!(parse_range_header(header), expected);
    }

    #[rstest]
    #[case::inside(ByteRangeSpec::FromTo { first: 10, last: 19 }, 100, Some(10..20))]
    #[case::last_past_the_end_is_clamped(ByteRangeSpec::FromTo { first: 90, last: 500 }, 100, Some(90..100))]
    #[case::first_at_the_end(ByteRangeSpec::FromTo { first: 100, last: 200 }, 100, None)]
    #[case::open_ended(ByteRangeSpec::From { first: 99 }, 100, Some(99..100))]
    #[case::open_ended_past_the_end(ByteRangeSpec::From { first: 100 }, 100, None)]
    #[case::suffix(ByteRangeSpec::Suffix { len: 10 }, 100, Some(90..100))]
    #[case::suffix_longer_than_the_object(ByteRangeSpec::Suffix { len: 1000 }, 100, Some(0..100))]
    #[case::zero_suffix(ByteRangeSpec::Suffix { len: 0 }, 100, None)]
    #[case::suffix_of_an_empty_object(ByteRangeSpec::Suffix { len: 5 }, 0, None)]
    #[case::from_zero_of_an_empty_object(ByteRangeSpec::From { first: 0 }, 0, None)]
    #[case::last_at_u64_max(ByteRangeSpec::FromTo { first: 0, last: u64::MAX }, 100, Some(0..100))]
    fn resolves_against_the_object_length(
        #[case] spec: ByteRangeSpec,
        #[case] len: u64,
        #[case] expected: Option<Range<u64>>,
    ) {
        assert_eq!(spec.resolve(len), expected);
    }

    proptest! {
        #[test]
        fn parsing_never_panics(header in "\\PC{0,40}") {
            let _ = parse_range_header(&header);
        }

        #[test]
        fn a_rendered_closed_range_parses_back(first in 0_u64..u64::MAX, extra in 0_u64..1_000_000) {
            let last = first.saturating_add(extra);
            prop_assert_eq!(
                parse_range_header(&format!("bytes={first}-{last}")),
                Some(ByteRangeSpec::FromTo { first, last })
            );
        }

        #[test]
        fn a_resolved_range_is_never_empty_and_always_inside_the_object(
            header in prop_oneof![
                (0_u64..2000, 0_u64..2000).prop_map(|(a, b)| format!("bytes={a}-{b}")),
                (0_u64..2000).prop_map(|a| format!("bytes={a}-")),
                (0_u64..2000).prop_map(|n| format!("bytes=-{n}")),
            ],
            len in 0_u64..1500,
        ) {
            if let Some(range) = parse_range_header(&header).and_then(|spec| spec.resolve(len)) {
                prop_assert!(range.start < range.end);
                prop_assert!(range.end <= len);
            }
        }
    }
}
