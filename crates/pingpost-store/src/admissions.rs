//! [`Admissions`]: the consumer's dedup state a ping checks and reserves (checkpoints 1 and
//! 2), and the disqualifications buyers recorded on it.

use crate::{Admission, AdmitOutcome, StoreFuture};
use pingpost_core::identity::Ident;
use pingpost_core::ids::BuyerId;
use pingpost_core::Timestamp;

/// A ping's admission of a consumer on a vertical. On every implementation:
/// - Of pings of one consumer on one vertical admitted at once — by the same identifiers or
///   by any that overlap — at most one is admitted; none is while an identifier is
///   suppressed or was submitted on the vertical inside the window by another ping.
/// - A call re-sent with the same ping id (after a lost reply) finds its own submission and
///   answers as the first did; confirming or releasing twice is the same as once.
/// - An admission neither confirmed nor released turns other pings away only until its
///   `pending_until`: a ping that failed, or whose engine died, holds nobody for good.
pub trait Admissions: Send + Sync {
    /// If no identifier is suppressed and none was submitted on the vertical inside its
    /// window by another ping, records the submission (pending until `pending_until`) under
    /// every identifier and answers the consumer's history for checkpoints 4-5. A `dry_run`
    /// admission (a test ping's) answers the same and writes nothing: another ping's pending
    /// submission is a duplicate to it, as it cannot hold an identifier for a race to be
    /// decided.
    fn admit(&self, req: Admission) -> StoreFuture<'_, AdmitOutcome>;

    /// The ping was answered: its pending submissions count for the whole vertical window.
    fn confirm_admission(&self, req: Admission) -> StoreFuture<'_, ()>;

    /// Undoes an admission whose ping could not be answered (so a retry is not a duplicate).
    /// Only submissions still belonging to `ping_id` are removed.
    fn release_admission(&self, req: Admission) -> StoreFuture<'_, ()>;

    /// Records that each of `buyers` disqualified the consumer at `now`, under every
    /// identifier (one call per ping); later admissions answer it in the history.
    fn record_dq(&self, idents: Vec<Ident>, buyers: Vec<BuyerId>, now: Timestamp) -> StoreFuture<'_, ()>;
}
