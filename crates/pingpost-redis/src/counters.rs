//! The caps' counters on Redis: plain keys in their buyer's slot, which the sales' scripts
//! move; a ping reads them with one `MGET` per buyer, all sent at once (one round trip).

use crate::RedisStore;
use futures_util::future::join_all;
use pingpost_core::caps::counter_owner;
use pingpost_store::{Counters, StoreFuture, StoreResult};
use redis::AsyncCommands;

impl Counters for RedisStore {
    fn read_counters(&self, keys: Vec<String>) -> StoreFuture<'_, Vec<i64>> {
        Box::pin(async move {
            // Grouped by owner (one slot each), keeping each key's place in the answer.
            let mut groups: Vec<(&str, Vec<usize>)> = Vec::new();
            for (i, key) in keys.iter().enumerate() {
                let owner = counter_owner(key);
                match groups.iter_mut().find(|(o, _)| *o == owner) {
                    Some((_, at)) => at.push(i),
                    None => groups.push((owner, vec![i])),
                }
            }
            let keys = &keys;
            let reads = groups.iter().map(|(_, at)| async move {
                let mut con = self.conn.clone();
                let names: Vec<String> = at.iter().map(|&i| self.keys.counter(&keys[i])).collect();
                let values: Vec<Option<i64>> = self.run(con.mget(names)).await?;
                StoreResult::Ok(values)
            });
            let mut out = vec![0; keys.len()];
            for ((_, at), values) in groups.iter().zip(join_all(reads).await) {
                for (&i, v) in at.iter().zip(values?) {
                    out[i] = v.unwrap_or(0);
                }
            }
            Ok(out)
        })
    }
}
