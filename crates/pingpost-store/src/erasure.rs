//! [`Erasure`]: a consumer's request to be forgotten.

use crate::{Erased, StoreFuture};
use pingpost_core::identity::Sha256Hex;
use pingpost_core::Timestamp;

/// Forgetting consumers. On every implementation each hash is erased in one step of its
/// own, and an erasure re-sent removes nothing more (it answers what it removed then).
pub trait Erasure: Send + Sync {
    /// Removes every piece of dedup state of these identifier hashes — vertical
    /// submissions, sale marks, DQ marks. Suppression stays, and so do reservations in
    /// flight (see [`Erased::kept_in_flight`]).
    fn erase(&self, hashes: Vec<Sha256Hex>, now: Timestamp) -> StoreFuture<'_, Erased>;
}
