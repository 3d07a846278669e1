//! How long a store keeps what — one rule for every store. What dedup reaches (the
//! consumers' submissions, DQ marks, a buyer's marks on a consumer) is kept for [`RETENTION`];
//! a sale's ledger entry only while something may still change or decide on it. The books
//! keep every sale for as long as the operator keeps them.

use crate::LedgerState;
use chrono::Duration;
use pingpost_core::Timestamp;

/// How long every store keeps what a dedup window may look back on — consumers' vertical
/// submissions and DQ marks, a buyer's marks on the consumers it bought — after its last
/// write: the longest window a vertical, contract or DQ rule may be given (365 days) and a
/// day of slack. Whatever the windows in force: an operator may lengthen one live, or undo
/// one mistyped short, and expects older events to count again. Reservations and unconfirmed
/// sales (their outcome unknown) are kept as long.
pub const RETENTION: Duration = Duration::days(366);

/// How long a settled sale stays in the store once nothing can change it any more. Long
/// enough for the buyer's return rate (its sales of the trailing 30 days), a resumed post
/// (hours) many times over, and a month of lookups from the store; after it the books hold
/// the sale and the buyer's marks (kept for [`RETENTION`]) its dedup.
pub const SETTLED_KEPT: Duration = Duration::days(31);

/// How long after it was settled a sale ending as `state` stays in the store. A charged sale
/// (sold, unconfirmed) may still be returned inside `return_window` — its contract's return
/// window in force at its settlement — so it is kept that much longer; a sale given back
/// (released, rolled back) or one whose return was decided, [`SETTLED_KEPT`]. A pending return
/// keeps its sale for [`RETENTION`], until it is decided.
///
/// A return window lengthened later reaches the sales the store still keeps: those settled
/// inside the old window and [`SETTLED_KEPT`].
pub fn kept_after_settling(state: LedgerState, return_window: Duration) -> Duration {
    match state {
        LedgerState::Sold | LedgerState::Unconfirmed => return_window + SETTLED_KEPT,
        LedgerState::Reserved => RETENTION,
        LedgerState::Released | LedgerState::RolledBack | LedgerState::Returned => SETTLED_KEPT,
    }
}

/// Every sale charged at or after this is still in the store, whatever happened to it since
/// (kept [`SETTLED_KEPT`] at least from its charge, its settlement or its return's decision);
/// older ones may be in the books alone. A day short of [`SETTLED_KEPT`], so a sale leaving
/// between two reads is never missed.
pub fn store_lists_sales_since(now: Timestamp) -> Timestamp {
    now - (SETTLED_KEPT - Duration::days(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_charged_sale_outlives_its_return_window_and_a_sale_given_back_only_the_grace() {
        let week = Duration::days(7);
        assert_eq!(kept_after_settling(LedgerState::Sold, week), Duration::days(38));
        assert_eq!(kept_after_settling(LedgerState::Unconfirmed, week), Duration::days(38));
        assert_eq!(kept_after_settling(LedgerState::Released, week), SETTLED_KEPT);
        assert_eq!(kept_after_settling(LedgerState::RolledBack, week), SETTLED_KEPT);
        assert_eq!(kept_after_settling(LedgerState::Returned, week), SETTLED_KEPT);
        assert!(SETTLED_KEPT > crate::RETURN_RATE_SPAN, "the return rate counts sales the store keeps");
    }
}
