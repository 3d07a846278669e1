//! Suppression on Redis: one key per hash, tagged by it (so a consumer's admission reads it
//! in its own slot), written and read in bulk — pipelines on a single Redis, many single
//! commands at once on a cluster, where the keys are spread over every slot.

use crate::codec::{corrupt, ms, parse_ms};
use crate::conn::Conn;
use crate::scripts::ScriptCall;
use crate::store::{send_reloading, Replicas};
use crate::{bounded, RedisStore};
use futures_util::stream::{self, StreamExt};
use pingpost_core::identity::Sha256Hex;
use pingpost_core::Timestamp;
use pingpost_store::{StoreFuture, StoreResult, Suppression};
use redis::Value;
use std::collections::HashMap;

/// How many single-key commands run at once in bulk operations (suppression lists) on a
/// cluster, where each key may live on another node.
const BULK_CONCURRENCY: usize = 256;

/// Commands per pipeline in bulk operations on a single Redis, and pipelines in flight: big
/// enough that round trips stop mattering, small enough that one pipeline answers well
/// inside the response timeout.
const BULK_PIPELINE: usize = 1_000;

const BULK_PIPELINES_IN_FLIGHT: usize = 4;

/// The distinct hashes of `hashes` in first-seen order, and for each of `hashes` the index
/// of its distinct hash: a bulk operation touches each key once.
fn distinct_hashes(hashes: &[Sha256Hex]) -> (Vec<&Sha256Hex>, Vec<usize>) {
    let mut at: HashMap<&Sha256Hex, usize> = HashMap::with_capacity(hashes.len());
    let mut distinct = Vec::with_capacity(hashes.len());
    let index = hashes
        .iter()
        .map(|h| {
            *at.entry(h).or_insert_with(|| {
                distinct.push(h);
                distinct.len() - 1
            })
        })
        .collect();
    (distinct, index)
}

/// Whether a bulk operation's writes wait for the replicas (see [`RedisStore::waited_step`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Bulk {
    Read,
    Write,
}

impl RedisStore {
    /// Runs one single-key command per hash's suppression key and reads each answer, in
    /// order. On a single Redis the commands go in pipelines; on a cluster a pipeline must
    /// stay in one slot (redis-rs refuses it client-side otherwise) and these keys are spread
    /// over all slots, so each command goes alone, many at a time on the multiplexed
    /// connection, which redis-rs routes to the owning node. Writes wait for the replicas as
    /// [`RedisStore::waited_step`] does, a `WAIT` behind each pipeline (each command, on a
    /// cluster); `script` is the one the commands call, if any.
    async fn per_key<T>(
        &self,
        bulk: Bulk,
        hashes: &[&Sha256Hex],
        cmd: impl Fn(String) -> redis::Cmd,
        script: Option<&redis::Script>,
        read: impl Fn(Value) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let (per_pipeline, in_flight) = match &self.conn {
            Conn::Single(_) => (BULK_PIPELINE, BULK_PIPELINES_IN_FLIGHT),
            Conn::Cluster(_) => (1, BULK_CONCURRENCY),
        };
        let mut pipes: Vec<redis::Pipeline> = Vec::with_capacity(hashes.len().div_ceil(per_pipeline));
        for (i, h) in hashes.iter().enumerate() {
            if i % per_pipeline == 0 {
                pipes.push(redis::pipe());
            }
            if let Some(pipe) = pipes.last_mut() {
                pipe.add_command(cmd(self.keys.suppressed(h)));
            }
        }
        let sends = pipes.into_iter().map(|pipe| self.bulk_pipeline(bulk, pipe, script));
        let answers: Vec<StoreResult<Vec<Value>>> = stream::iter(sends).buffered(in_flight).collect().await;
        let mut values = Vec::with_capacity(hashes.len());
        for a in answers {
            values.extend(a?);
        }
        if values.len() != hashes.len() {
            return Err(corrupt(format!("{} answers to {} commands", values.len(), hashes.len())));
        }
        values.into_iter().map(read).collect()
    }

    /// One pipeline of a bulk operation, with `WAIT` behind it when it writes and replicas
    /// are waited for: then on a waited connection, failing like an unavailable store unless
    /// the replicas acknowledged it. Answers the commands' values.
    async fn bulk_pipeline(
        &self,
        bulk: Bulk,
        mut pipe: redis::Pipeline,
        script: Option<&redis::Script>,
    ) -> StoreResult<Vec<Value>> {
        let wanted = self.opts.wait_replicas;
        let Some(mut con) = self.waited_conn().filter(|_| wanted > 0 && bulk == Bulk::Write) else {
            let mut con = self.conn.clone();
            return self.run(send_reloading(&mut con, &pipe, script)).await;
        };
        pipe.cmd("WAIT").arg(wanted).arg(self.wait_timeout_ms());
        let limit = self.opts.op_timeout + self.opts.wait_timeout;
        let mut values: Vec<Value> = bounded(limit, send_reloading(&mut con, &pipe, script)).await?;
        let acked = values.pop().ok_or_else(|| corrupt("no answer to WAIT"))?;
        let acked = redis::from_redis_value(acked).map_err(|e| corrupt(format!("WAIT answered {e}")))?;
        Replicas { acked, wanted }.require()?;
        Ok(values)
    }
}

impl Suppression for RedisStore {
    fn suppress(&self, hashes: Vec<Sha256Hex>, now: Timestamp) -> StoreFuture<'_, Vec<bool>> {
        Box::pin(async move {
            let (distinct, index) = distinct_hashes(&hashes);
            let script = &self.scripts.suppress;
            let suppress = |key: String| ScriptCall::new(script).key(key).arg(ms(now)).evalsha();
            let new =
                |v: Value| redis::from_redis_value::<i64>(v).map_err(|e| corrupt(format!("suppress answered {e}")));
            let set: Vec<bool> =
                self.per_key(Bulk::Write, &distinct, suppress, Some(script), |v| new(v).map(|n| n == 1)).await?;
            // Only the first occurrence of a repeated hash can be the one that was new.
            let mut seen = vec![false; distinct.len()];
            Ok(index
                .into_iter()
                .map(|d| {
                    let first = !std::mem::replace(&mut seen[d], true);
                    first && set[d]
                })
                .collect())
        })
    }

    fn unsuppress(&self, hashes: Vec<Sha256Hex>) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let (distinct, _) = distinct_hashes(&hashes);
            let removed = self
                .per_key(
                    Bulk::Write,
                    &distinct,
                    |key| redis::cmd("DEL").arg(key).clone(),
                    None,
                    |v| redis::from_redis_value::<u64>(v).map_err(|e| corrupt(format!("DEL answered {e}"))),
                )
                .await?;
            Ok(removed.into_iter().sum())
        })
    }

    fn suppression_status(&self, hashes: Vec<Sha256Hex>) -> StoreFuture<'_, Vec<Option<Timestamp>>> {
        Box::pin(async move {
            let (distinct, index) = distinct_hashes(&hashes);
            let status = self
                .per_key(
                    Bulk::Read,
                    &distinct,
                    |key| redis::cmd("GET").arg(key).clone(),
                    None,
                    |v| match v {
                        Value::Nil => Ok(None),
                        v => {
                            let text: String =
                                redis::from_redis_value(v).map_err(|e| corrupt(format!("GET answered {e}")))?;
                            parse_ms(&text).map(Some)
                        }
                    },
                )
                .await?;
            Ok(index.into_iter().map(|d| status[d]).collect())
        })
    }
}
