//! The audit log's hits in the event log: recorded with the events, read back a page at a time.

use super::PendingEvents;
use crate::audit::{AuditEntry, AuditPage, AuditQuery, AuditSink};
use crate::{Engine, EngineError};
use pingpost_core::events::LogEvent;

/// The audit sink the engine records to, when the event log keeps the audit log's hits: each
/// record's live hits also go to the log (as one event, with the ping's events), and the
/// audit API reads them there, over the log's whole retention ([`Engine::audit_page`]).
pub(crate) struct LoggedAudit {
    inner: std::sync::Arc<dyn AuditSink>,
    pending: std::sync::Arc<PendingEvents>,
}

impl LoggedAudit {
    pub(crate) fn new(inner: std::sync::Arc<dyn AuditSink>, pending: std::sync::Arc<PendingEvents>) -> Self {
        LoggedAudit { inner, pending }
    }
}

impl AuditSink for LoggedAudit {
    fn record(&self, entries: Vec<AuditEntry>) {
        // A test lead's hits stay in the store's audit log only, as its pings are in no log.
        let hits: Vec<AuditEntry> = entries.iter().filter(|e| !e.test).cloned().collect();
        if !hits.is_empty() {
            self.pending.push(LogEvent::Hits(hits));
        }
        self.inner.record(entries);
    }

    fn recent(&self, limit: usize) -> pingpost_store::StoreFuture<'_, Vec<AuditEntry>> {
        self.inner.recent(limit)
    }

    fn query(&self, q: AuditQuery) -> pingpost_store::StoreFuture<'_, AuditPage> {
        self.inner.query(q)
    }

    fn flush(&self) -> pingpost_store::StoreFuture<'_, ()> {
        self.inner.flush()
    }
}

/// A cursor of the log's pages: the last hit's time in microseconds, its record's row and its
/// place in the record, `<µs>-<row>-<place>`.
fn log_cursor(cursor: &str) -> Option<pingpost_core::events::HitCursor> {
    let mut parts = cursor.splitn(3, '-');
    let mut next = || parts.next()?.parse().ok();
    Some((next()?, next()?, next()?))
}

impl Engine {
    /// A page of the dedup audit log: from the event log when it keeps the hits (PostgreSQL:
    /// its whole retention, at any volume), else from the store's own audit log. A test
    /// lead's hits are in the store's log only.
    pub async fn audit_page(&self, q: AuditQuery) -> Result<AuditPage, EngineError> {
        if !self.events.serves_reads() {
            return Ok(self.audit.query(q).await?);
        }
        // What this node answered last is in the page too; if it cannot be moved now, the page
        // answers what the log holds.
        if let Err(e) = self.relay_events().await {
            tracing::debug!(error = %e, "audit page read before the latest events reached the log");
        }
        let after = match q.cursor.as_deref() {
            None => None,
            Some(c) => {
                Some(log_cursor(c).ok_or_else(|| EngineError::invalid("cursor", "is not a cursor this log gave"))?)
            }
        };
        let page = self.events.hits(q, after).await?;
        Ok(AuditPage {
            entries: page.hits,
            next_cursor: page.next.map(|(micros, row, place)| format!("{micros}-{row}-{place}")),
        })
    }
}
