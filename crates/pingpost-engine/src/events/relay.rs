//! Moving what waits in the store's outbox to the log, erasing from it, keeping its days.

use crate::{Engine, EngineError};
use pingpost_events::relay::{relay_events, Relayed};

/// `pingpost_events_lag_seconds`: how old the oldest event waiting for the log is (0: none).
pub const EVENTS_LAG_SECONDS: &str = "pingpost_events_lag_seconds";
/// Events moved to the log per statement.
pub const RELAY_BATCH: usize = 5_000;
/// Days the log has room for ahead of today.
pub const DAYS_AHEAD: u32 = 7;
/// `--event-retention-days` when not given.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;
/// `pingpost_events_unreadable_total`: events the relay could not read, dropped from the outbox.
pub const EVENTS_UNREADABLE_TOTAL: &str = "pingpost_events_unreadable_total";

impl Engine {
    /// Moves what waits in the store's event outbox to the event log and reports the lag.
    /// This node's own events are flushed first; if the store refuses them, what already
    /// waits there is still relayed.
    pub async fn relay_events(&self) -> Result<Relayed, EngineError> {
        let flushed = self.flush_events().await;
        let relayed = match relay_events(&*self.store, &*self.events, RELAY_BATCH).await {
            Ok(relayed) => relayed,
            Err(e) => {
                // The log is down: its lag keeps growing, and says so.
                if let Ok(oldest) = self.store.queued_events(1).await {
                    self.report_lag(oldest.first().map(|q| q.at));
                }
                return Err(e.into());
            }
        };
        self.report_lag(relayed.oldest_waiting);
        if relayed.unreadable > 0 {
            metrics::counter!(EVENTS_UNREADABLE_TOTAL).increment(relayed.unreadable as u64);
        }
        flushed.map(|()| relayed)
    }

    fn report_lag(&self, oldest_waiting: Option<pingpost_core::Timestamp>) {
        let lag = oldest_waiting.map_or(0.0, |at| (self.now() - at).num_milliseconds().max(0) as f64 / 1000.0);
        metrics::gauge!(EVENTS_LAG_SECONDS).set(lag);
    }

    /// Removes these identifier hashes from the event log, and from the events written to it
    /// later (those waiting in the store or a node now): answers how many events held one.
    pub async fn erase_events(&self, hashes: Vec<pingpost_core::identity::Sha256Hex>) -> Result<u64, EngineError> {
        // This node's latest events first, so the answer counts them; any still on their way
        // (another node's, or waiting while the log is down) are written without the hashes.
        if let Err(e) = self.relay_events().await {
            tracing::debug!(error = %e, "erasure ran before the latest events reached the log");
        }
        Ok(self.events.erase(hashes, self.now()).await?)
    }

    /// Makes the event log's room for today and the days ahead, and drops the days past
    /// `retention_days`; its statistics' counters are kept as long as the store's
    /// ([`crate::stats::DEFAULT_RETENTION`]), whatever the events' retention.
    pub async fn event_upkeep(&self, retention_days: u32) -> Result<(), EngineError> {
        let now = self.now();
        let today = now.date_naive();
        let keep_from = today - chrono::Days::new(u64::from(retention_days));
        self.events.upkeep(today, DAYS_AHEAD, keep_from).await?;
        let counts_from = crate::stats::Hour::of(now - crate::stats::DEFAULT_RETENTION);
        self.events.forget_counts(counts_from.0).await?;
        Ok(())
    }
}
