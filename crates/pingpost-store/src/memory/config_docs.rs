//! The configuration document in the embedded store: compare-and-set under one lock.

use super::*;

impl ConfigDocs for MemoryStore {
    fn config(&self) -> StoreFuture<'_, Option<ConfigDoc>> {
        ready(lock(&self.config).clone())
    }

    fn config_stamp(&self) -> StoreFuture<'_, Option<ConfigStamp>> {
        ready(lock(&self.config).as_ref().map(|d| d.stamp.clone()))
    }

    fn save_config(
        &self,
        expected: Option<ConfigStamp>,
        rev: String,
        body: Vec<u8>,
    ) -> StoreFuture<'_, Option<ConfigStamp>> {
        let mut doc = lock(&self.config);
        let stored = doc.as_ref().map(|d| &d.stamp);
        if let Some(own) = stored.filter(|s| s.rev == rev) {
            return ready(Some(own.clone()));
        }
        if stored != expected.as_ref() {
            return ready(None);
        }
        let stamp = ConfigStamp { version: stored.map_or(0, |s| s.version) + 1, rev };
        *doc = Some(ConfigDoc { stamp: stamp.clone(), body });
        ready(Some(stamp))
    }
}
