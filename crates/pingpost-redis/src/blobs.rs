//! Blobs on Redis: one key each, its expiry both in the value (what readers judge by) and
//! as the key's TTL (what collects it).

use crate::codec::{self, ttl_ms};
use crate::RedisStore;
use pingpost_core::Timestamp;
use pingpost_store::{Blobs, StoreFuture};
use redis::AsyncCommands;

impl Blobs for RedisStore {
    fn put_blob(&self, key: String, value: Vec<u8>, now: Timestamp, expires_at: Timestamp) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut con = self.conn.clone();
            let ttl = u64::try_from(ttl_ms(now, expires_at)).unwrap_or(1);
            let () = self.run(con.pset_ex(self.keys.blob(&key), codec::encode_blob(&value, expires_at), ttl)).await?;
            Ok(())
        })
    }

    fn get_blob(&self, key: String, now: Timestamp) -> StoreFuture<'_, Option<Vec<u8>>> {
        Box::pin(async move {
            let mut con = self.conn.clone();
            let raw: Option<Vec<u8>> = self.run(con.get(self.keys.blob(&key))).await?;
            match raw {
                Some(raw) => codec::decode_blob(&raw, now),
                None => Ok(None),
            }
        })
    }
}
