//! `Store` on Redis: each method is one script per slot, composed as `lib.rs` says.

use crate::codec::{self, corrupt, ms, parse_ms, ttl_ms};
use crate::conn::Conn;
use crate::scripts::ScriptCall;
use crate::{bounded, RedisStore};
use futures_util::future::join_all;
use futures_util::stream::{self, StreamExt};
use pingpost_core::identity::{Ident, Sha256Hex};
use pingpost_core::ids::BuyerId;
use pingpost_core::Timestamp;
use pingpost_store::*;
use redis::{AsyncCommands, Value};
use std::collections::HashMap;
use std::sync::atomic::Ordering;

/// How many single-key commands run at once in bulk operations (suppression lists) on a
/// cluster, where each key may live on another node.
const BULK_CONCURRENCY: usize = 256;
/// Commands per pipeline in bulk operations on a single Redis, and pipelines in flight: big
/// enough that round trips stop mattering, small enough that one pipeline answers well
/// inside the response timeout.
const BULK_PIPELINE: usize = 1_000;
const BULK_PIPELINES_IN_FLIGHT: usize = 4;

/// The request's identifiers without repeats, in the request's order (email before phone):
/// the order answers are reported in (the first identifier that matched).
pub(crate) fn distinct(idents: &[Ident]) -> Vec<Ident> {
    let mut out: Vec<Ident> = Vec::with_capacity(idents.len());
    for i in idents {
        if !out.iter().any(|o| o.hash == i.hash) {
            out.push(i.clone());
        }
    }
    out
}

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

pub(crate) fn text(reply: &[Vec<u8>], i: usize) -> Result<&str, StoreError> {
    reply.get(i).and_then(|b| std::str::from_utf8(b).ok()).ok_or_else(|| corrupt("script reply"))
}

/// Whether a bulk operation's writes wait for the replicas (see [`RedisStore::waited_step`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Bulk {
    Read,
    Write,
}

/// Sends `pipe` on `con`. A server that lost its scripts (restarted, promoted, new) refuses
/// `EVALSHA`: `script` is loaded and the pipeline sent again — every script is safe to
/// re-send, and a `WAIT` that went with a refused call counted nothing of ours.
async fn send_reloading<T: redis::FromRedisValue>(
    con: &mut Conn,
    pipe: &redis::Pipeline,
    script: Option<&redis::Script>,
) -> redis::RedisResult<T> {
    match (pipe.query_async::<T>(con).await, script) {
        (Err(e), Some(script)) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
            script.load_async(con).await?;
            pipe.query_async(con).await
        }
        (answer, _) => answer,
    }
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

    /// The wait for replicas in ms, at least 1: Redis reads `WAIT n 0` as "wait forever".
    fn wait_timeout_ms(&self) -> u64 {
        u64::try_from(self.opts.wait_timeout.as_millis()).unwrap_or(u64::MAX).max(1)
    }

    pub(crate) fn retention_ms(&self) -> i64 {
        self.opts.retention.num_milliseconds()
    }

    /// One script call under its failpoint (see `pingpost_store::faults`).
    pub(crate) async fn step<T: redis::FromRedisValue>(
        &self,
        point: &'static str,
        call: &redis::ScriptInvocation<'_>,
    ) -> StoreResult<T> {
        let mut con = self.conn.clone();
        self.opts.faults.step(point, || self.run(call.invoke_async(&mut con))).await
    }

    /// One script call whose write the engine may act on, under its failpoint. With
    /// `--redis-wait-replicas N` it travels with `WAIT N timeout` behind it, in one pipeline
    /// on a connection of its own, and answers how many replicas acknowledged; the caller
    /// asks [`Replicas::require`] on the answers it acts on (a refusal wrote nothing to wait
    /// for). Why so:
    /// - `WAIT` counts the replicas that have what *its connection* wrote. Sent alone after
    ///   the script, it could go out on a connection the client opened in between (a
    ///   reconnect, perhaps to a promoted replica), which wrote nothing of ours: Redis then
    ///   answers at once with every connected replica, a frozen one included, or counts
    ///   replicas of a server that lacks the write. In one pipeline the two share one
    ///   connection, or fail together.
    /// - Redis reads nothing more from a client blocked in `WAIT`: on the shared multiplexed
    ///   connection every other store call of the node (reads, settlements, health) would
    ///   queue behind it, up to the wait timeout each time a replica lags.
    /// - On a Redis Cluster the pipeline goes where its script's keys live, so `WAIT` asks
    ///   the master that has the write. (Sent alone, redis-rs sends a keyless `WAIT` to every
    ///   master and answers the least count: also never too high, but each admission would
    ///   block a connection on every master and fail whenever any master's replica lags.)
    pub(crate) async fn waited_step<T: redis::FromRedisValue>(
        &self,
        point: &'static str,
        call: &ScriptCall<'_>,
    ) -> StoreResult<(T, Replicas)> {
        let wanted = self.opts.wait_replicas;
        let Some(mut con) = self.waited_conn().filter(|_| wanted > 0) else {
            let value = self.step(point, &call.invocation()).await?;
            return Ok((value, Replicas { acked: 0, wanted: 0 }));
        };
        let mut pipe = redis::pipe();
        pipe.add_command(call.evalsha()).cmd("WAIT").arg(wanted).arg(self.wait_timeout_ms());
        let send = send_reloading::<(T, i64)>(&mut con, &pipe, Some(call.script()));
        let limit = self.opts.op_timeout + self.opts.wait_timeout;
        let (value, acked) = self.opts.faults.step(point, || bounded(limit, send)).await?;
        Ok((value, Replicas { acked, wanted }))
    }

    /// One of the waited-for connections, in turn; none when no replica is waited for.
    fn waited_conn(&self) -> Option<Conn> {
        let n = self.next_waited.fetch_add(1, Ordering::Relaxed);
        self.waited.get(n % self.waited.len().max(1)).cloned()
    }

    /// Confirms (`confirm_admission.lua`) or releases (`release_admission.lua`) the ping's
    /// vertical marks, every identifier in parallel: each is one script on its own slot.
    pub(crate) async fn own_vertical_marks(&self, req: &Admission, confirm: bool) -> StoreResult<()> {
        let calls = distinct(&req.idents).into_iter().map(|ident| async move {
            let (script, point) = if confirm {
                (&self.scripts.confirm_admission, per_kind(&ident, ["redis.confirm.email", "redis.confirm.phone"]))
            } else {
                (&self.scripts.release_admission, per_kind(&ident, ["redis.release.email", "redis.release.phone"]))
            };
            let mut call = script.key(self.keys.consumer(&ident.hash));
            call.arg(req.vertical.as_str()).arg(&req.ping_id);
            let _: i64 = self.step(point, &call).await?;
            Ok::<_, StoreError>(())
        });
        join_all(calls).await.into_iter().collect()
    }

    async fn record_dq_all(&self, idents: Vec<Ident>, buyers: Vec<BuyerId>, now: Timestamp) -> StoreResult<()> {
        if buyers.is_empty() {
            return Ok(());
        }
        let calls = distinct(&idents).into_iter().map(|ident| {
            let mut call = self.scripts.record_dq.key(self.keys.consumer(&ident.hash));
            call.arg(ms(now)).arg(self.retention_ms());
            for b in &buyers {
                call.arg(b.as_str());
            }
            async move {
                let point = per_kind(&ident, ["redis.record_dq.email", "redis.record_dq.phone"]);
                let _: i64 = self.step(point, &call).await?;
                Ok::<_, StoreError>(())
            }
        });
        join_all(calls).await.into_iter().collect()
    }

    async fn claim_key(&self, req: ClaimRequest) -> StoreResult<Claim> {
        let mut call = self.scripts.claim.key(self.keys.claim(&req.key));
        call.arg(&req.fingerprint)
            .arg(ms(req.now))
            .arg(ms(req.lease_until))
            .arg(&req.holder)
            .arg(ttl_ms(req.now, req.keep_until));
        let reply: Vec<Vec<u8>> = self.step("redis.claim", &call).await?;
        match text(&reply, 0)? {
            "C" => Ok(Claim::Claimed { resumed: text(&reply, 1)? == "1" }),
            "F" => Ok(Claim::InFlight),
            "M" => Ok(Claim::Mismatch),
            "D" => Ok(Claim::Done(reply.get(1).cloned().unwrap_or_default())),
            other => Err(corrupt(format!("claim answered {other:?}"))),
        }
    }
}

/// How many replicas acknowledged a waited step, of how many wanted (0 when none is).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Replicas {
    acked: i64,
    wanted: u32,
}

impl Replicas {
    /// Fails like an unavailable store when fewer replicas acknowledged than wanted: the
    /// engine must not act on a write a failover could lose.
    pub(crate) fn require(self) -> StoreResult<()> {
        if self.acked < i64::from(self.wanted) {
            return Err(StoreError::Unavailable(format!(
                "only {} of {} replicas acknowledged the write",
                self.acked, self.wanted
            )));
        }
        Ok(())
    }
}

/// The failpoint of a per-identifier script, by the identifier's kind.
pub(crate) fn per_kind(ident: &Ident, points: [&'static str; 2]) -> &'static str {
    match ident.kind {
        pingpost_core::identity::IdentKind::Email => points[0],
        pingpost_core::identity::IdentKind::Phone => points[1],
    }
}

impl Admissions for RedisStore {
    fn admit(&self, req: Admission) -> StoreFuture<'_, AdmitOutcome> {
        Box::pin(self.admit_all(req))
    }

    fn confirm_admission(&self, req: Admission) -> StoreFuture<'_, ()> {
        Box::pin(async move { self.own_vertical_marks(&req, true).await })
    }

    fn release_admission(&self, req: Admission) -> StoreFuture<'_, ()> {
        Box::pin(async move { self.own_vertical_marks(&req, false).await })
    }

    fn record_dq(&self, idents: Vec<Ident>, buyers: Vec<BuyerId>, now: Timestamp) -> StoreFuture<'_, ()> {
        Box::pin(self.record_dq_all(idents, buyers, now))
    }
}

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

impl Sales for RedisStore {
    fn reserve_sale(&self, req: SaleReservation) -> StoreFuture<'_, ReserveOutcome> {
        Box::pin(self.reserve(req))
    }

    fn settle_sale(&self, s: Settlement) -> StoreFuture<'_, Option<LedgerState>> {
        Box::pin(self.settle(s))
    }

    fn settle_ledger(&self, s: Settlement) -> StoreFuture<'_, Option<LedgerState>> {
        Box::pin(async move { self.settle_entry(&s).await })
    }

    fn settle_marks(&self, s: Settlement, state: Option<LedgerState>) -> StoreFuture<'_, ()> {
        Box::pin(async move { self.settle_marks_to(&s, state).await })
    }

    fn ledger(&self, q: LedgerQuery) -> StoreFuture<'_, Vec<SaleRecord>> {
        Box::pin(self.ledger_entries(q))
    }
}

impl Balances for RedisStore {
    fn top_up(&self, t: TopUp) -> StoreFuture<'_, TopUpOutcome> {
        Box::pin(self.top_up_credit(t))
    }

    fn buyer_money(&self, buyer: BuyerId) -> StoreFuture<'_, BuyerMoney> {
        Box::pin(async move { self.money_of(&buyer).await })
    }
}

impl Returns for RedisStore {
    fn open_return(&self, r: ReturnRequest) -> StoreFuture<'_, ReturnOutcome> {
        Box::pin(self.open_return_now(r))
    }

    fn decide_return(
        &self,
        return_id: String,
        approve: bool,
        note: Option<String>,
        at: Timestamp,
    ) -> StoreFuture<'_, DecideOutcome> {
        Box::pin(self.decide_return_now(return_id, approve, note, at))
    }

    fn returns(&self, q: ReturnQuery) -> StoreFuture<'_, Vec<ReturnRecord>> {
        Box::pin(self.returns_matching(q))
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

impl Claims for RedisStore {
    fn claim(&self, req: ClaimRequest) -> StoreFuture<'_, Claim> {
        Box::pin(self.claim_key(req))
    }

    fn complete_claim(
        &self,
        key: String,
        holder: String,
        answer: Vec<u8>,
        now: Timestamp,
        keep_until: Timestamp,
    ) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut call = self.scripts.complete_claim.key(self.keys.claim(&key));
            call.arg(holder).arg(answer).arg(ttl_ms(now, keep_until));
            let _: i64 = self.step("redis.complete_claim", &call).await?;
            Ok(())
        })
    }

    fn abandon_claim(&self, key: String, holder: String) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut call = self.scripts.abandon_claim.key(self.keys.claim(&key));
            call.arg(holder);
            let _: i64 = self.step("redis.abandon_claim", &call).await?;
            Ok(())
        })
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

impl Erasure for RedisStore {
    fn erase(&self, hashes: Vec<Sha256Hex>, now: Timestamp) -> StoreFuture<'_, Erased> {
        Box::pin(async move {
            let mut erased = Erased::default();
            for h in hashes {
                let mut call = ScriptCall::new(&self.scripts.erase);
                call.key(self.keys.consumer(&h)).arg(ms(now));
                let (counts, replicas): ((u64, u64, u64, u64), Replicas) =
                    self.waited_step("redis.erase", &call).await?;
                replicas.require()?;
                erased +=
                    Erased { vertical_submissions: counts.0, sales: counts.1, dq: counts.2, kept_in_flight: counts.3 };
            }
            Ok(erased)
        })
    }
}

impl Upkeep for RedisStore {
    fn sweep(&self, now: Timestamp) -> StoreFuture<'_, SweepReport> {
        // Everything else expires by TTL; only reservations past their lease need a hand.
        Box::pin(async move {
            let (settled, unconfirmed) = self.sweep_ledger(now).await?;
            self.repair_marks(now).await?;
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

impl ConfigDocs for RedisStore {
    fn config(&self) -> StoreFuture<'_, Option<ConfigDoc>> {
        Box::pin(async move {
            let mut con = self.conn.clone();
            let mut fields = redis::cmd("HMGET");
            fields.arg(self.keys.config()).arg(&["v", "rev", "doc"][..]);
            let (version, rev, body): (Option<u64>, Option<String>, Option<Vec<u8>>) =
                self.run(fields.query_async(&mut con)).await?;
            match (version, body) {
                (Some(version), Some(body)) => Ok(Some(ConfigDoc { stamp: config_stamp(version, rev), body })),
                (None, None) => Ok(None),
                _ => Err(corrupt("configuration document without its version")),
            }
        })
    }

    fn config_stamp(&self) -> StoreFuture<'_, Option<ConfigStamp>> {
        Box::pin(async move {
            let mut con = self.conn.clone();
            let mut fields = redis::cmd("HMGET");
            fields.arg(self.keys.config()).arg(&["v", "rev"][..]);
            let (version, rev): (Option<u64>, Option<String>) = self.run(fields.query_async(&mut con)).await?;
            Ok(version.map(|v| config_stamp(v, rev)))
        })
    }

    fn save_config(
        &self,
        expected: Option<ConfigStamp>,
        rev: String,
        body: Vec<u8>,
    ) -> StoreFuture<'_, Option<ConfigStamp>> {
        Box::pin(async move {
            let (expected_version, expected_rev) = expected.map_or((0, String::new()), |s| (s.version, s.rev));
            let mut call = ScriptCall::new(&self.scripts.save_config);
            call.key(self.keys.config()).arg(expected_version).arg(expected_rev).arg(&rev).arg(body);
            let (version, replicas): (i64, Replicas) = self.waited_step("redis.save_config", &call).await?;
            let Ok(version) = u64::try_from(version) else { return Ok(None) };
            replicas.require()?;
            Ok(Some(ConfigStamp { version, rev }))
        })
    }
}

/// A stored document's stamp; one written before writes had ids has the empty one.
fn config_stamp(version: u64, rev: Option<String>) -> ConfigStamp {
    ConfigStamp { version, rev: rev.unwrap_or_default() }
}
