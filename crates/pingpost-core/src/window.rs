//! Dedup windows: whole days, 1..=365, measured as N×86 400 s back from now.

use crate::Timestamp;
use chrono::Duration;

/// A dedup window of 1..=365 days. The range is the type's invariant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct WindowDays(u16);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a whole number of days in 1..=365, got {0}")]
pub struct WindowError(pub i64);

impl WindowDays {
    pub const MAX: WindowDays = WindowDays(365);

    pub fn new(days: i64) -> Result<Self, WindowError> {
        if (1..=365).contains(&days) {
            Ok(WindowDays(days as u16))
        } else {
            Err(WindowError(days))
        }
    }

    pub fn days(self) -> u16 {
        self.0
    }

    pub fn duration(self) -> Duration {
        Duration::seconds(i64::from(self.0) * 86_400)
    }

    /// Whether an event at `prior` is inside this window looking back from `now`.
    /// The window is half-open: an event exactly N days old is outside.
    pub fn contains(self, prior: Timestamp, now: Timestamp) -> bool {
        prior > self.counts_after(now)
    }

    /// The instant an event must be later than to count, looking back from `now`: the one
    /// statement of the window's edge. A store that cannot call [`WindowDays::contains`] (a
    /// Redis script) is given this threshold and only compares numbers.
    pub fn counts_after(self, now: Timestamp) -> Timestamp {
        now - self.duration()
    }
}

impl<'de> serde::Deserialize<'de> for WindowDays {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let days = i64::deserialize(d)?;
        WindowDays::new(days).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn range_is_one_to_365() {
        assert!(WindowDays::new(0).is_err());
        assert!(WindowDays::new(366).is_err());
        assert!(WindowDays::new(-1).is_err());
        assert_eq!(WindowDays::new(1).map(WindowDays::days), Ok(1));
        assert_eq!(WindowDays::new(365).map(WindowDays::days), Ok(365));
    }

    #[test]
    fn edge_is_half_open() {
        let now = chrono::Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
        let w = WindowDays::new(30).unwrap();
        assert!(w.contains(now - Duration::seconds(30 * 86_400 - 1), now));
        assert!(!w.contains(now - Duration::seconds(30 * 86_400), now));
        assert!(w.contains(now, now));
    }

    #[test]
    fn the_threshold_a_script_compares_with_is_the_windows_own_edge() {
        let now = chrono::Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
        let w = WindowDays::new(30).unwrap();
        let edge = w.counts_after(now);
        assert_eq!(edge, now - Duration::days(30));
        for prior in [edge - Duration::milliseconds(1), edge, edge + Duration::milliseconds(1)] {
            assert_eq!(w.contains(prior, now), prior > edge, "{prior}");
        }
    }
}
