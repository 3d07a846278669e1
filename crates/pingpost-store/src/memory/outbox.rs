//! The outbox in the embedded store: entries and parked entries in the ledger, under its lock.

use super::*;

impl Outbox for MemoryStore {
    fn outbox(&self, limit: usize) -> StoreFuture<'_, Vec<OutboxEntry>> {
        let ledger = lock(&self.ledger);
        let mut waiting: Vec<&OutboxEntry> = ledger.outbox.values().collect();
        waiting.sort_by(|a, b| (a.at, &a.entry_id).cmp(&(b.at, &b.entry_id)));
        ready(waiting.into_iter().take(limit).cloned().collect())
    }

    fn outbox_done(&self, entries: Vec<(BuyerId, String)>) -> StoreFuture<'_, ()> {
        let mut ledger = lock(&self.ledger);
        for (buyer, id) in entries {
            if ledger.outbox.get(&id).is_some_and(|e| e.buyer == buyer) {
                ledger.outbox.remove(&id);
            }
        }
        ready(())
    }

    fn outbox_park(&self, refused: Vec<Refusal>, at: Timestamp) -> StoreFuture<'_, ()> {
        let mut ledger = lock(&self.ledger);
        for r in refused {
            if ledger.outbox.get(&r.entry_id).is_none_or(|e| e.buyer != r.buyer) {
                continue;
            }
            if let Some(entry) = ledger.outbox.remove(&r.entry_id) {
                ledger.parked.insert(r.entry_id, ParkedEntry { entry, reason: r.reason, parked_at: whole_millis(at) });
            }
        }
        ready(())
    }

    fn outbox_parked(&self, after: Option<(Timestamp, String)>, limit: usize) -> StoreFuture<'_, Vec<ParkedEntry>> {
        let ledger = lock(&self.ledger);
        let mut parked: Vec<&ParkedEntry> = ledger
            .parked
            .values()
            .filter(|p| after.as_ref().is_none_or(|(at, id)| (p.entry.at, &p.entry.entry_id) > (*at, id)))
            .collect();
        parked.sort_by(|a, b| (a.entry.at, &a.entry.entry_id).cmp(&(b.entry.at, &b.entry.entry_id)));
        ready(parked.into_iter().take(limit).cloned().collect())
    }
}
