//! The books outbox on Redis: each buyer's entries (a hash and its order, in the buyer's slot,
//! written by the scripts that move its money) read across buyers in time order and removed
//! once the books hold them; entries the books
//! refused, parked out of the outbox with why (`lua/park_outbox.lua`); and paging through a
//! sorted set by a cursor that names a place rather than a rank (`lua/zset_page.lua`), which
//! the parked entries and the reservations in flight share.

use crate::codec::{self, corrupt, ms};
use crate::RedisStore;
use pingpost_core::ids::BuyerId;
use pingpost_core::Timestamp;
use pingpost_store::{Outbox, OutboxEntry, ParkedEntry, Refusal, StoreFuture, StoreResult};
use redis::AsyncCommands;

impl RedisStore {
    pub(crate) async fn park(&self, refused: Vec<Refusal>, at: Timestamp) -> StoreResult<()> {
        // One script per buyer: its outbox and parked entries share its slot.
        let mut by_buyer: Vec<(&str, Vec<&Refusal>)> = Vec::new();
        for r in &refused {
            match by_buyer.iter_mut().find(|(b, _)| *b == r.buyer.as_str()) {
                Some((_, rs)) => rs.push(r),
                None => by_buyer.push((r.buyer.as_str(), vec![r])),
            }
        }
        for (buyer, refused) in by_buyer {
            let mut call = self.scripts.park_outbox.key(self.keys.outbox(buyer));
            call.key(self.keys.outbox_order(buyer))
                .key(self.keys.outbox_parked(buyer))
                .key(self.keys.outbox_parked_order(buyer))
                .arg(ms(at));
            for r in refused {
                call.arg(&r.entry_id).arg(&r.reason);
            }
            let _: i64 = self.step("redis.park_outbox", &call).await?;
        }
        Ok(())
    }

    /// Parked entries of every buyer after the cursor, in outbox order: each buyer's page,
    /// merged.
    pub(crate) async fn parked(
        &self,
        after: Option<(Timestamp, String)>,
        limit: usize,
    ) -> StoreResult<Vec<ParkedEntry>> {
        let cursor = after.map(|(at, id)| (ms(at), id));
        let cursor = &cursor;
        let pages = self
            .per_buyer(|b| async move {
                let page = self.zset_page(self.keys.outbox_parked_order(&b), cursor.clone(), limit).await?;
                if page.is_empty() {
                    return Ok(Vec::new());
                }
                let ids: Vec<&String> = page.iter().map(|(id, _)| id).collect();
                let mut con = self.conn.clone();
                let bodies: Vec<Option<String>> = self
                    .run(redis::cmd("HMGET").arg(self.keys.outbox_parked(&b)).arg(&ids).query_async(&mut con))
                    .await?;
                let scored: Vec<(i64, String, Option<String>)> =
                    page.into_iter().zip(bodies).map(|((id, at), body)| (at, id, body)).collect();
                StoreResult::Ok(scored)
            })
            .await?;
        let mut all: Vec<(i64, String, Option<String>)> = pages.into_iter().flatten().collect();
        all.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        all.into_iter().take(limit).filter_map(|(_, _, body)| body).map(|b| codec::decode_parked(&b)).collect()
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
    /// The oldest `limit` entries of every buyer's outbox together: each buyer's oldest
    /// `limit`, merged (their time, then id).
    pub(crate) async fn outbox_entries(&self, limit: usize) -> StoreResult<Vec<OutboxEntry>> {
        let last = isize::try_from(limit).unwrap_or(isize::MAX).saturating_sub(1);
        let waiting = self
            .per_buyer(|b| async move {
                let mut con = self.conn.clone();
                let ids: Vec<String> = self.run(con.zrange(self.keys.outbox_order(&b), 0, last)).await?;
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let bodies: Vec<Option<String>> =
                    self.run(redis::cmd("HMGET").arg(self.keys.outbox(&b)).arg(&ids).query_async(&mut con)).await?;
                // An id without its body was removed between the two reads: delivered already.
                bodies.into_iter().flatten().map(|b| codec::decode_outbox(&b)).collect::<StoreResult<Vec<_>>>()
            })
            .await?;
        let mut all: Vec<OutboxEntry> = waiting.into_iter().flatten().collect();
        all.sort_by(|a, b| (a.at, &a.entry_id).cmp(&(b.at, &b.entry_id)));
        all.truncate(limit);
        Ok(all)
    }

    pub(crate) async fn outbox_remove(&self, entries: Vec<(BuyerId, String)>) -> StoreResult<()> {
        let mut by_buyer: Vec<(&str, Vec<&str>)> = Vec::new();
        for (buyer, id) in &entries {
            match by_buyer.iter_mut().find(|(b, _)| *b == buyer.as_str()) {
                Some((_, ids)) => ids.push(id),
                None => by_buyer.push((buyer.as_str(), vec![id])),
            }
        }
        let removals = by_buyer.into_iter().map(|(buyer, ids)| async move {
            let mut pipe = redis::pipe();
            pipe.atomic()
                .hdel(self.keys.outbox(buyer), &ids)
                .ignore()
                .zrem(self.keys.outbox_order(buyer), &ids)
                .ignore();
            let mut con = self.conn.clone();
            self.run(pipe.query_async::<()>(&mut con)).await
        });
        self.opts
            .faults
            .step("redis.outbox_done", || async {
                futures_util::future::join_all(removals).await.into_iter().collect::<StoreResult<Vec<()>>>().map(drop)
            })
            .await
    }
}

impl Outbox for RedisStore {
    fn outbox(&self, limit: usize) -> StoreFuture<'_, Vec<OutboxEntry>> {
        Box::pin(self.outbox_entries(limit))
    }

    fn outbox_done(&self, entries: Vec<(BuyerId, String)>) -> StoreFuture<'_, ()> {
        Box::pin(self.outbox_remove(entries))
    }

    fn outbox_park(&self, refused: Vec<Refusal>, at: Timestamp) -> StoreFuture<'_, ()> {
        Box::pin(self.park(refused, at))
    }

    fn outbox_parked(&self, after: Option<(Timestamp, String)>, limit: usize) -> StoreFuture<'_, Vec<ParkedEntry>> {
        Box::pin(self.parked(after, limit))
    }
}
