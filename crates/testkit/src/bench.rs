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

/// The comma-separated items of the environment variable `name` (else of `default`), trimmed,
/// empty ones left out.
#[must_use]
pub fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .map(|item| item.trim().to_owned())
        .filter(|item| !item.is_empty())
        .collect()
}
