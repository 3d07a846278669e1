//! One movement of money, its kinds and the sign conventions every entry keeps.

use chrono::SubsecRound;
use pingpost_core::ids::{BuyerId, ContractId, OfferId, PartnerId};
use pingpost_core::money::Money;
use pingpost_core::Timestamp;

pub use pingpost_core::movement::{EntryKind, UnknownKind};

/// The sale an entry belongs to: every entry but a top-up carries all of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaleRef {
    pub sale_id: String,
    pub ping_id: String,
    pub partner: PartnerId,
    pub buyer: BuyerId,
    pub offer: OfferId,
    pub contract: ContractId,
    /// A repeat sale: a returning consumer bought again at the contract's repeat price.
    pub repeat: bool,
}

/// One movement of money. Amounts are signed minor units; see the crate documentation for
/// the sign of each field per kind. Build entries with [`Entry::sale`], [`Entry::rollback`],
/// [`Entry::return_refund`], [`Entry::payout_clawback`] and [`Entry::top_up`], which apply
/// the conventions; [`Entry::check`] states them for an entry built any other way (the books
/// refuse one that breaks them).
///
/// Serialized (for an outbox) with amounts as integer minor units, since a rollback's
/// negative price is not an amount the API's decimal strings accept.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// Unique per movement, fixed by whoever caused it (so a re-delivery names the same entry).
    pub entry_id: String,
    /// When the money moved. The books keep it to the microsecond (PostgreSQL's precision).
    pub at: Timestamp,
    pub kind: EntryKind,
    pub sale_id: Option<String>,
    pub ping_id: Option<String>,
    pub partner: Option<PartnerId>,
    pub buyer: BuyerId,
    pub offer: Option<OfferId>,
    pub contract: Option<ContractId>,
    /// What the buyer pays (gross), signed.
    #[serde(with = "minor_units")]
    pub price: Money,
    /// What the partner earns, signed.
    #[serde(with = "minor_units")]
    pub payout: Money,
    /// The marketplace's income: always `price − payout`.
    #[serde(with = "minor_units")]
    pub margin: Money,
    /// Money put on the buyer's balance: a top-up's amount (positive), zero on every other kind.
    #[serde(with = "minor_units")]
    pub amount: Money,
    /// The buyer's own id for the lead, on a sale's entry when its answer gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_id: Option<String>,
    /// The entry belongs to a repeat sale (each of its entries says so).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub repeat: bool,
}

/// Why an entry cannot go into the books. Nothing of a batch holding one is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryRule {
    #[error("the entry id is empty")]
    EmptyId,
    #[error("margin must equal price − payout")]
    Margin,
    #[error("{field} has the wrong sign for a {kind} entry")]
    Sign { kind: EntryKind, field: &'static str },
    #[error("a {0} entry needs sale_id, ping_id, partner, offer and contract")]
    MissingSale(EntryKind),
    #[error("a top_up belongs to no sale: sale_id, ping_id, partner, offer and contract must be empty")]
    TopUpWithSale,
    #[error("a rollback's amounts must negate a sale's: price ≤ 0, payout ≤ 0")]
    Rollback,
    #[error("an amount does not fit in minor units")]
    Overflow,
}

impl Entry {
    /// A sale: the buyer pays `price`, the partner earns `payout`, the margin is the rest.
    pub fn sale(
        entry_id: impl Into<String>,
        at: Timestamp,
        sale: SaleRef,
        price: Money,
        payout: Money,
    ) -> Result<Entry, EntryRule> {
        let margin = price.checked_sub(payout).ok_or(EntryRule::Overflow)?;
        Entry::of_sale(entry_id.into(), at, EntryKind::Sale, sale, price, payout, margin)
    }

    /// The rollback of a sale of `price` and `payout` (the sale's own, positive amounts):
    /// every amount negated, so a sale and its rollback add up to nothing.
    pub fn rollback(
        entry_id: impl Into<String>,
        at: Timestamp,
        sale: SaleRef,
        price: Money,
        payout: Money,
    ) -> Result<Entry, EntryRule> {
        let margin = price.checked_sub(payout).ok_or(EntryRule::Overflow)?;
        let neg = |m: Money| m.checked_neg().ok_or(EntryRule::Overflow);
        Entry::of_sale(entry_id.into(), at, EntryKind::Rollback, sale, neg(price)?, neg(payout)?, neg(margin)?)
    }

    /// `refund` (positive) given back to the buyer for a returned sale: the marketplace's
    /// revenue and margin fall by it; the partner's payout is untouched (see
    /// [`Entry::payout_clawback`]).
    pub fn return_refund(
        entry_id: impl Into<String>,
        at: Timestamp,
        sale: SaleRef,
        refund: Money,
    ) -> Result<Entry, EntryRule> {
        let price = refund.checked_neg().ok_or(EntryRule::Overflow)?;
        Entry::of_sale(entry_id.into(), at, EntryKind::ReturnRefund, sale, price, Money::ZERO, price)
    }

    /// `clawed` (positive) taken back from the partner's payout for a returned sale: the
    /// payout falls by it and the margin rises by it.
    pub fn payout_clawback(
        entry_id: impl Into<String>,
        at: Timestamp,
        sale: SaleRef,
        clawed: Money,
    ) -> Result<Entry, EntryRule> {
        let payout = clawed.checked_neg().ok_or(EntryRule::Overflow)?;
        Entry::of_sale(entry_id.into(), at, EntryKind::PayoutClawback, sale, Money::ZERO, payout, clawed)
    }

    /// `amount` (positive) credited to the buyer's prepaid balance by an operator.
    pub fn top_up(
        entry_id: impl Into<String>,
        at: Timestamp,
        buyer: BuyerId,
        amount: Money,
    ) -> Result<Entry, EntryRule> {
        let entry = Entry {
            entry_id: entry_id.into(),
            at,
            kind: EntryKind::TopUp,
            sale_id: None,
            ping_id: None,
            partner: None,
            buyer,
            offer: None,
            contract: None,
            price: Money::ZERO,
            payout: Money::ZERO,
            margin: Money::ZERO,
            amount,
            lead_id: None,
            repeat: false,
        };
        entry.check()?;
        Ok(entry)
    }

    fn of_sale(
        entry_id: String,
        at: Timestamp,
        kind: EntryKind,
        sale: SaleRef,
        price: Money,
        payout: Money,
        margin: Money,
    ) -> Result<Entry, EntryRule> {
        let entry = Entry {
            entry_id,
            at,
            kind,
            sale_id: Some(sale.sale_id),
            ping_id: Some(sale.ping_id),
            partner: Some(sale.partner),
            buyer: sale.buyer,
            offer: Some(sale.offer),
            contract: Some(sale.contract),
            price,
            payout,
            margin,
            amount: Money::ZERO,
            lead_id: None,
            repeat: sale.repeat,
        };
        entry.check()?;
        Ok(entry)
    }

    /// The same entry, naming the buyer's own id for the lead.
    pub fn with_lead_id(self, lead_id: Option<String>) -> Entry {
        Entry { lead_id, ..self }
    }

    /// The sale this entry belongs to (`None` for a top-up).
    pub fn sale_ref(&self) -> Option<SaleRef> {
        Some(SaleRef {
            sale_id: self.sale_id.clone()?,
            ping_id: self.ping_id.clone()?,
            partner: self.partner.clone()?,
            buyer: self.buyer.clone(),
            offer: self.offer.clone()?,
            contract: self.contract.clone()?,
            repeat: self.repeat,
        })
    }

    /// The conventions of the crate documentation, stated once: the books refuse an entry
    /// that breaks any of them.
    pub fn check(&self) -> Result<(), EntryRule> {
        if self.entry_id.is_empty() {
            return Err(EntryRule::EmptyId);
        }
        if self.price.checked_sub(self.payout) != Some(self.margin) {
            return Err(EntryRule::Margin);
        }
        let kind = self.kind;
        let sign = |ok: bool, field: &'static str| if ok { Ok(()) } else { Err(EntryRule::Sign { kind, field }) };
        let has_sale = self.sale_ref().is_some_and(|s| {
            ![s.sale_id.as_str(), s.ping_id.as_str(), s.partner.as_str(), s.offer.as_str(), s.contract.as_str()]
                .contains(&"")
        });
        let zero = Money::ZERO;
        match kind {
            EntryKind::TopUp => {
                let no_sale = self.sale_id.is_none()
                    && self.ping_id.is_none()
                    && self.partner.is_none()
                    && self.offer.is_none()
                    && self.contract.is_none();
                if !no_sale {
                    return Err(EntryRule::TopUpWithSale);
                }
                sign(self.price == zero, "price")?;
                sign(self.payout == zero, "payout")?;
                sign(self.amount > zero, "amount")?;
            }
            _ if !has_sale => return Err(EntryRule::MissingSale(kind)),
            EntryKind::Sale => {
                sign(self.price >= zero, "price")?;
                sign(self.payout >= zero, "payout")?;
            }
            EntryKind::Rollback => {
                if self.price > zero || self.payout > zero {
                    return Err(EntryRule::Rollback);
                }
            }
            EntryKind::ReturnRefund => {
                sign(self.price < zero, "price")?;
                sign(self.payout == zero, "payout")?;
            }
            EntryKind::PayoutClawback => {
                sign(self.price == zero, "price")?;
                sign(self.payout < zero, "payout")?;
            }
        }
        if kind != EntryKind::TopUp {
            sign(self.amount == zero, "amount")?;
        }
        Ok(())
    }

    /// The entry as the books keep it: its time to the microsecond, which is all PostgreSQL
    /// stores. Applied by every implementation before storing or comparing, so an entry
    /// delivered again compares equal to the one stored whatever the precision of its clock.
    pub fn normalized(mut self) -> Entry {
        self.at = self.at.trunc_subsecs(6);
        self
    }
}

/// Amounts as signed integer minor units in serialized entries.
mod minor_units {
    use pingpost_core::money::Money;

    pub fn serialize<S: serde::Serializer>(m: &Money, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(m.minor())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Money, D::Error> {
        <i64 as serde::Deserialize>::deserialize(d).map(Money::from_minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn t0() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).single().unwrap_or_default()
    }

    fn sale_ref() -> SaleRef {
        SaleRef {
            sale_id: "p1-0".into(),
            ping_id: "p1".into(),
            partner: PartnerId::new("acme"),
            buyer: BuyerId::new("b1"),
            offer: OfferId::new("auto"),
            contract: ContractId::new("c1"),
            repeat: false,
        }
    }

    fn m(minor: i64) -> Money {
        Money::from_minor(minor)
    }

    /// `(price, payout, margin, amount)` of an entry.
    fn amounts(e: &Entry) -> (i64, i64, i64, i64) {
        (e.price.minor(), e.payout.minor(), e.margin.minor(), e.amount.minor())
    }

    #[test]
    fn constructors_apply_the_sign_conventions() {
        let sale = Entry::sale("s", t0(), sale_ref(), m(1850), m(1500)).expect("a sale");
        assert_eq!((sale.kind, amounts(&sale)), (EntryKind::Sale, (1850, 1500, 350, 0)));
        let rb = Entry::rollback("r", t0(), sale_ref(), m(1850), m(1500)).expect("a rollback");
        assert_eq!((rb.kind, amounts(&rb)), (EntryKind::Rollback, (-1850, -1500, -350, 0)));
        assert_eq!(rb.sale_ref(), Some(sale_ref()));
        let refund = Entry::return_refund("rr", t0(), sale_ref(), m(1850)).expect("a refund");
        assert_eq!(amounts(&refund), (-1850, 0, -1850, 0));
        let claw = Entry::payout_clawback("pc", t0(), sale_ref(), m(1500)).expect("a clawback");
        assert_eq!(amounts(&claw), (0, -1500, 1500, 0));
        let top = Entry::top_up("t", t0(), BuyerId::new("b1"), m(50_000)).expect("a top-up");
        assert_eq!((top.sale_ref(), amounts(&top)), (None, (0, 0, 0, 50_000)));
    }

    fn check(entry: Entry, expected: Result<(), EntryRule>) {
        assert_eq!(entry.check(), expected, "{entry:?}");
    }

    #[test]
    fn check_states_every_convention() {
        let sale = || Entry::sale("s", t0(), sale_ref(), m(1850), m(1500)).expect("a sale");
        let top = || Entry::top_up("t", t0(), BuyerId::new("b1"), m(100)).expect("a top-up");
        check(sale(), Ok(()));
        check(Entry { entry_id: String::new(), ..sale() }, Err(EntryRule::EmptyId));
        check(Entry { margin: m(1), ..sale() }, Err(EntryRule::Margin));
        let negative_sale = Entry { price: m(-1850), payout: m(-1500), margin: m(-350), ..sale() };
        check(negative_sale, Err(EntryRule::Sign { kind: EntryKind::Sale, field: "price" }));
        check(Entry { partner: None, ..sale() }, Err(EntryRule::MissingSale(EntryKind::Sale)));
        check(Entry { sale_id: Some(String::new()), ..sale() }, Err(EntryRule::MissingSale(EntryKind::Sale)));
        check(Entry { amount: m(5), ..sale() }, Err(EntryRule::Sign { kind: EntryKind::Sale, field: "amount" }));
        check(Entry { kind: EntryKind::Rollback, ..sale() }, Err(EntryRule::Rollback));
        let refund_with_payout =
            Entry { kind: EntryKind::ReturnRefund, price: m(-100), payout: m(-100), margin: m(0), ..sale() };
        check(refund_with_payout, Err(EntryRule::Sign { kind: EntryKind::ReturnRefund, field: "payout" }));
        let claw_with_price =
            Entry { kind: EntryKind::PayoutClawback, price: m(-1), payout: m(-100), margin: m(99), ..sale() };
        check(claw_with_price, Err(EntryRule::Sign { kind: EntryKind::PayoutClawback, field: "price" }));
        check(top(), Ok(()));
        check(Entry { amount: m(0), ..top() }, Err(EntryRule::Sign { kind: EntryKind::TopUp, field: "amount" }));
        check(Entry { sale_id: Some("s".into()), ..top() }, Err(EntryRule::TopUpWithSale));
        check(
            Entry { price: m(10), margin: m(10), ..top() },
            Err(EntryRule::Sign { kind: EntryKind::TopUp, field: "price" }),
        );
        assert_eq!(
            Entry::return_refund("rr", t0(), sale_ref(), m(0)).err(),
            Some(EntryRule::Sign { kind: EntryKind::ReturnRefund, field: "price" })
        );
        assert_eq!(Entry::sale("s", t0(), sale_ref(), m(i64::MIN), m(1)).err(), Some(EntryRule::Overflow));
    }

    #[test]
    fn kinds_have_snake_case_names() {
        for kind in EntryKind::ALL {
            assert_eq!(kind.as_str().parse::<EntryKind>(), Ok(kind));
            assert_eq!(EntryKind::ALL[kind.index()], kind);
        }
        assert_eq!(EntryKind::ReturnRefund.to_string(), "return_refund");
        assert!("refund".parse::<EntryKind>().is_err());
    }

    #[test]
    fn serialized_entries_keep_signed_minor_units() {
        let rb = Entry::rollback("r", t0(), sale_ref(), m(1850), m(1500)).expect("a rollback");
        let json = serde_json::to_value(&rb).expect("serializes");
        assert_eq!(
            (json["kind"].as_str(), json["price"].as_i64(), json["margin"].as_i64()),
            (Some("rollback"), Some(-1850), Some(-350))
        );
        assert_eq!(serde_json::from_value::<Entry>(json).ok(), Some(rb), "reads back as it was");
    }

    #[test]
    fn normalizing_keeps_whole_microseconds() {
        let at = t0() + chrono::Duration::nanoseconds(1_234_567);
        let e = Entry::top_up("t", at, BuyerId::new("b1"), m(1)).expect("a top-up").normalized();
        assert_eq!(e.at, t0() + chrono::Duration::microseconds(1_234));
    }
}
