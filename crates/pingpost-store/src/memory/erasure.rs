//! Erasure in the embedded store: each consumer's dedup state cleared under its lock.

use super::*;

impl Erasure for MemoryStore {
    fn erase(&self, hashes: Vec<Sha256Hex>, now: Timestamp) -> StoreFuture<'_, Erased> {
        let mut erased = Erased::default();
        for h in hashes {
            let Some(c) = self.consumers.get(&h).map(|e| Arc::clone(e.value())) else { continue };
            let mut c = lock(&c);
            let in_flight =
                |s: &StoredSale| s.state == Some(SaleState::Reserved) && s.lease_until.is_some_and(|l| l > now);
            let kept = c.sales.iter().filter(|s| in_flight(s)).count() as u64;
            erased += Erased {
                vertical_submissions: c.vertical.len() as u64,
                sales: c.sales.iter().filter(|s| s.state.is_some()).count() as u64 - kept,
                dq: c.dq.len() as u64,
                kept_in_flight: kept,
            };
            c.vertical.clear();
            c.sales.retain(in_flight);
            c.dq.clear();
        }
        ready(erased)
    }
}
