//! Balances in the embedded store: top-ups under the ledger's lock, with their books entry.

use super::*;

impl Balances for MemoryStore {
    fn top_up(&self, t: TopUp) -> StoreFuture<'_, TopUpOutcome> {
        let mut ledger = lock(&self.ledger);
        if let Some(first) = ledger.top_ups.get(&t.id) {
            if (&first.buyer, first.amount) != (&t.buyer, t.amount) {
                return ready(TopUpOutcome::IdReused { buyer: first.buyer.clone(), amount: first.amount });
            }
        } else {
            ledger.top_ups.insert(t.id.clone(), t.clone());
            ledger.take(&Debit {
                key: credit_key(&t.buyer),
                amount: t.amount.minor(),
                limit: i64::MAX,
                is_money: true,
                expires_at: None,
                credit_key: None,
            });
            ledger.write_entry(OutboxEntry::of_top_up(&t));
        }
        ready(TopUpOutcome::Applied(ledger.buyer_money(&t.buyer)))
    }

    fn buyer_money(&self, buyer: BuyerId) -> StoreFuture<'_, BuyerMoney> {
        ready(lock(&self.ledger).buyer_money(&buyer))
    }
}
