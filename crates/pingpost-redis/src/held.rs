//! A race between two requests of one consumer over identifiers marked side by side, one
//! script per identifier slot: two pings over their vertical submission (`admission`), two
//! sales of the consumer to one buyer (`sales`). Each could win one identifier and turn the
//! other away, losing both; so a race is decided by rank, and the request that ranks first
//! waits — a bounded time — for the other to give its identifier up.

use std::time::Duration;
use tokio::time::Instant;

/// Whether the request `ours` outranks `theirs` (ping ids, sale ids): the lesser id, in byte
/// order, the same on every node whatever its locale (so it is compared here, not in Lua).
pub(crate) fn ranks_first(ours: &str, theirs: &str) -> bool {
    ours.as_bytes() < theirs.as_bytes()
}

/// The pauses before asking again about an identifier held by a request that ranks after
/// this one. Such a request gives up one round trip after its own scripts answered (well
/// under a millisecond on a healthy store), so the pauses start at a millisecond and double,
/// up to `RedisOptions::held_wait` in all: past it the other request stopped between its
/// steps (or won), and this one gives up.
pub(crate) struct HeldWait {
    next: Duration,
    waited: Duration,
    limit: Duration,
    until: Option<Instant>,
}

impl HeldWait {
    pub(crate) fn new(limit: Duration) -> Self {
        HeldWait { next: Duration::from_millis(1), waited: Duration::ZERO, limit, until: None }
    }

    /// A wait that also ends at `until` (a ping's share of its own budget), whichever
    /// comes first. The clock is read only once a pause is due: most requests never wait.
    pub(crate) fn ending_by(limit: Duration, until: Option<Instant>) -> Self {
        HeldWait { until, ..HeldWait::new(limit) }
    }

    /// Pauses before the next question; `false`, without pausing, once the wait is over.
    pub(crate) async fn pause(&mut self) -> bool {
        let mut left = self.limit.saturating_sub(self.waited);
        if let Some(until) = self.until {
            left = left.min(until.saturating_duration_since(Instant::now()));
        }
        if left.is_zero() {
            return false;
        }
        let pause = self.next.min(left);
        tokio::time::sleep(pause).await;
        self.waited += pause;
        self.next = pause * 2;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lesser_id_ranks_first_in_byte_order() {
        assert!(ranks_first("0a", "0b") && !ranks_first("0b", "0a") && !ranks_first("0a", "0a"));
        assert!(ranks_first("A-1", "a-1"), "byte order, not a locale's");
    }

    #[tokio::test(start_paused = true)]
    async fn the_pauses_double_and_stop_at_the_limit() {
        let mut wait = HeldWait::new(Duration::from_millis(10));
        let start = tokio::time::Instant::now();
        let mut pauses = 0;
        while wait.pause().await {
            pauses += 1;
        }
        // 1 + 2 + 4 + 3 (the rest of the limit).
        assert_eq!((pauses, start.elapsed()), (4, Duration::from_millis(10)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_ends_by_its_deadline_before_its_limit() {
        let start = tokio::time::Instant::now();
        let mut wait = HeldWait::ending_by(Duration::from_secs(1), Some(start + Duration::from_millis(5)));
        let mut pauses = 0;
        while wait.pause().await {
            pauses += 1;
        }
        // 1 + 2 + 2 (the rest until the deadline), not a second.
        assert_eq!((pauses, start.elapsed()), (3, Duration::from_millis(5)));
        let mut late = HeldWait::ending_by(Duration::from_secs(1), Some(start));
        assert!(!late.pause().await, "a wait whose deadline passed does not pause at all");
    }
}
