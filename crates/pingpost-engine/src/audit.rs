//! The dedup audit log (`leadDedup`): one entry per dedup hit. Here an in-memory ring of
//! bounded size; entries carry hashes' kinds, never identifiers.

use pingpost_core::checkpoint::Checkpoint;
use pingpost_core::identity::IdentKind;
use pingpost_core::ids::{BuyerId, ContractId, OfferId, PartnerId, VerticalId};
use pingpost_core::Timestamp;
use pingpost_store::StoreFuture;
use std::collections::VecDeque;
use std::sync::Mutex;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditEntry {
    pub at: Timestamp,
    pub ping_id: String,
    pub partner: PartnerId,
    pub vertical: VerticalId,
    pub offer: OfferId,
    pub buyer: Option<BuyerId>,
    pub contract: Option<ContractId>,
    pub checkpoint: Checkpoint,
    pub matched: Option<IdentKind>,
    pub prior_at: Option<Timestamp>,
}

/// Where audit entries go. Recording never fails nor slows a ping: a sink that writes
/// somewhere remote queues the entries and writes them in batches.
pub trait AuditSink: Send + Sync + 'static {
    fn record(&self, entries: Vec<AuditEntry>);
    /// The newest `limit` entries, newest first.
    fn recent(&self, limit: usize) -> StoreFuture<'_, Vec<AuditEntry>>;
    /// Resolves once every entry recorded before the call has been written.
    fn flush(&self) -> StoreFuture<'_, ()>;
}

/// Keeps the newest `capacity` entries in memory.
#[derive(Debug)]
pub struct MemoryAudit {
    capacity: usize,
    entries: Mutex<VecDeque<AuditEntry>>,
}

impl MemoryAudit {
    pub fn new(capacity: usize) -> Self {
        MemoryAudit { capacity, entries: Mutex::new(VecDeque::new()) }
    }
}

impl AuditSink for MemoryAudit {
    fn record(&self, entries: Vec<AuditEntry>) {
        if entries.is_empty() {
            return;
        }
        let mut log = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        for e in entries {
            if log.len() == self.capacity {
                log.pop_front();
            }
            log.push_back(e);
        }
    }

    fn recent(&self, limit: usize) -> StoreFuture<'_, Vec<AuditEntry>> {
        let log = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let newest: Vec<AuditEntry> = log.iter().rev().take(limit).cloned().collect();
        Box::pin(std::future::ready(Ok(newest)))
    }

    fn flush(&self) -> StoreFuture<'_, ()> {
        Box::pin(std::future::ready(Ok(())))
    }
}
