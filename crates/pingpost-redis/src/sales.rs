//! Sales on Redis, each step one script on the sale's buyer's slot: the reservation (the
//! buyer's marks on the consumer, its debits, the entry), the settlement (the entry and the
//! marks), a post's take-over (a fence per sale); the ledger's queries and its sweep, buyer by
//! buyer.
//!
//! Each step is one script that recognises its own earlier effect by the sale id, so any
//! step may be re-sent, and stopping between two (a crash, a lost reply) leaves every slot
//! whole: see the crate's docs ("Why the steps are safe").

use crate::codec::{self, corrupt, ms, ttl_ms};
use crate::scripts::ScriptCall;
use crate::store::{distinct, text, Replicas};
use crate::RedisStore;
use futures_util::future::join_all;
use pingpost_core::ids::BuyerId;
use pingpost_core::Timestamp;
use pingpost_store::*;
use redis::AsyncCommands;

/// How many lapsed reservations one sweep script turns unconfirmed before the next call.
const SWEEP_BATCH: usize = 256;
/// How long a release's tombstone entry fences a reservation still on its way: far longer
/// than any call can be delayed.
const TOMBSTONE_TTL: chrono::Duration = chrono::Duration::days(1);
/// Ledger entries one query reads at most.
const LEDGER_READ_MAX: usize = 1_000;

impl RedisStore {
    /// A sale's reservation: one script on its buyer's slot (`lua/reserve_sale.lua`), beside
    /// the line that lists it under its ping. Its buyer is added to the buyers with state
    /// first, the first time this node reserves for it.
    pub(crate) async fn reserve(&self, req: SaleReservation) -> StoreResult<ReserveOutcome> {
        let r = &req.record;
        let buyer = r.buyer.as_str();
        self.register_buyer(buyer).await?;
        let idents = distinct(&req.idents);
        let counts_after = req.window.map(|w| ms(w.counts_after(r.reserved_at)).to_string()).unwrap_or_default();
        let mut call = ScriptCall::new(&self.scripts.reserve_sale);
        call.key(self.keys.sale(buyer, &r.sale_id)).key(self.keys.leases(buyer));
        for ident in &idents {
            call.key(self.keys.bought(buyer, &ident.hash));
        }
        call.arg(&r.sale_id)
            .arg(ms(r.lease_until))
            .arg(self.retention_ms())
            .arg(codec::encode_record(r)?)
            .arg(codec::encode_idents(&idents))
            .arg(r.price.minor())
            .arg(&r.holder)
            .arg(r.payout.minor())
            .arg(buyer)
            .arg(ms(r.reserved_at))
            .arg(counts_after)
            .arg(idents.len())
            .arg(req.debits.len());
        // Credit counters go after the debits' own, each once, named by their KEYS index.
        let before_credits = 2 + idents.len() + req.debits.len();
        let mut credits: Vec<&str> = Vec::new();
        for d in &req.debits {
            let credit = d.credit_key.as_deref().map(|c| {
                let at = credits.iter().position(|x| *x == c).unwrap_or_else(|| {
                    credits.push(c);
                    credits.len() - 1
                });
                (before_credits + at + 1).to_string()
            });
            call.key(self.keys.counter(&d.key))
                .arg(d.amount)
                .arg(d.limit)
                .arg(i64::from(d.is_money))
                .arg(d.expires_at.map(|e| ttl_ms(r.reserved_at, e).to_string()).unwrap_or_default())
                .arg(credit.unwrap_or_default());
        }
        for c in credits {
            call.key(self.keys.counter(c));
        }
        let (reserved, indexed) = tokio::join!(self.waited_step("redis.reserve_sale", &call), self.index_sale(&req));
        let (reply, replicas): (Vec<Vec<u8>>, Replicas) = reserved?;
        indexed?;
        match text(&reply, 0)? {
            "R" => {
                replicas.require()?;
                Ok(ReserveOutcome::Reserved)
            }
            "E" => {
                let (state, rec, price, reason) =
                    (text(&reply, 1)?, text(&reply, 2)?, text(&reply, 3)?, text(&reply, 4)?);
                if rec.is_empty() {
                    // A release's tombstone: the sale was given up before this arrived.
                    let mut gone = r.clone();
                    gone.state = LedgerState::Released;
                    // The reason the release gave (why the sale was given up).
                    gone.reason = Some(if reason.is_empty() { "store_unavailable" } else { reason }.to_string());
                    return Ok(ReserveOutcome::Existing(Box::new(gone)));
                }
                let (payout, lead) = (text(&reply, 5)?, text(&reply, 6)?);
                let entry =
                    codec::decode_record(codec::StoredSale { rec, price, payout, state, reason, sold: "", lead })?;
                if entry.state == LedgerState::Reserved && entry.holder == r.holder {
                    // Our own reservation, answered to a re-sent call: the engine delivers on
                    // it as on a fresh one. The script rewrote the entry's holder, a write
                    // this `WAIT` counts, and replication keeps order: acknowledged, it means
                    // the replicas also have the entry the first call wrote (perhaps through
                    // another connection, whose writes this `WAIT` does not count).
                    replicas.require()?;
                }
                Ok(ReserveOutcome::Existing(Box::new(entry)))
            }
            // Fenced: a later holder of the post took it over.
            "F" => Ok(ReserveOutcome::SlotsTaken),
            "B" => {
                let i: usize = text(&reply, 1)?.parse().map_err(|_| corrupt("identifier index"))?;
                let matched = idents.get(i.saturating_sub(1)).ok_or_else(|| corrupt("identifier index"))?.kind;
                Ok(ReserveOutcome::AlreadyBought { matched, prior_at: codec::parse_ms(text(&reply, 2)?)? })
            }
            "L" => {
                let i: usize = text(&reply, 1)?.parse().map_err(|_| corrupt("debit index"))?;
                let key = req.debits.get(i.saturating_sub(1)).map(|d| d.key.clone()).unwrap_or_default();
                Ok(ReserveOutcome::LimitReached { key })
            }
            other => Err(corrupt(format!("reserve answered {other:?}"))),
        }
    }

    /// A sale's settlement: one script on its buyer's slot (`lua/settle_sale.lua`), the
    /// entry and the buyer's marks together; answers the entry's state afterwards. What it
    /// moves is [`settling`]'s, computed here for either state the entry may be in, so the
    /// script only picks the one that applies.
    pub(crate) async fn settle(&self, s: Settlement) -> StoreResult<Option<LedgerState>> {
        let from_reserved = settling(LedgerState::Reserved, &s.end, &s.reserved);
        let from_unconfirmed = settling(LedgerState::Unconfirmed, &s.end, &s.reserved);
        let target = from_reserved.state;
        let (code, lead) = match &s.end {
            SaleEnd::Sold { lead_id, .. } => ("S", lead_id.as_deref().unwrap_or("")),
            SaleEnd::Released { .. } => ("B", ""),
            SaleEnd::RolledBack => ("D", ""),
        };
        // What the marks become when this call settles the entry (`marks_after`, the one rule).
        let mark = codec::mark_code(marks_after(Some(target), &s.end)).unwrap_or("X");
        let buyer = s.buyer.as_str();
        let debits = &s.reserved.debits;
        let mut call = ScriptCall::new(&self.scripts.settle_sale);
        call.key(self.keys.sale(buyer, &s.sale_id))
            .key(self.keys.leases(buyer))
            .key(self.keys.unconfirmed(buyer))
            .key(self.keys.outbox(buyer))
            .key(self.keys.outbox_order(buyer))
            .key(self.keys.buyer_sales(buyer));
        for d in debits {
            call.key(self.keys.counter(&d.key));
        }
        for ident in distinct(&s.idents) {
            call.key(self.keys.bought(buyer, &ident.hash));
        }
        call.arg(code)
            .arg(self.retention_ms())
            .arg(&s.sale_id)
            .arg(TOMBSTONE_TTL.num_milliseconds())
            .arg(ms(s.at))
            .arg(mark)
            .arg(lead)
            .arg(buyer)
            .arg(kept_after_settling(target, s.return_window).num_milliseconds())
            .arg(SETTLED_KEPT.num_milliseconds())
            .arg(debits.len());
        for d in debits {
            call.arg(d.amount);
        }
        for g in [&from_reserved, &from_unconfirmed] {
            let (price, payout) = g.lowered.map_or((String::new(), String::new()), |(price, payout)| {
                (price.minor().to_string(), payout.minor().to_string())
            });
            call.arg(g.books.map_or("", |k| k.as_str())).arg(price).arg(payout).arg(g.reason.as_deref().unwrap_or(""));
            for back in &g.refunds {
                call.arg(back);
            }
        }
        let state: String = self.step("redis.settle_sale", &call.invocation()).await?;
        if state.is_empty() {
            Ok(None)
        } else {
            Ok(Some(codec::ledger_state(&state)?))
        }
    }

    /// The ledger entries under `keys` (in any buyers' slots: one read each, side by side),
    /// in their order; tombstones, fences and entries gone with their retention left out.
    pub(crate) async fn entries(&self, keys: Vec<String>) -> StoreResult<Vec<SaleRecord>> {
        let reads = keys.iter().map(|k| async move {
            let mut con = self.conn.clone();
            let fields = ["rec", "price", "payout", "st", "reason", "sold", "lead"];
            let row: [Option<String>; 7] =
                self.run(redis::cmd("HMGET").arg(k).arg(&fields[..]).query_async(&mut con)).await?;
            StoreResult::Ok(row)
        });
        let rows = join_all(reads).await;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let [rec, price, payout, state, reason, sold, lead] = row?;
            if let (Some(rec), Some(price), Some(state)) = (rec, price, state) {
                let (payout, reason) = (payout.unwrap_or_default(), reason.unwrap_or_default());
                let (sold, lead) = (sold.unwrap_or_default(), lead.unwrap_or_default());
                out.push(codec::decode_record(codec::StoredSale {
                    rec: &rec,
                    price: &price,
                    payout: &payout,
                    state: &state,
                    reason: &reason,
                    sold: &sold,
                    lead: &lead,
                })?);
            }
        }
        Ok(out)
    }

    /// Lists the sale under its ping, for the operators' lookup by ping (never read to
    /// decide anything: a reservation the ledger refuses leaves its line, which finds no entry).
    /// Kept [`SETTLED_KEPT`] from the ping's last reservation: the lookup reaches a month.
    async fn index_sale(&self, req: &SaleReservation) -> StoreResult<()> {
        let r = &req.record;
        let mut pipe = redis::pipe();
        pipe.hset(self.keys.ping_sales(&r.ping_id), &r.sale_id, r.buyer.as_str())
            .ignore()
            .pexpire(self.keys.ping_sales(&r.ping_id), SETTLED_KEPT.num_milliseconds())
            .ignore();
        let mut con = self.conn.clone();
        self.run(pipe.query_async::<()>(&mut con)).await
    }

    pub(crate) async fn ledger_entries(&self, q: LedgerQuery) -> StoreResult<Vec<SaleRecord>> {
        let mut con = self.conn.clone();
        match q {
            LedgerQuery::Sale(id) => {
                // The sale id alone does not say whose it is: ask every buyer's slot.
                let buyers = self.buyers_with_state().await?;
                self.entries(buyers.iter().map(|b| self.keys.sale(b, &id)).collect()).await
            }
            LedgerQuery::Ping(ping) => {
                let listed: Vec<(String, String)> = self.run(con.hgetall(self.keys.ping_sales(&ping))).await?;
                let keys = listed.iter().take(LEDGER_READ_MAX).map(|(id, buyer)| self.keys.sale(buyer, id)).collect();
                let mut out = self.entries(keys).await?;
                out.sort_by(|a, b| (a.reserved_at, &a.sale_id).cmp(&(b.reserved_at, &b.sale_id)));
                Ok(out)
            }
            LedgerQuery::Unconfirmed { limit } => {
                let last = isize::try_from(limit.min(LEDGER_READ_MAX)).unwrap_or(0) - 1;
                let lists = self
                    .per_buyer(|b| async move {
                        let mut con = self.conn.clone();
                        self.run(con.zrevrange::<_, Vec<String>>(self.keys.unconfirmed(&b), 0, last)).await
                    })
                    .await?;
                let mut out = self.entries(lists.into_iter().flatten().collect()).await?;
                out.retain(|r| r.state == LedgerState::Unconfirmed);
                out.sort_by(|a, b| (b.reserved_at, &b.sale_id).cmp(&(a.reserved_at, &a.sale_id)));
                out.truncate(limit.min(LEDGER_READ_MAX));
                Ok(out)
            }
            LedgerQuery::Reserved { after, limit } => {
                let limit = limit.min(LEDGER_READ_MAX);
                let after = &after;
                let pages =
                    self.per_buyer(|b| async move { self.reserved_page(&b, after.clone(), limit).await }).await?;
                let mut out: Vec<SaleRecord> = pages.into_iter().flatten().collect();
                out.sort_by(|a, b| (a.lease_until, &a.sale_id).cmp(&(b.lease_until, &b.sale_id)));
                out.truncate(limit);
                Ok(out)
            }
            LedgerQuery::Buyer { buyer, since, until, after, limit } => {
                self.buyer_sales_page(&buyer, since, until, after, limit.min(LEDGER_READ_MAX)).await
            }
        }
    }

    /// A buyer's reservations in flight after `after`, oldest lease first: its leases' sorted
    /// set (by lease in ms, then entry key, which orders like the sale id) a page at a time, until
    /// `limit` are found or it ends; an entry settled between the two reads is skipped.
    async fn reserved_page(
        &self,
        buyer: &str,
        after: Option<(Timestamp, String)>,
        limit: usize,
    ) -> StoreResult<Vec<SaleRecord>> {
        let mut cursor = after.map(|(lease, sale_id)| (ms(lease), self.keys.sale(buyer, &sale_id)));
        let mut out = Vec::new();
        while out.len() < limit {
            let want = limit - out.len();
            let page = self.zset_page(self.keys.leases(buyer), cursor.take(), want).await?;
            let full = page.len() == want;
            cursor = page.last().map(|(key, lease)| (*lease, key.clone()));
            let mut found = self.entries(page.into_iter().map(|(key, _)| key).collect()).await?;
            found.retain(|r| r.state == LedgerState::Reserved);
            out.extend(found);
            if !full {
                break;
            }
        }
        Ok(out)
    }

    /// Turns reservations past their lease into unconfirmed sales, batch by batch; answers
    /// how many it turned and how many unconfirmed sales there are.
    pub(crate) async fn sweep_ledger(&self, now: Timestamp) -> StoreResult<(u64, u64)> {
        let swept = self.per_buyer(|b| async move { self.sweep_ledger_of(&b, now).await }).await?;
        Ok(swept.into_iter().fold((0, 0), |(s, u), (s1, u1)| (s + s1, u + u1)))
    }

    async fn sweep_ledger_of(&self, buyer: &str, now: Timestamp) -> StoreResult<(u64, u64)> {
        let mut settled = 0;
        let oldest = ms(now) - self.retention_ms();
        loop {
            // Read first, so the script names every entry it turns in KEYS; it checks each
            // again, so what settles in between is left alone.
            let mut con = self.conn.clone();
            let read = con.zrangebyscore_limit(self.keys.leases(buyer), "-inf", ms(now), 0, SWEEP_BATCH as isize);
            let due: Vec<String> = self.run(read).await?;
            let mut call = self.scripts.sweep_ledger.key(self.keys.leases(buyer));
            call.key(self.keys.unconfirmed(buyer))
                .key(self.keys.outbox(buyer))
                .key(self.keys.outbox_order(buyer))
                .key(self.keys.buyer_sales(buyer));
            for entry in &due {
                call.key(entry);
            }
            call.arg(ms(now)).arg(oldest).arg(SETTLED_KEPT.num_milliseconds());
            let (batch, unconfirmed): (u64, u64) = self.step("redis.sweep_ledger", &call).await?;
            settled += batch;
            if due.len() < SWEEP_BATCH {
                return Ok((settled, unconfirmed));
            }
        }
    }
}

impl RedisStore {
    /// Fences each of a post's sales against every holder but `holder`, in the sales'
    /// buyers' slots side by side, and answers the entries earlier holders wrote.
    pub(crate) async fn take_over_sales(
        &self,
        sales: Vec<(BuyerId, String)>,
        holder: String,
        keep_until: Timestamp,
        now: Timestamp,
    ) -> StoreResult<Vec<SaleRecord>> {
        let keep = ttl_ms(now, keep_until);
        let holder = &holder;
        let fences = sales.iter().map(|(buyer, sale_id)| async move {
            let key = self.keys.sale(buyer.as_str(), sale_id);
            let mut call = ScriptCall::new(&self.scripts.fence);
            call.key(key.clone()).arg(holder).arg(keep);
            let (reply, replicas): (Vec<Vec<u8>>, Replicas) = self.waited_step("redis.fence", &call).await?;
            // Acknowledged by the replicas, or a failover could lose the fence and let an
            // earlier holder reserve behind this one's back.
            replicas.require()?;
            StoreResult::Ok((text(&reply, 0)? == "E").then_some(key))
        });
        let found: Vec<String> =
            join_all(fences).await.into_iter().collect::<StoreResult<Vec<_>>>()?.into_iter().flatten().collect();
        let mut out = self.entries(found).await?;
        out.sort_by(|a, b| (a.reserved_at, &a.sale_id).cmp(&(b.reserved_at, &b.sale_id)));
        Ok(out)
    }
}

impl Sales for RedisStore {
    fn reserve_sale(&self, req: SaleReservation) -> StoreFuture<'_, ReserveOutcome> {
        Box::pin(self.reserve(req))
    }

    fn settle_sale(&self, s: Settlement) -> StoreFuture<'_, Option<LedgerState>> {
        Box::pin(self.settle(s))
    }

    fn ledger(&self, q: LedgerQuery) -> StoreFuture<'_, Vec<SaleRecord>> {
        Box::pin(self.ledger_entries(q))
    }

    fn take_over(&self, t: TakeOver) -> StoreFuture<'_, Vec<SaleRecord>> {
        Box::pin(self.take_over_sales(t.sales, t.holder, t.keep_until, t.now))
    }
}
