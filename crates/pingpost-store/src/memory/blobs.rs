//! Blobs in the embedded store: a map, each value with its expiry (gone for readers once it
//! passed; the sweep removes it).

use super::*;

impl Blobs for MemoryStore {
    fn put_blob(
        &self,
        mut key: String,
        mut value: Vec<u8>,
        _now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreFuture<'_, ()> {
        // Kept until it expires, one per accepted ping: without the room a writer left at
        // the end (a serializer doubles its buffer, so up to half of it).
        value.shrink_to_fit();
        key.shrink_to_fit();
        self.blobs.insert(key, (value, expires_at));
        ready(())
    }

    fn get_blob(&self, key: String, now: Timestamp) -> StoreFuture<'_, Option<Vec<u8>>> {
        let value = self.blobs.get(&key).filter(|b| b.1 > now).map(|b| b.0.clone());
        ready(value)
    }
}
