//! When the daily digest falls due: yesterday, as a calendar day in the operator's time zone,
//! goes out at a set hour of today. The store records each workspace's day once, so every
//! process may ask and a day is never sent twice; a process that was down at that hour sends
//! the latest day that fell due when it comes back (older days are not sent late).

use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned, civil};
use tokpost_store::DigestWindow;

/// When digests go out.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestSettings {
    /// The zone whose calendar days a digest covers.
    pub time_zone: TimeZone,
    /// The hour (0–23) of the next day at which a day's digest goes out.
    pub hour: i8,
}

impl Default for DigestSettings {
    /// 08:00 UTC.
    fn default() -> Self {
        Self {
            time_zone: TimeZone::UTC,
            hour: 8,
        }
    }
}

impl DigestSettings {
    /// The most recent day whose digest is due at `now`.
    #[must_use]
    pub fn due(&self, now: Timestamp) -> Option<DigestWindow> {
        let local = now.to_zoned(self.time_zone.clone());
        let today = local.date();
        let sent_today = self.send_instant(today)?;
        let day = if now >= sent_today {
            today.yesterday().ok()?
        } else {
            today.yesterday().ok()?.yesterday().ok()?
        };
        let from = self.start_of(day)?;
        let to = self.start_of(day.tomorrow().ok()?)?;
        Some(DigestWindow {
            day: day.to_string(),
            from,
            to,
        })
    }

    /// The next instant after `now` at which a day's digest falls due.
    #[must_use]
    pub fn next_after(&self, now: Timestamp) -> Option<Timestamp> {
        let today = now.to_zoned(self.time_zone.clone()).date();
        let at = self.send_instant(today)?;
        if at > now {
            Some(at)
        } else {
            self.send_instant(today.tomorrow().ok()?)
        }
    }

    fn send_instant(&self, day: civil::Date) -> Option<Timestamp> {
        day.at(self.hour, 0, 0, 0)
            .to_zoned(self.time_zone.clone())
            .ok()
            .map(|zoned| zoned.timestamp())
    }

    fn start_of(&self, day: civil::Date) -> Option<Timestamp> {
        day.to_zoned(self.time_zone.clone())
            .ok()
            .map(|zoned: Zoned| zoned.timestamp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn yesterday_goes_out_at_the_hour_and_not_before() {
        let settings = DigestSettings::default();
        let before = settings.due(at("2026-12-07T07:59:59Z")).unwrap();
        assert_eq!(before.day, "2026-12-05");
        let after = settings.due(at("2026-12-07T08:00:00Z")).unwrap();
        assert_eq!(after.day, "2026-12-06");
        assert_eq!(after.from, at("2026-12-06T00:00:00Z"));
        assert_eq!(after.to, at("2026-12-07T00:00:00Z"));
        assert_eq!(
            settings.next_after(at("2026-12-07T07:00:00Z")),
            Some(at("2026-12-07T08:00:00Z"))
        );
        assert_eq!(
            settings.next_after(at("2026-12-07T08:00:00Z")),
            Some(at("2026-12-08T08:00:00Z"))
        );
    }

    #[test]
    fn a_day_is_the_zones_calendar_day_even_when_the_clocks_change() {
        let settings = DigestSettings {
            time_zone: TimeZone::get("Europe/Berlin").unwrap(),
            hour: 9,
        };
        // 2026-10-25 is 25 hours long in Berlin (summer time ends).
        let window = settings.due(at("2026-10-26T09:00:00Z")).unwrap();
        assert_eq!(window.day, "2026-10-25");
        assert_eq!(window.from, at("2026-10-24T22:00:00Z"));
        assert_eq!(window.to, at("2026-10-25T23:00:00Z"));
        assert_eq!(window.to.duration_since(window.from).as_secs(), 25 * 3_600);
    }
}
