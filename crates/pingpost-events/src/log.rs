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
/// and books are, and holding at most [`MemoryEvents::MAX_EVENTS`] (the oldest days go first):
/// a process's memory is no place for 90 days of pings at full rate.
#[derive(Default)]
pub struct MemoryEvents {
    events: Mutex<BTreeMap<(NaiveDate, String), LeadEvent>>,
}

impl MemoryEvents {
    /// The most events the process keeps: some hundreds of megabytes at 30 contracts a ping.
    pub const MAX_EVENTS: usize = 200_000;

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
        while held.len() > Self::MAX_EVENTS {
            held.pop_first();
        }
        Box::pin(std::future::ready(Ok(new)))
    }

    fn upkeep(&self, _today: NaiveDate, _ahead: u32, keep_from: NaiveDate) -> EventsFuture<'_, ()> {
        let mut held = self.events.lock().unwrap_or_else(|p| p.into_inner());
        *held = held.split_off(&(keep_from, String::new()));
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use pingpost_core::events::Outcome;
    use pingpost_core::ids::{OfferId, PartnerId, VerticalId};

    fn event(day: u32, n: usize) -> LeadEvent {
        LeadEvent {
            at: chrono::Utc.with_ymd_and_hms(2026, 12, day, 12, 0, 0).single().unwrap_or_default(),
            ping_id: format!("p-{n:07}"),
            partner: PartnerId::new("p1"),
            offer: OfferId::new("o1"),
            vertical: VerticalId::new("auto"),
            email: None,
            phone: None,
            outcome: Outcome::NoBids,
            repeat: false,
            vertical_gap: None,
            contracts: Vec::new(),
        }
    }

    #[tokio::test]
    async fn the_process_keeps_the_newest_events_up_to_its_bound_and_each_once() {
        let log = MemoryEvents::new();
        let old: Vec<LeadEvent> = (0..10).map(|n| event(6, n)).collect();
        assert_eq!(log.append(old.clone()).await.ok(), Some(10));
        assert_eq!(log.append(old).await.ok(), Some(0), "each once");
        let today: Vec<LeadEvent> = (0..MemoryEvents::MAX_EVENTS).map(|n| event(7, n)).collect();
        assert_eq!(log.append(today).await.ok(), Some(MemoryEvents::MAX_EVENTS as u64));
        let held = log.all();
        assert_eq!(held.len(), MemoryEvents::MAX_EVENTS);
        assert!(held.iter().all(|e| e.day() == event(7, 0).day()), "the oldest day went first");
        log.upkeep(event(8, 0).day(), 7, event(8, 0).day()).await.ok();
        assert!(log.all().is_empty(), "days before keep_from are dropped");
    }
}
