//! Finding a published post among the creator's public videos when TikTok never reports its
//! public id (status fetch and the webhook stay silent for some accounts): by its caption and
//! the time it went out, as the Display API's `video/list` shows them.
//!
//! Invariants, judged by [`match_listed`] alone:
//! - a pair is recorded only when it is unambiguous both ways: the post has exactly one
//!   candidate video and that video exactly one candidate post (two posts with one caption in
//!   one hour stay unmatched rather than risk swapping their counts);
//! - a video whose id tokpost already knows (another post's) is never a candidate;
//! - the result is a partial injection: no post and no video appears twice.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::Timestamp;

/// How far a video's `create_time` may be from the moment tokpost saw the post published.
pub const MATCH_WINDOW: Duration = Duration::from_secs(3_600);

/// How long after publishing a post is still looked for.
pub const MATCH_FOR: Duration = Duration::from_secs(7 * 86_400);

/// The Display API cuts `title` and `video_description` to 150 characters; a listed text at
/// least this long that starts a longer caption is taken as that caption, cut.
pub const CUT_AT_LEAST: usize = 100;

/// A published public post tokpost has no public id for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Awaiting<K> {
    pub key: K,
    /// A video's caption, or a photo post's title and description (empty ones included).
    pub texts: Vec<String>,
    /// When tokpost saw it published.
    pub published_at: Timestamp,
}

/// One public video as `video/list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub id: u64,
    pub title: Option<String>,
    pub description: Option<String>,
    pub created_at: Option<Timestamp>,
}

/// Whitespace runs become one space and the ends are trimmed: TikTok may turn line breaks or
/// trailing spaces around, never the words.
#[must_use]
pub fn normalize(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether a listed text is the post's text: the same once normalized, or a long enough
/// beginning of it (the listing cuts long captions, perhaps with an ellipsis).
#[must_use]
pub fn same_text(posted: &str, listed: &str) -> bool {
    let posted = normalize(posted);
    let listed = normalize(listed);
    if posted == listed {
        return true;
    }
    let cut = listed
        .strip_suffix('…')
        .or_else(|| listed.strip_suffix("..."))
        .unwrap_or(&listed)
        .trim_end();
    cut.chars().count() >= CUT_AT_LEAST && posted.starts_with(cut)
}

fn texts_agree(post: &[String], video: &Listed) -> bool {
    let listed: Vec<&str> = [&video.title, &video.description]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .filter(|text| !normalize(text).is_empty())
        .collect();
    let posted: Vec<&str> = post
        .iter()
        .map(String::as_str)
        .filter(|text| !normalize(text).is_empty())
        .collect();
    if posted.is_empty() || listed.is_empty() {
        // A post without words matches only a video without words.
        return posted.is_empty() && listed.is_empty();
    }
    posted
        .iter()
        .any(|posted| listed.iter().any(|listed| same_text(posted, listed)))
}

fn close_in_time(published_at: Timestamp, created_at: Option<Timestamp>) -> bool {
    created_at
        .is_some_and(|created| created.duration_since(published_at).unsigned_abs() <= MATCH_WINDOW)
}

/// The unambiguous pairs of `awaiting` posts and `listed` videos (see the module's
/// invariants); videos in `known` belong to other posts already.
#[must_use]
pub fn match_listed<K: Copy + Ord>(
    awaiting: &[Awaiting<K>],
    listed: &[Listed],
    known: &BTreeSet<u64>,
) -> Vec<(K, u64)> {
    let mut videos_of: BTreeMap<K, BTreeSet<u64>> = BTreeMap::new();
    let mut posts_of: BTreeMap<u64, BTreeSet<K>> = BTreeMap::new();
    for post in awaiting {
        for video in listed.iter().filter(|video| !known.contains(&video.id)) {
            if close_in_time(post.published_at, video.created_at) && texts_agree(&post.texts, video)
            {
                videos_of.entry(post.key).or_default().insert(video.id);
                posts_of.entry(video.id).or_default().insert(post.key);
            }
        }
    }
    videos_of
        .into_iter()
        .filter_map(|(post, videos)| {
            let [video] = <[u64; 1]>::try_from(videos.into_iter().collect::<Vec<_>>()).ok()?;
            (posts_of.get(&video)?.len() == 1).then_some((post, video))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rstest::rstest;

    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_767_225_600 + seconds).unwrap()
    }

    fn post(key: u32, caption: &str, published: i64) -> Awaiting<u32> {
        Awaiting {
            key,
            texts: vec![caption.to_owned()],
            published_at: at(published),
        }
    }

    fn video(id: u64, title: &str, created: i64) -> Listed {
        Listed {
            id,
            title: Some(title.to_owned()),
            description: Some(title.to_owned()),
            created_at: Some(at(created)),
        }
    }

    #[test]
    fn a_post_is_found_by_its_caption_and_time() {
        let awaiting = [post(1, "Sunday  bake\n#bread", 0), post(2, "other", 0)];
        let listed = [
            video(10, "Sunday bake #bread", 300),
            video(11, "Sunday bake #bread", -86_400),
            video(12, "unrelated", 0),
        ];
        assert_eq!(
            match_listed(&awaiting, &listed, &BTreeSet::new()),
            vec![(1, 10)]
        );
    }

    #[test]
    fn two_posts_with_one_caption_in_one_hour_stay_unmatched() {
        let awaiting = [post(1, "daily clip", 0), post(2, "daily clip", 600)];
        let listed = [video(10, "daily clip", 60), video(11, "daily clip", 700)];
        assert!(match_listed(&awaiting, &listed, &BTreeSet::new()).is_empty());
        // One of the two videos is known already: the other is still claimed by both.
        assert!(match_listed(&awaiting, &listed, &BTreeSet::from([10])).is_empty());
    }

    #[test]
    fn a_video_tokpost_knows_for_another_post_is_no_candidate() {
        let awaiting = [post(1, "same words", 0)];
        let listed = [video(10, "same words", 0), video(11, "same words", 120)];
        assert_eq!(
            match_listed(&awaiting, &listed, &BTreeSet::from([10])),
            vec![(1, 11)]
        );
    }

    #[test]
    fn a_photo_post_matches_by_its_title_or_its_description() {
        let awaiting = [Awaiting {
            key: 1,
            texts: vec!["Trip".to_owned(), "Day one in Lisbon".to_owned()],
            published_at: at(0),
        }];
        let listed = [Listed {
            id: 10,
            title: None,
            description: Some("Day one in Lisbon".to_owned()),
            created_at: Some(at(30)),
        }];
        assert_eq!(
            match_listed(&awaiting, &listed, &BTreeSet::new()),
            vec![(1, 10)]
        );
    }

    #[rstest]
    #[case::equal("a b", "a b", true)]
    #[case::spacing(" a\n\nb ", "a b", true)]
    #[case::other_words("a b", "a c", false)]
    #[case::short_prefix("a long caption", "a long", false)]
    #[case::cut_listing(&"x".repeat(300), &"x".repeat(150), true)]
    #[case::cut_with_ellipsis(&"y".repeat(300), &format!("{}…", "y".repeat(149)), true)]
    #[case::cut_with_dots(&"y".repeat(300), &format!("{}...", "y".repeat(147)), true)]
    #[case::longer_listing("short", "short and more", false)]
    fn texts_are_the_same_once_normalized_or_cut(
        #[case] posted: &str,
        #[case] listed: &str,
        #[case] same: bool,
    ) {
        assert_eq!(same_text(posted, listed), same);
    }

    #[rstest]
    #[case::inside(3_600, true)]
    #[case::before(-3_600, true)]
    #[case::outside(3_601, false)]
    fn the_window_is_an_hour_either_side(#[case] created: i64, #[case] found: bool) {
        let matched = match_listed(
            &[post(1, "w", 0)],
            &[video(10, "w", created)],
            &BTreeSet::new(),
        );
        assert_eq!(!matched.is_empty(), found);
    }

    #[test]
    fn a_post_without_words_matches_only_a_video_without_words() {
        let awaiting = [post(1, "", 0)];
        assert!(match_listed(&awaiting, &[video(10, "words", 0)], &BTreeSet::new()).is_empty());
        assert_eq!(
            match_listed(&awaiting, &[video(10, " ", 0)], &BTreeSet::new()),
            vec![(1, 10)]
        );
        let no_time = Listed {
            created_at: None,
            ..video(11, "", 0)
        };
        assert!(match_listed(&awaiting, &[no_time], &BTreeSet::new()).is_empty());
    }

    proptest! {
        #[test]
        fn matches_are_unique_both_ways_and_avoid_known_videos(
            posts in prop::collection::vec((0u8..3, -7_200i64..7_200), 0..8),
            videos in prop::collection::vec((0u8..3, -7_200i64..7_200), 0..8),
            known in prop::collection::btree_set(0u64..8, 0..3),
        ) {
            let awaiting: Vec<Awaiting<u32>> = posts
                .iter()
                .enumerate()
                .map(|(key, (words, at))| post(u32::try_from(key).unwrap(), &format!("caption {words}"), *at))
                .collect();
            let listed: Vec<Listed> = videos
                .iter()
                .enumerate()
                .map(|(id, (words, at))| video(id as u64, &format!("caption {words}"), *at))
                .collect();
            let matched = match_listed(&awaiting, &listed, &known);
            let posts_seen: BTreeSet<u32> = matched.iter().map(|(post, _)| *post).collect();
            let videos_seen: BTreeSet<u64> = matched.iter().map(|(_, video)| *video).collect();
            prop_assert_eq!(posts_seen.len(), matched.len());
            prop_assert_eq!(videos_seen.len(), matched.len());
            for (post, video) in &matched {
                prop_assert!(!known.contains(video));
                let (p_words, p_at) = posts[*post as usize];
                let (v_words, v_at) = videos[usize::try_from(*video).unwrap()];
                prop_assert_eq!(p_words, v_words);
                prop_assert!((p_at - v_at).abs() <= 3_600);
            }
        }
    }
}
