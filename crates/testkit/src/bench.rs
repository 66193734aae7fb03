//! What the benchmarks share: their sizes read from the environment.

/// The positive whole number in the environment variable `name`, else `default` (unset, not a
/// number, or zero).
#[must_use]
pub fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}
