//! Buyers' prepaid money on Redis: two counters in the buyer's slot (spent, credit), and
//! top-ups by one script there that credits once per id and writes the books entry beside it
//! (`lua/top_up.lua`), after the id is claimed for its buyer and amount marketplace-wide.

use crate::codec::{corrupt, ms};
use crate::scripts::ScriptCall;
use crate::store::{text, Replicas};
use crate::RedisStore;
use pingpost_core::caps::{balance_key, credit_key};
use pingpost_core::ids::BuyerId;
use pingpost_core::money::Money;
use pingpost_store::{Balances, BuyerMoney, StoreFuture, StoreResult, TopUp, TopUpOutcome};
use redis::AsyncCommands;

impl RedisStore {
    /// The top-up's script, waited for like an admission: an acknowledged top-up must not
    /// vanish in a failover, to be applied again by a retry. Its marker is kept as long as
    /// ledger entries: the books keep the id for good, and a retry may come days later.
    pub(crate) async fn top_up_credit(&self, t: TopUp) -> StoreResult<TopUpOutcome> {
        // The id first, outside the buyer's slot: another buyer's top-up under the same id
        // lives in another slot. A crash after this leaves the id claimed for this very
        // top-up, which its retry then applies.
        let claimed = format!("{}|{}", t.buyer, t.amount.minor());
        let mut con = self.conn.clone();
        let mut claim = redis::cmd("SET");
        claim.arg(self.keys.top_up_id(&t.id)).arg(&claimed).arg("NX").arg("GET").arg("PX").arg(self.retention_ms());
        let first: Option<String> =
            self.opts.faults.step("redis.top_up_id", || self.run(claim.query_async(&mut con))).await?;
        if let Some(first) = first.filter(|f| *f != claimed) {
            let (buyer, amount) = first.rsplit_once('|').ok_or_else(|| corrupt("top-up id"))?;
            let amount = amount.parse::<i64>().map(Money::from_minor).map_err(|_| corrupt("top-up amount"))?;
            return Ok(TopUpOutcome::IdReused { buyer: BuyerId::new(buyer), amount });
        }
        self.register_buyer(t.buyer.as_str()).await?;
        let buyer = t.buyer.as_str();
        let mut call = ScriptCall::new(&self.scripts.top_up);
        call.key(self.keys.counter(&credit_key(&t.buyer)))
            .key(self.keys.counter(&balance_key(&t.buyer)))
            .key(self.keys.top_up(buyer, &t.id))
            .key(self.keys.outbox(buyer))
            .key(self.keys.outbox_order(buyer))
            .arg(&t.id)
            .arg(t.amount.minor())
            .arg(ms(t.at))
            .arg(t.buyer.as_str())
            .arg(self.retention_ms());
        let (reply, replicas): (Vec<Vec<u8>>, Replicas) = self.waited_step("redis.top_up", &call).await?;
        let minor =
            |i: usize| text(&reply, i)?.parse::<i64>().map(Money::from_minor).map_err(|_| corrupt("top-up amount"));
        match text(&reply, 0)? {
            "A" => {
                replicas.require()?;
                Ok(TopUpOutcome::Applied(BuyerMoney { spent: minor(1)?, credit: minor(2)? }))
            }
            "R" => Ok(TopUpOutcome::IdReused { buyer: BuyerId::new(text(&reply, 1)?), amount: minor(2)? }),
            other => Err(corrupt(format!("top-up answered {other:?}"))),
        }
    }

    pub(crate) async fn money_of(&self, buyer: &BuyerId) -> StoreResult<BuyerMoney> {
        let mut con = self.conn.clone();
        let keys = [self.keys.counter(&balance_key(buyer)), self.keys.counter(&credit_key(buyer))];
        let values: Vec<Option<i64>> = self.run(con.mget(&keys)).await?;
        let value = |i: usize| Money::from_minor(values.get(i).copied().flatten().unwrap_or(0));
        Ok(BuyerMoney { spent: value(0), credit: value(1) })
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
