//! A race between two sales of one consumer to one buyer, whose identifiers are marked side
//! by side, one script per identifier slot (`sales`). Each could win one identifier and turn
//! the other away, losing both; so a race is decided by rank, and the sale that ranks first
//! waits — a bounded time — for the other to give its identifier up. (Admission takes its
//! identifiers one after the other instead, and never waits: see `admission`.)

use std::time::Duration;

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
}

impl HeldWait {
    pub(crate) fn new(limit: Duration) -> Self {
        HeldWait { next: Duration::from_millis(1), waited: Duration::ZERO, limit }
    }

    /// Pauses before the next question; `false`, without pausing, once the wait is over.
    pub(crate) async fn pause(&mut self) -> bool {
        if self.waited >= self.limit {
            return false;
        }
        let pause = self.next.min(self.limit - self.waited);
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
}
