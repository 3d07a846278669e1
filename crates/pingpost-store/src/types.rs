//! What store operations take and answer.

use pingpost_core::caps::Debit;
use pingpost_core::checkpoint::ConsumerHistory;
use pingpost_core::identity::{Ident, IdentKind};
use pingpost_core::ids::{BuyerId, ContractId, OfferId, PartnerId, VerticalId};
use pingpost_core::money::Money;
pub use pingpost_core::movement::EntryKind;
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
    /// The submission is pending until the ping confirms it once answered; a pending one
    /// stops counting after this instant (see `vertical_submission_counts`).
    pub pending_until: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdmitOutcome {
    Suppressed { matched: IdentKind, since: Timestamp },
    VerticalDuplicate { matched: IdentKind, prior_at: Timestamp },
    Admitted { history: ConsumerHistory },
}

/// A sale to reserve atomically: the buyer's window on the consumer, the ping's slots, then
/// every debit.
#[derive(Clone, Debug)]
pub struct SaleReservation {
    /// Every identifier of the *ping* (not only those the post repeated): the sale is
    /// recorded under each, so no later ping of the consumer by any of them passes.
    pub idents: Vec<Ident>,
    /// `None` when the contract has dedup disabled: the sale is still recorded.
    pub window: Option<WindowDays>,
    pub debits: Vec<Debit>,
    /// How many standing sales (reserved, sold, unconfirmed) the ping may have, each to a
    /// distinct buyer: 1 for an exclusive offer, `max_buyers` for multisell.
    pub slots: u16,
    /// Its `sale_id` is derived from the ping and the bid, so a re-sent or resumed
    /// reservation names the same sale; its `holder` says which post attempt reserves it.
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
    /// The ping already has as many standing sales as it has slots, or one to this buyer.
    SlotsTaken,
    /// This sale was reserved before (a re-sent call, or an earlier attempt of the post):
    /// nothing was taken again; here is the entry as it stands.
    Existing(Box<SaleRecord>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LedgerState {
    /// Delivery in flight.
    Reserved,
    /// The buyer accepted.
    Sold,
    /// The buyer answered "duplicate"; nothing charged.
    RolledBack,
    /// The buyer rejected or failed; nothing charged.
    Released,
    /// The reservation's lease ran out before the engine settled it (a crash, a lost
    /// settlement): the lead may have been delivered, so it is kept as a sale for dedup,
    /// caps and the ping's slots until a late settlement says otherwise.
    Unconfirmed,
}

impl LedgerState {
    /// Whether the sale takes one of its ping's slots (and its debits stay taken).
    pub fn is_standing(self) -> bool {
        matches!(self, LedgerState::Reserved | LedgerState::Sold | LedgerState::Unconfirmed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LedgerState::Reserved => "reserved",
            LedgerState::Sold => "sold",
            LedgerState::RolledBack => "rolled_back",
            LedgerState::Released => "released",
            LedgerState::Unconfirmed => "unconfirmed",
        }
    }
}

/// A sales-ledger entry. It is also the post's journal: it is written before the lead leaves,
/// so a post resumed on another node learns what was already tried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaleRecord {
    pub sale_id: String,
    pub ping_id: String,
    pub partner: PartnerId,
    pub offer: OfferId,
    pub vertical: VerticalId,
    pub buyer: BuyerId,
    pub contract: ContractId,
    /// What the buyer pays (gross).
    pub price: Money,
    /// What the partner earns: the price less the marketplace's margin.
    pub payout: Money,
    pub reserved_at: Timestamp,
    pub state: LedgerState,
    /// The post attempt (its claim's holder token) that reserved the sale.
    pub holder: String,
    /// Until when the reservation may stay unsettled before it counts as unconfirmed.
    pub lease_until: Timestamp,
    /// For a released sale, why (`rejected`, or the error's code): a resumed post reports it.
    pub reason: Option<String>,
}

/// How a reserved sale ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SaleEnd {
    /// The buyer accepted; a lower final price gives the difference back, and lowers the
    /// partner's payout to `final_payout`.
    Sold { final_price: Money, final_payout: Money },
    /// The buyer rejected or failed (`reason`), or the reservation's outcome was unknown and
    /// the engine gives it up before delivering: everything it took is given back.
    Released { reason: String },
    /// The buyer answered "duplicate": debits given back, the consumer marked as the buyer's.
    RolledBack,
}

/// A settlement carries the identifiers (the ping's) rather than reading them back, so a
/// settlement re-sent or run after a partial failure needs nothing from an earlier step.
#[derive(Clone, Debug)]
pub struct Settlement {
    pub sale_id: String,
    pub ping_id: String,
    pub buyer: BuyerId,
    pub idents: Vec<Ident>,
    pub end: SaleEnd,
    pub at: Timestamp,
}

/// Which ledger entries to list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LedgerQuery {
    Sale(String),
    /// A ping's sales: its post's journal.
    Ping(String),
    /// Sales whose outcome is unknown, newest first.
    Unconfirmed {
        limit: usize,
    },
}

#[derive(Clone, Debug)]
pub struct ClaimRequest {
    pub key: String,
    /// What the claimed request was about; a later claim with another fingerprint is refused.
    pub fingerprint: String,
    /// This attempt's token, unique per attempt: a re-sent claim recognises its own holder,
    /// and only the holder completes or gives up the claim.
    pub holder: String,
    /// An in-flight claim older than this may be taken over (its holder died).
    pub lease_until: Timestamp,
    /// How long the claim (and then its answer) is kept at all.
    pub keep_until: Timestamp,
    pub now: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The caller holds the claim. `resumed` when an earlier holder had it (it died, its
    /// lease ran out, or it gave the claim up): what that holder did must be read first.
    Claimed {
        resumed: bool,
    },
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
    /// Reservations this sweep found past their lease and turned unconfirmed.
    pub reservations_unconfirmed: u64,
    /// Unconfirmed sales in the ledger after the sweep.
    pub unconfirmed: u64,
}

/// What an erasure removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Erased {
    pub vertical_submissions: u64,
    /// Sale marks (sold, unconfirmed, rolled back as "duplicate").
    pub sales: u64,
    pub dq: u64,
    /// Reservations in flight, kept: removing one would let a concurrent post sell the
    /// consumer to the same buyer again. They settle within their lease; erase again then.
    pub kept_in_flight: u64,
}

impl std::ops::AddAssign for Erased {
    fn add_assign(&mut self, o: Erased) {
        self.vertical_submissions += o.vertical_submissions;
        self.sales += o.sales;
        self.dq += o.dq;
        self.kept_in_flight += o.kept_in_flight;
    }
}

/// The configuration document as stored: opaque bytes and a version that grows by one
/// with each write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigDoc {
    pub version: u64,
    pub body: Vec<u8>,
}

/// A movement of money waiting in the store's outbox for the books. It is written by the
/// same atomic step as the movement itself (a settlement, a sweep, a top-up), so no movement
/// happens without its entry; the relay copies entries to the books, idempotently by
/// `entry_id`, and only then removes them. Amounts are the movement's own, positive: the
/// books' entries apply their sign conventions (a rollback is its sale negated, and so on).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEntry {
    /// `<kind>:<sale id or top-up id>`: the same on every write of the same movement.
    pub entry_id: String,
    pub kind: EntryKind,
    pub at: Timestamp,
    pub buyer: BuyerId,
    /// The sale it belongs to; `None` for a top-up.
    pub sale: Option<OutboxSale>,
    /// The sale's gross price and the partner's payout (sales and rollbacks).
    pub price: Money,
    pub payout: Money,
    /// A top-up's, refund's or clawback's amount.
    pub amount: Money,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxSale {
    pub sale_id: String,
    pub ping_id: String,
    pub partner: PartnerId,
    pub offer: OfferId,
    pub contract: ContractId,
}

impl OutboxEntry {
    /// The entry of a sale becoming charged (`Sale`) or given back (`Rollback`).
    pub fn of_sale(kind: EntryKind, r: &SaleRecord, at: Timestamp) -> OutboxEntry {
        OutboxEntry {
            entry_id: format!("{}:{}", kind.as_str(), r.sale_id),
            kind,
            at,
            buyer: r.buyer.clone(),
            sale: Some(OutboxSale {
                sale_id: r.sale_id.clone(),
                ping_id: r.ping_id.clone(),
                partner: r.partner.clone(),
                offer: r.offer.clone(),
                contract: r.contract.clone(),
            }),
            price: r.price,
            payout: r.payout,
            amount: Money::ZERO,
        }
    }

    /// The entry of a top-up.
    pub fn of_top_up(t: &TopUp) -> OutboxEntry {
        OutboxEntry {
            entry_id: format!("{}:{}", EntryKind::TopUp.as_str(), t.id),
            kind: EntryKind::TopUp,
            at: t.at,
            buyer: t.buyer.clone(),
            sale: None,
            price: Money::ZERO,
            payout: Money::ZERO,
            amount: t.amount,
        }
    }
}

/// An operator's top-up of a buyer's prepaid balance; `id` makes a re-sent call apply once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopUp {
    pub id: String,
    pub buyer: BuyerId,
    pub amount: Money,
    pub at: Timestamp,
}

/// A buyer's prepaid money in the store: what its standing sales took (`spent`) and what
/// was added since its balance was configured (`credit`: top-ups and refunds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BuyerMoney {
    pub spent: Money,
    pub credit: Money,
}
