//! Counters in the embedded store: read under the ledger's lock.

use super::*;

impl Counters for MemoryStore {
    fn read_counters(&self, keys: Vec<String>) -> StoreFuture<'_, Vec<i64>> {
        let ledger = lock(&self.ledger);
        ready(keys.iter().map(|k| ledger.value(k)).collect())
    }
}
