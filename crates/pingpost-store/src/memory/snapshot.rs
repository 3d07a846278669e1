//! The embedded store as a [`Snapshot`], for the sale guarantees' check (tests only: the
//! module exists with the `testing` feature alone).

use super::*;
use crate::invariants::{ConsumerSnap, DebitSnap, MarkSnap, SaleSnap, Snapshot, VerticalSnap};

impl MemoryStore {
    /// Every consumer mark, ledger entry and counter, for the invariant check (tests only).
    pub fn snapshot(&self) -> Snapshot {
        let mut snap = Snapshot::default();
        for entry in self.consumers.iter() {
            let c = lock(entry.value());
            let consumer = ConsumerSnap {
                suppressed_at: c.suppressed_at,
                vertical: c
                    .vertical
                    .iter()
                    .map(|(v, m)| VerticalSnap {
                        vertical: v.clone(),
                        at: m.at,
                        ping_id: m.ping_id.clone(),
                        pending_until: m.pending_until,
                        replaced: m.replaced,
                    })
                    .collect(),
                marks: c
                    .sales
                    .iter()
                    .map(|m| MarkSnap {
                        sale_id: m.sale_id.clone(),
                        buyer: m.buyer.clone(),
                        at: m.at,
                        state: m.state,
                        lease_until: m.lease_until,
                    })
                    .collect(),
                dq: c.dq.iter().map(|(b, at)| (b.clone(), *at)).collect(),
            };
            snap.consumers.insert(entry.key().clone(), consumer);
        }
        let ledger = lock(&self.ledger);
        for (id, e) in &ledger.sales {
            let debits = e
                .debits
                .iter()
                .map(|d| DebitSnap {
                    key: d.key.clone(),
                    amount: d.amount,
                    limit: d.limit,
                    is_money: d.is_money,
                    credit_key: d.credit_key.clone(),
                })
                .collect();
            snap.sales.insert(id.clone(), SaleSnap { record: e.record.clone(), idents: e.idents.clone(), debits });
        }
        snap.counters = ledger.counters.iter().map(|(k, c)| (k.clone(), c.value)).collect();
        snap
    }
}
