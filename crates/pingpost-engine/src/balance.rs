//! A prepaid buyer's balance as it stands: what it was given (its configured balance, then
//! top-ups and refunds), what its sales were charged, and what its reservations in flight
//! hold until their buyer answers. The store keeps charges and holds in one counter (a
//! reservation takes its price at once, so two posts cannot both spend the last of it);
//! the reservations in flight tell them apart.

use crate::{Engine, EngineError};
use pingpost_core::ids::BuyerId;
use pingpost_core::money::Money;
use pingpost_store::{LedgerQuery, Sales};
use std::collections::BTreeMap;

/// Reservations read per page.
const PAGE: usize = 1_000;

/// A buyer's prepaid money; `balance = configured + credit − spent − reserved`, what its next
/// sales may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Balance {
    pub balance: Money,
    /// Top-ups and refunds since the balance was configured.
    pub credit: Money,
    /// Charged by its sales (sold, or kept as unconfirmed).
    pub spent: Money,
    /// Held by its reservations in flight.
    pub reserved: Money,
}

/// What the reservations in flight hold, per buyer, over every page of them.
pub async fn in_flight(sales: &dyn Sales) -> Result<BTreeMap<BuyerId, Money>, EngineError> {
    let mut held: BTreeMap<BuyerId, Money> = BTreeMap::new();
    let mut after = None;
    loop {
        let page = sales.ledger(LedgerQuery::Reserved { after, limit: PAGE }).await?;
        for r in &page {
            let sum = held.entry(r.buyer.clone()).or_insert(Money::ZERO);
            *sum = sum.saturating_add(r.price);
        }
        if page.len() < PAGE {
            return Ok(held);
        }
        after = page.last().map(|r| (r.lease_until, r.sale_id.clone()));
    }
}

impl Engine {
    /// What the reservations in flight hold, per buyer (see [`in_flight`]).
    pub async fn in_flight(&self) -> Result<BTreeMap<BuyerId, Money>, EngineError> {
        in_flight(&*self.store).await
    }

    /// The buyer's balance; `NotFound` for an unknown buyer or one without a prepaid balance.
    pub async fn balance(&self, buyer: &BuyerId) -> Result<Balance, EngineError> {
        let config = self.config();
        let configured = match config.buyers.get(buyer) {
            None => return Err(EngineError::NotFound { code: "not_found", message: format!("no buyer {buyer:?}") }),
            Some(b) => b.balance.ok_or_else(|| EngineError::NotFound {
                code: "no_balance",
                message: format!("buyer {buyer:?} has no prepaid balance"),
            })?,
        };
        // Holds first: a reservation made after this read is then counted as spent for a
        // moment, never as held money that the counter does not hold.
        let reserved = self.in_flight().await?.remove(buyer).unwrap_or(Money::ZERO);
        let money = self.store.buyer_money(buyer.clone()).await?;
        let reserved = reserved.min(money.spent);
        let spent = Money::from_minor(money.spent.minor() - reserved.minor());
        let balance = configured.minor().saturating_add(money.credit.minor()).saturating_sub(money.spent.minor());
        Ok(Balance { balance: Money::from_minor(balance), credit: money.credit, spent, reserved })
    }
}
