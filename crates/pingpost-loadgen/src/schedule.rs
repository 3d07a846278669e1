//! The open-loop timetable. Request `i` is due at `start + i / rate`, whatever happened to
//! the requests before it, and its latency is counted from that due time: a server that
//! stalls cannot make the generator send less and so cannot hide its stall (no coordinated
//! omission).

use std::time::Duration;
use tokio::time::Instant;

#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    rate: f64,
}

impl Schedule {
    /// `rate` requests per second; must be finite and above zero.
    pub fn new(rate: f64) -> Option<Self> {
        (rate.is_finite() && rate > 0.0).then_some(Schedule { rate })
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// When request `i` is due, counted from the start. Computed from `i` rather than
    /// accumulated, so rounding never drifts the timetable.
    pub fn offset(&self, i: u64) -> Duration {
        Duration::from_nanos((i as f64 * 1e9 / self.rate).round() as u64)
    }

    /// How many requests fit in `span` (those due strictly before its end).
    pub fn count_within(&self, span: Duration) -> u64 {
        (span.as_secs_f64() * self.rate).ceil() as u64
    }
}

/// The three instants of one request.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Its place in the timetable (for closed loop: when it was sent).
    pub intended: Instant,
    pub sent: Instant,
    pub done: Instant,
}

impl Timing {
    /// What the client of the server would have seen: from the intended send time.
    pub fn latency(&self) -> Duration {
        self.done.saturating_duration_since(self.intended)
    }

    /// How far behind the timetable the generator sent it.
    pub fn send_delay(&self) -> Duration {
        self.sent.saturating_duration_since(self.intended)
    }

    pub fn is_late(&self, threshold: Duration) -> bool {
        self.send_delay() > threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_i_is_due_at_i_over_rate() {
        let s = Schedule::new(5000.0).unwrap();
        assert_eq!(s.offset(0), Duration::ZERO);
        assert_eq!(s.offset(1), Duration::from_micros(200));
        assert_eq!(s.offset(5000), Duration::from_secs(1));
        // No drift after many steps, even with a rate that is not a divisor of 1e9.
        let s = Schedule::new(3.0).unwrap();
        assert_eq!(s.offset(3_000_000), Duration::from_secs(1_000_000));
        assert_eq!(s.offset(1), Duration::from_nanos(333_333_333));
    }

    #[test]
    fn the_count_covers_the_span() {
        let s = Schedule::new(1000.0).unwrap();
        assert_eq!(s.count_within(Duration::from_secs(10)), 10_000);
        assert_eq!(s.count_within(Duration::from_millis(1500)), 1_500);
        let s = Schedule::new(0.5).unwrap();
        assert_eq!(s.count_within(Duration::from_secs(3)), 2); // due at 0 s and 2 s
    }

    #[test]
    fn nonsense_rates_are_refused() {
        assert!(Schedule::new(0.0).is_none());
        assert!(Schedule::new(-1.0).is_none());
        assert!(Schedule::new(f64::NAN).is_none());
        assert!(Schedule::new(f64::INFINITY).is_none());
    }

    #[test]
    fn latency_counts_from_the_intended_time_not_the_send_time() {
        let t0 = Instant::now();
        // The generator (or a full in-flight window) sent it 3 ms late; the server took 1 ms.
        let t = Timing { intended: t0, sent: t0 + Duration::from_millis(3), done: t0 + Duration::from_millis(4) };
        assert_eq!(t.latency(), Duration::from_millis(4));
        assert_eq!(t.send_delay(), Duration::from_millis(3));
        assert!(t.is_late(Duration::from_millis(1)));
        assert!(!t.is_late(Duration::from_millis(3)));
    }
}
