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

/// `runs` gathered by `key`, in the order each key first appears: one group per size and
/// setup of a benchmark that repeats its measurements.
#[must_use]
pub fn by_key<T, K: PartialEq>(runs: &[T], key: impl Fn(&T) -> K) -> Vec<Vec<&T>> {
    let mut groups: Vec<Vec<&T>> = Vec::new();
    for run in runs {
        match groups
            .iter_mut()
            .find(|group| group.first().is_some_and(|first| key(first) == key(run)))
        {
            Some(group) => group.push(run),
            None => groups.push(vec![run]),
        }
    }
    groups
}

/// A figure of `runs` as [`Spread::show`] writes it, `–` when no run has it.
#[must_use]
pub fn spread_text<T>(
    runs: &[&T],
    figure: impl Fn(&T) -> f64,
    scale: f64,
    decimals: usize,
) -> String {
    Spread::of(runs.iter().map(|run| figure(run)))
        .map_or_else(|| "–".to_owned(), |spread| spread.show(scale, decimals))
}

#[cfg(test)]
mod tests {
    use super::{Spread, by_key, spread_text};

    #[test]
    fn runs_are_gathered_by_key_in_the_order_keys_first_appear() {
        let runs = [(2, 10.0), (1, 1.0), (2, 30.0), (1, 3.0), (2, 20.0)];
        let groups = by_key(&runs, |run| run.0);
        assert_eq!(groups.len(), 2);
        assert_eq!(spread_text(&groups[0], |run| run.1, 1.0, 0), "20 (10–30)");
        assert_eq!(
            spread_text(&groups[1], |run| run.1, 1.0, 1),
            "2.0 (1.0–3.0)"
        );
        assert_eq!(spread_text(&groups[1], |_| f64::NAN, 1.0, 1), "–");
    }

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
