//! The store: every piece of shared state of pingpost, behind small traits, one per concern,
//! each with a contract every implementation keeps (stated on the trait), and [`Store`], the
//! umbrella of them all that the binary picks at start-up. Writes check and apply in steps
//! that each refuse or apply whole — on the embedded store under locks, on Redis one script
//! per hash slot, in a fixed order — so that no engine node ever acts on a read another node
//! has since invalidated; and each recognises its own earlier effect, so a call re-sent
//! after a lost reply never doubles it.
//!
//! # Layout
//! - The concerns, a trait each: [`Admissions`] (checkpoints 1-2, DQ marks), [`Counters`]
//!   (the caps' counters), [`Sales`] (reservations, settlements, the ledger), [`Balances`]
//!   (prepaid money), [`Returns`], [`Outbox`] (books entries waiting for the relay),
//!   [`Blobs`], [`Claims`] (one request per key), [`Suppression`], [`Erasure`], [`Upkeep`]
//!   (the sweep, readiness) and [`ConfigDocs`] (the configuration document); [`Store`] is
//!   all of them. Callers ask for the concerns they use (`&dyn Claims`, `Arc<dyn Outbox>`).
//! - [`types`]: what the operations take and answer.
//! - [`memory`]: the embedded, in-process implementation (dashmap + mutexes), one file per
//!   concern.
//! - [`timed`]: a decorator of every concern that measures each round trip (metrics) and
//!   applies failpoints.
//! - [`faults`]: failpoints at every step boundary, compiled in only with the `failpoints`
//!   feature (tests).
//! - [`secrets`]: the secrets buyers' calls carry, a small store trait of their own.
//! - Test code, compiled only with the `testing` feature (test targets turn it on through
//!   `[dev-dependencies]`; release builds never do): `conformance`, the behaviour every
//!   implementation must show, one module per concern, run against each of them; and
//!   `invariants`, the sale guarantees checked over a whole store's snapshot.

mod admissions;
mod balances;
mod blobs;
mod claims;
mod config_docs;
mod counters;
mod erasure;
mod events;
mod outbox;
mod retention;
mod returns;
mod sales;
mod suppression;
mod upkeep;

#[cfg(feature = "testing")]
pub mod conformance;
pub mod faults;
#[cfg(feature = "testing")]
pub mod invariants;
pub mod memory;
pub mod secrets;
pub mod timed;
pub mod types;

pub use admissions::Admissions;
pub use balances::Balances;
pub use blobs::Blobs;
pub use claims::{claim_step, claim_table, ClaimFacts, ClaimPhase, ClaimStep, Claims};
pub use config_docs::ConfigDocs;
pub use counters::Counters;
pub use erasure::Erasure;
pub use events::{EventOutbox, QueuedEvent};
pub use outbox::Outbox;
pub use returns::Returns;
pub use sales::Sales;
pub use suppression::Suppression;
pub use upkeep::Upkeep;

pub use retention::{kept_after_settling, store_lists_sales_since, RETENTION, SETTLED_KEPT};

pub use faults::{Fault, Faults};
pub use memory::MemoryStore;
pub use secrets::{SecretPut, SecretSet, SecretStore, SecretsStamp, StoredSecret, MAX_SECRETS};
pub use timed::Timed;
pub use types::*;

use pingpost_core::identity::{Ident, Sha256Hex};
use pingpost_core::ids::BuyerId;
use pingpost_core::money::Money;
use pingpost_core::Timestamp;
use std::future::Future;
use std::pin::Pin;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached or did not answer in time; the request must fail (503),
    /// never proceed without its dedup check.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store answered something this version cannot read.
    #[error("store returned unreadable data: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Boxed so the trait can be used as `dyn Store` and picked at start-up.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = StoreResult<T>> + Send + 'a>>;

/// The whole store: every concern, as one trait object the binary picks at start-up
/// (`Arc<dyn Store>`: the embedded store, Redis or Redis Cluster). Callers that use one or
/// two concerns ask for those alone — `&dyn Claims`, `Arc<dyn Outbox>` — which a `&dyn
/// Store` upcasts to. What every concern promises is said on its own trait; what they all
/// share:
/// - Every method is safe to call again with the same arguments: a call re-sent after a
///   lost reply changes nothing its first sending did not (writes recognise their own
///   earlier effect by ping id, sale id, holder token or write id).
/// - A write the engine acts on is checked and made in steps that each refuse or apply
///   whole (on Redis, single-slot scripts, arranged so that any prefix of them is safe: see
///   `pingpost-redis/src/lib.rs`), so no engine node acts on a read another node has since invalidated.
/// - A failure is [`StoreError::Unavailable`] or [`StoreError::Corrupt`]; the caller fails
///   the request rather than proceeding without the store's answer.
pub trait Store:
    Admissions
    + Counters
    + Sales
    + Balances
    + Returns
    + Outbox
    + EventOutbox
    + Blobs
    + Claims
    + Suppression
    + Erasure
    + Upkeep
    + ConfigDocs
    + 'static
{
}

impl<T> Store for T where
    T: Admissions
        + Counters
        + Sales
        + Balances
        + Returns
        + Outbox
        + EventOutbox
        + Blobs
        + Claims
        + Suppression
        + Erasure
        + Upkeep
        + ConfigDocs
        + ?Sized
        + 'static
{
}
