//! [`Upkeep`]: what keeps a store in shape and says whether it answers.

use crate::{StoreFuture, SweepReport};
use pingpost_core::Timestamp;

/// Periodic work and readiness. On every implementation everything a window may look back on
/// is kept for [`RETENTION`](crate::RETENTION) after its last write, whatever the sweep.
pub trait Upkeep: Send + Sync {
    /// Turns reservations past their lease into unconfirmed sales (counted in the report),
    /// and may forget what is older than
    /// [`RETENTION`](crate::RETENTION) (a store may also let it expire on its own).
    fn sweep(&self, now: Timestamp) -> StoreFuture<'_, SweepReport>;

    /// Whether the store answers at all (readiness).
    fn health(&self) -> StoreFuture<'_, ()>;
}
