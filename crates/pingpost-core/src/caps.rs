//! Caps, spend limits and balances as counters with limits.
//!
//! Every limit a sale must respect becomes a [`Debit`]: a named counter, the amount a sale
//! adds to it and the limit it may not pass. The same debits are read at the ping (is there
//! room?) and reserved atomically at the post (take the room), so both sides agree by
//! construction. Count caps live in buckets of the contract's time zone (hour, day, ISO week
//! starting Monday, month); a bucket's counter expires on its own once the bucket is over.

use crate::config::{Buyer, Contract};
use crate::ids::ContractId;
use crate::money::Money;
use crate::Timestamp;
use chrono::{Datelike, Duration};
use chrono_tz::Tz;

#[derive(Clone, Debug, PartialEq)]
pub struct Caps {
    pub hourly: Option<u32>,
    pub daily: Option<u32>,
    pub weekly: Option<u32>,
    pub monthly: Option<u32>,
    pub daily_spend: Option<Money>,
    pub time_zone: Tz,
}

impl Default for Caps {
    fn default() -> Self {
        Caps { hourly: None, daily: None, weekly: None, monthly: None, daily_spend: None, time_zone: Tz::UTC }
    }
}

/// One counter a sale adds to, with the limit it may not pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Debit {
    pub key: String,
    pub amount: i64,
    pub limit: i64,
    /// Money debits shrink when a buyer reports a lower final price.
    pub is_money: bool,
    /// When the counter may be forgotten; `None` for balances, which never expire.
    pub expires_at: Option<Timestamp>,
    /// A counter whose value raises the limit: a buyer's top-ups and refunds on top of its
    /// configured balance.
    pub credit_key: Option<String>,
}

impl Debit {
    /// Whether taking the debit keeps the counter within its limit (raised by `credit`, the
    /// value of `credit_key`).
    pub fn fits(&self, current: i64, credit: i64) -> bool {
        current.saturating_add(self.amount) <= self.limit.saturating_add(credit)
    }
}

/// Every counter belongs to one buyer, whose sales alone move it, and its name says which:
/// `<buyer>/<what>` (`b1/cap:c1:d:2026-11-22`, `b1/balance`). A store may keep a buyer's
/// counters together with its sales (the Redis store does, in the buyer's Cluster slot), so
/// that a reservation takes every debit where it writes the sale. Ids never hold a `/`.
const OWNER_END: char = '/';

/// The buyer a counter belongs to (the part of its name before the first `/`).
pub fn counter_owner(key: &str) -> &str {
    key.split_once(OWNER_END).map_or("", |(owner, _)| owner)
}

/// The counter of a buyer's spending from its prepaid balance.
pub fn balance_key(buyer: &crate::ids::BuyerId) -> String {
    format!("{buyer}{OWNER_END}{BALANCE}")
}

const BALANCE: &str = "balance";

/// Whether a counter is a buyer's spent balance: the one counter sales take that never
/// expires, so it still holds what sales the store no longer keeps took.
pub fn is_balance_key(key: &str) -> bool {
    key.split_once(OWNER_END).is_some_and(|(_, what)| what == BALANCE)
}

/// The counter of what was added to a buyer's prepaid balance since it was configured: its
/// top-ups and the refunds of its returns.
pub fn credit_key(buyer: &crate::ids::BuyerId) -> String {
    format!("{buyer}{OWNER_END}{CREDIT}")
}

const CREDIT: &str = "credit";

/// Whether a counter is a buyer's credit (added money) rather than something sales take.
pub fn is_credit_key(key: &str) -> bool {
    key.split_once(OWNER_END).is_some_and(|(_, what)| what == CREDIT)
}

/// The debits of selling one lead on `contract` at `price` now.
pub fn sale_debits(contract: &Contract, buyer: &Buyer, price: Money, now: Timestamp) -> Vec<Debit> {
    let caps = &contract.caps;
    let mut debits = Vec::new();
    // Runs for every eligible contract on every ping: most contracts have no caps, and they
    // must not pay for local-time formatting.
    let has_caps = caps.hourly.is_some()
        || caps.daily.is_some()
        || caps.weekly.is_some()
        || caps.monthly.is_some()
        || caps.daily_spend.is_some();
    if has_caps {
        cap_debits(contract, price, now, &mut debits);
    }
    if let Some(balance) = buyer.balance {
        debits.push(Debit {
            key: buyer.balance_keys.balance.clone(),
            amount: price.minor(),
            limit: balance.minor(),
            is_money: true,
            expires_at: None,
            credit_key: Some(buyer.balance_keys.credit.clone()),
        });
    }
    debits
}

/// A prepaid buyer's counter names ([`balance_key`], [`credit_key`]), written once with the
/// buyer rather than on every ping that considers one of its contracts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceKeys {
    balance: String,
    credit: String,
}

impl BalanceKeys {
    pub fn new(buyer: &crate::ids::BuyerId) -> Self {
        BalanceKeys { balance: balance_key(buyer), credit: credit_key(buyer) }
    }
}

/// A contract's counter names up to their time bucket (`cap:<id>:d:` + `2026-11-22`),
/// written once with the contract: a ping debits every capped contract it considers, and
/// formatting every name on every ping was most of a capped contract's cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CounterKeys {
    hourly: String,
    daily: String,
    weekly: String,
    monthly: String,
    spend: String,
}

impl CounterKeys {
    /// The counters of contract `id` of `buyer` (their owner, see [`counter_owner`]).
    pub fn new(buyer: &crate::ids::BuyerId, id: &ContractId) -> Self {
        CounterKeys {
            hourly: format!("{buyer}{OWNER_END}cap:{id}:h:"),
            daily: format!("{buyer}{OWNER_END}cap:{id}:d:"),
            weekly: format!("{buyer}{OWNER_END}cap:{id}:w:"),
            monthly: format!("{buyer}{OWNER_END}cap:{id}:m:"),
            spend: format!("{buyer}{OWNER_END}spend:{id}:d:"),
        }
    }
}

/// The buckets a moment falls in, in one time zone: `2026-11-22T22`, `2026-11-22`,
/// `2026-W47`, `2026-11`.
#[derive(Debug)]
struct Buckets {
    hour: String,
    day: String,
    week: String,
    month: String,
}

impl Buckets {
    fn of(local: &chrono::DateTime<Tz>) -> Self {
        let iso = local.iso_week();
        Buckets {
            hour: local.format("%Y-%m-%dT%H").to_string(),
            day: local.format("%Y-%m-%d").to_string(),
            week: format!("{}-W{:02}", iso.year(), iso.week()),
            month: local.format("%Y-%m").to_string(),
        }
    }
}

/// How many (time zone, hour) bucket sets a thread keeps: more than the zones a market
/// uses at once, and when full it starts over.
const BUCKET_CACHE: usize = 64;

thread_local! {
    /// Bucket texts per (time zone, local hour since the epoch): they change once an hour, so
    /// they are written once an hour per zone and thread, not once per capped contract.
    static BUCKETS: std::cell::RefCell<Vec<(Tz, i64, std::rc::Rc<Buckets>)>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn buckets(local: &chrono::DateTime<Tz>) -> std::rc::Rc<Buckets> {
    let tz = local.timezone();
    let hour = local.naive_local().and_utc().timestamp().div_euclid(3600);
    BUCKETS.with_borrow_mut(|cache| {
        if let Some((_, _, b)) = cache.iter().find(|(z, h, _)| *z == tz && *h == hour) {
            return std::rc::Rc::clone(b);
        }
        if cache.len() >= BUCKET_CACHE {
            cache.clear();
        }
        let b = std::rc::Rc::new(Buckets::of(local));
        cache.push((tz, hour, std::rc::Rc::clone(&b)));
        b
    })
}

fn cap_debits(contract: &Contract, price: Money, now: Timestamp, debits: &mut Vec<Debit>) {
    let caps = &contract.caps;
    let buckets = buckets(&now.with_timezone(&caps.time_zone));
    let keys = &contract.counter_keys;
    let count = |prefix: &str, bucket: &str, limit: u32, keep: Duration| Debit {
        key: [prefix, bucket].concat(),
        amount: 1,
        limit: i64::from(limit),
        is_money: false,
        expires_at: Some(now + keep),
        credit_key: None,
    };
    if let Some(limit) = caps.hourly {
        debits.push(count(&keys.hourly, &buckets.hour, limit, Duration::hours(2)));
    }
    if let Some(limit) = caps.daily {
        debits.push(count(&keys.daily, &buckets.day, limit, Duration::days(2)));
    }
    if let Some(limit) = caps.weekly {
        debits.push(count(&keys.weekly, &buckets.week, limit, Duration::days(8)));
    }
    if let Some(limit) = caps.monthly {
        debits.push(count(&keys.monthly, &buckets.month, limit, Duration::days(32)));
    }
    if let Some(limit) = caps.daily_spend {
        debits.push(Debit {
            key: [keys.spend.as_str(), &buckets.day].concat(),
            amount: price.minor(),
            limit: limit.minor(),
            is_money: true,
            expires_at: Some(now + Duration::days(2)),
            credit_key: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{buyer, contract};
    use chrono::TimeZone;

    #[test]
    fn buckets_follow_the_contract_time_zone() {
        let mut c = contract("c1", "b1", "o1");
        c.caps = Caps {
            hourly: Some(5),
            daily: Some(10),
            weekly: Some(50),
            monthly: Some(100),
            daily_spend: Some(Money::from_minor(10_000)),
            time_zone: chrono_tz::America::New_York,
        };
        let mut b = buyer("b1");
        b.balance = Some(Money::from_minor(50_000));
        // 03:30 UTC on Nov 23 is 22:30 on Sunday Nov 22 in New York (ISO week 47).
        let now = chrono::Utc.with_ymd_and_hms(2026, 11, 23, 3, 30, 0).unwrap();
        let keys: Vec<(String, i64, i64)> =
            sale_debits(&c, &b, Money::from_minor(1850), now).into_iter().map(|d| (d.key, d.amount, d.limit)).collect();
        assert_eq!(
            keys,
            vec![
                ("b1/cap:c1:h:2026-11-22T22".into(), 1, 5),
                ("b1/cap:c1:d:2026-11-22".into(), 1, 10),
                ("b1/cap:c1:w:2026-W47".into(), 1, 50),
                ("b1/cap:c1:m:2026-11".into(), 1, 100),
                ("b1/spend:c1:d:2026-11-22".into(), 1850, 10_000),
                ("b1/balance".into(), 1850, 50_000),
            ]
        );
    }

    #[test]
    fn bucket_texts_are_right_in_every_zone_at_every_hour_edge() {
        // Half-hour zones (India), a DST change (New York, 2026-11-01 06:00 UTC), year ends.
        let zones =
            [chrono_tz::UTC, chrono_tz::Asia::Kolkata, chrono_tz::America::New_York, chrono_tz::Pacific::Chatham];
        let start = chrono::Utc.with_ymd_and_hms(2026, 10, 31, 22, 0, 0).unwrap();
        for step in 0..(3 * 24 * 4) {
            let now = start + Duration::minutes(15 * step);
            for tz in zones {
                let local = now.with_timezone(&tz);
                let iso = local.iso_week();
                let b = buckets(&local);
                assert_eq!(b.hour, local.format("%Y-%m-%dT%H").to_string(), "{tz} {now}");
                assert_eq!(b.day, local.format("%Y-%m-%d").to_string(), "{tz} {now}");
                assert_eq!(b.week, format!("{}-W{:02}", iso.year(), iso.week()), "{tz} {now}");
                assert_eq!(b.month, local.format("%Y-%m").to_string(), "{tz} {now}");
            }
        }
        let new_year = chrono::Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(buckets(&new_year.with_timezone(&chrono_tz::UTC)).week, "2026-W53");
    }

    #[test]
    fn no_caps_no_debits() {
        let now = chrono::Utc.with_ymd_and_hms(2026, 11, 23, 3, 30, 0).unwrap();
        assert!(sale_debits(&contract("c1", "b1", "o1"), &buyer("b1"), Money::from_minor(1), now).is_empty());
    }

    #[test]
    fn a_debit_fits_up_to_its_limit() {
        let d = Debit { key: "k".into(), amount: 1, limit: 3, is_money: false, expires_at: None, credit_key: None };
        assert!(d.fits(2, 0));
        assert!(!d.fits(3, 0));
        assert!(d.fits(3, 1), "credit raises the limit");
    }
}
