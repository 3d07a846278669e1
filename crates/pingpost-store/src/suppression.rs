//! [`Suppression`]: the do-not-contact list, by identifier hash.

use crate::StoreFuture;
use pingpost_core::identity::Sha256Hex;
use pingpost_core::Timestamp;

/// The suppression list. On every implementation an admission after a suppression
/// answered is refused ([`Admissions`](crate::Admissions)); each hash is added or removed in
/// a step of its own (a bulk call is not one step), and a call re-sent changes nothing more —
/// it answers what it finds then (a re-sent suppression reports its hashes as not new).
pub trait Suppression: Send + Sync {
    /// Adds hashes to the suppression list, suppressed since `now`; answers, per hash and in
    /// the order given, whether it was new (a hash repeated in `hashes` is new only once), so
    /// that an import can tell rows it added from rows it skipped.
    fn suppress(&self, hashes: Vec<Sha256Hex>, now: Timestamp) -> StoreFuture<'_, Vec<bool>>;

    /// Removes hashes from the suppression list; answers how many were there.
    fn unsuppress(&self, hashes: Vec<Sha256Hex>) -> StoreFuture<'_, u64>;

    /// When each hash was suppressed (`None` if it is not), in the order given.
    fn suppression_status(&self, hashes: Vec<Sha256Hex>) -> StoreFuture<'_, Vec<Option<Timestamp>>>;
}
