//! The one validation error every domain constructor returns: which field, which rule, and the
//! measured value, so the API can render "title: 2301 UTF-16 units, limit 2200" without parsing
//! a message.

use std::fmt;

/// A rejected input: the field path (e.g. `content.title`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ValidationError {
    /// Dotted path of the offending field as the API client sent it.
    pub field: String,
    /// The rule that was broken, with its limit and the measured value.
    pub problem: ValidationProblem,
}

impl ValidationError {
    /// A validation error for `field`.
    #[must_use]
    pub fn new(field: impl Into<String>, problem: ValidationProblem) -> Self {
        Self {
            field: field.into(),
            problem,
        }
    }

    /// The same error, with `prefix.` put in front of the field path (used when a nested
    /// constructor fails inside a larger structure).
    #[must_use]
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = if self.field.is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix}.{}", self.field)
        };
        self
    }
}

/// The rule a value broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValidationProblem {
    /// Longer than allowed; `unit` names what was counted (e.g. "UTF-16 units", "items").
    TooLong {
        limit: u64,
        measured: u64,
        unit: &'static str,
    },
    /// Fewer than the minimum.
    TooShort {
        minimum: u64,
        measured: u64,
        unit: &'static str,
    },
    /// A value is required and none was given.
    Missing,
    /// The value is not one of the accepted forms; `expected` describes them.
    Malformed { expected: &'static str },
    /// A reference (e.g. a cover index) points outside what exists.
    OutOfRange { limit: u64, measured: u64 },
    /// A rule between fields is broken; `code` is stable, `rule` is the sentence to show
    /// (TikTok's own words where TikTok words it).
    Conflict {
        code: &'static str,
        rule: &'static str,
    },
}

impl fmt::Display for ValidationProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong {
                limit,
                measured,
                unit,
            } => write!(f, "{measured} {unit}, limit {limit}"),
            Self::TooShort {
                minimum,
                measured,
                unit,
            } => write!(f, "{measured} {unit}, minimum {minimum}"),
            Self::Missing => f.write_str("required"),
            Self::Malformed { expected } => write!(f, "expected {expected}"),
            Self::OutOfRange { limit, measured } => {
                write!(f, "{measured} is out of range (must be below {limit})")
            }
            Self::Conflict { rule, .. } => f.write_str(rule),
        }
    }
}
