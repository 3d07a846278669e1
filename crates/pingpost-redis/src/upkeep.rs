//! Upkeep on Redis: keys expire by TTL, so the sweep only settles reservations past their
//! lease and repairs marks left behind their ledger entry (see `sales`); health is a `PING`.

use crate::RedisStore;
use pingpost_core::Timestamp;
use pingpost_store::{StoreFuture, SweepReport, Upkeep};

impl Upkeep for RedisStore {
    fn sweep(&self, now: Timestamp) -> StoreFuture<'_, SweepReport> {
        // Everything else expires by TTL; only reservations past their lease need a hand.
        Box::pin(async move {
            self.reassert_buyers().await?;
            let (settled, unconfirmed) = self.sweep_ledger(now).await?;
            Ok(SweepReport { reservations_unconfirmed: settled, unconfirmed, ..Default::default() })
        })
    }

    fn health(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut con = self.conn.clone();
            let _: String = self.run(redis::cmd("PING").query_async(&mut con)).await?;
            Ok(())
        })
    }
}
