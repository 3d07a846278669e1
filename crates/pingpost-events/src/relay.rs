//! Moving lead events from the store's outbox ([`EventOutbox`]) to the log: a batch read
//! oldest first, written in one statement, and only then removed from the outbox. Every step
//! may be re-run: a batch written but not removed (a lost answer, a node that died) is written
//! again as nothing ([`EventLog::append`] is idempotent), so an event is never lost nor
//! doubled. While PostgreSQL is down the relay fails and the events wait in the store. An
//! event the engine cannot read (written by a newer release, or damaged) is logged and
//! dropped, never left to stop every later one: the log serves statistics and the what-if,
//! and one lost event costs less than a log that stopped.

use crate::{Batch, EventLog, EventsError, EventsResult};
use pingpost_core::events::LogEvent;
use pingpost_core::Timestamp;
use pingpost_store::EventOutbox;

/// What one relay pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Relayed {
    /// Events read from the outbox and written to the log (written now or before).
    pub moved: usize,
    /// Of them, new to the log.
    pub new: u64,
    /// The time of the oldest event still waiting after the pass (the log's lag), if any.
    pub oldest_waiting: Option<Timestamp>,
    /// Events that could not be read, dropped from the outbox (each logged with its id).
    pub unreadable: usize,
}

/// Moves what waits in `outbox` to `log`, `batch` events at a time, until the outbox is
/// empty or a step fails.
pub async fn relay_events(outbox: &dyn EventOutbox, log: &dyn EventLog, batch: usize) -> EventsResult<Relayed> {
    let mut done = Relayed::default();
    loop {
        let queued = outbox.queued_events(batch).await.map_err(|e| EventsError::Outbox(e.to_string()))?;
        if queued.is_empty() {
            return Ok(done);
        }
        let mut written = Batch::default();
        for q in &queued {
            let event = match &q.event {
                // The store keeps its own (the embedded store's is this very event) until the
                // log has it: a copy here.
                Ok(event) => LogEvent::clone(event),
                Err(e) => {
                    tracing::error!(id = %q.id, error = %e, "a lead event could not be read; dropped from the outbox");
                    done.unreadable += 1;
                    continue;
                }
            };
            match event {
                LogEvent::Lead(e) => written.leads.push(e),
                LogEvent::Sale(s) => written.sales.push(s),
                LogEvent::Hits(h) => written.hits.push(h),
                LogEvent::Counts { id, at, rows } => written.counts.push((id, at, rows)),
            }
        }
        done.new += log.append(written).await?;
        outbox
            .events_done(queued.iter().map(|q| (q.id.clone(), q.at)).collect())
            .await
            .map_err(|e| EventsError::Outbox(e.to_string()))?;
        done.moved += queued.len();
        if queued.len() < batch {
            done.oldest_waiting = outbox.queued_events(1).await.ok().and_then(|q| q.first().map(|e| e.at));
            return Ok(done);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::MemoryEvents;
    use pingpost_store::{MemoryStore, QueuedEvent};

    #[tokio::test]
    async fn an_unreadable_event_is_dropped_and_the_rest_still_reach_the_log() {
        let store = MemoryStore::new();
        let at = Timestamp::from_timestamp(1_796_000_000, 0).unwrap();
        let good = pingpost_core::events::LeadEvent {
            at,
            ping_id: "p-1".into(),
            partner: pingpost_core::ids::PartnerId::new("p1"),
            offer: pingpost_core::ids::OfferId::new("o1"),
            vertical: pingpost_core::ids::VerticalId::new("auto"),
            email: None,
            phone: None,
            outcome: pingpost_core::events::Outcome::NoBids,
            repeat: false,
            vertical_gap: None,
            contracts: Vec::new(),
        };
        // What a store answers for bytes it could not decode (Redis: a newer release's event).
        let unreadable = QueuedEvent { id: "p-0".into(), at, event: Err("log event: not an event".into()) };
        let queued = vec![unreadable, QueuedEvent::of(std::sync::Arc::new(LogEvent::Lead(good.clone())))];
        store.queue_events(queued).await.unwrap();
        let log = MemoryEvents::new();
        let relayed = relay_events(&store, &log, 100).await.unwrap();
        assert_eq!((relayed.moved, relayed.new, relayed.unreadable), (2, 1, 1));
        assert_eq!(log.all(), [good]);
        assert!(store.queued_events(10).await.unwrap().is_empty(), "nothing left to stop the next pass");
    }
}
