//! Delivery schedules: the days and hours, in the contract's time zone, when a buyer takes leads.

use crate::Timestamp;
use chrono::{Datelike, NaiveTime, Timelike, Weekday};
use chrono_tz::Tz;

/// Open on `days` from `start` (inclusive) to `end` (exclusive), local time in `time_zone`.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub time_zone: Tz,
    pub days: Vec<Weekday>,
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl Schedule {
    pub fn is_open(&self, now: Timestamp) -> bool {
        let local = now.with_timezone(&self.time_zone);
        let time = NaiveTime::from_hms_opt(local.hour(), local.minute(), local.second());
        self.days.contains(&local.weekday()) && time.is_some_and(|t| t >= self.start && t < self.end)
    }
}

pub fn parse_weekday(text: &str) -> Option<Weekday> {
    match text.to_ascii_lowercase().as_str() {
        "mon" | "monday" => Some(Weekday::Mon),
        "tue" | "tuesday" => Some(Weekday::Tue),
        "wed" | "wednesday" => Some(Weekday::Wed),
        "thu" | "thursday" => Some(Weekday::Thu),
        "fri" | "friday" => Some(Weekday::Fri),
        "sat" | "saturday" => Some(Weekday::Sat),
        "sun" | "sunday" => Some(Weekday::Sun),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn open_on_listed_days_within_hours_in_local_time() {
        let s = Schedule {
            time_zone: chrono_tz::America::New_York,
            days: vec![Weekday::Mon, Weekday::Tue],
            start: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
        };
        // Monday 2026-11-23 14:00 UTC is 09:00 in New York.
        let open = chrono::Utc.with_ymd_and_hms(2026, 11, 23, 14, 0, 0).unwrap();
        assert!(s.is_open(open));
        assert!(!s.is_open(open - chrono::Duration::seconds(1)));
        // 17:00 local is closed (end exclusive).
        assert!(!s.is_open(chrono::Utc.with_ymd_and_hms(2026, 11, 23, 22, 0, 0).unwrap()));
        // Sunday.
        assert!(!s.is_open(chrono::Utc.with_ymd_and_hms(2026, 11, 22, 15, 0, 0).unwrap()));
    }
}
