//! [`Sales`]: the ledger of sales — reserved by a post, settled by it or by the sweep — with
//! the debits they take and the consumer marks they leave.

use crate::{LedgerQuery, LedgerState, ReserveOutcome, SaleRecord, SaleReservation, Settlement, StoreFuture, TakeOver};

/// A post's sale, from reservation to its end. On every implementation:
/// - No consumer is sold to one buyer twice inside the buyer's window (when the reservation
///   gives one), whatever races: of reservations of one consumer by one buyer, by any of
///   its identifiers, one stands.
/// - No cap counter passes its limit. A ping has no more standing sales than its slots as
///   long as one holder of its post reserves at a time: the post's claim gives one holder
///   the post, and [`Sales::take_over`] fences out the holders before it (a store may also
///   count the slots in the reservation; the embedded store does).
/// - Every call is safe to re-send: a reservation re-sent names the same sale (its id) and
///   answers [`ReserveOutcome::Existing`]; a settled sale is final, settling it again
///   changes nothing and answers its state.
/// - Every movement of money (a charge, its undoing) writes exactly one books entry to the
///   [`Outbox`](crate::Outbox), in the same step as the movement.
pub trait Sales: Send + Sync {
    /// Reserves a sale if the buyer has not bought the consumer inside the window (when one
    /// is given), the ping has a free slot and every debit fits; takes the debits, marks the
    /// consumer as reserved under every identifier and writes the ledger entry, which is the
    /// post's journal. A sale reserved before answers [`ReserveOutcome::Existing`].
    fn reserve_sale(&self, req: SaleReservation) -> StoreFuture<'_, ReserveOutcome>;

    /// Ends a reserved (or unconfirmed) sale once — the ledger entry and the consumer marks,
    /// in one step — and answers the entry's state afterwards (`None` when there was no entry: a release
    /// then leaves a tombstone, so a reservation still in transit cannot apply after it).
    fn settle_sale(&self, s: Settlement) -> StoreFuture<'_, Option<LedgerState>>;

    /// Ledger entries, as [`LedgerQuery`] says, each as one step left it.
    fn ledger(&self, q: LedgerQuery) -> StoreFuture<'_, Vec<SaleRecord>>;

    /// A holder taking a post over from an earlier one: answers the entries of `t.sales` that
    /// earlier holders reserved (the post's journal), and from then until `t.keep_until`
    /// refuses a reservation of any of the others by any holder but `t.holder`
    /// ([`ReserveOutcome::SlotsTaken`]), so an earlier holder that stalled past its claim
    /// cannot sell behind this one's back. Safe to re-send; a later take-over fences for itself.
    fn take_over(&self, t: TakeOver) -> StoreFuture<'_, Vec<SaleRecord>>;
}
