//! Returns on Redis: opened and decided by one script each (`lua/open_return.lua`,
//! `lua/decide_return.lua`, sharing `lua/returns.lua`), in the buyer's slot with the sale,
//! the buyer's credit and the books outbox, so a return, its refund and its entries happen
//! together or not at all. The buyer's sales list reads its charged-sales index. What spans
//! buyers (the operators' lists, a return named by its id alone) reads every buyer's slot.

use crate::codec::{self, corrupt, ms};
use crate::scripts::ScriptCall;
use crate::store::Replicas;
use crate::RedisStore;
use pingpost_core::caps::credit_key;
use pingpost_core::ids::BuyerId;
use pingpost_core::money::Money;
use pingpost_core::Timestamp;
use pingpost_store::*;
use redis::AsyncCommands;

/// Returns one listing reads at most.
const RETURNS_READ_MAX: usize = 1_000;

/// The parts of a return that never change after it is opened (its `rec` field).
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredReturn {
    return_id: String,
    sale_id: String,
    buyer: BuyerId,
    reason: String,
    claw_back: bool,
    note: Option<String>,
    opened_at_ms: i64,
    token: String,
}

fn status_name(status: ReturnStatus) -> &'static str {
    status.as_str()
}

/// A return from `return_fields()`' answer: rec, st, refund, claw, dat, dnote.
fn decode_return(fields: &[String]) -> StoreResult<ReturnRecord> {
    let [rec, st, refund, claw, dat, dnote] = fields else { return Err(corrupt("return fields")) };
    let r: StoredReturn = serde_json::from_str(rec).map_err(corrupt)?;
    let status = match st.as_str() {
        "P" => ReturnStatus::Pending,
        "A" => ReturnStatus::Approved,
        "N" => ReturnStatus::Denied,
        other => return Err(corrupt(format!("return status {other:?}"))),
    };
    let money = |text: &str| text.parse::<i64>().map(Money::from_minor).map_err(|_| corrupt("return amount"));
    Ok(ReturnRecord {
        return_id: r.return_id,
        sale_id: r.sale_id,
        buyer: r.buyer,
        reason: r.reason,
        claw_back: r.claw_back,
        note: r.note,
        status,
        decision_note: (!dnote.is_empty()).then(|| dnote.clone()),
        opened_at: codec::from_ms(r.opened_at_ms)?,
        decided_at: if dat.is_empty() { None } else { Some(codec::parse_ms(dat)?) },
        refund: money(refund)?,
        clawback: money(claw)?,
        token: r.token,
    })
}

/// The books entries an approval writes (`return_entries`), as `returns.lua`'s `decide` takes
/// them: kind and amount, pair after pair, closing the call's arguments.
fn approval_args(call: &mut ScriptCall<'_>, claw_back: bool, refund: Money, clawback: Money) {
    for (kind, amount) in return_entries(claw_back, refund, clawback) {
        call.arg(kind.as_str()).arg(amount.minor());
    }
}

impl RedisStore {
    /// The keys both return scripts take, in `lua/returns.lua`'s order.
    fn return_call<'a>(
        &self,
        script: &'a redis::Script,
        return_id: &str,
        sale_id: &str,
        buyer: &BuyerId,
    ) -> ScriptCall<'a> {
        let b = buyer.as_str();
        let mut call = ScriptCall::new(script);
        call.key(self.keys.return_(b, return_id))
            .key(self.keys.sale(b, sale_id))
            .key(self.keys.counter(&credit_key(buyer)))
            .key(self.keys.outbox(b))
            .key(self.keys.outbox_order(b))
            .key(self.keys.unconfirmed(b));
        for status in [ReturnStatus::Pending, ReturnStatus::Approved, ReturnStatus::Denied] {
            call.key(self.keys.returns(b, status_name(status)));
        }
        call.key(self.keys.buyer_returns(buyer.as_str())).key(self.keys.buyer_sales(buyer.as_str()));
        call
    }

    pub(crate) async fn open_return_now(&self, r: ReturnRequest) -> StoreResult<ReturnOutcome> {
        let return_id = r.return_id();
        let stored = StoredReturn {
            return_id: return_id.clone(),
            sale_id: r.sale_id.clone(),
            buyer: r.buyer.clone(),
            reason: r.reason.clone(),
            claw_back: r.claw_back,
            note: r.note.clone(),
            opened_at_ms: ms(r.at),
            token: r.token.clone(),
        };
        // The sale as it stands, for the amounts (`return_amounts`); the script refuses if it
        // changed before it ran.
        let mut con = self.conn.clone();
        let entry = self.keys.sale(r.buyer.as_str(), &r.sale_id);
        let mut read = redis::cmd("HMGET");
        read.arg(&entry).arg("price").arg("payout");
        let (price, payout): (Option<i64>, Option<i64>) = self.run(read.query_async(&mut con)).await?;
        let (price, payout) = (price.unwrap_or(0), payout.or(price).unwrap_or(0));
        let (refund, clawback) = return_amounts(Money::from_minor(price), Money::from_minor(payout), r.claw_back);
        let (per_return, per_sale) = r.rate_weights();
        let mut call = self.return_call(&self.scripts.open_return, &return_id, &r.sale_id, &r.buyer);
        call.arg(&r.sale_id)
            .arg(r.buyer.as_str())
            .arg(serde_json::to_string(&stored).map_err(corrupt)?)
            .arg(ms(r.sold_since()))
            .arg(per_sale)
            .arg(if r.approve { "1" } else { "0" })
            .arg(ms(r.at))
            .arg(&r.token)
            .arg(RETURN_RATE_SPAN.num_milliseconds())
            .arg(self.retention_ms())
            .arg(&return_id)
            .arg(SETTLED_KEPT.num_milliseconds())
            .arg(codec::returnable_codes())
            .arg(per_return)
            .arg(price)
            .arg(payout)
            .arg(refund.minor())
            .arg(clawback.minor());
        approval_args(&mut call, r.claw_back, refund, clawback);
        let (reply, replicas): (Vec<String>, Replicas) = self.waited_step("redis.open_return", &call).await?;
        let (code, rest) = reply.split_first().ok_or_else(|| corrupt("open_return reply"))?;
        Ok(match code.as_str() {
            "N" => ReturnOutcome::NoSuchSale,
            "X" => ReturnOutcome::NotReturnable(codec::ledger_state(rest.first().map_or("", String::as_str))?),
            "W" => ReturnOutcome::WindowPassed,
            "C" => ReturnOutcome::RateExceeded,
            "A" => {
                replicas.require()?;
                ReturnOutcome::AlreadyReturned(Box::new(decode_return(rest)?))
            }
            "O" => {
                replicas.require()?;
                ReturnOutcome::Opened(Box::new(decode_return(rest)?))
            }
            other => return Err(corrupt(format!("open_return answer {other:?}"))),
        })
    }

    pub(crate) async fn decide_return_now(
        &self,
        return_id: String,
        approve: bool,
        note: Option<String>,
        at: Timestamp,
    ) -> StoreResult<DecideOutcome> {
        // The buyer's keys are the script's: learn the buyer from the return first (it never
        // changes once opened).
        let Some(current) = self.find_return(&return_id).await?.into_iter().next() else {
            return Ok(DecideOutcome::NoSuchReturn);
        };
        let mut call = self.return_call(&self.scripts.decide_return, &return_id, &current.sale_id, &current.buyer);
        call.arg(if approve { "1" } else { "0" })
            .arg(note.unwrap_or_default())
            .arg(ms(at))
            .arg(SETTLED_KEPT.num_milliseconds())
            .arg(codec::returnable_codes());
        approval_args(&mut call, current.claw_back, current.refund, current.clawback);
        let (reply, replicas): (Vec<String>, Replicas) = self.waited_step("redis.decide_return", &call).await?;
        let (code, rest) = reply.split_first().ok_or_else(|| corrupt("decide_return reply"))?;
        Ok(match code.as_str() {
            "N" => DecideOutcome::NoSuchReturn,
            "A" | "D" => {
                replicas.require()?;
                let r = Box::new(decode_return(rest)?);
                if code == "A" {
                    DecideOutcome::AlreadyDecided(r)
                } else {
                    DecideOutcome::Decided(r)
                }
            }
            other => return Err(corrupt(format!("decide_return answer {other:?}"))),
        })
    }

    /// A return named by its id alone: whose it is is not in the id, so every buyer's slot
    /// is asked.
    async fn find_return(&self, return_id: &str) -> StoreResult<Vec<ReturnRecord>> {
        let found = self.per_buyer(|b| async move { self.read_returns(&b, vec![return_id.to_string()]).await }).await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// The buyer's returns `ids`, in order; those gone with their retention left out.
    async fn read_returns(&self, buyer: &str, ids: Vec<String>) -> StoreResult<Vec<ReturnRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HMGET")
                .arg(self.keys.return_(buyer, id))
                .arg(&["rec", "st", "refund", "claw", "dat", "dnote"][..]);
        }
        let mut con = self.conn.clone();
        let rows: Vec<[Option<String>; 6]> = self.run(pipe.query_async(&mut con)).await?;
        rows.into_iter()
            // A return gone with its retention is no return.
            .filter(|row| row[0].is_some())
            .map(|row| decode_return(&row.map(Option::unwrap_or_default)))
            .collect()
    }

    pub(crate) async fn returns_matching(&self, q: ReturnQuery) -> StoreResult<Vec<ReturnRecord>> {
        match q {
            ReturnQuery::Id(id) => self.find_return(&id).await,
            ReturnQuery::Status { status, limit } => {
                let limit = limit.min(RETURNS_READ_MAX);
                let last = isize::try_from(limit).unwrap_or(0) - 1;
                let lists = self
                    .per_buyer(|b| async move {
                        let mut con = self.conn.clone();
                        let ids: Vec<String> =
                            self.run(con.zrevrange(self.keys.returns(&b, status_name(status)), 0, last)).await?;
                        self.read_returns(&b, ids).await
                    })
                    .await?;
                let mut out: Vec<ReturnRecord> = lists.into_iter().flatten().collect();
                // Listed under the status it had when read; a decision between the two reads
                // moved it.
                out.retain(|r| r.status == status);
                out.sort_by(|a, b| (b.opened_at, &b.return_id).cmp(&(a.opened_at, &a.return_id)));
                out.truncate(limit);
                Ok(out)
            }
        }
    }

    /// A page of the buyer's charged sales, newest first, strictly after the cursor.
    pub(crate) async fn buyer_sales_page(
        &self,
        buyer: &BuyerId,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
        after: Option<(Timestamp, String)>,
        limit: usize,
    ) -> StoreResult<Vec<SaleRecord>> {
        let key = self.keys.buyer_sales(buyer.as_str());
        let mut max = until.map_or("+inf".to_string(), |u| format!("({}", ms(u)));
        if let Some((at, _)) = &after {
            let cursor = ms(*at);
            if until.is_none_or(|u| cursor < ms(u)) {
                max = cursor.to_string();
            }
        }
        let min = since.map_or("-inf".to_string(), |s| ms(s).to_string());
        let mut ids = Vec::with_capacity(limit);
        let mut offset = 0;
        let batch = limit.max(1) + 1;
        let mut con = self.conn.clone();
        while ids.len() < limit {
            let page: Vec<(String, i64)> =
                self.run(con.zrevrangebyscore_limit_withscores(&key, &max, &min, offset, batch as isize)).await?;
            offset += page.len() as isize;
            for (id, score) in &page {
                // Members of the cursor's own millisecond come after it only below its id.
                let past_cursor = after.as_ref().is_none_or(|(at, last)| *score < ms(*at) || id < last);
                if past_cursor && ids.len() < limit {
                    ids.push(self.keys.sale(buyer.as_str(), id));
                }
            }
            if page.len() < batch {
                break;
            }
        }
        self.entries(ids).await
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
