//! What store operations take and answer.

use pingpost_core::caps::Debit;
use pingpost_core::checkpoint::{ConsumerHistory, SaleState};
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
    /// The vertical's `repeat_after_days`: a confirmed submission at least this old (and
    /// inside `window`) lets the ping through as a repeat (see `vertical_verdict`).
    pub repeat_after: Option<WindowDays>,
    pub ping_id: String,
    pub now: Timestamp,
    /// The submission is pending until the ping confirms it once answered; a pending one
    /// stops counting after this instant (see `vertical_verdict`).
    pub pending_until: Timestamp,
    /// A test ping's: checked and answered exactly as a real one, but nothing is written
    /// (no pending submission, no housekeeping), so it never turns another ping away.
    pub dry_run: bool,
    /// The buyers whose sale marks the history must hold (the offer's): a store that keeps
    /// each buyer's marks with its sales reads these; others may answer every buyer's.
    pub buyers: std::sync::Arc<[BuyerId]>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdmitOutcome {
    Suppressed {
        matched: IdentKind,
        since: Timestamp,
    },
    VerticalDuplicate {
        matched: IdentKind,
        prior_at: Timestamp,
    },
    /// Through checkpoints 1-2; `repeat` names the identifier and the last submission by
    /// which the consumer passed as a repeat on the vertical. `last_submission` is the
    /// consumer's latest confirmed submission on the vertical its identifiers' marks still
    /// hold, however old (the repeat's, or one past the window): the gap the event log keeps
    /// for the what-if. A store may not know it for a re-sent admission.
    Admitted {
        history: ConsumerHistory,
        repeat: Option<(IdentKind, Timestamp)>,
        last_submission: Option<Timestamp>,
    },
}

/// A sale to reserve atomically: the buyer's window on the consumer, the ping's slots, then
/// every debit.
#[derive(Clone, Debug)]
pub struct SaleReservation {
    /// Every identifier of the *ping* (not only those the post repeated): the sale is
    /// recorded under each, so no later ping of the consumer by any of them passes.
    pub idents: Vec<Ident>,
    /// `None` when the contract has dedup disabled: the sale is still recorded. A repeat
    /// sale's is its `record.repeat_after`: it needs no purchase of the consumer by the buyer
    /// that recent.
    pub window: Option<WindowDays>,
    pub debits: Vec<Debit>,
    /// How many standing sales (reserved, sold, unconfirmed) the ping may have, each to a
    /// distinct buyer: 1 for an exclusive offer, `max_buyers` for multisell.
    pub slots: u16,
    /// Its `sale_id` is derived from the ping and the bid, so a re-sent or resumed
    /// reservation names the same sale; its `holder` says which post attempt reserves it.
    pub record: SaleRecord,
}

impl SaleReservation {
    /// What the reservation charges and takes: what its settlement names.
    pub fn terms(&self) -> ReservedTerms {
        ReservedTerms { price: self.record.price, payout: self.record.payout, debits: self.debits.clone() }
    }

    /// How this reservation's sale ends, at `at`, its contract's return window being
    /// `return_window`.
    pub fn settlement(&self, end: SaleEnd, at: Timestamp, return_window: chrono::Duration) -> Settlement {
        Settlement {
            sale_id: self.record.sale_id.clone(),
            ping_id: self.record.ping_id.clone(),
            buyer: self.record.buyer.clone(),
            idents: self.idents.clone(),
            end,
            at,
            return_window,
            reserved: self.terms(),
        }
    }
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
    /// The ping already has as many standing sales as it has slots, or one to this buyer; or
    /// a later holder of its post took the post over (see [`TakeOver`]) and holds them.
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
    /// Sold, then returned by the buyer with an approved return: its price went back to the
    /// buyer's balance; the delivery still counts for dedup, caps and spend.
    Returned,
}

impl LedgerState {
    pub const ALL: [LedgerState; 6] = [
        LedgerState::Reserved,
        LedgerState::Sold,
        LedgerState::Released,
        LedgerState::RolledBack,
        LedgerState::Unconfirmed,
        LedgerState::Returned,
    ];

    /// Whether a return may be opened (and approved) for a sale in this state: a lead
    /// charged to the buyer — sold, or unconfirmed (the sweep charged it).
    pub fn is_returnable(self) -> bool {
        matches!(self, LedgerState::Sold | LedgerState::Unconfirmed)
    }

    /// Whether the sale takes one of its ping's slots (and its debits stay taken).
    pub fn is_standing(self) -> bool {
        matches!(self, LedgerState::Reserved | LedgerState::Sold | LedgerState::Unconfirmed | LedgerState::Returned)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LedgerState::Reserved => "reserved",
            LedgerState::Sold => "sold",
            LedgerState::RolledBack => "rolled_back",
            LedgerState::Released => "released",
            LedgerState::Unconfirmed => "unconfirmed",
            LedgerState::Returned => "returned",
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
    /// For a sale sold at a lower price than its bid, `below_min_payout` when the payout that
    /// price left is below what the partner accepts (the sale stands; an operator settles it).
    pub reason: Option<String>,
    /// When the sale was charged (sold, or kept as unconfirmed).
    pub sold_at: Option<Timestamp>,
    /// The buyer's own id for the lead, as its post answer gave it (its adapter's `lead_id`).
    pub lead_id: Option<String>,
    /// A repeat sale: the contract's `repeat.after_days` it was sold under (the buyer's last
    /// purchase of the consumer was at least that old). `None` for a new lead.
    pub repeat_after: Option<WindowDays>,
}

/// How a reserved sale ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SaleEnd {
    /// The buyer accepted; a lower final price gives the difference back, lowers the
    /// partner's payout to `final_payout` and keeps `reason` on the entry (`below_min_payout`
    /// when that payout is below what the partner accepts); `lead_id` is the buyer's own id
    /// for the lead, kept with the sale and its books entry.
    Sold { final_price: Money, final_payout: Money, reason: Option<String>, lead_id: Option<String> },
    /// The buyer rejected or failed (`reason`), or the reservation's outcome was unknown and
    /// the engine gives it up before delivering: everything it took is given back.
    Released { reason: String },
    /// The buyer answered "duplicate": debits given back, the consumer marked as the buyer's.
    RolledBack,
}

/// What a settlement leaves on its sale's consumer marks, by the state its ledger entry holds
/// afterwards (`None`: no entry) and the end it asked for: the one rule both stores and the
/// whole-store invariant check follow. The marks follow the ledger, whatever the call asked:
/// a settlement re-sent after the entry was settled leaves them as the ledger says.
pub fn marks_after(ledger: Option<LedgerState>, end: &SaleEnd) -> MarkAfter {
    match ledger {
        // A returned lead was delivered: dedup stays as it was.
        Some(LedgerState::Sold | LedgerState::Returned) => MarkAfter::Settled(SaleState::Sold),
        Some(LedgerState::RolledBack) => MarkAfter::Settled(SaleState::Duplicate),
        // Released, or a release that found no entry (its tombstone fences a reservation
        // still on its way).
        Some(LedgerState::Released) => MarkAfter::Released,
        None if matches!(end, SaleEnd::Released { .. }) => MarkAfter::Released,
        // Not settled: the reservation mark stays, and reads as a sale once its lease ends.
        Some(LedgerState::Reserved | LedgerState::Unconfirmed) | None => MarkAfter::Unchanged,
    }
}

/// See [`marks_after`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkAfter {
    Unchanged,
    /// The mark now reads this state, without a lease.
    Settled(SaleState),
    /// The mark becomes a released sale's tombstone.
    Released,
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
    /// The sale's return window in force (its contract's): how much longer than a sale given
    /// back a charged one stays in the store ([`kept_after_settling`](crate::kept_after_settling)).
    pub return_window: chrono::Duration,
    /// What its reservation charged and took ([`SaleReservation::terms`]): what the settlement
    /// gives back is computed from them ([`settling`]). A store that names every key a step
    /// touches before it runs (Redis) refuses a settlement whose debits are not its entry's.
    pub reserved: ReservedTerms,
}

/// What a reservation charged and took: the sale's price and payout as reserved, and its
/// debits in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReservedTerms {
    pub price: Money,
    pub payout: Money,
    pub debits: Vec<Debit>,
}

/// What settling a sale does to its entry, its counters and the books, by the state the entry
/// is in when the settlement arrives (`from`: reserved, or unconfirmed — charged by the sweep):
/// the one statement of these rules, which both stores apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settling {
    /// The entry's state afterwards.
    pub state: LedgerState,
    /// What each debit gets back, in the reservation's order.
    pub refunds: Vec<i64>,
    /// The price and payout the entry takes instead of its own: a sale at a lower final price,
    /// settled from its reservation (a charged sale keeps what the books have).
    pub lowered: Option<(Money, Money)>,
    /// Why, kept on the entry: a release's reason; a lowered sale's (`below_min_payout`).
    pub reason: Option<String>,
    /// The books entry of the movement: `sale` when a reservation is sold (the charge),
    /// `rollback` when a charged sale is given back; none otherwise.
    pub books: Option<EntryKind>,
}

/// See [`Settling`]. A release or a rollback gives every debit back; a sale gives back, on
/// its money debits, what a lower final price leaves over (a charged sale keeps its price).
pub fn settling(from: LedgerState, end: &SaleEnd, terms: &ReservedTerms) -> Settling {
    let charged = from == LedgerState::Unconfirmed;
    let (state, lowered, reason) = match end {
        SaleEnd::Sold { final_price, final_payout, reason, .. } if !charged && *final_price < terms.price => {
            (LedgerState::Sold, Some((*final_price, (*final_payout).min(terms.payout))), reason.clone())
        }
        SaleEnd::Sold { .. } => (LedgerState::Sold, None, None),
        SaleEnd::Released { reason } => (LedgerState::Released, None, Some(reason.clone())),
        SaleEnd::RolledBack => (LedgerState::RolledBack, None, None),
    };
    let refund = |d: &Debit| match (state, lowered) {
        (LedgerState::Sold, Some((price, _))) if d.is_money => (d.amount - price.minor()).max(0),
        (LedgerState::Sold, _) => 0,
        _ => d.amount,
    };
    let books = match (charged, state) {
        (false, LedgerState::Sold) => Some(EntryKind::Sale),
        (true, LedgerState::Released | LedgerState::RolledBack) => Some(EntryKind::Rollback),
        _ => None,
    };
    Settling { state, refunds: terms.debits.iter().map(refund).collect(), lowered, reason, books }
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
    /// Reservations in flight (their post has not settled them yet), oldest lease first,
    /// strictly after the page cursor `after` (the last reservation of the previous page: its
    /// lease and sale id). Fewer than `limit` only on the last page.
    Reserved {
        after: Option<(Timestamp, String)>,
        limit: usize,
    },
    /// A buyer's charged sales (sold, unconfirmed or returned; also those returned or
    /// rolled back since), newest sold first, sold in `[since, until)`, strictly after the
    /// page cursor `after` (the last sale of the previous page: its sold time and id).
    Buyer {
        buyer: BuyerId,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
        after: Option<(Timestamp, String)>,
        limit: usize,
    },
}

/// A post taken over from an earlier holder (see [`Sales::take_over`](crate::Sales::take_over)).
#[derive(Clone, Debug)]
pub struct TakeOver {
    /// Every sale the post may make: the buyer and sale id of each bid of the ping's ranking.
    pub sales: Vec<(BuyerId, String)>,
    /// The holder taking over.
    pub holder: String,
    /// Until when an earlier holder could still try to reserve: the end of the post's claim.
    pub keep_until: Timestamp,
    pub now: Timestamp,
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

/// Which write of the configuration document is stored: its version (1 for the first write,
/// one more with each) and the random id its writer gave that write. A store that lost its
/// last writes (a failover, an append-only file short of its last second) may hold an older
/// version, or another document at a version a node already holds: two stamps that differ
/// are two documents, whatever their versions.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConfigStamp {
    pub version: u64,
    pub rev: String,
}

/// The configuration document as stored: opaque bytes and the write that stored them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigDoc {
    pub stamp: ConfigStamp,
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
    /// The buyer's own id for the lead, when its answer gave one.
    pub lead_id: Option<String>,
    /// A repeat sale's entry.
    pub repeat: bool,
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
                lead_id: r.lead_id.clone(),
                repeat: r.repeat_after.is_some(),
            }),
            price: r.price,
            payout: r.payout,
            amount: Money::ZERO,
        }
    }

    /// The entries of an approved return: the refund and, when clawed back, the clawback.
    pub fn of_return(r: &ReturnRecord, sale: &SaleRecord, at: Timestamp) -> Vec<OutboxEntry> {
        return_entries(r.claw_back, r.refund, r.clawback)
            .into_iter()
            .map(|(kind, amount)| OutboxEntry { amount, ..OutboxEntry::of_sale(kind, sale, at) })
            .collect()
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

/// An outbox entry the books refused, and why: it breaks their conventions, or they hold its
/// id with other content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The entry's buyer (a store may keep each buyer's entries apart).
    pub buyer: BuyerId,
    pub entry_id: String,
    pub reason: String,
}

/// An entry taken out of the outbox because the books refused it, kept until an operator
/// acts: never delivered, never lost, listed by every reconciliation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParkedEntry {
    pub entry: OutboxEntry,
    pub reason: String,
    pub parked_at: Timestamp,
}

/// An operator's top-up of a buyer's prepaid balance; `id` makes a re-sent call apply once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopUp {
    pub id: String,
    pub buyer: BuyerId,
    pub amount: Money,
    pub at: Timestamp,
}

/// What a top-up did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopUpOutcome {
    /// Applied, by this call or by an earlier one with the same id, buyer and amount (a
    /// retry): the buyer's money afterwards.
    Applied(BuyerMoney),
    /// The id is another top-up's, of this buyer and amount: nothing was changed.
    IdReused { buyer: BuyerId, amount: Money },
}

/// A buyer's prepaid money in the store: what its standing sales took (`spent`) and what
/// was added since its balance was configured (`credit`: top-ups and refunds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BuyerMoney {
    pub spent: Money,
    pub credit: Money,
}

/// Where a return stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReturnStatus {
    /// Waiting for an operator's decision (the buyer's policy does not approve by itself).
    Pending,
    Approved,
    Denied,
}

impl ReturnStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReturnStatus::Pending => "pending",
            ReturnStatus::Approved => "approved",
            ReturnStatus::Denied => "denied",
        }
    }

    pub fn parse(text: &str) -> Option<ReturnStatus> {
        [ReturnStatus::Pending, ReturnStatus::Approved, ReturnStatus::Denied].into_iter().find(|s| s.as_str() == text)
    }
}

/// A buyer's (or an operator's) return of a sold lead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnRecord {
    /// `ret-<sale id>`: a sale is returned at most once.
    pub return_id: String,
    pub sale_id: String,
    pub buyer: BuyerId,
    pub reason: String,
    /// Whether approving it claws the partner's payout back.
    pub claw_back: bool,
    pub note: Option<String>,
    pub status: ReturnStatus,
    /// The operator's note on the decision.
    pub decision_note: Option<String>,
    pub opened_at: Timestamp,
    pub decided_at: Option<Timestamp>,
    /// What goes back to the buyer's balance on approval: the sale's price.
    pub refund: Money,
    /// What is taken back from the partner on approval (the sale's payout when `claw_back`).
    pub clawback: Money,
    /// The request that opened it: a re-sent request is answered the return it opened.
    pub token: String,
}

/// A request to return a sale, with everything the store checks atomically.
#[derive(Clone, Debug)]
pub struct ReturnRequest {
    pub sale_id: String,
    /// The buyer asking: the sale must be this buyer's (another's sale is as good as
    /// unknown). An operator files for the sale's own buyer.
    pub buyer: BuyerId,
    pub reason: String,
    pub claw_back: bool,
    pub note: Option<String>,
    /// The sale's policy: returnable for `window` after it was sold; the buyer's returns in
    /// the trailing 30 days may be at most `max_rate` (hundredths of a percent) of its sales
    /// of the same 30 days; approved at once or left pending.
    pub window: WindowDays,
    pub max_rate: u32,
    pub approve: bool,
    pub at: Timestamp,
    pub token: String,
}

/// The span over which a buyer's return rate is taken.
pub const RETURN_RATE_SPAN: chrono::Duration = chrono::Duration::days(30);

impl ReturnRequest {
    /// The return's id: one per sale.
    pub fn return_id(&self) -> String {
        return_id_of(&self.sale_id)
    }

    /// Whether one more return keeps the buyer within its cap, given its returns (pending
    /// and approved) and its charged sales of the trailing [`RETURN_RATE_SPAN`]. Pending
    /// returns count: they may all be approved.
    pub fn rate_allows(&self, returns: u64, sales: u64) -> bool {
        let (per_return, per_sale) = self.rate_weights();
        (returns + 1).saturating_mul(per_return) <= sales.saturating_mul(per_sale)
    }

    /// The cap as two weights, for a store that counts where the returns live
    /// (`open_return.lua`): one more return is allowed while (returns + 1) × the first is at
    /// most sales × the second — `max_rate` is in hundredths of a percent.
    pub fn rate_weights(&self) -> (u64, u64) {
        (10_000, u64::from(self.max_rate))
    }

    /// A sale charged at or after this is still inside the return window.
    pub fn sold_since(&self) -> Timestamp {
        self.at - self.window.duration()
    }
}

/// `ret-<sale id>`: a sale has at most one return.
pub fn return_id_of(sale_id: &str) -> String {
    format!("ret-{sale_id}")
}

/// What an approved return moves: the sale's price back to the buyer, and the partner's
/// payout when the reason claws it back.
pub fn return_amounts(price: Money, payout: Money, claw_back: bool) -> (Money, Money) {
    (price, if claw_back { payout } else { Money::ZERO })
}

/// The books entries an approved return writes, with their amounts: its refund, and the
/// partner's payout clawed back when the reason says so.
pub fn return_entries(claw_back: bool, refund: Money, clawback: Money) -> Vec<(EntryKind, Money)> {
    let mut out = vec![(EntryKind::ReturnRefund, refund)];
    if claw_back {
        out.push((EntryKind::PayoutClawback, clawback));
    }
    out
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReturnOutcome {
    Opened(Box<ReturnRecord>),
    /// No such sale, or another buyer's.
    NoSuchSale,
    /// The sale is not a standing sale to return (released, rolled back, still reserved, or
    /// unconfirmed).
    NotReturnable(LedgerState),
    WindowPassed,
    RateExceeded,
    /// The sale has a return already (of another request).
    AlreadyReturned(Box<ReturnRecord>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecideOutcome {
    Decided(Box<ReturnRecord>),
    NoSuchReturn,
    /// Decided before: a decision is final.
    AlreadyDecided(Box<ReturnRecord>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReturnQuery {
    Id(String),
    /// Newest first.
    Status {
        status: ReturnStatus,
        limit: usize,
    },
}

#[cfg(test)]
mod rule_tests {
    use super::*;

    #[test]
    fn the_marks_follow_the_ledger_and_only_a_release_marks_what_has_no_entry() {
        let sold = SaleEnd::Sold {
            final_price: Money::from_minor(100),
            final_payout: Money::from_minor(80),
            reason: None,
            lead_id: None,
        };
        let released = SaleEnd::Released { reason: "rejected".into() };
        let table = [
            (Some(LedgerState::Sold), &released, MarkAfter::Settled(SaleState::Sold)),
            (Some(LedgerState::Returned), &sold, MarkAfter::Settled(SaleState::Sold)),
            (Some(LedgerState::RolledBack), &sold, MarkAfter::Settled(SaleState::Duplicate)),
            (Some(LedgerState::Released), &sold, MarkAfter::Released),
            (Some(LedgerState::Reserved), &released, MarkAfter::Unchanged),
            (Some(LedgerState::Unconfirmed), &released, MarkAfter::Unchanged),
            (None, &released, MarkAfter::Released),
            (None, &sold, MarkAfter::Unchanged),
        ];
        for (ledger, end, expected) in table {
            assert_eq!(marks_after(ledger, end), expected, "{ledger:?} after {end:?}");
        }
    }

    /// Every start and end, and what each moves: refunds per debit (a cap, the balance), the
    /// entry's price, its reason and the books entry.
    #[test]
    fn settling_gives_back_charges_and_writes_the_books_by_where_the_sale_starts() {
        use LedgerState::{RolledBack, Sold, Unconfirmed};
        let cap =
            Debit { key: "b1/cap".into(), amount: 1, limit: 5, is_money: false, expires_at: None, credit_key: None };
        let money = Debit { key: "b1/balance".into(), amount: 1000, is_money: true, limit: 5000, ..cap.clone() };
        let terms =
            ReservedTerms { price: Money::from_minor(1000), payout: Money::from_minor(900), debits: vec![cap, money] };
        let sold = |price: i64, payout: i64| SaleEnd::Sold {
            final_price: Money::from_minor(price),
            final_payout: Money::from_minor(payout),
            reason: Some("below_min_payout".into()),
            lead_id: None,
        };
        let released = SaleEnd::Released { reason: "rejected".into() };
        let lowered = Some((Money::from_minor(600), Money::from_minor(500)));
        let reason = |r: &str| Some(r.to_string());
        let table = [
            (LedgerState::Reserved, sold(1000, 900), Sold, vec![0, 0], None, None, Some(EntryKind::Sale)),
            (
                LedgerState::Reserved,
                sold(600, 500),
                Sold,
                vec![0, 400],
                lowered,
                reason("below_min_payout"),
                Some(EntryKind::Sale),
            ),
            (LedgerState::Reserved, sold(1200, 950), Sold, vec![0, 0], None, None, Some(EntryKind::Sale)),
            (
                LedgerState::Reserved,
                released.clone(),
                LedgerState::Released,
                vec![1, 1000],
                None,
                reason("rejected"),
                None,
            ),
            (LedgerState::Reserved, SaleEnd::RolledBack, RolledBack, vec![1, 1000], None, None, None),
            // Charged by the sweep: the books have its price, a late answer keeps it.
            (Unconfirmed, sold(600, 500), Sold, vec![0, 0], None, None, None),
            (
                Unconfirmed,
                released,
                LedgerState::Released,
                vec![1, 1000],
                None,
                reason("rejected"),
                Some(EntryKind::Rollback),
            ),
            (Unconfirmed, SaleEnd::RolledBack, RolledBack, vec![1, 1000], None, None, Some(EntryKind::Rollback)),
        ];
        for (from, end, state, refunds, lowered, reason, books) in table {
            let want = Settling { state, refunds, lowered, reason, books };
            assert_eq!(settling(from, &end, &terms), want, "{from:?} then {end:?}");
        }
    }

    #[test]
    fn a_return_refunds_the_price_and_claws_the_payout_back_only_when_its_reason_says() {
        let (price, payout) = (Money::from_minor(1000), Money::from_minor(800));
        assert_eq!(return_amounts(price, payout, true), (price, payout));
        assert_eq!(return_amounts(price, payout, false), (price, Money::ZERO));
        assert_eq!(return_entries(false, price, Money::ZERO), [(EntryKind::ReturnRefund, price)]);
        let both = [(EntryKind::ReturnRefund, price), (EntryKind::PayoutClawback, payout)];
        assert_eq!(return_entries(true, price, payout), both);
    }

    #[test]
    fn the_rate_cap_counts_this_return_and_the_pending_ones_against_the_trailing_sales() {
        let twenty_percent = ReturnRequest {
            sale_id: "s".into(),
            buyer: BuyerId::new("b1"),
            reason: "fraud".into(),
            claw_back: true,
            note: None,
            window: WindowDays::MAX,
            max_rate: 2_000,
            approve: true,
            at: chrono::DateTime::UNIX_EPOCH,
            token: "t".into(),
        };
        // One return in five sales is 20%: the first passes, a second needs ten sales.
        assert!(twenty_percent.rate_allows(0, 5));
        assert!(!twenty_percent.rate_allows(0, 4));
        assert!(!twenty_percent.rate_allows(1, 9));
        assert!(twenty_percent.rate_allows(1, 10));
        assert_eq!(twenty_percent.rate_weights(), (10_000, 2_000));
    }
}
