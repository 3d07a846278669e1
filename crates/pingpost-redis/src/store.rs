//! `Store` on Redis: each method is one script per slot, composed in a fixed order.

use crate::codec::{self, corrupt, ms, parse_ms, ttl_ms, HistoryField};
use crate::conn::Conn;
use crate::RedisStore;
use futures_util::future::join_all;
use futures_util::stream::{self, StreamExt};
use pingpost_core::checkpoint::ConsumerHistory;
use pingpost_core::identity::{Ident, Sha256Hex};
use pingpost_core::ids::BuyerId;
use pingpost_core::money::Money;
use pingpost_core::Timestamp;
use pingpost_store::*;
use redis::{AsyncCommands, Value};
use std::collections::HashMap;

/// How many abandoned reservations one sweep script settles before the next call.
const SWEEP_BATCH: usize = 256;
/// How many single-key commands run at once in bulk operations (suppression lists) on a
/// cluster, where each key may live on another node.
const BULK_CONCURRENCY: usize = 256;
/// Commands per pipeline in bulk operations on a single Redis, and pipelines in flight: big
/// enough that round trips stop mattering, small enough that one pipeline answers well
/// inside the response timeout.
const BULK_PIPELINE: usize = 1_000;
const BULK_PIPELINES_IN_FLIGHT: usize = 4;

/// One identifier's answer to the admission script.
enum IdentAdmission {
    Suppressed(Timestamp),
    Duplicate(Timestamp),
    NotSuppressed,
    Admitted(Vec<HistoryField>),
}

/// The request's identifiers without repeats, in the request's order (email before phone):
/// the fixed order every multi-slot operation takes them in.
fn distinct(idents: &[Ident]) -> Vec<Ident> {
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

fn text(reply: &[Vec<u8>], i: usize) -> Result<&str, StoreError> {
    reply.get(i).and_then(|b| std::str::from_utf8(b).ok()).ok_or_else(|| corrupt("script reply"))
}

impl RedisStore {
    /// Runs one single-key command per hash's suppression key and reads each answer, in
    /// order. On a single Redis the commands go in pipelines; on a cluster a pipeline must
    /// stay in one slot (redis-rs refuses it client-side otherwise) and these keys are spread
    /// over all slots, so each command goes alone, many at a time on the multiplexed
    /// connection, which redis-rs routes to the owning node.
    async fn per_key<T>(
        &self,
        hashes: &[&Sha256Hex],
        cmd: impl Fn(String) -> redis::Cmd,
        read: impl Fn(Value) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let cmds: Vec<redis::Cmd> = hashes.iter().map(|h| cmd(self.keys.suppressed(h))).collect();
        let values: Vec<Value> = match &self.conn {
            Conn::Single(_) => {
                let mut pipes: Vec<redis::Pipeline> = Vec::with_capacity(cmds.len().div_ceil(BULK_PIPELINE));
                for (i, c) in cmds.into_iter().enumerate() {
                    if i % BULK_PIPELINE == 0 {
                        pipes.push(redis::pipe());
                    }
                    if let Some(pipe) = pipes.last_mut() {
                        pipe.add_command(c);
                    }
                }
                let pipelines = pipes.into_iter().map(|pipe| {
                    let mut con = self.conn.clone();
                    async move { self.run(pipe.query_async::<Vec<Value>>(&mut con)).await }
                });
                let answers: Vec<StoreResult<Vec<Value>>> =
                    stream::iter(pipelines).buffered(BULK_PIPELINES_IN_FLIGHT).collect().await;
                let mut values = Vec::with_capacity(hashes.len());
                for a in answers {
                    values.extend(a?);
                }
                values
            }
            Conn::Cluster(_) => {
                let calls = cmds.into_iter().map(|c| {
                    let mut con = self.conn.clone();
                    async move { self.run(c.query_async::<Value>(&mut con)).await }
                });
                let answers: Vec<StoreResult<Value>> = stream::iter(calls).buffered(BULK_CONCURRENCY).collect().await;
                answers.into_iter().collect::<StoreResult<_>>()?
            }
        };
        if values.len() != hashes.len() {
            return Err(corrupt(format!("{} answers to {} commands", values.len(), hashes.len())));
        }
        values.into_iter().map(read).collect()
    }

    fn retention_ms(&self) -> i64 {
        self.opts.retention.num_milliseconds()
    }

    async fn admit_ident(&self, ident: &Ident, req: &Admission, mode: &str) -> StoreResult<IdentAdmission> {
        let mut con = self.conn.clone();
        let mut call = self.scripts.admit.key(self.keys.suppressed(&ident.hash));
        call.key(self.keys.consumer(&ident.hash))
            .arg(mode)
            .arg(req.vertical.as_str())
            .arg(ms(req.now))
            .arg(req.window.duration().num_milliseconds())
            .arg(&req.ping_id)
            .arg(self.retention_ms());
        let reply: Vec<Vec<u8>> = self.run(call.invoke_async(&mut con)).await?;
        match text(&reply, 0)? {
            "S" => Ok(IdentAdmission::Suppressed(parse_ms(text(&reply, 1)?)?)),
            "V" => Ok(IdentAdmission::Duplicate(parse_ms(text(&reply, 1)?)?)),
            "OK" => Ok(IdentAdmission::NotSuppressed),
            "A" => {
                let mut fields = Vec::with_capacity(reply.len() / 2);
                for pair in 1..reply.len().div_ceil(2) {
                    let (f, v) = (text(&reply, 2 * pair - 1)?, text(&reply, 2 * pair)?);
                    fields.extend(codec::decode_history_field(f, v, ident.kind)?);
                }
                Ok(IdentAdmission::Admitted(fields))
            }
            other => Err(corrupt(format!("admit answered {other:?}"))),
        }
    }

    async fn release_ident(&self, ident: &Ident, req: &Admission) -> StoreResult<()> {
        let mut con = self.conn.clone();
        let mut call = self.scripts.release_admission.key(self.keys.consumer(&ident.hash));
        call.arg(req.vertical.as_str()).arg(&req.ping_id);
        let _: i64 = self.run(call.invoke_async(&mut con)).await?;
        Ok(())
    }

    /// Undoes the steps a refused or failed admission already took. Best effort: if Redis
    /// is gone, the stray mark only makes a retry look like a duplicate (never a sale).
    async fn release_idents(&self, idents: &[Ident], req: &Admission) {
        for r in join_all(idents.iter().map(|i| self.release_ident(i, req))).await {
            if let Err(e) = r {
                tracing::warn!(ping_id = %req.ping_id, error = %e, "vertical reservation not undone");
            }
        }
    }

    async fn admit_all(&self, req: Admission) -> StoreResult<AdmitOutcome> {
        let idents = distinct(&req.idents);
        let mut history = ConsumerHistory::default();
        for (i, ident) in idents.iter().enumerate() {
            let answer = match self.admit_ident(ident, &req, "admit").await {
                Ok(a) => a,
                Err(e) => {
                    self.release_idents(&idents[..i], &req).await;
                    return Err(e);
                }
            };
            match answer {
                IdentAdmission::Admitted(fields) => {
                    for f in fields {
                        match f {
                            HistoryField::Sale(m) => history.sales.push(m),
                            HistoryField::Dq(m) => history.dq.push(m),
                        }
                    }
                }
                IdentAdmission::Suppressed(since) => {
                    self.release_idents(&idents[..i], &req).await;
                    return Ok(AdmitOutcome::Suppressed { matched: ident.kind, since });
                }
                IdentAdmission::Duplicate(prior_at) => {
                    self.release_idents(&idents[..i], &req).await;
                    // Checkpoint 1 comes before 2: a later identifier may be suppressed.
                    for later in &idents[i + 1..] {
                        if let IdentAdmission::Suppressed(since) = self.admit_ident(later, &req, "check").await? {
                            return Ok(AdmitOutcome::Suppressed { matched: later.kind, since });
                        }
                    }
                    return Ok(AdmitOutcome::VerticalDuplicate { matched: ident.kind, prior_at });
                }
                IdentAdmission::NotSuppressed => return Err(corrupt("admit answered a check")),
            }
        }
        Ok(AdmitOutcome::Admitted { history })
    }

    async fn reserve_mark(&self, ident: &Ident, req: &SaleReservation) -> StoreResult<Option<Timestamp>> {
        let mut con = self.conn.clone();
        let window = req.window.map(|w| w.duration().num_milliseconds().to_string()).unwrap_or_default();
        let mut call = self.scripts.reserve_mark.key(self.keys.consumer(&ident.hash));
        call.arg(req.record.buyer.as_str())
            .arg(&req.record.sale_id)
            .arg(ms(req.record.reserved_at))
            .arg(window)
            .arg(self.retention_ms());
        let reply: Vec<Vec<u8>> = self.run(call.invoke_async(&mut con)).await?;
        match text(&reply, 0)? {
            "R" => Ok(None),
            "B" => Ok(Some(parse_ms(text(&reply, 1)?)?)),
            other => Err(corrupt(format!("reserve answered {other:?}"))),
        }
    }

    /// Moves one identifier's mark of `sale_id` to `state` ("S", "D") at `at`, or removes
    /// it ("").
    async fn settle_mark(&self, ident: &Ident, sale_id: &str, state: &str, at: Timestamp) -> StoreResult<()> {
        let mut con = self.conn.clone();
        let mut call = self.scripts.settle_mark.key(self.keys.consumer(&ident.hash));
        call.arg(sale_id).arg(state).arg(ms(at)).arg(self.retention_ms());
        let _: i64 = self.run(call.invoke_async(&mut con)).await?;
        Ok(())
    }

    async fn settle_marks(&self, idents: &[Ident], sale_id: &str, state: &str, at: Timestamp) -> StoreResult<()> {
        join_all(idents.iter().map(|i| self.settle_mark(i, sale_id, state, at))).await.into_iter().collect()
    }

    async fn unmark(&self, idents: &[Ident], req: &SaleReservation) {
        if let Err(e) = self.settle_marks(idents, &req.record.sale_id, "", req.record.reserved_at).await {
            // A mark left behind keeps the buyer off this consumer until its window ends:
            // a lost sale at worst, never a double one.
            tracing::warn!(sale_id = %req.record.sale_id, error = %e, "reservation mark not undone");
        }
    }

    async fn reserve_ledger(&self, req: &SaleReservation) -> StoreResult<Option<usize>> {
        let mut con = self.conn.clone();
        let now = req.record.reserved_at;
        let mut call = self.scripts.reserve_ledger.key(self.keys.sale(&req.record.sale_id));
        call.key(self.keys.leases())
            .arg(&req.record.sale_id)
            .arg(ms(req.lease_until))
            .arg(self.retention_ms())
            .arg(codec::encode_record(&req.record)?)
            .arg(codec::encode_idents(&distinct(&req.idents)))
            .arg(req.record.price.minor());
        for d in &req.debits {
            call.key(self.keys.counter(&d.key))
                .arg(d.amount)
                .arg(d.limit)
                .arg(i64::from(d.is_money))
                .arg(d.expires_at.map(|e| ttl_ms(now, e).to_string()).unwrap_or_default());
        }
        let reply: Vec<Vec<u8>> = self.run(call.invoke_async(&mut con)).await?;
        match text(&reply, 0)? {
            "R" => Ok(None),
            "L" => {
                let i: usize = text(&reply, 1)?.parse().map_err(|_| corrupt("debit index"))?;
                Ok(Some(i.saturating_sub(1)))
            }
            other => Err(corrupt(format!("ledger answered {other:?}"))),
        }
    }

    async fn reserve(&self, req: SaleReservation) -> StoreResult<ReserveOutcome> {
        let idents = distinct(&req.idents);
        for (i, ident) in idents.iter().enumerate() {
            match self.reserve_mark(ident, &req).await {
                Ok(None) => {}
                Ok(Some(prior_at)) => {
                    self.unmark(&idents[..i], &req).await;
                    return Ok(ReserveOutcome::AlreadyBought { matched: ident.kind, prior_at });
                }
                Err(e) => {
                    self.unmark(&idents[..i], &req).await;
                    return Err(e);
                }
            }
        }
        match self.reserve_ledger(&req).await {
            Ok(None) => Ok(ReserveOutcome::Reserved),
            Ok(Some(i)) => {
                self.unmark(&idents, &req).await;
                let key = req.debits.get(i).map(|d| d.key.clone()).unwrap_or_default();
                Ok(ReserveOutcome::LimitReached { key })
            }
            Err(e) => {
                self.unmark(&idents, &req).await;
                Err(e)
            }
        }
    }

    /// Settles the ledger entry (once), then the consumer marks it names.
    async fn settle(
        &self,
        sale_id: &str,
        state: LedgerState,
        mark: &str,
        at: Timestamp,
        final_price: Option<Money>,
    ) -> StoreResult<()> {
        let mut con = self.conn.clone();
        let mut call = self.scripts.settle_ledger.key(self.keys.sale(sale_id));
        call.key(self.keys.leases())
            .arg(codec::ledger_code(state))
            .arg(final_price.map(|p| p.minor().to_string()).unwrap_or_default())
            .arg(self.retention_ms());
        let idents: Option<String> = self.run(call.invoke_async(&mut con)).await?;
        let Some(idents) = idents else { return Ok(()) };
        self.settle_marks(&codec::decode_idents(&idents)?, sale_id, mark, at).await
    }

    async fn record_dq_all(&self, idents: Vec<Ident>, buyers: Vec<BuyerId>, now: Timestamp) -> StoreResult<()> {
        if buyers.is_empty() {
            return Ok(());
        }
        let calls = distinct(&idents).into_iter().map(|ident| {
            let mut con = self.conn.clone();
            let mut call = self.scripts.record_dq.key(self.keys.consumer(&ident.hash));
            call.arg(ms(now)).arg(self.retention_ms());
            for b in &buyers {
                call.arg(b.as_str());
            }
            async move {
                let _: i64 = self.run(call.invoke_async(&mut con)).await?;
                Ok::<_, StoreError>(())
            }
        });
        join_all(calls).await.into_iter().collect()
    }

    async fn sweep_ledger(&self, now: Timestamp) -> StoreResult<u64> {
        let mut settled = 0;
        loop {
            let mut con = self.conn.clone();
            let mut call = self.scripts.sweep_ledger.key(self.keys.leases());
            call.arg(ms(now)).arg(SWEEP_BATCH);
            let reply: Vec<String> = self.run(call.invoke_async(&mut con)).await?;
            for pair in reply.chunks(2) {
                let [sale_id, idents] = pair else { return Err(corrupt("sweep reply")) };
                self.settle_marks(&codec::decode_idents(idents)?, sale_id, "S", now).await?;
                settled += 1;
            }
            if reply.len() / 2 < SWEEP_BATCH {
                return Ok(settled);
            }
        }
    }

    async fn claim_key(&self, req: ClaimRequest) -> StoreResult<Claim> {
        let mut con = self.conn.clone();
        let mut call = self.scripts.claim.key(self.keys.claim(&req.key));
        call.arg(&req.fingerprint).arg(ms(req.now)).arg(ms(req.lease_until)).arg(ttl_ms(req.now, req.lease_until));
        let reply: Vec<Vec<u8>> = self.run(call.invoke_async(&mut con)).await?;
        match text(&reply, 0)? {
            "C" => Ok(Claim::Claimed),
            "F" => Ok(Claim::InFlight),
            "M" => Ok(Claim::Mismatch),
            "D" => Ok(Claim::Done(reply.get(1).cloned().unwrap_or_default())),
            other => Err(corrupt(format!("claim answered {other:?}"))),
        }
    }
}

impl Store for RedisStore {
    fn admit(&self, req: Admission) -> StoreFuture<'_, AdmitOutcome> {
        Box::pin(self.admit_all(req))
    }

    fn release_admission(&self, req: Admission) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let idents = distinct(&req.idents);
            join_all(idents.iter().map(|i| self.release_ident(i, &req))).await.into_iter().collect()
        })
    }

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

    fn record_dq(&self, idents: Vec<Ident>, buyers: Vec<BuyerId>, now: Timestamp) -> StoreFuture<'_, ()> {
        Box::pin(self.record_dq_all(idents, buyers, now))
    }

    fn reserve_sale(&self, req: SaleReservation) -> StoreFuture<'_, ReserveOutcome> {
        Box::pin(self.reserve(req))
    }

    fn commit_sale(&self, sale_id: String, final_price: Money, now: Timestamp) -> StoreFuture<'_, ()> {
        Box::pin(async move { self.settle(&sale_id, LedgerState::Sold, "S", now, Some(final_price)).await })
    }

    fn release_sale(&self, sale_id: String) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let epoch = codec::from_ms(0)?;
            self.settle(&sale_id, LedgerState::Released, "", epoch, None).await
        })
    }

    fn rollback_sale(&self, sale_id: String, now: Timestamp) -> StoreFuture<'_, ()> {
        Box::pin(async move { self.settle(&sale_id, LedgerState::RolledBack, "D", now, None).await })
    }

    fn sale(&self, sale_id: String) -> StoreFuture<'_, Option<SaleRecord>> {
        Box::pin(async move {
            let mut con = self.conn.clone();
            let (rec, price, state): (Option<String>, Option<String>, Option<String>) =
                self.run(con.hmget(self.keys.sale(&sale_id), &["rec", "price", "st"])).await?;
            match (rec, price, state) {
                (Some(rec), Some(price), Some(state)) => Ok(Some(codec::decode_record(&rec, &price, &state)?)),
                _ => Ok(None),
            }
        })
    }

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

    fn claim(&self, req: ClaimRequest) -> StoreFuture<'_, Claim> {
        Box::pin(self.claim_key(req))
    }

    fn complete_claim(
        &self,
        key: String,
        answer: Vec<u8>,
        now: Timestamp,
        keep_until: Timestamp,
    ) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut con = self.conn.clone();
            let mut call = self.scripts.complete_claim.key(self.keys.claim(&key));
            call.arg(answer).arg(ttl_ms(now, keep_until));
            let _: i64 = self.run(call.invoke_async(&mut con)).await?;
            Ok(())
        })
    }

    fn abandon_claim(&self, key: String) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut con = self.conn.clone();
            let call = self.scripts.abandon_claim.key(self.keys.claim(&key));
            let _: i64 = self.run(call.invoke_async(&mut con)).await?;
            Ok(())
        })
    }

    fn suppress(&self, hashes: Vec<Sha256Hex>, now: Timestamp) -> StoreFuture<'_, Vec<bool>> {
        Box::pin(async move {
            let (distinct, index) = distinct_hashes(&hashes);
            let at = ms(now);
            let set = self
                .per_key(&distinct, |key| redis::cmd("SET").arg(key).arg(at).arg("NX").clone(), |v| Ok(v != Value::Nil))
                .await?;
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
                    &distinct,
                    |key| redis::cmd("DEL").arg(key).clone(),
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
                    &distinct,
                    |key| redis::cmd("GET").arg(key).clone(),
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

    fn sweep(&self, now: Timestamp, _keep: chrono::Duration) -> StoreFuture<'_, SweepReport> {
        // Everything else expires by TTL; only abandoned reservations need a hand.
        Box::pin(async move {
            Ok(SweepReport { reservations_unconfirmed: self.sweep_ledger(now).await?, ..Default::default() })
        })
    }

    fn health(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut con = self.conn.clone();
            let _: String = self.run(redis::cmd("PING").query_async(&mut con)).await?;
            Ok(())
        })
    }

    fn erase(&self, hashes: Vec<Sha256Hex>) -> StoreFuture<'_, Erased> {
        Box::pin(async move {
            let mut erased = Erased::default();
            for h in hashes {
                let mut con = self.conn.clone();
                let call = self.scripts.erase.key(self.keys.consumer(&h));
                let counts: (u64, u64, u64) = self.run(call.invoke_async(&mut con)).await?;
                erased += Erased { vertical_submissions: counts.0, sales: counts.1, dq: counts.2 };
            }
            Ok(erased)
        })
    }

    fn config(&self) -> StoreFuture<'_, Option<ConfigDoc>> {
        Box::pin(async move {
            let mut con = self.conn.clone();
            let (version, body): (Option<u64>, Option<Vec<u8>>) =
                self.run(redis::cmd("HMGET").arg(self.keys.config()).arg("v").arg("doc").query_async(&mut con)).await?;
            match (version, body) {
                (Some(version), Some(body)) => Ok(Some(ConfigDoc { version, body })),
                (None, None) => Ok(None),
                _ => Err(corrupt("configuration document without its version")),
            }
        })
    }

    fn config_version(&self) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let mut con = self.conn.clone();
            let version: Option<u64> = self.run(con.hget(self.keys.config(), "v")).await?;
            Ok(version.unwrap_or(0))
        })
    }

    fn save_config(&self, expected: u64, body: Vec<u8>) -> StoreFuture<'_, Option<u64>> {
        Box::pin(async move {
            let mut con = self.conn.clone();
            let mut call = self.scripts.save_config.key(self.keys.config());
            call.arg(expected).arg(body);
            let version: i64 = self.run(call.invoke_async(&mut con)).await?;
            Ok(u64::try_from(version).ok())
        })
    }
}
