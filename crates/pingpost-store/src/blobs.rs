//! [`Blobs`]: opaque values kept for a while (a ping awaiting its post, console sessions).

use crate::StoreFuture;
use pingpost_core::Timestamp;

/// Opaque values under keys, each kept until its expiry. On every implementation a value
/// is read back whole as it was last put, before its expiry (by the `now` the reader
/// gives), and never after it.
pub trait Blobs: Send + Sync {
    /// Stores `value` under `key` from `now` until `expires_at`, replacing what was there.
    fn put_blob(&self, key: String, value: Vec<u8>, now: Timestamp, expires_at: Timestamp) -> StoreFuture<'_, ()>;

    /// The value under `key`, `None` if there is none or it expired by `now`.
    fn get_blob(&self, key: String, now: Timestamp) -> StoreFuture<'_, Option<Vec<u8>>>;
}
