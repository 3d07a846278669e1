//! What the marketplace keeps of a buyer's price, and what the partner earns: `payout = price −
//! margin`, never below zero nor above the price. A margin is a percentage of the price
//! (rounded half-up to the cent) or a fixed amount, set on the offer, overridden per buyer,
//! and that overridden per partner.

use crate::money::{Money, MoneyError};

/// A marketplace's cut of a gross price.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Margin {
    /// Hundredths of a percent of the price, 0..=10 000 ("15.00" is 1 500).
    Percent(u32),
    /// A fixed amount per sale.
    Fixed(Money),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarginError {
    #[error("{0}")]
    Money(#[from] MoneyError),
    #[error("must be at most 100.00 (percent), got {0:?}")]
    OverHundredPercent(String),
}

impl Margin {
    /// A percentage written as a decimal string with at most two decimals, "15.00".
    pub fn parse_percent(text: &str) -> Result<Margin, MarginError> {
        let hundredths = Money::parse(text)?.minor();
        if hundredths > 10_000 {
            return Err(MarginError::OverHundredPercent(text.to_string()));
        }
        Ok(Margin::Percent(hundredths as u32))
    }

    /// The amount kept of `price`. A percentage is rounded half-up to the cent: 15 % of 18.50
    /// is 2.775, kept as 2.78.
    pub fn of(self, price: Money) -> Money {
        match self {
            Margin::Fixed(amount) => amount,
            Margin::Percent(hundredths) => price.percent(hundredths),
        }
    }

    /// The partner's payout for a sale at `price` under `margin` (none: the whole price),
    /// always within `[0, price]`: a fixed margin above the price leaves the partner nothing,
    /// never a debt. The one statement of that rule, for bids and for the lower prices buyers
    /// report alike. A zero payout is no bid ([`crate::auction::payout_acceptable`]).
    pub fn payout(margin: Option<Margin>, price: Money) -> Money {
        let kept = margin.map_or(Money::ZERO, |m| m.of(price));
        let payout = Money::from_minor(price.minor().saturating_sub(kept.minor()));
        payout.max(Money::ZERO).min(price.max(Money::ZERO))
    }

    /// The margin in force: the partner's, else the buyer's, else the offer's.
    pub fn resolve(offer: Option<Margin>, buyer: Option<Margin>, partner: Option<Margin>) -> Option<Margin> {
        partner.or(buyer).or(offer)
    }
}

/// What a partner is shown of the bids on its ping and of the sales of its post.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disclosure {
    /// The payout only: no buyer identity, no gross price (the default).
    #[default]
    Payout,
    /// The payout and the buyer's legal name, for one-to-one consent forms.
    Consent,
    /// Everything: buyer, contract, gross price and payout (the marketplace's own sources).
    Full,
}

impl Disclosure {
    pub fn parse(text: &str) -> Option<Disclosure> {
        match text {
            "payout" => Some(Disclosure::Payout),
            "consent" => Some(Disclosure::Consent),
            "full" => Some(Disclosure::Full),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(text: &str) -> Money {
        Money::parse(text).expect("valid money")
    }

    /// (price, margin, expected payout)
    fn check(price: &str, margin: Option<Margin>, payout: &str) {
        let got = Margin::payout(margin, m(price));
        assert_eq!(got.to_string(), payout, "{price} under {margin:?}");
    }

    fn pct(text: &str) -> Option<Margin> {
        Some(Margin::parse_percent(text).expect("valid percent"))
    }

    #[test]
    fn payouts_under_each_kind_of_margin_to_the_cent() {
        check("18.50", None, "18.50");
        check("18.50", pct("15.00"), "15.72"); // 2.775 kept as 2.78: half-up
        check("18.50", pct("10"), "16.65");
        check("10.00", pct("12.34"), "8.77"); // 1.234 → 1.23
        check("10.05", pct("5.00"), "9.55"); // 0.5025 → 0.50
        check("0.10", pct("5.00"), "0.09"); // 0.005 → 0.01: half-up, not to even
        check("0.01", pct("49.99"), "0.01"); // 0.004999 → 0.00
        check("0.01", pct("50.00"), "0.00"); // 0.005 → 0.01: nothing left
        check("99.99", pct("100.00"), "0.00");
        check("18.50", pct("0"), "18.50");
        check("18.50", Some(Margin::Fixed(m("2.50"))), "16.00");
        check("2.00", Some(Margin::Fixed(m("2.50"))), "0.00"); // never below zero: no bid
        check("2.50", Some(Margin::Fixed(m("2.50"))), "0.00");
        check("0.00", Some(Margin::Fixed(m("2.50"))), "0.00");
        check("999999999999.99", pct("33.33"), "666699999999.99");
    }

    #[test]
    fn percentages_are_exact_and_at_most_a_hundred() {
        assert_eq!(Margin::parse_percent("15.00"), Ok(Margin::Percent(1500)));
        assert_eq!(Margin::parse_percent("0.5"), Ok(Margin::Percent(50)));
        assert!(matches!(Margin::parse_percent("100.01"), Err(MarginError::OverHundredPercent(_))));
        assert!(matches!(Margin::parse_percent("-1"), Err(MarginError::Money(_))));
        assert!(matches!(Margin::parse_percent("1.005"), Err(MarginError::Money(_))));
    }

    #[test]
    fn the_partners_margin_overrides_the_buyers_which_overrides_the_offers() {
        let (o, b, p) = (pct("10"), pct("20"), Some(Margin::Fixed(m("1.00"))));
        assert_eq!(Margin::resolve(o, b, p), p);
        assert_eq!(Margin::resolve(o, b, None), b);
        assert_eq!(Margin::resolve(o, None, None), o);
        assert_eq!(Margin::resolve(None, None, None), None);
        assert_eq!(Margin::resolve(None, None, p), p);
    }
}
