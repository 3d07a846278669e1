//! [`Outbox`]: the books entries the store wrote with each movement of money, waiting for
//! the relay to copy them to the books.

use crate::{OutboxEntry, ParkedEntry, Refusal, StoreFuture};
use pingpost_core::ids::BuyerId;
use pingpost_core::Timestamp;

/// Books entries waiting for the books. On every implementation an entry leaves the outbox
/// only when the relay says the books hold it ([`Outbox::outbox_done`]) or refused it
/// ([`Outbox::outbox_park`], which keeps it): none is ever lost, and removing or parking one
/// again is harmless.
pub trait Outbox: Send + Sync {
    /// Entries waiting for the books, oldest first (their time, then id), at most `limit`.
    fn outbox(&self, limit: usize) -> StoreFuture<'_, Vec<OutboxEntry>>;

    /// Removes entries the books now hold, each named by its buyer and id (a store may keep
    /// each buyer's entries apart). Removing one twice, or one never written, is harmless.
    fn outbox_done(&self, entries: Vec<(BuyerId, String)>) -> StoreFuture<'_, ()>;

    /// Moves entries the books refused out of the outbox and parks them with why, each in one
    /// step (no moment where it is in neither): they stop holding up the relay and are never
    /// lost. Parking one that is not waiting (parked already, delivered, never written) does
    /// nothing.
    fn outbox_park(&self, refused: Vec<Refusal>, at: Timestamp) -> StoreFuture<'_, ()>;

    /// Parked entries in outbox order (their time, then id), strictly after `after` (the last
    /// of the previous page), at most `limit`; fewer only on the last page.
    fn outbox_parked(&self, after: Option<(Timestamp, String)>, limit: usize) -> StoreFuture<'_, Vec<ParkedEntry>>;
}
