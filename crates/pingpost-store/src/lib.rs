//! The store: every piece of shared state of pingpost, behind a trait whose operations are
//! the atomic units the engine needs. Each operation checks and writes in one step — on the
//! embedded store under locks, on Redis in one script per hash slot, in a fixed order — so
//! that no engine node ever acts on a read that another node has since invalidated; and each
//! recognises its own earlier effect, so a call re-sent after a lost reply never doubles it.
//!
//! # Layout
//! - [`types`]: what the operations take and answer.
//! - [`memory`]: the embedded, in-process implementation (dashmap + mutexes).
//! - [`conformance`]: behaviour every implementation must show, run against each of them.
//! - [`timed`]: a decorator that measures every round trip (metrics) and applies failpoints.
//! - [`invariants`]: the sale guarantees, checked over a whole store's snapshot.
//! - [`faults`]: failpoints at every step boundary, compiled only into test builds.
//! - [`secrets`]: the secrets buyers' calls carry, a small store trait of their own.

pub mod conformance;
pub mod faults;
pub mod invariants;
pub mod memory;
pub mod secrets;
pub mod timed;
pub mod types;

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

/// How long every store keeps what a window may look back on — consumers' dedup marks,
/// sales, returns, buyers' sales lists — after its last write: the longest window a
/// vertical, contract, DQ or return policy may be given (365 days) and a day of slack.
/// Whatever the windows in force: an operator may lengthen one live, or undo one mistyped
/// short, and expects older events to count again.
pub const RETENTION: chrono::Duration = chrono::Duration::days(366);

/// Boxed so the trait can be used as `dyn Store` and picked at start-up.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = StoreResult<T>> + Send + 'a>>;

/// The engine's atomic units. Every method is one indivisible step on the store (on Redis,
/// a fixed sequence of single-slot scripts, each of which refuses or writes, arranged so that
/// any prefix of the sequence is safe: see ARCHITECTURE.md), and every method is safe to
/// call again with the same arguments — a re-sent call recognises its own earlier effect
/// (by ping id, sale id or holder token) and answers it again instead of doubling it.
pub trait Store: Send + Sync + 'static {
    /// Checkpoints 1 and 2 with the vertical reservation, atomically: if no identifier is
    /// suppressed and none was submitted on the vertical inside its window, record the
    /// submission (pending until `pending_until`) for every identifier and answer the
    /// consumer's history for checkpoints 4-5. A submission of the same ping is its own, not
    /// a duplicate. A `dry_run` admission (a test ping's) answers the same and writes
    /// nothing: another ping's pending submission is a duplicate to it, as it cannot hold an
    /// identifier for a race to be decided.
    fn admit(&self, req: Admission) -> StoreFuture<'_, AdmitOutcome>;

    /// The ping was answered: its pending submissions count for the whole vertical window.
    fn confirm_admission(&self, req: Admission) -> StoreFuture<'_, ()>;

    /// Undoes an admission whose ping could not be answered (so a retry is not a duplicate).
    /// Only marks still belonging to `ping_id` are removed.
    fn release_admission(&self, req: Admission) -> StoreFuture<'_, ()>;

    /// Current values of counters (0 for absent ones), in the order asked.
    fn read_counters(&self, keys: Vec<String>) -> StoreFuture<'_, Vec<i64>>;

    /// Records that each of `buyers` disqualified the consumer now (one call per ping).
    fn record_dq(&self, idents: Vec<Ident>, buyers: Vec<BuyerId>, now: Timestamp) -> StoreFuture<'_, ()>;

    /// Reserves a sale if the buyer has not bought the consumer inside the window (when one
    /// is given), the ping has a free slot and every debit fits; takes the debits, marks the
    /// consumer as reserved under every identifier and writes the ledger entry, which is the
    /// post's journal. A sale reserved before answers [`ReserveOutcome::Existing`].
    fn reserve_sale(&self, req: SaleReservation) -> StoreFuture<'_, ReserveOutcome>;

    /// Ends a reserved (or unconfirmed) sale once; answers the entry's state afterwards
    /// (`None` when there was no entry: a release then leaves a tombstone, so a reservation
    /// still in transit cannot apply after it). A settled sale is final: settling it again
    /// changes nothing.
    fn settle_sale(&self, s: Settlement) -> StoreFuture<'_, Option<LedgerState>>;

    /// [`Store::settle_sale`] in two halves, for a store whose consumer marks live apart from
    /// its ledger (Redis), so that the caller can do something else while the marks follow
    /// (the post stores its answer): this settles the ledger entry alone. A store that
    /// settles both in one step (the embedded one) does all of `settle_sale` here.
    fn settle_ledger(&self, s: Settlement) -> StoreFuture<'_, Option<LedgerState>> {
        self.settle_sale(s)
    }

    /// The second half: the sale's marks under `s.idents`, to `state`, what
    /// [`Store::settle_ledger`] answered. Safe to repeat; if it never runs, the sweep settles
    /// the marks from the ledger (`marks_repair_after` later). Nothing to do for a store whose
    /// `settle_ledger` settled them.
    fn settle_marks(&self, s: Settlement, state: Option<LedgerState>) -> StoreFuture<'_, ()> {
        let _ = (s, state);
        Box::pin(std::future::ready(Ok(())))
    }

    /// Ledger entries.
    fn ledger(&self, q: LedgerQuery) -> StoreFuture<'_, Vec<SaleRecord>>;

    /// Adds to a buyer's prepaid balance once per top-up id, with its books entry in the same
    /// step; answers the buyer's money afterwards. The id is kept with its buyer and amount
    /// as long as a retry can come (the ledger's retention: the books keep it for good), and
    /// an id sent again with another buyer or amount changes nothing.
    fn top_up(&self, t: TopUp) -> StoreFuture<'_, TopUpOutcome>;

    /// A buyer's prepaid money: spent by standing sales, and credited since configured.
    fn buyer_money(&self, buyer: BuyerId) -> StoreFuture<'_, BuyerMoney>;

    /// Opens a return of a sold lead if it is the buyer's, inside its window, under the rate
    /// cap, and not returned yet — all checked and written in one step, so of concurrent
    /// returns of one sale one is opened, and concurrent returns of a buyer's sales never pass
    /// its cap. An approved return (at once, with `approve`) refunds the sale's price to the
    /// buyer's balance and writes its books entries in the same step.
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

    fn returns(&self, q: ReturnQuery) -> StoreFuture<'_, Vec<ReturnRecord>>;

    /// Books entries waiting for the books, oldest first, at most `limit`.
    fn outbox(&self, limit: usize) -> StoreFuture<'_, Vec<OutboxEntry>>;

    /// Removes entries the books now hold. Removing one twice, or one never written, is harmless.
    fn outbox_done(&self, entry_ids: Vec<String>) -> StoreFuture<'_, ()>;

    /// Moves entries the books refused out of the outbox and parks them with why, each in one
    /// step (no moment where it is in neither): they stop holding up the relay and are never
    /// lost. Parking one that is not waiting (parked already, delivered, never written) does
    /// nothing.
    fn outbox_park(&self, refused: Vec<Refusal>, at: Timestamp) -> StoreFuture<'_, ()>;

    /// Parked entries in outbox order (their time, then id), strictly after `after` (the last
    /// of the previous page), at most `limit`; fewer only on the last page.
    fn outbox_parked(&self, after: Option<(Timestamp, String)>, limit: usize) -> StoreFuture<'_, Vec<ParkedEntry>>;

    /// Stores an opaque blob (a ping awaiting its post) from `now` until `expires_at`.
    fn put_blob(&self, key: String, value: Vec<u8>, now: Timestamp, expires_at: Timestamp) -> StoreFuture<'_, ()>;

    fn get_blob(&self, key: String, now: Timestamp) -> StoreFuture<'_, Option<Vec<u8>>>;

    /// Claims `key` for one request (a post, an idempotent ping): the first caller gets
    /// [`Claim::Claimed`], later ones see it in flight or its stored answer.
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

    /// Adds hashes to the suppression list, suppressed since `now`; answers, per hash and in
    /// the order given, whether it was new (a hash repeated in `hashes` is new only once), so
    /// that an import can tell rows it added from rows it skipped.
    fn suppress(&self, hashes: Vec<Sha256Hex>, now: Timestamp) -> StoreFuture<'_, Vec<bool>>;

    /// Removes hashes from the suppression list; answers how many were there.
    fn unsuppress(&self, hashes: Vec<Sha256Hex>) -> StoreFuture<'_, u64>;

    /// When each hash was suppressed (`None` if it is not), in the order given.
    fn suppression_status(&self, hashes: Vec<Sha256Hex>) -> StoreFuture<'_, Vec<Option<Timestamp>>>;

    /// Forgets what is older than [`RETENTION`] (a store that expires keys by TTL has
    /// nothing to do), and turns reservations past their lease into unconfirmed sales.
    fn sweep(&self, now: Timestamp) -> StoreFuture<'_, SweepReport>;

    /// Whether the store answers at all (readiness).
    fn health(&self) -> StoreFuture<'_, ()>;

    /// Removes every piece of dedup state of these identifier hashes — vertical
    /// submissions, sale marks, DQ marks — each hash in one atomic step. Suppression stays,
    /// and so do reservations in flight (see [`Erased::kept_in_flight`]).
    fn erase(&self, hashes: Vec<Sha256Hex>, now: Timestamp) -> StoreFuture<'_, Erased>;

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
