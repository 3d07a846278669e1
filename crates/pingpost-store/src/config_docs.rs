//! [`ConfigDocs`]: the configuration document every engine node runs by.

use crate::{ConfigDoc, ConfigStamp, StoreFuture};

/// The one configuration document, written by compare-and-set. On every implementation a
/// write applies only over the document its writer read, so of concurrent writes over one
/// document exactly one applies, and a write re-sent with its `rev` answers itself again.
pub trait ConfigDocs: Send + Sync {
    /// The configuration document, `None` before the first write (or once the store lost it).
    fn config(&self) -> StoreFuture<'_, Option<ConfigDoc>>;

    /// The stored configuration document's stamp. Cheap: every node polls it, and reloads
    /// whenever it differs from the one it holds.
    fn config_stamp(&self) -> StoreFuture<'_, Option<ConfigStamp>>;

    /// Stores `body` as the configuration document, stamped with the next version and `rev`
    /// (an id of this write's own), if the stored document is still `expected` — with
    /// `None`, if none is stored (the first write, at start-up). Answers the new stamp;
    /// `None` when the stored document is another or is gone (the caller re-reads, so that
    /// no edit is lost or applied over one it did not see, and none becomes the whole
    /// configuration of a store that lost it). A re-sent write finds its own `rev` stored
    /// and answers it again.
    fn save_config(
        &self,
        expected: Option<ConfigStamp>,
        rev: String,
        body: Vec<u8>,
    ) -> StoreFuture<'_, Option<ConfigStamp>>;
}
