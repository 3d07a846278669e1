//! [`Returns`]: buyers giving sold leads back, and operators' decisions on them.

use crate::{DecideOutcome, ReturnOutcome, ReturnQuery, ReturnRecord, ReturnRequest, StoreFuture};
use pingpost_core::Timestamp;

/// Returns of sold leads. On every implementation each check of a return is made in the
/// step that writes it: of concurrent returns of one sale one is opened, and concurrent
/// returns of a buyer's sales never pass its rate cap. A refund moves the buyer's balance
/// and writes its books entries in the same step, once however often it is re-sent; a
/// returned sale still counts for dedup.
pub trait Returns: Send + Sync {
    /// Opens a return of a sold lead if it is the buyer's, inside its window, under the rate
    /// cap, and not returned yet. An approved return (at once, with `approve`) refunds the
    /// sale's price to the buyer's balance and writes its books entries. A return re-sent
    /// answers the one opened.
    fn open_return(&self, r: ReturnRequest) -> StoreFuture<'_, ReturnOutcome>;

    /// An operator's decision on a pending return: approving refunds as above; denying frees
    /// its place under the rate cap. A decision is final.
    fn decide_return(
        &self,
        return_id: String,
        approve: bool,
        note: Option<String>,
        at: Timestamp,
    ) -> StoreFuture<'_, DecideOutcome>;

    /// Returns, as [`ReturnQuery`] says.
    fn returns(&self, q: ReturnQuery) -> StoreFuture<'_, Vec<ReturnRecord>>;
}
