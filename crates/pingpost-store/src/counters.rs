//! [`Counters`]: the caps' counters, as a ping reads them before its auction.

use crate::StoreFuture;

/// The counters the sales' debits move (see [`Sales::reserve_sale`](crate::Sales::reserve_sale)).
/// On every implementation a read answers values some moment of the store held, each counter
/// on its own: a ping only pre-checks with them, and the reservation checks again in its own
/// step.
pub trait Counters: Send + Sync {
    /// Current values of counters (0 for absent or expired ones), in the order asked.
    fn read_counters(&self, keys: Vec<String>) -> StoreFuture<'_, Vec<i64>>;
}
