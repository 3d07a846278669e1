//! The events a node answered, kept until it hands them to the store's outbox.

use crate::stats::{Increment, Sums};
use crate::{Engine, EngineError};
use pingpost_core::events::{CountRow, LeadEvent, LogEvent, SaleEvent};
use pingpost_store::QueuedEvent;
use std::sync::Arc;

/// The events this node answered and has not handed to the store yet: queued by the ping
/// under a lock (no task, no store call per ping) and handed over in one batch by
/// [`Engine::flush_events`] every [`FLUSH_INTERVAL_MS`] and before every relay pass. What a
/// node killed outright held here is missing from the log (at most that interval's events:
/// the log is for statistics and the what-if, never for money); what the store refused is
/// kept for the next flush, up to [`MAX_PENDING`].
#[derive(Default)]
pub(crate) struct PendingEvents(std::sync::Mutex<Vec<Arc<LogEvent>>>, std::sync::Mutex<Sums>);

/// How often a node hands its answered pings' events to the store.
pub const FLUSH_INTERVAL_MS: u64 = 100;
/// Events a node keeps while the store refuses them; past that the newest are not kept
/// (`pingpost_events_dropped_total`): the store being down, the pings are failing too.
pub const MAX_PENDING: usize = 100_000;
/// `pingpost_events_dropped_total`: events a node could not keep for the log.
pub const EVENTS_DROPPED_TOTAL: &str = "pingpost_events_dropped_total";

impl PendingEvents {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<LogEvent>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn push(&self, event: LogEvent) {
        let mut pending = self.lock();
        if pending.len() < MAX_PENDING {
            pending.push(Arc::new(event));
        } else {
            drop(pending);
            metrics::counter!(EVENTS_DROPPED_TOTAL).increment(1);
        }
    }

    fn take(&self) -> Vec<Arc<LogEvent>> {
        std::mem::take(&mut *self.lock())
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Sums> {
        self.1.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Statistics increments for the log, summed until the next flush.
    pub(crate) fn add_counts(&self, increments: &[Increment]) {
        crate::stats::aggregate(&mut self.counts(), increments.to_vec());
    }

    /// The counters summed since the last flush, as rows.
    fn take_counts(&self) -> Vec<CountRow> {
        std::mem::take(&mut *self.counts())
            .into_iter()
            .map(|((hour, by, key, metric), n)| CountRow {
                hour: hour.0,
                by: by.as_str().into(),
                key: key.to_string(),
                metric: metric.as_str().into(),
                n,
            })
            .collect()
    }

    /// Puts back a batch the store refused, ahead of what came since.
    fn put_back(&self, mut events: Vec<Arc<LogEvent>>) {
        let mut pending = self.lock();
        events.append(&mut pending);
        events.truncate(MAX_PENDING);
        *pending = events;
    }
}

impl Engine {
    /// Keeps a ping's event for the next flush (off the answer's path: a push under a lock).
    pub(crate) fn queue_event(&self, event: LeadEvent) {
        self.pending_events.push(LogEvent::Lead(event));
    }

    /// Keeps a sale for the next flush.
    pub(crate) fn queue_sale_event(&self, sale: SaleEvent) {
        self.pending_events.push(LogEvent::Sale(sale));
    }

    /// Hands the events this node answered to the store's outbox, in one call; kept for the
    /// next flush if the store refuses them.
    pub async fn flush_events(&self) -> Result<(), EngineError> {
        let mut events = self.pending_events.take();
        let counts = self.pending_events.take_counts();
        if !counts.is_empty() {
            // Named once, so a batch the store keeps twice (a lost answer) is added once.
            events.push(Arc::new(LogEvent::Counts { id: self.ids.token(), at: self.now(), rows: counts }));
        }
        if events.is_empty() {
            return Ok(());
        }
        // The events themselves, shared with the store: the embedded one keeps them as they are.
        let queued = events.iter().cloned().map(QueuedEvent::of).collect();
        if let Err(e) = self.store.queue_events(queued).await {
            self.pending_events.put_back(events);
            return Err(e.into());
        }
        Ok(())
    }
}
