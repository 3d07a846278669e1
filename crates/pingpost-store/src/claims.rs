//! [`Claims`]: one request at a time per key (a post, an idempotent ping), and its answer
//! kept for the requests that repeat it.

use crate::{Claim, ClaimRequest, StoreFuture};
use pingpost_core::Timestamp;

/// Claims on keys. On every implementation at most one holder holds a key at a time (a
/// lease that ran out may be taken over, and the one taking over is told so); only the
/// holder completes or gives it up; a claim re-sent by its holder finds its own.
pub trait Claims: Send + Sync {
    /// Claims `key` for one request: the first caller gets [`Claim::Claimed`], later ones
    /// see it in flight or its stored answer.
    fn claim(&self, req: ClaimRequest) -> StoreFuture<'_, Claim>;

    /// Stores the answer of a claimed key, kept until `keep_until`, if `holder` still holds it.
    fn complete_claim(
        &self,
        key: String,
        holder: String,
        answer: Vec<u8>,
        now: Timestamp,
        keep_until: Timestamp,
    ) -> StoreFuture<'_, ()>;

    /// Gives a claim up without an answer, if `holder` still holds it: the next claim of the
    /// key gets it at once — as resumed when this holder had taken it over from an earlier
    /// one (whose work the next must read), and as new when this holder took it fresh: such
    /// a claim is removed, so a request refused before any work leaves nothing behind.
    fn abandon_claim(&self, key: String, holder: String) -> StoreFuture<'_, ()>;
}
