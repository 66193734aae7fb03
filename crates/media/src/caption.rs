//! Captions: lengths counted the way TikTok counts them (UTF-16 code units, so an emoji outside
//! the Basic Multilingual Plane costs 2) and spam heuristics, reported as warnings.

use crate::verdict::{Problem, ProblemCode};

/// Which text field of a post a caption fills, each with its own limit (tiktok-api.md §5, §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptionField {
    VideoTitle,
    PhotoTitle,
    PhotoDescription,
}

impl CaptionField {
    /// Limit in UTF-16 code units.
    pub fn limit(self) -> usize {
        match self {
            Self::VideoTitle => 2200,
            Self::PhotoTitle => 90,
            Self::PhotoDescription => 4000,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::VideoTitle => "video caption",
            Self::PhotoTitle => "photo title",
            Self::PhotoDescription => "photo description",
        }
    }
}

/// More hashtags than this reads as hashtag stuffing (TikTok's advice is 3–5).
pub const MAX_HASHTAGS: usize = 10;
/// More links than this reads as link spam (captions' links are not clickable anyway).
pub const MAX_LINKS: usize = 2;
/// The same line this many times reads as repetition spam.
pub const REPEATED_LINE_COUNT: usize = 3;
/// Share of upper-case letters above which, with promotional words, a caption is shouting.
const CAPS_SHARE: f64 = 0.7;
const CAPS_MIN_LETTERS: usize = 12;
const PROMO_WORDS: [&str; 16] = [
    "FREE",
    "BUY",
    "SALE",
    "DISCOUNT",
    "CLICK",
    "LINK IN BIO",
    "LIMITED",
    "OFFER",
    "PROMO",
    "DEAL",
    "GIVEAWAY",
    "WIN",
    "ORDER NOW",
    "SHOP",
    "CODE",
    "% OFF",
];

/// Length as TikTok counts it: UTF-16 code units.
pub fn utf16_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// "123/2200": the count shown to users, the way TikTok counts.
pub fn count_display(text: &str, field: CaptionField) -> String {
    format!("{}/{}", utf16_len(text), field.limit())
}

/// All findings for one caption: its length (an error over the limit) and spam heuristics
/// (warnings).
pub fn check_caption(text: &str, field: CaptionField) -> Vec<Problem> {
    let mut problems = Vec::new();
    let units = utf16_len(text);
    let limit = field.limit();
    if units > limit {
        problems.push(
            Problem::error(
                ProblemCode::CaptionTooLong,
                format!("the {} is {units} characters as TikTok counts them (emoji count 2), over {limit}", field.label()),
                format!("Shorten it by {} characters.", units - limit),
            )
            .measured(format!("{units} UTF-16 units"), format!("{limit} UTF-16 units")),
        );
    }
    problems.extend(spam_warnings(text));
    problems
}

/// Spam heuristics: each is a warning, since TikTok's `spam_risk_text` judgement is its own.
pub fn spam_warnings(text: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    let hashtags = hashtags(text).count();
    if hashtags > MAX_HASHTAGS {
        problems.push(
            Problem::warning(
                ProblemCode::SpamManyHashtags,
                format!("{hashtags} hashtags look like hashtag stuffing to TikTok's spam filter"),
                "Keep the 3 to 5 hashtags that describe the video.",
            )
            .measured(
                format!("{hashtags} hashtags"),
                format!("at most {MAX_HASHTAGS} hashtags"),
            ),
        );
    }
    if let Some((line, count)) =
        most_repeated_line(text).filter(|(_, count)| *count >= REPEATED_LINE_COUNT)
    {
        let preview: String = line.chars().take(40).collect();
        problems.push(
            Problem::warning(
                ProblemCode::SpamRepeatedLines,
                format!("the line \"{preview}\" appears {count} times"),
                "Write each line once.",
            )
            .measured(
                format!("{count} repeats"),
                format!("fewer than {REPEATED_LINE_COUNT} repeats"),
            ),
        );
    }
    let links = link_count(text);
    if links > MAX_LINKS {
        problems.push(
            Problem::warning(
                ProblemCode::SpamManyLinks,
                format!("{links} links in a caption look like link spam (TikTok does not make them clickable)"),
                "Keep one link at most, or point to the link in your bio.",
            )
            .measured(format!("{links} links"), format!("at most {MAX_LINKS} links")),
        );
    }
    if let Some(word) = shouted_promotion(text) {
        problems.push(Problem::warning(
            ProblemCode::SpamAllCapsPromo,
            format!("the caption is mostly in capitals with promotional wording (\"{word}\")"),
            "Write it in sentence case and drop the sales wording.",
        ));
    }
    problems
}

/// Hashtags as TikTok recognises them: `#` followed by text up to whitespace.
pub fn hashtags(text: &str) -> impl Iterator<Item = &str> {
    text.split_whitespace()
        .filter_map(|word| word.strip_prefix('#'))
        .flat_map(|tags| tags.split('#'))
        .filter(|tag| tag.chars().any(char::is_alphanumeric))
}

fn most_repeated_line(text: &str) -> Option<(String, usize)> {
    let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for line in text.lines() {
        let normalized = normalize(line);
        if normalized.chars().filter(|c| c.is_alphanumeric()).count() >= 3 {
            *counts.entry(normalized).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
}

fn link_count(text: &str) -> usize {
    text.split_whitespace()
        .filter(|word| {
            let lower = word.to_lowercase();
            lower.starts_with("http://")
                || lower.starts_with("https://")
                || lower.starts_with("www.")
        })
        .count()
}

fn shouted_promotion(text: &str) -> Option<&'static str> {
    let letters: Vec<char> = text.chars().filter(|c| c.is_alphabetic()).collect();
    let upper = letters.iter().filter(|c| c.is_uppercase()).count();
    if letters.len() < CAPS_MIN_LETTERS || (upper as f64) < letters.len() as f64 * CAPS_SHARE {
        return None;
    }
    let upper_text = text.to_uppercase();
    PROMO_WORDS
        .into_iter()
        .find(|word| contains_word(&upper_text, word))
}

fn contains_word(haystack: &str, word: &str) -> bool {
    haystack.match_indices(word).any(|(at, _)| {
        let before = haystack.get(..at).and_then(|head| head.chars().next_back());
        let after = haystack
            .get(at + word.len()..)
            .and_then(|tail| tail.chars().next());
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// A caption reduced to what makes two captions "the same" for duplicate detection and repeated
/// lines: lower case, whitespace collapsed.
pub fn normalize(text: &str) -> String {
    text.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}
