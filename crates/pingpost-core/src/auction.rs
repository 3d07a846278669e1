//! Ranking bids and reading real-time bid prices.

use crate::config::Pricing;
use crate::ids::{BuyerId, ContractId};
use crate::money::Money;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Bid {
    pub bid_id: String,
    pub buyer: BuyerId,
    pub contract: ContractId,
    pub price: Money,
}

/// Best first: highest price, then lowest contract id, so the order is deterministic.
pub fn rank(bids: &mut [Bid]) {
    bids.sort_by(|a, b| b.price.cmp(&a.price).then_with(|| a.contract.cmp(&b.contract)));
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

    fn bid(contract: &str, cents: i64) -> Bid {
        Bid {
            bid_id: contract.into(),
            buyer: BuyerId::new("b"),
            contract: ContractId::new(contract),
            price: Money::from_minor(cents),
        }
    }

    #[test]
    fn best_price_first_ties_by_contract_id() {
        let mut bids = vec![bid("c3", 100), bid("c2", 500), bid("c1", 100)];
        rank(&mut bids);
        let order: Vec<&str> = bids.iter().map(|b| b.contract.as_str()).collect();
        assert_eq!(order, ["c2", "c1", "c3"]);
    }

    #[test]
    fn real_time_bids_respect_floor_and_ceiling() {
        let rt = Pricing::RealTime {
            url: "http://x".into(),
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
