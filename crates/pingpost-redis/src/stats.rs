//! Dedup statistics on Redis: one hash per UTC hour (`{ns}:stats:{yyyymmddhh}`, the hour as
//! hash tag, fields `kind|key|metric`), written off the ping's path. Pings hand their
//! increments to a channel; one task per process sums them in memory and writes each batch as
//! one script per hour (`stats_add.lua`: HINCRBY each counter, once per batch id), so Redis
//! sees one write per counter per batch however many pings there were, and a retried batch
//! is never counted twice.
//!
//! The hour is the hash tag, so hours spread over Cluster slots and each call stays in one;
//! the batch marker (`SET NX`, an hour's TTL) lives in the hour's slot. A batch the writer
//! cannot write after `WRITE_ATTEMPTS` (3) tries is dropped and logged, like the audit log's:
//! statistics may miss a batch during a long Redis outage, never count one twice. The channel
//! needs no bound: each round folds everything queued into one sum, whose size grows with
//! hours × configured ids (and is written early past `MAX_COUNTERS`), so what waits is at most
//! what pings add during one round's writes, themselves bounded by their timeouts and tries.
//! A query reads the hours overlapping `[since, until)` (at most 366 days) and sums them; the
//! admin handler flushes its own node's pending counts first, so a node always sees what it
//! has just answered.

use crate::conn::Conn;
use crate::{bounded, RedisStore};
use futures_util::future::join_all;
use pingpost_engine::stats::{aggregate, fold_groups, GroupBy, Hour, Increment, Metric, StatsGroup, StatsSink, Sums};
use pingpost_store::{StoreError, StoreFuture};
use redis::AsyncCommands;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long the writer sums increments before writing them: at most this much of the
/// statistics is lost if the process dies without a graceful shutdown.
const BATCH_WINDOW: Duration = Duration::from_millis(500);
/// Distinct counters after which a batch is written early, bounding the writer's memory.
const MAX_COUNTERS: usize = 10_000;
/// Tries per batch before it is dropped (and the loss logged): a long outage must not grow
/// memory without bound.
const WRITE_ATTEMPTS: usize = 3;
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// How long a batch's marker outlives it: far longer than its retries take.
const BATCH_MARKER_TTL_MS: i64 = 3_600_000;
/// Hourly hashes read at once by a query; a year is 8 784 of them.
const READ_CHUNK: usize = 256;

enum Msg {
    Increments(Vec<Increment>),
    Flush(oneshot::Sender<()>),
}

/// The statistics sink of a Redis-backed engine.
pub struct RedisStats {
    tx: mpsc::UnboundedSender<Msg>,
    conn: Conn,
    keys: crate::Keys,
    op_timeout: Duration,
}

impl RedisStore {
    /// Statistics in this store's namespace; each hour's hash expires `retention` after its
    /// last write. Starts its writer task: call inside a tokio runtime.
    pub fn stats_sink(&self, retention: chrono::Duration) -> RedisStats {
        // Unbounded, unlike the audit log's: each round folds all that is queued into one sum
        // of at most `MAX_COUNTERS`, so what waits is what pings add during one round's
        // writes, which their timeouts and tries bound.
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = Writer {
            conn: self.conn.clone(),
            faults: self.opts.faults.clone(),
            script: self.scripts.stats_add.clone(),
            keys: self.keys.clone(),
            retention_s: retention.num_seconds().max(1),
            op_timeout: self.opts.op_timeout,
        };
        tokio::spawn(writer.run(rx));
        RedisStats { tx, conn: self.conn.clone(), keys: self.keys.clone(), op_timeout: self.opts.op_timeout }
    }
}

struct Writer {
    conn: Conn,
    faults: pingpost_store::Faults,
    script: redis::Script,
    keys: crate::Keys,
    retention_s: i64,
    op_timeout: Duration,
}

impl Writer {
    async fn run(self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        while let Some(first) = rx.recv().await {
            let mut sums = Sums::new();
            let mut flushed = Vec::new();
            let window = tokio::time::sleep(BATCH_WINDOW);
            tokio::pin!(window);
            let mut next = Some(first);
            // Sum until the window closes, a flush is asked for, the batch is large, or
            // every sender is gone (shutdown).
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Increments(i) => aggregate(&mut sums, i),
                    Msg::Flush(done) => flushed.push(done),
                }
                if !flushed.is_empty() || sums.len() >= MAX_COUNTERS {
                    break;
                }
                next = tokio::select! {
                    msg = rx.recv() => msg,
                    () = &mut window => None,
                };
            }
            // A flush must cover everything sent before it, already queued or not.
            if !flushed.is_empty() {
                while let Ok(msg) = rx.try_recv() {
                    match msg {
                        Msg::Increments(i) => aggregate(&mut sums, i),
                        Msg::Flush(done) => flushed.push(done),
                    }
                }
            }
            self.write(sums).await;
            for done in flushed {
                let _ = done.send(());
            }
        }
    }

    async fn write(&self, sums: Sums) {
        let mut by_hour: BTreeMap<Hour, Vec<(String, u64)>> = BTreeMap::new();
        for ((hour, by, key, metric), n) in sums {
            by_hour.entry(hour).or_default().push((field(by, &key, metric), n));
        }
        // One script per hour: each touches the hour's slot only. All of an hour's counters
        // or none, and each batch once: its retries carry the same marker.
        for (hour, fields) in by_hour {
            let label = hour.label();
            let batch_id = uuid::Uuid::new_v4().simple().to_string();
            let mut call = self.script.key(self.keys.stats(&label));
            call.key(self.keys.stats_batch(&label, &batch_id)).arg(self.retention_s).arg(BATCH_MARKER_TTL_MS);
            for (f, n) in &fields {
                call.arg(f).arg(*n);
            }
            for attempt in 1..=WRITE_ATTEMPTS {
                let mut con = self.conn.clone();
                match self
                    .faults
                    .step("redis.stats_add", || bounded(self.op_timeout, call.invoke_async::<i64>(&mut con)))
                    .await
                {
                    Ok(_) => break,
                    Err(e) if attempt == WRITE_ATTEMPTS => {
                        tracing::error!(hour = %label, counters = fields.len(), error = %e, "statistics lost: Redis unavailable");
                    }
                    Err(_) => tokio::time::sleep(RETRY_PAUSE).await,
                }
            }
        }
    }
}

/// `kind|key|metric`. Ids are letters, digits, `-`, `_` and `.`, so `|` separates safely.
fn field(by: GroupBy, key: &str, metric: Metric) -> String {
    format!("{}|{key}|{}", by.as_str(), metric.as_str())
}

fn parse_field(field: &str) -> Option<(GroupBy, &str, Metric)> {
    let (kind, rest) = field.split_once('|')?;
    let (key, metric) = rest.rsplit_once('|')?;
    Some((GroupBy::parse(kind)?, key, Metric::parse(metric)?))
}

impl StatsSink for RedisStats {
    fn record(&self, increments: Vec<Increment>) {
        if !increments.is_empty() && self.tx.send(Msg::Increments(increments)).is_err() {
            tracing::error!("statistics writer stopped; increments lost");
        }
    }

    fn query(
        &self,
        by: GroupBy,
        since: pingpost_core::Timestamp,
        until: pingpost_core::Timestamp,
    ) -> StoreFuture<'_, Vec<StatsGroup>> {
        Box::pin(async move {
            let hours: Vec<String> =
                Hour::overlapping(since, until).map(|h| self.keys.stats(&Hour(h).label())).collect();
            let mut counts = Vec::new();
            for chunk in hours.chunks(READ_CHUNK) {
                // Separate commands, not one pipeline: the hours live in different Cluster
                // slots. The multiplexed connection sends them back to back all the same.
                let reads = chunk.iter().map(|key| {
                    let mut con = self.conn.clone();
                    async move { bounded(self.op_timeout, con.hgetall::<_, HashMap<String, i64>>(key)).await }
                });
                for hash in join_all(reads).await {
                    for (f, n) in hash? {
                        let Some((kind, key, metric)) = parse_field(&f) else {
                            return Err(StoreError::Corrupt(format!("statistics field {f:?}")));
                        };
                        if kind == by {
                            counts.push((key.to_string(), metric, u64::try_from(n).unwrap_or(0)));
                        }
                    }
                }
            }
            Ok(fold_groups(counts))
        })
    }

    fn flush(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let (done, wait) = oneshot::channel();
            if self.tx.send(Msg::Flush(done)).is_err() {
                return Err(StoreError::Unavailable("statistics writer stopped".into()));
            }
            wait.await.map_err(|_| StoreError::Unavailable("statistics writer stopped".into()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_name_kind_key_and_metric_and_read_back() {
        let f = field(GroupBy::Buyer, "b-1.x_y", Metric::InAuctionDuplicate);
        assert_eq!(f, "buyer|b-1.x_y|in_auction_duplicate");
        assert_eq!(parse_field(&f), Some((GroupBy::Buyer, "b-1.x_y", Metric::InAuctionDuplicate)));
        assert_eq!(parse_field("buyer|b1"), None);
        assert_eq!(parse_field("seller|b1|pings"), None);
    }
}
