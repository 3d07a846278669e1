//! The caps' counters on Redis: plain keys in the ledger's slot, which the sales' scripts
//! move and a ping reads with one `MGET`.

use crate::RedisStore;
use pingpost_store::{Counters, StoreFuture};
use redis::AsyncCommands;

impl Counters for RedisStore {
    fn read_counters(&self, keys: Vec<String>) -> StoreFuture<'_, Vec<i64>> {
        Box::pin(async move {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let mut con = self.conn.clone();
            let keys: Vec<String> = keys.iter().map(|k| self.keys.counter(k)).collect();
            let values: Vec<Option<i64>> = self.run(con.mget(keys)).await?;
            Ok(values.into_iter().map(|v| v.unwrap_or(0)).collect())
        })
    }
}
