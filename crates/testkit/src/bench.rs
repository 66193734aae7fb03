//! What the benchmarks share: their sizes read from the environment, and figures over several runs.

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

/// A figure measured over several runs: its median and the range the runs spanned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub runs: usize,
}

impl Spread {
    /// The spread of `values` (NaNs left out); `None` when there is none.
    #[must_use]
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Self> {
        let mut values: Vec<f64> = values.into_iter().filter(|v| !v.is_nan()).collect();
        values.sort_by(f64::total_cmp);
        let (&min, &max) = (values.first()?, values.last()?);
        let middle = values.len() / 2;
        let median = if values.len().is_multiple_of(2) {
            (values.get(middle - 1)? + values.get(middle)?) / 2.0
        } else {
            *values.get(middle)?
        };
        Some(Self {
            median,
            min,
            max,
            runs: values.len(),
        })
    }

    /// `median (min–max)` with `decimals` digits after the point, scaled by `scale`; the
    /// median alone for a single run.
    #[must_use]
    pub fn show(&self, scale: f64, decimals: usize) -> String {
        let [median, min, max] = [self.median, self.min, self.max].map(|v| v * scale);
        if self.runs == 1 {
            format!("{median:.decimals$}")
        } else {
            format!("{median:.decimals$} ({min:.decimals$}–{max:.decimals$})")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Spread;

    #[test]
    fn a_spread_is_the_median_and_the_range_of_its_runs() {
        let odd = Spread::of([3.0, 1.0, 2.0]).unwrap();
        assert_eq!((odd.median, odd.min, odd.max, odd.runs), (2.0, 1.0, 3.0, 3));
        assert_eq!(odd.show(1.0, 1), "2.0 (1.0–3.0)");
        let even = Spread::of([4.0, 1.0, 2.0, f64::NAN, 3.0]).unwrap();
        assert_eq!((even.median, even.runs), (2.5, 4));
        assert_eq!(Spread::of([1_500.0]).unwrap().show(0.001, 2), "1.50");
        assert!(Spread::of([]).is_none());
    }
}
