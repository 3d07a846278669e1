//! The statistics' counters in the event log: summed by the node, read back per group.

use super::PendingEvents;
use crate::stats::{fold_groups, GroupBy, Hour, Increment, Metric, StatsGroup, StatsSink};
use crate::{Engine, EngineError};

/// The statistics sink the engine records to when the event log serves the statistics: each
/// record's increments are also summed for the log (sent with the events, once per flush),
/// and the statistics API reads them there ([`Engine::stats_query`]).
pub(crate) struct LoggedStats {
    inner: std::sync::Arc<dyn StatsSink>,
    pending: std::sync::Arc<PendingEvents>,
}

impl LoggedStats {
    pub(crate) fn new(inner: std::sync::Arc<dyn StatsSink>, pending: std::sync::Arc<PendingEvents>) -> Self {
        LoggedStats { inner, pending }
    }
}

impl StatsSink for LoggedStats {
    fn record(&self, increments: Vec<Increment>) {
        self.pending.add_counts(&increments);
        self.inner.record(increments);
    }

    fn query(
        &self,
        by: GroupBy,
        since: pingpost_core::Timestamp,
        until: pingpost_core::Timestamp,
    ) -> pingpost_store::StoreFuture<'_, Vec<StatsGroup>> {
        self.inner.query(by, since, until)
    }

    fn flush(&self) -> pingpost_store::StoreFuture<'_, ()> {
        self.inner.flush()
    }
}

impl Engine {
    /// Each group's counters of kind `by` over the whole UTC hours overlapping
    /// `[since, until)`: from the event log when it serves them (PostgreSQL, its whole
    /// retention), else from the store's own counters.
    pub async fn stats_query(
        &self,
        by: GroupBy,
        since: pingpost_core::Timestamp,
        until: pingpost_core::Timestamp,
    ) -> Result<Vec<StatsGroup>, EngineError> {
        if !self.events.serves_reads() {
            // This node's pending counts first, so that what it just answered is in the numbers.
            self.stats.flush().await?;
            return Ok(self.stats.query(by, since, until).await?);
        }
        if let Err(e) = self.relay_events().await {
            tracing::debug!(error = %e, "statistics read before the latest counts reached the log");
        }
        let hours = Hour::overlapping(since, until);
        if hours.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self.events.counts(by.as_str(), hours).await?;
        Ok(fold_groups(rows.into_iter().filter_map(|(key, metric, n)| Metric::parse(&metric).map(|m| (key, m, n)))))
    }
}
