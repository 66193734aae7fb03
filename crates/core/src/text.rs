//! Caption-style text newtypes. TikTok counts caption length in UTF-16 code units (an emoji
//! outside the BMP costs two), so each constructor counts the same way; a Rust `len()` (bytes)
//! or `chars().count()` would accept captions TikTok rejects.

use serde::{Deserialize, Serialize};

use crate::validation::{ValidationError, ValidationProblem};

const UTF16_UNITS: &str = "UTF-16 units";

/// Length of `text` as TikTok measures it.
#[must_use]
pub fn utf16_len(text: &str) -> u64 {
    text.encode_utf16().map(|_| 1_u64).sum()
}

fn check_len(field: &str, text: &str, limit: u64) -> Result<(), ValidationError> {
    let measured = utf16_len(text);
    if measured > limit {
        return Err(ValidationError::new(
            field,
            ValidationProblem::TooLong {
                limit,
                measured,
                unit: UTF16_UNITS,
            },
        ));
    }
    Ok(())
}

macro_rules! bounded_text {
    ($(#[$doc:meta])* $name:ident, $field:literal, $limit:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The most UTF-16 code units TikTok accepts.
            pub const LIMIT: u64 = $limit;

            /// Validates `text` against the limit.
            ///
            /// # Errors
            /// [`ValidationProblem::TooLong`] with the measured UTF-16 length.
            pub fn new(text: impl Into<String>) -> Result<Self, ValidationError> {
                let text = text.into();
                check_len($field, &text, Self::LIMIT)?;
                Ok(Self(text))
            }

            /// The text as given.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(text: String) -> Result<Self, Self::Error> {
                Self::new(text)
            }
        }

        impl From<$name> for String {
            fn from(text: $name) -> Self {
                text.0
            }
        }
    };
}

bounded_text!(
    /// A video post's caption (TikTok's `title` for videos, hashtags and mentions included).
    VideoCaption,
    "title",
    2200
);
bounded_text!(
    /// A photo post's title.
    PhotoTitle,
    "title",
    90
);
bounded_text!(
    /// A photo post's description.
    PhotoDescription,
    "description",
    4000
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    #[rstest]
    #[case::ascii_at_limit("a".repeat(90), true)]
    #[case::ascii_over_limit("a".repeat(91), false)]
    #[case::emoji_count_twice("😀".repeat(45), true)]
    #[case::emoji_over_by_one_unit(format!("{}a", "😀".repeat(45)), false)]
    #[case::accented_letters_count_once("é".repeat(90), true)]
    fn photo_titles_are_measured_in_utf16_units(#[case] text: String, #[case] accepted: bool) {
        assert_eq!(PhotoTitle::new(text).is_ok(), accepted);
    }

    #[test]
    fn an_overlong_caption_reports_the_limit_and_the_measured_length() {
        let err = VideoCaption::new("😀".repeat(1101)).unwrap_err();
        assert_eq!(err.field, "title");
        assert_eq!(
            err.problem,
            ValidationProblem::TooLong {
                limit: 2200,
                measured: 2202,
                unit: UTF16_UNITS
            }
        );
        assert_eq!(err.to_string(), "title: 2202 UTF-16 units, limit 2200");
    }

    #[test]
    fn deserializing_validates_too() {
        let json = serde_json::to_string(&"x".repeat(4001)).unwrap();
        assert!(serde_json::from_str::<PhotoDescription>(&json).is_err());
    }

    proptest! {
        #[test]
        fn a_description_is_accepted_exactly_when_it_fits(text in "\\PC{0,4100}") {
            let fits = text.encode_utf16().count() <= 4000;
            prop_assert_eq!(PhotoDescription::new(text.clone()).is_ok(), fits);
            if fits {
                let round = serde_json::from_str::<PhotoDescription>(
                    &serde_json::to_string(&PhotoDescription::new(text.clone()).unwrap()).unwrap()
                ).unwrap();
                prop_assert_eq!(round.as_str(), text.as_str());
            }
        }
    }
}
