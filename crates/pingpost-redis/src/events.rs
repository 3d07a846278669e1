//! Lead events waiting for the event log, on Redis: [`SHARDS`] shards, each a hash (id ->
//! event) and its order (a sorted set by time), tagged `{ev:<n>}` so shards spread over a
//! cluster's masters and each shard's pair is one slot. An event's shard is a hash of its id,
//! so queueing it again lands where it waits.

use crate::codec::{from_ms, ms};
use crate::RedisStore;
use futures_util::future::join_all;
use pingpost_core::events::LogEvent;
use pingpost_core::Timestamp;
use pingpost_store::{EventOutbox, QueuedEvent, StoreFuture, StoreResult};
use std::sync::Arc;

/// How many shards the events wait in: enough to spread over any cluster we run, few enough
/// that reading the oldest of each costs little.
pub const SHARDS: u32 = 16;

/// The shard of an event id (FNV-1a: stable across processes and releases, unlike std's hasher).
fn shard_of(id: &str) -> u32 {
    let hash = id.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    hash % SHARDS
}

/// Events grouped by shard, in the order given.
fn by_shard<T>(items: Vec<T>, id: impl Fn(&T) -> &str) -> Vec<(u32, Vec<T>)> {
    let mut shards: Vec<(u32, Vec<T>)> = Vec::new();
    for item in items {
        let shard = shard_of(id(&item));
        match shards.iter_mut().find(|(s, _)| *s == shard) {
            Some((_, group)) => group.push(item),
            None => shards.push((shard, vec![item])),
        }
    }
    shards
}

impl RedisStore {
    async fn queue_shard(&self, shard: u32, events: Vec<QueuedEvent>) -> StoreResult<()> {
        let (bodies, order) = (self.keys.events(shard), self.keys.events_order(shard));
        // Both or neither: an event is listed exactly when its body is there.
        let mut pipe = redis::pipe();
        pipe.atomic();
        // An event read back unreadable has nothing to keep: it is never queued again.
        for (e, event) in events.iter().filter_map(|e| Some((e, e.event.as_ref().ok()?))) {
            pipe.cmd("HSETNX").arg(&bodies).arg(&e.id).arg(event.encode()).ignore();
            pipe.cmd("ZADD").arg(&order).arg("NX").arg(ms(e.at)).arg(&e.id).ignore();
        }
        let mut con = self.conn.clone();
        let () = self.run(pipe.query_async(&mut con)).await?;
        Ok(())
    }

    /// The ids and times of a shard's oldest `limit` events, oldest first.
    async fn oldest_ids_of_shard(&self, shard: u32, limit: usize) -> StoreResult<Vec<(String, i64)>> {
        let mut con = self.conn.clone();
        let end = isize::try_from(limit).unwrap_or(isize::MAX) - 1;
        self.run(
            redis::cmd("ZRANGE")
                .arg(self.keys.events_order(shard))
                .arg(0)
                .arg(end)
                .arg("WITHSCORES")
                .query_async(&mut con),
        )
        .await
    }

    /// The bodies of these events of one shard.
    async fn bodies_of_shard(&self, shard: u32, events: Vec<(String, i64)>) -> StoreResult<Vec<QueuedEvent>> {
        let mut con = self.conn.clone();
        let ids: Vec<&String> = events.iter().map(|(id, _)| id).collect();
        let bodies: Vec<Option<Vec<u8>>> =
            self.run(redis::cmd("HMGET").arg(self.keys.events(shard)).arg(&ids).query_async(&mut con)).await?;
        let mut out = Vec::with_capacity(events.len());
        for ((id, at), body) in events.into_iter().zip(bodies) {
            // Removed since the order was read: the log holds it.
            let Some(body) = body else { continue };
            let event = LogEvent::decode(&body).map(Arc::new);
            out.push(QueuedEvent { id, at: from_ms(at)?, event });
        }
        Ok(out)
    }

    async fn done_in_shard(&self, shard: u32, ids: Vec<String>) -> StoreResult<()> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("ZREM").arg(self.keys.events_order(shard)).arg(&ids).ignore();
        pipe.cmd("HDEL").arg(self.keys.events(shard)).arg(&ids).ignore();
        let mut con = self.conn.clone();
        let () = self.run(pipe.query_async(&mut con)).await?;
        Ok(())
    }
}

impl EventOutbox for RedisStore {
    fn queue_events(&self, events: Vec<QueuedEvent>) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let writes = by_shard(events, |e| &e.id).into_iter().map(|(shard, group)| self.queue_shard(shard, group));
            join_all(writes).await.into_iter().collect()
        })
    }

    fn queued_events(&self, limit: usize) -> StoreFuture<'_, Vec<QueuedEvent>> {
        Box::pin(async move {
            // The oldest `limit` of all are among the oldest `limit` of each shard: their ids are
            // read from every shard, their bodies (a ping's hits run to kilobytes) only for the
            // chosen, sixteen times fewer when a backlog waits in every shard.
            let reads = (0..SHARDS).map(|shard| self.oldest_ids_of_shard(shard, limit));
            let mut ids: Vec<(String, i64)> =
                join_all(reads).await.into_iter().collect::<StoreResult<Vec<_>>>()?.into_iter().flatten().collect();
            ids.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
            ids.truncate(limit);
            let reads = by_shard(ids, |(id, _)| id.as_str())
                .into_iter()
                .map(|(shard, group)| self.bodies_of_shard(shard, group));
            let mut all: Vec<QueuedEvent> =
                join_all(reads).await.into_iter().collect::<StoreResult<Vec<_>>>()?.into_iter().flatten().collect();
            all.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
            Ok(all)
        })
    }

    fn events_done(&self, events: Vec<(String, Timestamp)>) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let ids: Vec<String> = events.into_iter().map(|(id, _)| id).collect();
            let removals =
                by_shard(ids, |id| id.as_str()).into_iter().map(|(shard, group)| self.done_in_shard(shard, group));
            join_all(removals).await.into_iter().collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_always_lands_in_the_same_shard_and_ids_spread_over_all() {
        assert_eq!(shard_of("ping-1"), shard_of("ping-1"));
        let used: std::collections::BTreeSet<u32> = (0..400).map(|i| shard_of(&format!("ping-{i}"))).collect();
        assert_eq!(used.len(), SHARDS as usize);
    }
}
