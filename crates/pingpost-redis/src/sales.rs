//! Sales on Redis: the reservation (a mark per identifier slot, then the buyer's slot), the
//! settlement (the buyer's slot, then the marks), a post's take-over (fences in the buyers'
//! slots), the ledger's queries and its sweep, buyer by buyer.
//!
//! Each step is one script that recognises its own earlier effect by the sale id, so any
//! step may be re-sent; each multi-slot sequence is ordered so that stopping after any step
//! (a crash, a lost reply) leaves something safe that resolves by itself: see the crate's docs
//! ("Why the steps are safe").

use crate::codec::{self, corrupt, ms, ttl_ms};
use crate::held::{ranks_first, HeldWait};
use crate::scripts::ScriptCall;
use crate::store::{distinct, per_kind, text, Replicas};
use crate::RedisStore;
use futures_util::future::join_all;
use pingpost_core::identity::Ident;
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

/// What one identifier's reservation script did.
enum Marked {
    /// This call wrote the mark.
    Fresh,
    /// The sale already had its mark (re-sent, or an earlier attempt of the post).
    Own,
    /// The buyer has the consumer inside the window.
    Bought(Timestamp),
    /// The buyer is buying the consumer: these other sales' reservations are in flight (the
    /// latest reserved at `at`).
    Held { at: Timestamp, sales: Vec<String> },
}

/// What the ledger script answered.
enum Ledgered {
    Reserved,
    Existing(Box<SaleRecord>),
    NoSlot,
    Limit(usize),
}

/// What the marks' answers so far decide.
#[derive(Debug, PartialEq, Eq)]
enum MarksDecision {
    Marked,
    Refused(ReserveOutcome),
    /// Only reservations that rank after this sale stand in the way; should they never go,
    /// this is the refusal (the first identifier held).
    AskAgain {
        unless: ReserveOutcome,
    },
}

/// A sale inside the buyer's window, or a reservation in flight that ranks first, refuses;
/// reservations that rank after this sale are waited for while this sale holds an
/// identifier of its own (they will meet its mark and give up, or have won without it).
fn decide_marks(sale_id: &str, idents: &[Ident], marked: &[Option<Marked>]) -> MarksDecision {
    let mut first_held = None;
    for (ident, m) in idents.iter().zip(marked) {
        let bought = |prior_at| ReserveOutcome::AlreadyBought { matched: ident.kind, prior_at };
        match m {
            Some(Marked::Bought(prior_at)) => return MarksDecision::Refused(bought(*prior_at)),
            Some(Marked::Held { at, sales }) if sales.iter().any(|other| !ranks_first(sale_id, other)) => {
                return MarksDecision::Refused(bought(*at))
            }
            Some(Marked::Held { at, .. }) => {
                first_held.get_or_insert_with(|| bought(*at));
            }
            Some(Marked::Fresh | Marked::Own) | None => {}
        }
    }
    // A sale that holds none of its identifiers is not in the race: the other sale holds
    // them all and needs nothing from it, so it has won.
    let holds_any = marked.iter().any(|m| matches!(m, Some(Marked::Fresh | Marked::Own)));
    match first_held {
        Some(unless) if holds_any => MarksDecision::AskAgain { unless },
        Some(refused) => MarksDecision::Refused(refused),
        None => MarksDecision::Marked,
    }
}

impl RedisStore {
    async fn reserve_mark(&self, ident: &Ident, req: &SaleReservation) -> StoreResult<Marked> {
        let r = &req.record;
        let counts_after = req.window.map(|w| ms(w.counts_after(r.reserved_at)).to_string()).unwrap_or_default();
        let mut call = ScriptCall::new(&self.scripts.reserve_mark);
        call.key(self.keys.consumer(&ident.hash))
            .arg(r.buyer.as_str())
            .arg(&r.sale_id)
            .arg(ms(r.reserved_at))
            .arg(counts_after)
            .arg(self.retention_ms())
            .arg(ms(r.lease_until))
            .arg(&r.holder);
        let point = per_kind(ident, ["redis.reserve_mark.email", "redis.reserve_mark.phone"]);
        let (reply, replicas): (Vec<Vec<u8>>, Replicas) = self.waited_step(point, &call).await?;
        let marked = match text(&reply, 0)? {
            "R" => Marked::Fresh,
            "O" => Marked::Own,
            "B" => return Ok(Marked::Bought(codec::parse_ms(text(&reply, 1)?)?)),
            "H" => {
                let sales =
                    (2..reply.len()).map(|i| text(&reply, i).map(str::to_string)).collect::<StoreResult<_>>()?;
                return Ok(Marked::Held { at: codec::parse_ms(text(&reply, 1)?)?, sales });
            }
            other => return Err(corrupt(format!("reserve answered {other:?}"))),
        };
        replicas.require()?;
        Ok(marked)
    }

    /// Moves the sale's mark under each identifier to `state` ('S', 'D', 'X'), or removes a
    /// reservation mark this holder wrote ('U'), every identifier in parallel.
    async fn settle_marks(&self, idents: &[Ident], s: &MarkSettlement<'_>) -> StoreResult<()> {
        let calls = idents.iter().map(|ident| async move {
            let mut call = self.scripts.settle_mark.key(self.keys.consumer(&ident.hash));
            call.arg(s.sale_id).arg(s.state).arg(ms(s.at)).arg(self.retention_ms()).arg(s.buyer).arg(s.holder);
            let point = per_kind(ident, ["redis.settle_mark.email", "redis.settle_mark.phone"]);
            let _: i64 = self.step(point, &call).await?;
            Ok::<_, StoreError>(())
        });
        join_all(calls).await.into_iter().collect()
    }

    /// Removes the reservation marks this call wrote, after the ledger refused the sale.
    async fn unmark(&self, fresh: &[Ident], req: &SaleReservation) {
        let r = &req.record;
        let undo = MarkSettlement {
            sale_id: &r.sale_id,
            state: "U",
            at: r.reserved_at,
            buyer: r.buyer.as_str(),
            holder: &r.holder,
        };
        if let Err(e) = self.settle_marks(fresh, &undo).await {
            // A mark left behind lapses with its lease into an unconfirmed sale of a consumer
            // that was never delivered: a lost sale for the window, never a double one.
            tracing::warn!(sale_id = %r.sale_id, error = %e, "reservation mark not undone");
        }
    }

    async fn reserve_ledger(&self, req: &SaleReservation) -> StoreResult<Ledgered> {
        let r = &req.record;
        let now = r.reserved_at;
        let buyer = r.buyer.as_str();
        let mut call = ScriptCall::new(&self.scripts.reserve_ledger);
        call.key(self.keys.sale(buyer, &r.sale_id))
            .key(self.keys.leases(buyer))
            .arg(&r.sale_id)
            .arg(ms(r.lease_until))
            .arg(self.retention_ms())
            .arg(codec::encode_record(r)?)
            .arg(codec::encode_idents(&distinct(&req.idents)))
            .arg(r.price.minor())
            .arg(&r.holder)
            .arg(r.payout.minor())
            .arg(req.debits.len());
        // Credit counters go after the debits' own, each once, named by their KEYS index.
        let mut credits: Vec<&str> = Vec::new();
        for d in &req.debits {
            let credit = d.credit_key.as_deref().map(|c| {
                let at = credits.iter().position(|x| *x == c).unwrap_or_else(|| {
                    credits.push(c);
                    credits.len() - 1
                });
                (2 + req.debits.len() + at + 1).to_string()
            });
            call.key(self.keys.counter(&d.key))
                .arg(d.amount)
                .arg(d.limit)
                .arg(i64::from(d.is_money))
                .arg(d.expires_at.map(|e| ttl_ms(now, e).to_string()).unwrap_or_default())
                .arg(credit.unwrap_or_default());
        }
        for c in credits {
            call.key(self.keys.counter(c));
        }
        let (reply, replicas): (Vec<Vec<u8>>, Replicas) = self.waited_step("redis.reserve_ledger", &call).await?;
        match text(&reply, 0)? {
            "R" => {
                replicas.require()?;
                Ok(Ledgered::Reserved)
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
                    return Ok(Ledgered::Existing(Box::new(gone)));
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
                Ok(Ledgered::Existing(Box::new(entry)))
            }
            // Fenced: a later holder of the post took it over.
            "F" => Ok(Ledgered::NoSlot),
            "L" => {
                let i: usize = text(&reply, 1)?.parse().map_err(|_| corrupt("debit index"))?;
                Ok(Ledgered::Limit(i.saturating_sub(1)))
            }
            other => Err(corrupt(format!("ledger answered {other:?}"))),
        }
    }

    /// The marks first, every identifier side by side, then the ledger. A refusal undoes the
    /// marks this call wrote; an error undoes nothing (whether the step applied is unknown),
    /// and the engine gives the sale up with a release, whose tombstones fence it.
    ///
    /// Two sales of the consumer to one buyer racing over the marks are decided by rank
    /// (`held`): the one that ranks second gives up when it meets the other's reservation;
    /// the one that ranks first asks again, a bounded time, for the identifiers the other
    /// holds, since the other either gives them up when it meets this sale's marks, or has
    /// won and is delivering (then this sale gives up once the wait is over).
    pub(crate) async fn reserve(&self, req: SaleReservation) -> StoreResult<ReserveOutcome> {
        // Beside the first marks, not before them: where to find the sale (its buyer's slot
        // for the sweep and relay, its ping's list for operators) costs no round trip.
        let (known, indexed) = tokio::join!(self.register_buyer(req.record.buyer.as_str()), self.index_sale(&req));
        known?;
        indexed?;
        let idents = distinct(&req.idents);
        let mut marked: Vec<Option<Marked>> = idents.iter().map(|_| None).collect();
        let mut wait = HeldWait::new(self.opts.held_wait);
        let fresh = loop {
            let asked: Vec<usize> =
                (0..idents.len()).filter(|&i| !matches!(marked[i], Some(Marked::Fresh | Marked::Own))).collect();
            let replies = join_all(asked.iter().map(|&i| self.reserve_mark(&idents[i], &req))).await;
            for (&i, reply) in asked.iter().zip(replies) {
                marked[i] = Some(reply?);
            }
            let fresh: Vec<Ident> = idents
                .iter()
                .zip(&marked)
                .filter(|(_, m)| matches!(m, Some(Marked::Fresh)))
                .map(|(i, _)| i.clone())
                .collect();
            match decide_marks(&req.record.sale_id, &idents, &marked) {
                MarksDecision::Marked => break fresh,
                MarksDecision::Refused(refused) => {
                    self.unmark(&fresh, &req).await;
                    return Ok(refused);
                }
                MarksDecision::AskAgain { unless } => {
                    if !wait.pause().await {
                        self.unmark(&fresh, &req).await;
                        return Ok(unless);
                    }
                }
            }
        };
        match self.reserve_ledger(&req).await? {
            Ledgered::Reserved => Ok(ReserveOutcome::Reserved),
            Ledgered::Existing(entry) => {
                if entry.state == LedgerState::Released {
                    // Marks written for a sale that was already given up must not stand.
                    let release = MarkSettlement::of(&req.record, "X");
                    if let Err(e) = self.settle_marks(&fresh, &release).await {
                        tracing::warn!(sale_id = %entry.sale_id, error = %e, "stray reservation mark not released");
                    }
                }
                Ok(ReserveOutcome::Existing(entry))
            }
            Ledgered::NoSlot => {
                self.unmark(&fresh, &req).await;
                Ok(ReserveOutcome::SlotsTaken)
            }
            Ledgered::Limit(i) => {
                self.unmark(&fresh, &req).await;
                let key = req.debits.get(i).map(|d| d.key.clone()).unwrap_or_default();
                Ok(ReserveOutcome::LimitReached { key })
            }
        }
    }

    /// The ledger entry first (once), then the marks under the identifiers the settlement
    /// carries, to whatever state the ledger holds afterwards.
    pub(crate) async fn settle(&self, s: Settlement) -> StoreResult<Option<LedgerState>> {
        let state = self.settle_entry(&s).await?;
        self.settle_marks_to(&s, state).await?;
        Ok(state)
    }

    /// The ledger entry of a settlement, once; answers its state afterwards.
    pub(crate) async fn settle_entry(&self, s: &Settlement) -> StoreResult<Option<LedgerState>> {
        let (code, final_price, final_payout, reason, lead) = match &s.end {
            SaleEnd::Sold { final_price, final_payout, reason, lead_id } => (
                "S",
                final_price.minor().to_string(),
                final_payout.minor().to_string(),
                reason.as_deref().unwrap_or(""),
                lead_id.as_deref().unwrap_or(""),
            ),
            SaleEnd::Released { reason } => ("B", String::new(), String::new(), reason.as_str(), ""),
            SaleEnd::RolledBack => ("D", String::new(), String::new(), "", ""),
        };
        let buyer = s.buyer.as_str();
        let mut call = self.scripts.settle_ledger.key(self.keys.sale(buyer, &s.sale_id));
        call.key(self.keys.leases(buyer))
            .key(self.keys.unconfirmed(buyer))
            .key(self.keys.marks_due(buyer))
            .key(self.keys.outbox(buyer))
            .key(self.keys.outbox_order(buyer))
            .key(self.keys.buyer_sales(buyer))
            .arg(code)
            .arg(final_price)
            .arg(self.retention_ms())
            .arg(reason)
            .arg(&s.sale_id)
            .arg(TOMBSTONE_TTL.num_milliseconds())
            .arg(ms(s.at))
            .arg(ms(s.at + self.opts.marks_repair_after))
            .arg(final_payout)
            .arg(lead);
        let state: String = self.step("redis.settle_ledger", &call).await?;
        if state.is_empty() {
            Ok(None)
        } else {
            Ok(Some(codec::ledger_state(&state)?))
        }
    }

    /// A settlement's marks, to the state its ledger entry holds (`state`, as the ledger
    /// answered it); a reservation still unsettled keeps its marks.
    pub(crate) async fn settle_marks_to(&self, s: &Settlement, state: Option<LedgerState>) -> StoreResult<()> {
        let Some(mark) = codec::mark_code(marks_after(state, &s.end)) else {
            return Ok(());
        };
        let settled =
            MarkSettlement { sale_id: &s.sale_id, state: mark, at: s.at, buyer: s.buyer.as_str(), holder: "" };
        self.settle_marks(&distinct(&s.idents), &settled).await
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
    async fn index_sale(&self, req: &SaleReservation) -> StoreResult<()> {
        let r = &req.record;
        let mut pipe = redis::pipe();
        pipe.hset(self.keys.ping_sales(&r.ping_id), &r.sale_id, r.buyer.as_str())
            .ignore()
            .pexpire(self.keys.ping_sales(&r.ping_id), self.retention_ms())
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

    /// Settles once more the marks of sales settled at least `marks_repair_after` ago, so
    /// that marks follow the ledger even when the engine stopped between the two steps.
    /// Answers how many sales it went through.
    pub(crate) async fn repair_marks(&self, now: Timestamp) -> StoreResult<u64> {
        let counts = self.per_buyer(|b| async move { self.repair_marks_of(&b, now).await }).await?;
        Ok(counts.into_iter().sum())
    }

    async fn repair_marks_of(&self, buyer: &str, now: Timestamp) -> StoreResult<u64> {
        let mut repaired = 0;
        loop {
            let mut call = self.scripts.due_marks.key(self.keys.marks_due(buyer));
            call.arg(ms(now)).arg(SWEEP_BATCH);
            let reply: Vec<String> = self.step("redis.due_marks", &call).await?;
            let mut done = Vec::with_capacity(reply.len() / 6);
            for due in reply.chunks(6) {
                let [key, sale_id, state, idents, buyer, settled_at] = due else {
                    return Err(corrupt("due marks reply"));
                };
                // Only settled entries are listed, so the end asked for does not matter.
                let ended = SaleEnd::RolledBack;
                let mark = codec::mark_code(marks_after(Some(codec::ledger_state(state)?), &ended));
                if let Some(mark) = mark {
                    let at = codec::parse_ms(settled_at)?;
                    let settled = MarkSettlement { sale_id, state: mark, at, buyer, holder: "" };
                    self.settle_marks(&codec::decode_idents(idents)?, &settled).await?;
                }
                done.push(key.clone());
            }
            if !done.is_empty() {
                let mut con = self.conn.clone();
                let _: i64 = self.run(con.zrem(self.keys.marks_due(buyer), &done)).await?;
            }
            repaired += (reply.len() / 6) as u64;
            if reply.len() / 6 < SWEEP_BATCH {
                return Ok(repaired);
            }
        }
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
            let mut call = self.scripts.sweep_ledger.key(self.keys.leases(buyer));
            call.key(self.keys.unconfirmed(buyer))
                .key(self.keys.outbox(buyer))
                .key(self.keys.outbox_order(buyer))
                .key(self.keys.buyer_sales(buyer))
                .arg(ms(now))
                .arg(SWEEP_BATCH)
                .arg(oldest)
                .arg(self.retention_ms());
            let (batch, unconfirmed): (u64, u64) = self.step("redis.sweep_ledger", &call).await?;
            settled += batch;
            if batch < SWEEP_BATCH as u64 {
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

/// One settle_mark call's arguments.
struct MarkSettlement<'a> {
    sale_id: &'a str,
    state: &'static str,
    at: Timestamp,
    buyer: &'a str,
    holder: &'a str,
}

impl<'a> MarkSettlement<'a> {
    fn of(r: &'a SaleRecord, state: &'static str) -> Self {
        MarkSettlement { sale_id: &r.sale_id, state, at: r.reserved_at, buyer: r.buyer.as_str(), holder: &r.holder }
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

    fn take_over(&self, t: TakeOver) -> StoreFuture<'_, Vec<SaleRecord>> {
        Box::pin(self.take_over_sales(t.sales, t.holder, t.keep_until, t.now))
    }
}
