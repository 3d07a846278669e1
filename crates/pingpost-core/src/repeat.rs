//! Repeat leads: a consumer who comes back after a while is often a new need, not a
//! duplicate (the seeds: most leads flagged as duplicates are not). A contract's `repeat`
//! terms let its buyer buy such a consumer again, at a repeat price, once per `after` days;
//! a vertical's `repeat_after_days` lets a consumer submitted again after that long through
//! its vertical dedup as a repeat. What decides a repeat is in [`crate::checkpoint`]; what it
//! costs is here.

use crate::money::Money;
use crate::window::WindowDays;

/// A contract's terms for repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RepeatTerms {
    /// The buyer buys a consumer again only when its last purchase of it is at least this old
    /// (and, for a vertical repeat, when it has none that recent): at most one repeat sale
    /// of a consumer to the buyer per `after` days. Shorter than the contract's window.
    pub after: WindowDays,
    pub price: RepeatPrice,
}

/// What a repeat costs the buyer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepeatPrice {
    /// Hundredths of a percent of the contract's price for the ping (its fixed price or its
    /// real-time bid), 0..=10 000: `{"percent": "40.00"}` is 4 000.
    Percent(u32),
    /// A fixed amount, never more than the contract's price for the ping.
    Fixed(Money),
}

impl RepeatTerms {
    /// The repeat price of a lead the contract prices at `price`: a percentage rounded
    /// half-up to the cent (as margins are, [`Money::percent`]), or the fixed amount, never
    /// above `price` — a repeat is never dearer than a new lead. Zero is no bid.
    pub fn price_of(&self, price: Money) -> Money {
        match self.price {
            RepeatPrice::Percent(hundredths) => price.percent(hundredths),
            RepeatPrice::Fixed(fixed) => fixed.min(price),
        }
        .min(price)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(price: RepeatPrice) -> RepeatTerms {
        RepeatTerms { after: WindowDays::new(14).expect("a window"), price }
    }

    /// (terms, the contract's price in cents, the repeat price in cents)
    #[test]
    fn a_repeat_costs_a_share_of_the_price_or_a_fixed_amount_never_more_than_the_price() {
        let m = Money::from_minor;
        let table = [
            (RepeatPrice::Percent(4_000), 1_000, 400),
            (RepeatPrice::Percent(4_000), 1_850, 740),
            (RepeatPrice::Percent(3_333), 1_000, 333), // 333.3 → 333
            (RepeatPrice::Percent(1_500), 1_850, 278), // 277.5 → 278: half-up, as margins
            (RepeatPrice::Percent(10_000), 1_234, 1_234),
            (RepeatPrice::Percent(0), 1_000, 0), // zero: no bid
            (RepeatPrice::Percent(1), 1, 0),
            (RepeatPrice::Fixed(m(400)), 1_000, 400),
            (RepeatPrice::Fixed(m(400)), 300, 300), // never above the price
            (RepeatPrice::Fixed(m(0)), 1_000, 0),
        ];
        for (price, cents, want) in table {
            assert_eq!(terms(price).price_of(m(cents)), m(want), "{price:?} of {cents}");
        }
    }
}
