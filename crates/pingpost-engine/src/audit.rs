//! The dedup audit log (`leadDedup`): one entry per dedup hit. Here an in-memory ring of
//! bounded size; entries carry hashes' kinds, never identifiers.

use pingpost_core::checkpoint::Checkpoint;
use pingpost_core::identity::IdentKind;
use pingpost_core::ids::{BuyerId, ContractId, OfferId, PartnerId, VerticalId};
use pingpost_core::Timestamp;
use std::collections::VecDeque;
use std::sync::Mutex;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
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

/// Where audit entries go. Recording never fails a ping.
pub trait AuditSink: Send + Sync + 'static {
    fn record(&self, entries: Vec<AuditEntry>);
    /// Newest first.
    fn recent(&self, limit: usize) -> Vec<AuditEntry>;
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

    fn recent(&self, limit: usize) -> Vec<AuditEntry> {
        let log = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        log.iter().rev().take(limit).cloned().collect()
    }
}
