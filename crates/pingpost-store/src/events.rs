//! [`EventOutbox`]: lead events waiting in the store for the lead event log (SPEC "Repeat
//! leads, the window what-if and the lead event log"). The engine queues each ping's event
//! off the ping's path; a relay copies what waits to the log and only then removes it, so an
//! event outlives a log that is down and is never lost between the two.

use crate::StoreFuture;
use pingpost_core::events::LogEvent;
use pingpost_core::Timestamp;
use std::sync::Arc;

/// One event as the store keeps it: its id ([`LogEvent::outbox_id`]), its time and the event.
/// The embedded store keeps the event itself (no bytes between a ping and the log); Redis keeps
/// its encoding ([`LogEvent::encode`]). Read back, an event a store cannot decode (a newer
/// release's, or damaged) is `Err` with why, so that the relay drops it instead of stopping on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedEvent {
    pub id: String,
    pub at: Timestamp,
    pub event: Stored,
}

/// A waiting event as a store answers it: the event, or why it could not be read.
pub type Stored = Result<Arc<LogEvent>, String>;

impl QueuedEvent {
    /// The event, named and timed as the outbox keeps it.
    pub fn of(event: Arc<LogEvent>) -> QueuedEvent {
        QueuedEvent { id: event.outbox_id(), at: event.at(), event: Ok(event) }
    }
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
