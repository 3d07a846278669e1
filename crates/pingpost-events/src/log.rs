//! [`EventLog`]: where lead events are kept for good — PostgreSQL ([`PgEvents`]) or, when the
//! engine has no database (`pingpost serve` alone), this process ([`MemoryEvents`]).

use crate::{EventsResult, PgEvents};
use chrono::NaiveDate;
use pingpost_core::events::LeadEvent;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

pub type EventsFuture<'a, T> = Pin<Box<dyn Future<Output = EventsResult<T>> + Send + 'a>>;

/// The lead event log. Appending an event it holds already writes nothing (each event is
/// named by its day and ping id); the upkeep makes the days ahead and forgets those past the
/// retention, whole.
pub trait EventLog: Send + Sync {
    /// Writes `events`, answering how many were new.
    fn append(&self, events: Vec<LeadEvent>) -> EventsFuture<'_, u64>;
    /// Makes room for `today` and the `ahead` days after it; forgets every day before `keep_from`.
    fn upkeep(&self, today: NaiveDate, ahead: u32, keep_from: NaiveDate) -> EventsFuture<'_, ()>;
}

impl EventLog for PgEvents {
    fn append(&self, events: Vec<LeadEvent>) -> EventsFuture<'_, u64> {
        Box::pin(async move { PgEvents::append(self, &events).await })
    }

    fn upkeep(&self, today: NaiveDate, ahead: u32, keep_from: NaiveDate) -> EventsFuture<'_, ()> {
        Box::pin(async move { PgEvents::upkeep(self, today, ahead, keep_from).await.map(|_| ()) })
    }
}

/// The log in this process, by (day, ping id): gone with the process, as the embedded store
/// and books are.
#[derive(Default)]
pub struct MemoryEvents {
    events: Mutex<BTreeMap<(NaiveDate, String), LeadEvent>>,
}

impl MemoryEvents {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every event held, in (day, ping id) order.
    pub fn all(&self) -> Vec<LeadEvent> {
        self.events.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }
}

impl EventLog for MemoryEvents {
    fn append(&self, events: Vec<LeadEvent>) -> EventsFuture<'_, u64> {
        let mut held = self.events.lock().unwrap_or_else(|p| p.into_inner());
        let mut new = 0;
        for e in events {
            if let std::collections::btree_map::Entry::Vacant(slot) = held.entry((e.day(), e.ping_id.clone())) {
                slot.insert(e);
                new += 1;
            }
        }
        Box::pin(std::future::ready(Ok(new)))
    }

    fn upkeep(&self, _today: NaiveDate, _ahead: u32, keep_from: NaiveDate) -> EventsFuture<'_, ()> {
        let mut held = self.events.lock().unwrap_or_else(|p| p.into_inner());
        *held = held.split_off(&(keep_from, String::new()));
        Box::pin(std::future::ready(Ok(())))
    }
}
