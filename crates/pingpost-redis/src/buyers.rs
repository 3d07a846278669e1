//! Which buyers have sales state in Redis, and reading across them.
//!
//! A buyer's sales live in its own Cluster slot (`keys.rs`), so what spans buyers — the
//! sweep, the books relay, the operators' lists, a lookup by sale id alone — visits each
//! buyer's slot. The set `pp:buyers` names them: a buyer is added before its first write
//! (a reservation or a top-up creates its state; everything else follows a sale), so every
//! buyer with state is in it. Each node remembers the buyers it added or read, so the
//! addition costs one round trip per buyer and process, not per sale; and each sweep adds
//! them all again, so a set lost with a failover (its writes are not waited for) is whole
//! again within a sweep of any node that sold for them.

use crate::RedisStore;
use futures_util::future::join_all;
use pingpost_store::{StoreError, StoreResult};
use redis::AsyncCommands;
use std::future::Future;

impl RedisStore {
    /// Adds `buyer` to the set of buyers with state, unless this node knows it is there.
    pub(crate) async fn register_buyer(&self, buyer: &str) -> StoreResult<()> {
        if self.known_buyers.contains(buyer) {
            return Ok(());
        }
        let mut con = self.conn.clone();
        let _: i64 = self.run(con.sadd(self.keys.buyers(), buyer)).await?;
        self.known_buyers.insert(buyer.to_string());
        Ok(())
    }

    /// Adds every buyer this node knows again: one `SADD`, harmless when they are there.
    pub(crate) async fn reassert_buyers(&self) -> StoreResult<()> {
        let known: Vec<String> = self.known_buyers.iter().map(|b| b.key().clone()).collect();
        if known.is_empty() {
            return Ok(());
        }
        let mut con = self.conn.clone();
        let _: i64 = self.run(con.sadd(self.keys.buyers(), known)).await?;
        Ok(())
    }

    /// Every buyer that may have state, sorted (so a listing across them is stable).
    pub(crate) async fn buyers_with_state(&self) -> StoreResult<Vec<String>> {
        let mut con = self.conn.clone();
        let mut buyers: Vec<String> = self.run(con.smembers(self.keys.buyers())).await?;
        buyers.sort_unstable();
        for b in &buyers {
            if !self.known_buyers.contains(b.as_str()) {
                self.known_buyers.insert(b.clone());
            }
        }
        Ok(buyers)
    }

    /// Runs `read` for every buyer with state, side by side (each in its own slot), and
    /// answers their results in the buyers' order.
    pub(crate) async fn per_buyer<'a, T, F, Fut>(&'a self, read: F) -> StoreResult<Vec<T>>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = StoreResult<T>> + 'a,
    {
        let buyers = self.buyers_with_state().await?;
        join_all(buyers.into_iter().map(read)).await.into_iter().collect::<Result<Vec<T>, StoreError>>()
    }
}
