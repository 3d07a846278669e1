//! The books relay: copies money movements from the store's outbox to the books, and removes
//! them from the outbox only once the books hold them. A crash, a lost reply, a stopped
//! PostgreSQL or a second node relaying the same entries delivers an entry again, never
//! loses it; the books recognise a delivered entry by its id, so none is doubled. An entry
//! the books refuse is never removed either: it is parked in the store with why, out of the
//! way of the rest, and every reconciliation lists it until an operator acts.

use crate::clock::Clock;
use crate::{Engine, EngineError};
use pingpost_books::{Books, Entry, EntryKind, EntryRule, SaleRef};
use pingpost_core::ids::BuyerId;
use pingpost_store::{Outbox, OutboxEntry, Refusal};

/// Entries moved per round trip to the books.
const BATCH: usize = 500;

pub const BOOKS_RELAYED_TOTAL: &str = "pingpost_books_relayed_total";
/// Entries the books refused or held under another content: an operator must look.
pub const BOOKS_REFUSED_TOTAL: &str = "pingpost_books_refused_total";

/// What one relay pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Relayed {
    /// Entries the books took (new or already held).
    pub relayed: u64,
    /// Entries the books refused (breaking their conventions) or held with other content;
    /// logged, counted and parked in the store, so they cannot hold up the rest.
    pub refused: u64,
}

/// The books entry of a movement, by the books' own sign conventions.
pub fn to_entry(e: &OutboxEntry) -> Result<Entry, EntryRule> {
    let sale = e.sale.as_ref().map(|s| SaleRef {
        sale_id: s.sale_id.clone(),
        ping_id: s.ping_id.clone(),
        partner: s.partner.clone(),
        buyer: e.buyer.clone(),
        offer: s.offer.clone(),
        contract: s.contract.clone(),
        repeat: s.repeat,
    });
    let sale = || sale.clone().ok_or(EntryRule::MissingSale(e.kind));
    let id = e.entry_id.clone();
    match e.kind {
        EntryKind::Sale => Entry::sale(id, e.at, sale()?, e.price, e.payout)
            .map(|entry| entry.with_lead_id(e.sale.as_ref().and_then(|s| s.lead_id.clone()))),
        EntryKind::Rollback => Entry::rollback(id, e.at, sale()?, e.price, e.payout),
        EntryKind::ReturnRefund => Entry::return_refund(id, e.at, sale()?, e.amount),
        EntryKind::PayoutClawback => Entry::payout_clawback(id, e.at, sale()?, e.amount),
        EntryKind::TopUp => Entry::top_up(id, e.at, e.buyer.clone(), e.amount),
    }
}

impl Engine {
    /// Moves what waits in the store's outbox to the books (see [`relay`]).
    pub async fn relay_books(&self) -> Result<Relayed, EngineError> {
        relay(&*self.store, &*self.books, &*self.clock).await
    }
}

/// Moves what waits in `outbox` to `books`, batch by batch, until it is empty: the relay
/// needs nothing of the store but its outbox.
pub async fn relay(outbox: &dyn Outbox, books: &dyn Books, clock: &dyn Clock) -> Result<Relayed, EngineError> {
    let mut done = Relayed::default();
    loop {
        let waiting = outbox.outbox(BATCH).await?;
        let mut entries = Vec::with_capacity(waiting.len());
        let mut refused = Vec::new();
        for e in &waiting {
            match to_entry(e) {
                Ok(entry) => entries.push(entry),
                Err(rule) => {
                    tracing::error!(entry_id = %e.entry_id, %rule, "books entry refused: it breaks the books' conventions; parked");
                    refused.push(Refusal {
                        buyer: e.buyer.clone(),
                        entry_id: e.entry_id.clone(),
                        reason: rule.to_string(),
                    });
                }
            }
        }
        if !entries.is_empty() {
            let appended = books.append(entries).await?;
            for c in appended.conflicts {
                tracing::error!(entry_id = %c.kept.entry_id, "books entry delivered with other content than the books hold; parked");
                let reason = "the books hold this entry id with other content".to_string();
                let entry_id = c.refused.entry_id;
                if let Some(e) = waiting.iter().find(|e| e.entry_id == entry_id) {
                    refused.push(Refusal { buyer: e.buyer.clone(), entry_id, reason });
                }
            }
            done.relayed += (appended.new + appended.already) as u64;
        }
        done.refused += refused.len() as u64;
        let delivered: Vec<(BuyerId, String)> = waiting
            .iter()
            .filter(|e| !refused.iter().any(|r| r.entry_id == e.entry_id))
            .map(|e| (e.buyer.clone(), e.entry_id.clone()))
            .collect();
        // Parked before the rest is removed, and only now: a crash before either delivers
        // the batch again, which the books recognise by entry id (and refuse again).
        outbox.outbox_park(refused, clock.now()).await?;
        outbox.outbox_done(delivered).await?;
        if waiting.len() < BATCH {
            metrics::counter!(BOOKS_RELAYED_TOTAL).increment(done.relayed);
            metrics::counter!(BOOKS_REFUSED_TOTAL).increment(done.refused);
            return Ok(done);
        }
    }
}
