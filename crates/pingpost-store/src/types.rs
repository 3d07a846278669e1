//! What store operations take and answer.

use pingpost_core::caps::Debit;
use pingpost_core::checkpoint::ConsumerHistory;
use pingpost_core::identity::{Ident, IdentKind};
use pingpost_core::ids::{BuyerId, ContractId, OfferId, PartnerId, VerticalId};
use pingpost_core::money::Money;
use pingpost_core::window::WindowDays;
use pingpost_core::Timestamp;

/// A ping asking to pass checkpoints 1-2 and reserve its vertical submission.
#[derive(Clone, Debug)]
pub struct Admission {
    pub idents: Vec<Ident>,
    pub vertical: VerticalId,
    pub window: WindowDays,
    pub ping_id: String,
    pub now: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdmitOutcome {
    Suppressed { matched: IdentKind, since: Timestamp },
    VerticalDuplicate { matched: IdentKind, prior_at: Timestamp },
    Admitted { history: ConsumerHistory },
}

/// A sale to reserve atomically: the buyer's window on the consumer, then every debit.
#[derive(Clone, Debug)]
pub struct SaleReservation {
    pub idents: Vec<Ident>,
    /// `None` when the contract has dedup disabled: the sale is still recorded.
    pub window: Option<WindowDays>,
    pub debits: Vec<Debit>,
    /// After this instant an unsettled reservation is treated as a sale of unknown outcome
    /// (kept, never silently given back: see ARCHITECTURE.md).
    pub lease_until: Timestamp,
    pub record: SaleRecord,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReserveOutcome {
    Reserved,
    /// The buyer bought (or is buying) this consumer inside the window.
    AlreadyBought {
        matched: IdentKind,
        prior_at: Timestamp,
    },
    /// A cap, spend limit or balance has no room; `key` names the counter.
    LimitReached {
        key: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LedgerState {
    /// Delivery in flight.
    Reserved,
    /// The buyer accepted.
    Sold,
    /// The buyer answered "duplicate"; nothing charged.
    RolledBack,
    /// The buyer rejected or failed; nothing charged.
    Released,
    /// The engine never settled the reservation (crash); kept as a sale for dedup and caps.
    Unconfirmed,
}

/// A sales-ledger entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaleRecord {
    pub sale_id: String,
    pub ping_id: String,
    pub partner: PartnerId,
    pub offer: OfferId,
    pub vertical: VerticalId,
    pub buyer: BuyerId,
    pub contract: ContractId,
    pub price: Money,
    pub reserved_at: Timestamp,
    pub state: LedgerState,
}

#[derive(Clone, Debug)]
pub struct ClaimRequest {
    pub key: String,
    /// What the claimed request was about; a later claim with another fingerprint is refused.
    pub fingerprint: String,
    /// An in-flight claim older than this may be taken over (its holder died).
    pub lease_until: Timestamp,
    pub now: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    Claimed,
    InFlight,
    Done(Vec<u8>),
    /// The key was claimed for a different request.
    Mismatch,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub consumers_removed: u64,
    pub counters_removed: u64,
    pub blobs_removed: u64,
    pub reservations_unconfirmed: u64,
}

/// What an erasure removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Erased {
    pub vertical_submissions: u64,
    /// Sale marks (sold, reserved, rolled back as "duplicate").
    pub sales: u64,
    pub dq: u64,
}

impl std::ops::AddAssign for Erased {
    fn add_assign(&mut self, o: Erased) {
        self.vertical_submissions += o.vertical_submissions;
        self.sales += o.sales;
        self.dq += o.dq;
    }
}

/// The configuration document as stored: opaque bytes and a version that grows by one
/// with each write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigDoc {
    pub version: u64,
    pub body: Vec<u8>,
}
