//! Secrets in the store: a small resource of its own, apart from [`Store`](crate::Store) and
//! from the configuration document (whose `contracts/` files must never hold a secret), shared
//! by every engine node. Every node polls its stamp and reloads the whole set when the stamp
//! is another than the one it holds (as it does the configuration document), so a write
//! reaches every node within a poll.
//!
//! The set is small (at most [`MAX_SECRETS`]) and read whole, in one step: a node never holds
//! half of two writes. Each write carries an id of its own (`rev`) and recognises its own
//! earlier effect by it, so a write re-sent after a lost reply answers what it answered
//! first, changing nothing more.

#[cfg(feature = "testing")]
pub mod conformance;
pub(crate) mod memory;

use crate::StoreFuture;
use pingpost_core::secret::{SecretName, SecretValue};
use pingpost_core::Timestamp;

/// Most secrets a store keeps: every node holds them all and reloads them whole.
pub const MAX_SECRETS: usize = 1000;

/// The stored set's stamp: the set's version and the id of the write that made it. A store
/// that lost writes may come to hold another set at a version a node already holds: two
/// stamps that differ are two sets, whatever their versions.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SecretsStamp {
    pub version: u64,
    pub rev: String,
}

/// One stored secret.
#[derive(Clone, Debug)]
pub struct StoredSecret {
    pub name: SecretName,
    pub value: SecretValue,
    /// When it was last written (the writer's clock).
    pub updated_at: Timestamp,
}

/// Every stored secret, by name, and the stamp of the write that left them so (`None` when
/// nothing was ever written, or the store lost it all).
#[derive(Clone, Debug, Default)]
pub struct SecretSet {
    pub stamp: Option<SecretsStamp>,
    pub secrets: Vec<StoredSecret>,
}

/// What a write of a secret did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretPut {
    Created,
    Replaced,
    /// Nothing: the store holds [`MAX_SECRETS`] others already.
    Full,
}

/// Where secrets are kept. Every method is one atomic step; writes are safe to re-send with
/// the same `rev` (an id of that write's own).
pub trait SecretStore: Send + Sync + 'static {
    /// The stored set's stamp. Cheap: every node polls it.
    fn secrets_stamp(&self) -> StoreFuture<'_, Option<SecretsStamp>>;

    /// Every stored secret, by name, with the set's stamp, read in one step.
    fn secrets(&self) -> StoreFuture<'_, SecretSet>;

    /// Stores `value` under `name`, written at `at`, unless the store is full. A write
    /// re-sent with its `rev` finds its own effect and answers it again — as long as no other
    /// write of the name came in between.
    fn put_secret(
        &self,
        name: SecretName,
        value: SecretValue,
        at: Timestamp,
        rev: String,
    ) -> StoreFuture<'_, SecretPut>;

    /// Removes the secret; answers whether it was there. A delete re-sent with its `rev`
    /// answers `true` again, until the name is written anew.
    fn delete_secret(&self, name: SecretName, rev: String) -> StoreFuture<'_, bool>;
}
