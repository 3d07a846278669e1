//! Moving lead events from the store's outbox ([`EventOutbox`]) to the log: a batch read
//! oldest first, written in one statement, and only then removed from the outbox. Every step
//! may be re-run: a batch written but not removed (a lost answer, a node that died) is written
//! again as nothing ([`EventLog::append`] is idempotent), so an event is never lost nor
//! doubled. While PostgreSQL is down the relay fails and the events wait in the store.

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
            match LogEvent::decode(&q.body).map_err(EventsError::Corrupt)? {
                LogEvent::Lead(e) => written.leads.push(e),
                LogEvent::Sale(s) => written.sales.push(s),
                LogEvent::Hits(h) => written.hits.extend(h),
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
