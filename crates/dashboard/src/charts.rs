//! Charts drawn on the server as inline SVG: no script, no external request, nothing a page
//! fetches from elsewhere (a chart library would be a script to ship and keep; these are three
//! shapes). Every value in the markup is a number this module formatted, never text from
//! outside, so the SVG is safe to place unescaped.

use std::fmt::Write as _;

/// A line of `values` (oldest first) `width`×`height`, with its last point marked. Empty for
/// fewer than two values.
#[must_use]
pub(crate) fn sparkline(values: &[u64], width: u32, height: u32) -> String {
    let (Some(last), true) = (values.last(), values.len() >= 2) else {
        return String::new();
    };
    let (min, max) = values
        .iter()
        .fold((u64::MAX, 0), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    let span = (max - min).max(1) as f64;
    let step = f64::from(width - 4) / (values.len() - 1) as f64;
    let point = |i: usize, v: u64| {
        let x = 2.0 + step * i as f64;
        let y = 2.0 + f64::from(height - 4) * (1.0 - (v - min) as f64 / span);
        (x, y)
    };
    let mut path = String::new();
    for (i, v) in values.iter().enumerate() {
        let (x, y) = point(i, *v);
        let _ = write!(path, "{}{x:.1},{y:.1}", if i == 0 { "M" } else { " L" });
    }
    let (lx, ly) = point(values.len() - 1, *last);
    format!(
        r#"<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="from {min} to {max}"><path d="{path}" fill="none" stroke="currentColor" stroke-width="1.5"/><circle cx="{lx:.1}" cy="{ly:.1}" r="2" fill="currentColor"/></svg>"#
    )
}

/// A horizontal bar for `value` out of `max`.
#[must_use]
pub(crate) fn bar(value: u64, max: u64, width: u32) -> String {
    let share = if max == 0 {
        0.0
    } else {
        value as f64 / max as f64
    };
    let filled = (f64::from(width) * share).round();
    format!(
        r#"<svg class="bar" width="{width}" height="10" viewBox="0 0 {width} 10" aria-hidden="true"><rect width="{width}" height="10" rx="2" fill="var(--line)"/><rect width="{filled:.0}" height="10" rx="2" fill="var(--accent)"/></svg>"#
    )
}

/// 24 cells, one per hour of the day, darker where more arrived, with the hours 0, 6, 12 and 18
/// labelled.
#[must_use]
pub(crate) fn hours(values: &[u64]) -> String {
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let mut cells = String::new();
    for (hour, value) in values.iter().take(24).enumerate() {
        let opacity = 0.08 + 0.92 * (*value as f64 / max);
        let x = hour * 13;
        let _ = write!(
            cells,
            r#"<rect x="{x}" y="0" width="12" height="24" rx="2" fill="var(--accent)" fill-opacity="{opacity:.2}"><title>{hour:02}:00 {value}</title></rect>"#
        );
        if hour % 6 == 0 {
            let _ = write!(
                cells,
                r#"<text x="{x}" y="38" font-size="10" fill="currentColor">{hour:02}</text>"#
            );
        }
    }
    format!(
        r#"<svg class="hours" width="312" height="42" viewBox="0 0 312 42" role="img" aria-label="views in the first day by hour">{cells}</svg>"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparkline_needs_two_points_and_stays_inside_its_box() {
        assert_eq!(sparkline(&[5], 100, 20), "");
        let svg = sparkline(&[1, 5, 3], 100, 20);
        assert!(
            svg.starts_with("<svg") && svg.contains("M2.0,18.0 L50.0,2.0 L98.0,10.0"),
            "{svg}"
        );
        let flat = sparkline(&[7, 7], 100, 20);
        assert!(flat.contains("M2.0,18.0 L98.0,18.0"), "{flat}");
    }

    #[test]
    fn bars_and_hours_scale_to_their_maximum() {
        assert!(bar(50, 100, 120).contains(r#"width="60""#));
        assert!(bar(3, 0, 120).contains(r#"width="0""#));
        let mut values = vec![0; 24];
        values[20] = 9;
        let svg = hours(&values);
        assert!(
            svg.contains(r#"<title>20:00 9</title>"#) && svg.contains(r#"fill-opacity="1.00""#)
        );
        assert_eq!(svg.matches("<rect").count(), 24);
    }
}
