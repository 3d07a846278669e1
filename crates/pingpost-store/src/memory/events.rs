//! Lead events waiting in the embedded store: one ordered map by (time, id).

use super::*;
use crate::events::{EventOutbox, QueuedEvent};

impl EventOutbox for MemoryStore {
    fn queue_events(&self, events: Vec<QueuedEvent>) -> StoreFuture<'_, ()> {
        let mut queued = lock(&self.events);
        for e in events {
            queued.entry((e.at, e.id)).or_insert(e.event);
        }
        ready(())
    }

    fn queued_events(&self, limit: usize) -> StoreFuture<'_, Vec<QueuedEvent>> {
        let queued = lock(&self.events);
        let oldest = queued
            .iter()
            .take(limit)
            .map(|((at, id), event)| QueuedEvent { id: id.clone(), at: *at, event: event.clone() })
            .collect();
        ready(oldest)
    }

    fn events_done(&self, events: Vec<(String, Timestamp)>) -> StoreFuture<'_, ()> {
        let mut queued = lock(&self.events);
        for (id, at) in events {
            queued.remove(&(at, id));
        }
        ready(())
    }
}
