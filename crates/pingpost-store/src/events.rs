//! [`EventOutbox`]: lead events waiting in the store for the lead event log (SPEC "Repeat
//! leads, the window what-if and the lead event log"). The engine queues each ping's event
//! off the ping's path; a relay copies what waits to the log and only then removes it, so an
//! event outlives a log that is down and is never lost between the two.

use crate::StoreFuture;
use pingpost_core::Timestamp;

/// One event as the store keeps it: its id (the ping's), its time and its bytes (the engine's
/// encoding; the store never reads them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedEvent {
    pub id: String,
    pub at: Timestamp,
    pub body: Vec<u8>,
}

/// Events waiting for the log. An event leaves only when the relay says the log holds it;
/// queueing one again, or removing one twice, is harmless.
pub trait EventOutbox: Send + Sync {
    /// Keeps `events` until the log holds them; one already waiting is kept as it is.
    fn queue_events(&self, events: Vec<QueuedEvent>) -> StoreFuture<'_, ()>;

    /// Waiting events, oldest first (their time, then id), at most `limit`.
    fn queued_events(&self, limit: usize) -> StoreFuture<'_, Vec<QueuedEvent>>;

    /// Removes events the log now holds, each named by its id and time (a store may keep
    /// events apart by either).
    fn events_done(&self, events: Vec<(String, Timestamp)>) -> StoreFuture<'_, ()>;
}
