//! Ranking bids and reading real-time bid prices.

use crate::config::Pricing;
use crate::ids::{BuyerId, ContractId};
use crate::margin::Margin;
use crate::money::Money;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Bid {
    pub bid_id: String,
    pub buyer: BuyerId,
    pub contract: ContractId,
    /// What the buyer pays (gross).
    pub price: Money,
    /// What the partner earns: the price less the marketplace's margin.
    #[serde(default)]
    pub payout: Money,
    /// The buyer's reference for its bid (its bid answer's `token`), carried to the post as
    /// `{{ bid.token }}`: the auction id some buyers require back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// A bid on a returning consumer at the contract's repeat price: its sale is a repeat
    /// sale. Written only when true, so other bids read as they always did.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub repeat: bool,
}

/// Best first for the partner: highest payout, then highest price, then lowest contract id,
/// so the order is deterministic.
pub fn rank(bids: &mut [Bid]) {
    bids.sort_by(|a, b| {
        b.payout.cmp(&a.payout).then_with(|| b.price.cmp(&a.price)).then_with(|| a.contract.cmp(&b.contract))
    });
}

/// Whether a bid paying the partner `payout` may stand: more than zero, and at least the
/// partner's minimum.
pub fn payout_acceptable(payout: Money, min_payout: Option<Money>) -> bool {
    payout > Money::ZERO && min_payout.is_none_or(|min| payout >= min)
}

/// What an accepted bid sells at when its buyer reports the price it pays (its answer's
/// `price`): `(price, payout)`. A buyer may report less than its bid, never more (a higher
/// report is ignored); the payout then follows the lower price under the same `margin`
/// ([`Margin::payout`], so within `[0, price]`), and never rises above the bid's. Such a
/// payout may fall below what [`payout_acceptable`] asks of a bid: the lead was delivered and
/// accepted, so the sale stands all the same, and the caller records it.
pub fn reported_sale(bid: &Bid, reported: Option<Money>, margin: Option<Margin>) -> (Money, Money) {
    match reported.filter(|p| *p < bid.price) {
        Some(price) => (price, Margin::payout(margin, price).min(bid.payout)),
        None => (bid.price, bid.payout),
    }
}

/// The price a contract bids, given what its bid URL answered (`None` for no answer).
/// Zero is no bid; below the floor is no bid; above the ceiling is held to the ceiling.
pub fn contract_price(pricing: &Pricing, answered: Option<Money>) -> Option<Money> {
    match pricing {
        Pricing::Fixed(p) => Some(*p).filter(|p| !p.is_zero()),
        Pricing::RealTime { floor, ceiling, .. } => {
            let bid = answered.filter(|b| !b.is_zero())?;
            if floor.is_some_and(|f| bid < f) {
                return None;
            }
            Some(ceiling.map_or(bid, |c| bid.min(c)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bid(contract: &str, cents: i64, payout: i64) -> Bid {
        Bid {
            bid_id: contract.into(),
            buyer: BuyerId::new("b"),
            contract: ContractId::new(contract),
            price: Money::from_minor(cents),
            payout: Money::from_minor(payout),
            token: None,
            repeat: false,
        }
    }

    #[test]
    fn best_payout_first_ties_by_price_then_contract_id() {
        let mut bids =
            vec![bid("c3", 100, 90), bid("c2", 500, 400), bid("c1", 100, 90), bid("c4", 900, 400), bid("c5", 600, 450)];
        rank(&mut bids);
        let order: Vec<&str> = bids.iter().map(|b| b.contract.as_str()).collect();
        assert_eq!(order, ["c5", "c4", "c2", "c1", "c3"], "a higher gross price never outranks a higher payout");
    }

    #[test]
    fn a_bid_must_pay_the_partner_something_and_at_least_its_minimum() {
        let m = Money::from_minor;
        assert!(payout_acceptable(m(1), None));
        assert!(!payout_acceptable(m(0), None));
        assert!(!payout_acceptable(m(-50), None));
        assert!(payout_acceptable(m(500), Some(m(500))));
        assert!(!payout_acceptable(m(499), Some(m(500))));
    }

    #[test]
    fn a_lower_reported_price_lowers_the_payout_by_the_margin_within_zero_and_the_price() {
        let m = Money::from_minor;
        let fixed = Some(Margin::Fixed(m(300)));
        let sold = bid("c1", 1600, 1300);
        // (reported, margin, expected (price, payout))
        let check = |reported: Option<i64>, margin: Option<Margin>, want: (i64, i64)| {
            assert_eq!(reported_sale(&sold, reported.map(m), margin), (m(want.0), m(want.1)), "{reported:?}");
        };
        check(None, fixed, (1600, 1300));
        check(Some(1600), fixed, (1600, 1300));
        check(Some(9900), fixed, (1600, 1300)); // never more than the bid
        check(Some(1000), fixed, (1000, 700));
        check(Some(200), fixed, (200, 0)); // the margin is more than the price: nothing, not a debt
        check(Some(0), fixed, (0, 0));
        check(Some(1000), None, (1000, 1000));
        // A payout lowered under a margin changed since the ping never rises above the bid's.
        check(Some(1500), Margin::parse_percent("1.00").ok(), (1500, 1300));
    }

    #[test]
    fn real_time_bids_respect_floor_and_ceiling() {
        let rt = Pricing::RealTime {
            url: Some("http://x".into()),
            timeout_ms: 80,
            floor: Some(Money::from_minor(500)),
            ceiling: Some(Money::from_minor(2000)),
            expected: Money::ZERO,
        };
        let m = Money::from_minor;
        assert_eq!(contract_price(&rt, Some(m(1000))), Some(m(1000)));
        assert_eq!(contract_price(&rt, Some(m(400))), None);
        assert_eq!(contract_price(&rt, Some(m(0))), None);
        assert_eq!(contract_price(&rt, None), None);
        assert_eq!(contract_price(&rt, Some(m(5000))), Some(m(2000)));
        assert_eq!(contract_price(&Pricing::Fixed(m(0)), None), None);
    }
}
