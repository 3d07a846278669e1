//! [`Balances`]: buyers' prepaid money.

use crate::{BuyerMoney, StoreFuture, TopUp, TopUpOutcome};
use pingpost_core::ids::BuyerId;

/// A buyer's prepaid balance: credited by top-ups and returns, spent by standing sales (see
/// [`Sales`](crate::Sales), whose debits take it). On every implementation a top-up moves
/// money once per id, with its books entry in the [`Outbox`](crate::Outbox) in the same step.
pub trait Balances: Send + Sync {
    /// Adds to a buyer's prepaid balance once per top-up id, with its books entry in the same
    /// step; answers the buyer's money afterwards. The id is kept with its buyer and amount
    /// as long as a retry can come (the ledger's retention: the books keep it for good), and
    /// an id sent again with another buyer or amount changes nothing.
    fn top_up(&self, t: TopUp) -> StoreFuture<'_, TopUpOutcome>;

    /// A buyer's prepaid money: spent by standing sales, and credited since configured.
    fn buyer_money(&self, buyer: BuyerId) -> StoreFuture<'_, BuyerMoney>;
}
