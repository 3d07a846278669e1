//! What the books add up to: accounts per partner, buyer or offer, and each buyer's money.
//!
//! Both implementations only total amounts per group and kind (`Totals`); the definitions
//! of `gross`, `refunds`, `net_payout`, … are stated once, here, in `Totals::account` and
//! `Totals::buyer_money`, and documented on [`AccountGroup`] and [`BuyerMoney`].

use crate::entry::{Entry, EntryKind};
use crate::BooksError;
use pingpost_core::ids::BuyerId;
use pingpost_core::money::Money;
use pingpost_core::Timestamp;
use std::fmt;
use std::str::FromStr;

/// Which field of an entry an account is kept by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Partner,
    Buyer,
    Offer,
}

impl GroupBy {
    pub const fn as_str(self) -> &'static str {
        match self {
            GroupBy::Partner => "partner",
            GroupBy::Buyer => "buyer",
            GroupBy::Offer => "offer",
        }
    }

    /// The entry's key in this grouping (`None` only for a top-up's partner or offer).
    pub fn key_of(self, e: &Entry) -> Option<&str> {
        match self {
            GroupBy::Partner => e.partner.as_ref().map(|p| p.as_str()),
            GroupBy::Buyer => Some(e.buyer.as_str()),
            GroupBy::Offer => e.offer.as_ref().map(|o| o.as_str()),
        }
    }
}

impl fmt::Display for GroupBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown grouping {0:?} (partner, buyer, offer)")]
pub struct UnknownGroupBy(pub String);

impl FromStr for GroupBy {
    type Err = UnknownGroupBy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [GroupBy::Partner, GroupBy::Buyer, GroupBy::Offer]
            .into_iter()
            .find(|g| g.as_str() == s)
            .ok_or_else(|| UnknownGroupBy(s.to_string()))
    }
}

/// Accounts of entries with `since <= at < until` (an open end when `None`), one group per
/// key of `by`, or only the group of `only`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountsQuery {
    pub by: GroupBy,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub only: Option<String>,
}

/// One partner's, buyer's or offer's account over a time range. Definitions, over the
/// group's entries in the range (top-ups are no revenue and are in no account):
/// - `sales`: sale entries minus rollback entries;
/// - `gross`: Σ price of sales and rollbacks (what buyers were charged, net of rollbacks);
/// - `refunds`: −Σ price of return refunds (positive: what was given back);
/// - `net_revenue = gross − refunds`;
/// - `payouts`: Σ payout of sales and rollbacks (what partners earned, net of rollbacks);
/// - `clawbacks`: −Σ payout of payout clawbacks (positive: what was taken back);
/// - `net_payout = payouts − clawbacks`;
/// - `margin = net_revenue − net_payout`, which is also Σ margin of the same entries;
/// - `repeat_sales`, `repeat_gross`: `sales` and `gross` of the repeat sales alone (already
///   counted in `sales` and `gross`): what buying returning consumers again brought in.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AccountGroup {
    pub key: String,
    pub sales: i64,
    pub repeat_sales: i64,
    pub gross: Money,
    pub repeat_gross: Money,
    pub refunds: Money,
    pub net_revenue: Money,
    pub payouts: Money,
    pub clawbacks: Money,
    pub net_payout: Money,
    pub margin: Money,
}

/// A buyer's money over all time, as a reconciliation compares it with the balance the store
/// enforces: `balance = top_ups − charges + refunds`.
/// - `top_ups`: Σ amount of top-ups;
/// - `charges`: Σ price of sales and rollbacks (a rolled-back sale is charged nothing);
/// - `refunds`: −Σ price of return refunds.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BuyerMoney {
    pub buyer: BuyerId,
    pub top_ups: Money,
    pub charges: Money,
    pub refunds: Money,
}

impl BuyerMoney {
    /// `top_ups − charges + refunds`; `None` if it does not fit.
    pub fn balance(&self) -> Option<Money> {
        self.top_ups.checked_sub(self.charges)?.checked_add(self.refunds)
    }
}

/// What one kind of entry adds up to in one group. Sums are i128 so that adding never
/// overflows; only the final figures must fit in `Money`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct KindTotals {
    pub count: i64,
    pub price: i128,
    pub payout: i128,
    pub amount: i128,
}

/// Per-kind totals of one group's entries, all of them and those of repeat sales: the only
/// thing each implementation computes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    all: [KindTotals; 5],
    repeat: [KindTotals; 5],
}

impl KindTotals {
    fn add(&mut self, other: KindTotals) {
        self.count += other.count;
        self.price += other.price;
        self.payout += other.payout;
        self.amount += other.amount;
    }
}

impl Totals {
    pub fn add_entry(&mut self, e: &Entry) {
        let one = KindTotals {
            count: 1,
            price: i128::from(e.price.minor()),
            payout: i128::from(e.payout.minor()),
            amount: i128::from(e.amount.minor()),
        };
        self.add(e.kind, e.repeat, one);
    }

    /// Adds totals computed elsewhere (a database's `GROUP BY kind, repeat`).
    pub fn add(&mut self, kind: EntryKind, repeat: bool, totals: KindTotals) {
        self.all[kind.index()].add(totals);
        if repeat {
            self.repeat[kind.index()].add(totals);
        }
    }

    fn of(&self, kind: EntryKind) -> KindTotals {
        self.all[kind.index()]
    }

    pub fn account(&self, key: String) -> Result<AccountGroup, BooksError> {
        let (sale, rollback) = (self.of(EntryKind::Sale), self.of(EntryKind::Rollback));
        let gross = sale.price + rollback.price;
        let refunds = -self.of(EntryKind::ReturnRefund).price;
        let net_revenue = gross - refunds;
        let payouts = sale.payout + rollback.payout;
        let clawbacks = -self.of(EntryKind::PayoutClawback).payout;
        let net_payout = payouts - clawbacks;
        let (repeat_sale, repeat_rollback) =
            (self.repeat[EntryKind::Sale.index()], self.repeat[EntryKind::Rollback.index()]);
        Ok(AccountGroup {
            key,
            sales: sale.count - rollback.count,
            repeat_sales: repeat_sale.count - repeat_rollback.count,
            gross: money(gross)?,
            repeat_gross: money(repeat_sale.price + repeat_rollback.price)?,
            refunds: money(refunds)?,
            net_revenue: money(net_revenue)?,
            payouts: money(payouts)?,
            clawbacks: money(clawbacks)?,
            net_payout: money(net_payout)?,
            margin: money(net_revenue - net_payout)?,
        })
    }

    pub fn buyer_money(&self, buyer: BuyerId) -> Result<BuyerMoney, BooksError> {
        Ok(BuyerMoney {
            buyer,
            top_ups: money(self.of(EntryKind::TopUp).amount)?,
            charges: money(self.of(EntryKind::Sale).price + self.of(EntryKind::Rollback).price)?,
            refunds: money(-self.of(EntryKind::ReturnRefund).price)?,
        })
    }
}

fn money(minor: i128) -> Result<Money, BooksError> {
    i64::try_from(minor).map(Money::from_minor).map_err(|_| BooksError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_that_do_not_fit_are_an_error() {
        let mut t = Totals::default();
        t.add(EntryKind::Sale, false, KindTotals { count: 2, price: i128::from(i64::MAX) * 2, payout: 0, amount: 0 });
        assert!(matches!(t.account("k".into()), Err(BooksError::Overflow)));
    }

    #[test]
    fn groupings_have_names() {
        for g in [GroupBy::Partner, GroupBy::Buyer, GroupBy::Offer] {
            assert_eq!(g.as_str().parse::<GroupBy>(), Ok(g));
        }
        assert!("contract".parse::<GroupBy>().is_err());
    }
}
