//! The dedup audit log's entry and query: one entry per dedup hit, carrying which kind of
//! identifier matched, never an identifier. Here, not in the engine, because the lead event
//! log keeps the same entries and answers the same queries (`pingpost-events`); the sinks
//! that keep them in the store are the engine's (`pingpost_engine::audit`).

use crate::checkpoint::Checkpoint;
use crate::identity::IdentKind;
use crate::ids::{BuyerId, ContractId, OfferId, PartnerId, VerticalId};
use crate::Timestamp;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditEntry {
    pub at: Timestamp,
    /// Shared by the ping's entries (a 30-contract ping may write twenty).
    pub ping_id: Arc<str>,
    pub partner: PartnerId,
    pub vertical: VerticalId,
    pub offer: OfferId,
    pub buyer: Option<BuyerId>,
    pub contract: Option<ContractId>,
    pub checkpoint: Checkpoint,
    pub matched: Option<IdentKind>,
    pub prior_at: Option<Timestamp>,
    /// The buyer's own words, on a `post_duplicate` hit whose answer gave a reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A test lead's hit: it wrote no dedup state and counts in no statistics.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
}

/// What to read from the log: every `Some` filter must match; `since` is inclusive and
/// `until` exclusive on the entry's `at`. `cursor` continues a previous page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub buyer: Option<BuyerId>,
    pub partner: Option<PartnerId>,
    pub vertical: Option<VerticalId>,
    pub offer: Option<OfferId>,
    pub checkpoint: Option<Checkpoint>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub limit: usize,
    pub cursor: Option<String>,
}

impl AuditQuery {
    /// Newest `limit` entries, unfiltered.
    pub fn newest(limit: usize) -> Self {
        AuditQuery { limit, ..AuditQuery::default() }
    }

    pub fn matches(&self, e: &AuditEntry) -> bool {
        self.matches_parts(EntryParts {
            at: e.at,
            partner: &e.partner,
            vertical: &e.vertical,
            offer: &e.offer,
            buyer: e.buyer.as_ref(),
            checkpoint: e.checkpoint,
        })
    }

    /// [`AuditQuery::matches`] over the fields a filter reads, for a sink that keeps entries
    /// in another shape.
    pub fn matches_parts(&self, e: EntryParts<'_>) -> bool {
        fn same<T: PartialEq>(want: &Option<T>, have: Option<&T>) -> bool {
            want.as_ref().is_none_or(|w| have == Some(w))
        }
        same(&self.buyer, e.buyer)
            && same(&self.partner, Some(e.partner))
            && same(&self.vertical, Some(e.vertical))
            && same(&self.offer, Some(e.offer))
            && same(&self.checkpoint, Some(&e.checkpoint))
            && self.since.is_none_or(|s| e.at >= s)
            && self.until.is_none_or(|u| e.at < u)
    }
}

/// The fields of an entry that a query filters on.
pub struct EntryParts<'a> {
    pub at: Timestamp,
    pub partner: &'a PartnerId,
    pub vertical: &'a VerticalId,
    pub offer: &'a OfferId,
    pub buyer: Option<&'a BuyerId>,
    pub checkpoint: Checkpoint,
}
