//! Suppression in the embedded store: a mark on the consumer, under its lock.

use super::*;

impl Suppression for MemoryStore {
    fn suppress(&self, hashes: Vec<Sha256Hex>, now: Timestamp) -> StoreFuture<'_, Vec<bool>> {
        let added = hashes
            .into_iter()
            .map(|h| {
                let c = Arc::clone(self.consumers.entry(h).or_default().value());
                let mut c = lock(&c);
                let new = c.suppressed_at.is_none();
                if new {
                    c.suppressed_at = Some(now);
                }
                new
            })
            .collect();
        ready(added)
    }

    fn unsuppress(&self, hashes: Vec<Sha256Hex>) -> StoreFuture<'_, u64> {
        let mut removed = 0;
        for h in hashes {
            let Some(c) = self.consumers.get(&h).map(|c| Arc::clone(c.value())) else { continue };
            if lock(&c).suppressed_at.take().is_some() {
                removed += 1;
            }
        }
        ready(removed)
    }

    fn suppression_status(&self, hashes: Vec<Sha256Hex>) -> StoreFuture<'_, Vec<Option<Timestamp>>> {
        let status = hashes
            .iter()
            .map(|h| self.consumers.get(h).map(|c| Arc::clone(c.value())).and_then(|c| lock(&c).suppressed_at))
            .collect();
        ready(status)
    }
}
