//! Identifier and token shapes copied from real TikTok answers (tiktok-api.md §0.2), so that a
//! client which assumes a narrower shape fails here as it would in production.

use jiff::Timestamp;
use rand::RngExt;
use rand::rngs::StdRng;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const UPPER_HEX: &[u8] = b"0123456789ABCDEF";

fn pick(rng: &mut StdRng, alphabet: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| {
            let index = rng.random_range(0..alphabet.len());
            alphabet.get(index).copied().map_or('0', char::from)
        })
        .collect()
}

/// `YYYYMMDDhhmmss` (UTC) followed by 20 upper-case hex characters.
pub(crate) fn log_id(now: Timestamp, rng: &mut StdRng) -> String {
    let stamp = now.strftime("%Y%m%d%H%M%S");
    format!("{stamp}{}", pick(rng, UPPER_HEX, 20))
}

/// `act.<base62>!<digits>.e1`, like real access tokens.
pub(crate) fn access_token(rng: &mut StdRng) -> String {
    format!(
        "act.{}!{}.e1",
        pick(rng, BASE62, 56),
        rng.random_range(1000..10_000u32)
    )
}

/// `rft.<base62>!<digits>.e1`.
pub(crate) fn refresh_token(rng: &mut StdRng) -> String {
    format!(
        "rft.{}!{}.e1",
        pick(rng, BASE62, 56),
        rng.random_range(1000..10_000u32)
    )
}

/// An authorization code. It carries `*` and `!`, which a redirect percent-encodes, so a
/// client that forgets to URL-decode the callback sends a code that does not exist.
pub(crate) fn auth_code(rng: &mut StdRng) -> String {
    format!(
        "{}*!{}",
        pick(rng, BASE62, 64),
        rng.random_range(1000..10_000u32)
    )
}

/// A 19-digit number (a public post id, the numeric tail of a publish id, an upload id).
pub(crate) fn nineteen_digits(rng: &mut StdRng) -> u64 {
    rng.random_range(7_000_000_000_000_000_000..8_000_000_000_000_000_000u64)
}

/// The upload token carried in `upload_url`.
pub(crate) fn upload_token(rng: &mut StdRng) -> String {
    pick(rng, BASE62, 40)
}

/// The shape prefix of a publish id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PublishIdKind {
    DirectFile,
    DirectUrl,
    InboxFile,
    InboxUrl,
    Photo,
}

/// `v_pub_file~v2-1.<19 digits>` and its siblings.
pub(crate) fn publish_id(kind: PublishIdKind, rng: &mut StdRng) -> String {
    let prefix = match kind {
        PublishIdKind::DirectFile => "v_pub_file~v2-1",
        PublishIdKind::DirectUrl => "v_pub_url~v2",
        PublishIdKind::InboxFile => "v_inbox_file~v2",
        PublishIdKind::InboxUrl => "v_inbox_url~v2",
        PublishIdKind::Photo => "p_pub_url~v2",
    };
    format!("{prefix}.{}", nineteen_digits(rng))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn log_ids_are_a_utc_timestamp_then_twenty_upper_hex_characters() {
        let mut rng = StdRng::seed_from_u64(1);
        let id = log_id(Timestamp::constant(1_767_225_600, 0), &mut rng);
        assert_eq!(id.len(), 34);
        assert!(id.starts_with("20260101000000"));
        assert!(
            id[14..]
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        );
    }

    #[test]
    fn tokens_and_ids_have_the_shapes_seen_in_production() {
        let mut rng = StdRng::seed_from_u64(2);
        assert!(access_token(&mut rng).starts_with("act."));
        assert!(refresh_token(&mut rng).starts_with("rft."));
        for _ in 0..100 {
            assert_eq!(nineteen_digits(&mut rng).to_string().len(), 19);
        }
        let id = publish_id(PublishIdKind::DirectFile, &mut rng);
        assert!(id.starts_with("v_pub_file~v2-1."));
        assert!(id.len() <= 64);
    }
}
