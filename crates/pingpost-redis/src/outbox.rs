//! The books outbox on Redis: entries (a hash and its order, in the ledger's slot, written by
//! the scripts that move money) read and removed once the books hold them; entries the books
//! refused, parked out of the outbox with why (`lua/park_outbox.lua`); and paging through a
//! sorted set by a cursor that names a place rather than a rank (`lua/zset_page.lua`), which
//! the parked entries and the reservations in flight share.

use crate::codec::{self, corrupt, ms};
use crate::RedisStore;
use pingpost_core::Timestamp;
use pingpost_store::{Outbox, OutboxEntry, ParkedEntry, Refusal, StoreFuture, StoreResult};
use redis::AsyncCommands;

impl RedisStore {
    pub(crate) async fn park(&self, refused: Vec<Refusal>, at: Timestamp) -> StoreResult<()> {
        if refused.is_empty() {
            return Ok(());
        }
        let mut call = self.scripts.park_outbox.key(self.keys.outbox());
        call.key(self.keys.outbox_order())
            .key(self.keys.outbox_parked())
            .key(self.keys.outbox_parked_order())
            .arg(ms(at));
        for r in &refused {
            call.arg(&r.entry_id).arg(&r.reason);
        }
        let _: i64 = self.step("redis.park_outbox", &call).await?;
        Ok(())
    }

    pub(crate) async fn parked(
        &self,
        after: Option<(Timestamp, String)>,
        limit: usize,
    ) -> StoreResult<Vec<ParkedEntry>> {
        let cursor = after.map(|(at, id)| (ms(at), id));
        let page = self.zset_page(self.keys.outbox_parked_order(), cursor, limit).await?;
        if page.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&String> = page.iter().map(|(id, _)| id).collect();
        let mut con = self.conn.clone();
        let bodies: Vec<Option<String>> =
            self.run(redis::cmd("HMGET").arg(self.keys.outbox_parked()).arg(&ids).query_async(&mut con)).await?;
        bodies.into_iter().flatten().map(|b| codec::decode_parked(&b)).collect()
    }

    /// At most `limit` members of the sorted set `key`, with their scores, in its order
    /// (score, then member), strictly after `after` (a score and a member; the member need
    /// not be there any more).
    pub(crate) async fn zset_page(
        &self,
        key: String,
        after: Option<(i64, String)>,
        limit: usize,
    ) -> StoreResult<Vec<(String, i64)>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (score, member) = after.unwrap_or((0, String::new()));
        let mut call = self.scripts.zset_page.key(key);
        call.arg(score).arg(member).arg(limit);
        let flat: Vec<String> = self.step("redis.zset_page", &call).await?;
        flat.chunks(2)
            .map(|pair| match pair {
                [member, score] => Ok((member.clone(), whole_score(score)?)),
                _ => Err(corrupt("a sorted set's page")),
            })
            .collect()
    }
}

/// A score that is a whole number of milliseconds, as Redis writes it back.
fn whole_score(text: &str) -> StoreResult<i64> {
    text.parse::<i64>()
        .or_else(|_| text.parse::<f64>().map(|f| f as i64))
        .map_err(|_| corrupt(format!("score {text:?}")))
}

impl RedisStore {
    pub(crate) async fn outbox_entries(&self, limit: usize) -> StoreResult<Vec<OutboxEntry>> {
        let mut con = self.conn.clone();
        let last = isize::try_from(limit).unwrap_or(isize::MAX).saturating_sub(1);
        let ids: Vec<String> = self.run(con.zrange(self.keys.outbox_order(), 0, last)).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let bodies: Vec<Option<String>> =
            self.run(redis::cmd("HMGET").arg(self.keys.outbox()).arg(&ids).query_async(&mut con)).await?;
        // An id without its body was removed between the two reads: delivered already.
        bodies.into_iter().flatten().map(|b| codec::decode_outbox(&b)).collect()
    }

    pub(crate) async fn outbox_remove(&self, ids: Vec<String>) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.atomic().hdel(self.keys.outbox(), &ids).ignore().zrem(self.keys.outbox_order(), &ids).ignore();
        let mut con = self.conn.clone();
        self.opts.faults.step("redis.outbox_done", || self.run(pipe.query_async::<()>(&mut con))).await
    }
}

impl Outbox for RedisStore {
    fn outbox(&self, limit: usize) -> StoreFuture<'_, Vec<OutboxEntry>> {
        Box::pin(self.outbox_entries(limit))
    }

    fn outbox_done(&self, entry_ids: Vec<String>) -> StoreFuture<'_, ()> {
        Box::pin(self.outbox_remove(entry_ids))
    }

    fn outbox_park(&self, refused: Vec<Refusal>, at: Timestamp) -> StoreFuture<'_, ()> {
        Box::pin(self.park(refused, at))
    }

    fn outbox_parked(&self, after: Option<(Timestamp, String)>, limit: usize) -> StoreFuture<'_, Vec<ParkedEntry>> {
        Box::pin(self.parked(after, limit))
    }
}
