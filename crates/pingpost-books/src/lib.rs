//! The books of the marketplace: every movement of money as an append-only [`Entry`] —
//! `sale`, `rollback`, `return_refund`, `payout_clawback`, `top_up` — and the accounts they
//! add up to. Kept in PostgreSQL ([`PgBooks`]) for as long as the operator keeps them, or in
//! the process ([`MemoryBooks`]) for a `pingpost serve` without PostgreSQL.
//!
//! # Layout
//! - [`entry`]: an entry, its kinds and the sign conventions (constructors and [`Entry::check`]).
//! - [`account`]: accounts per partner, buyer or offer, and each buyer's money; the
//!   definitions of every figure, stated once over per-kind totals.
//! - [`query`]: listing entries newest first, with a cursor.
//! - [`memory`], [`pg`]: the two implementations of [`Books`].
//! - [`conformance`]: the behaviour both must show, run unchanged on each.
//!
//! # Sign conventions
//! Amounts are signed integer minor units ([`Money`](pingpost_core::money::Money)), from the marketplace's point of view:
//! `price` is what the buyer pays (gross), `payout` what the partner earns, `margin` what the
//! marketplace keeps, and `margin == price − payout` on **every** entry.
//!
//! | kind              | price      | payout      | margin         | amount      |
//! |-------------------|------------|-------------|----------------|-------------|
//! | `sale`            | gross ≥ 0  | payout ≥ 0  | price − payout | 0           |
//! | `rollback`        | −gross     | −payout     | −margin        | 0           |
//! | `return_refund`   | −refund    | 0           | −refund        | 0           |
//! | `payout_clawback` | 0          | −clawed     | +clawed        | 0           |
//! | `top_up`          | 0          | 0           | 0              | credit > 0  |
//!
//! A rollback is the exact negation of its sale, so the two add up to nothing. A top-up moves
//! money onto a buyer's balance without being revenue, so it has an `amount` of its own
//! rather than a price, which keeps `margin == price − payout` true without exception and
//! keeps top-ups out of every account. Every entry but a top-up names its sale (`sale_id`,
//! `ping_id`, `partner`, `offer`, `contract`); a top-up names none of them. The books refuse
//! an entry that breaks any of this ([`EntryRule`]).
//!
//! # Append-only and idempotent by entry id
//! Entries are delivered at least once (through an outbox), so [`Books::append`] recognises
//! an entry it already has by its `entry_id` and changes nothing. An entry whose id is known
//! with *other* content is a conflict: the books keep the first and report the second in
//! [`Appended::conflicts`] rather than overwrite it or fail the batch (a batch that can never
//! succeed would hold up every entry queued behind it). Entries are compared whole, every
//! field, their time to the microsecond (all PostgreSQL keeps). Nothing is ever updated or
//! deleted.
//!
//! # Accounts
//! [`AccountGroup`] defines each figure of an account (`sales`, `gross`, `refunds`,
//! `net_revenue`, `payouts`, `clawbacks`, `net_payout`, `margin`) over the entries of a
//! half-open time range `[since, until)`; [`BuyerMoney`] a buyer's top-ups, charges and
//! refunds over all time, which a reconciliation compares with the balance the store enforces.

pub mod account;
#[cfg(any(test, feature = "testing"))]
pub mod conformance;
pub mod entry;
pub mod memory;
pub mod pg;
pub mod query;

pub use account::{AccountGroup, AccountsQuery, BuyerMoney, GroupBy};
pub use entry::{Entry, EntryKind, EntryRule, SaleRef};
pub use memory::MemoryBooks;
pub use pg::{PgBooks, PgOptions};
pub use query::{Cursor, EntryPage, EntryQuery, MAX_PAGE};

use pingpost_core::ids::BuyerId;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

#[derive(Debug, Clone, thiserror::Error)]
pub enum BooksError {
    /// The books cannot be reached or did not answer: try again later (an outbox keeps the
    /// entries meanwhile).
    #[error("books unavailable: {0}")]
    Unavailable(String),
    /// The books answered something this version cannot read.
    #[error("books returned unreadable data: {0}")]
    Corrupt(String),
    /// An entry breaks the conventions; nothing of its batch was written.
    #[error("entry {entry_id:?} refused: {rule}")]
    Invalid { entry_id: String, rule: EntryRule },
    /// A figure does not fit in 64-bit minor units.
    #[error("a sum of the books does not fit in 64-bit minor units")]
    Overflow,
    /// The books' address cannot be read.
    #[error("invalid books URL: {0}")]
    BadUrl(String),
    /// The schema could not be created or brought up to date.
    #[error("the books' schema could not be migrated: {0}")]
    Migration(String),
}

pub type BooksResult<T> = Result<T, BooksError>;

/// Boxed so the trait can be used as `dyn Books` and picked at start-up.
pub type BooksFuture<'a, T> = Pin<Box<dyn Future<Output = BooksResult<T>> + Send + 'a>>;

/// What one [`Books::append`] did with each entry it was given:
/// `new + already + conflicts.len()` is the number of entries given. An entry written by a
/// call whose answer was lost counts as `already` when it is sent again: `new` says what this
/// call wrote, not what the books gained from a delivery.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Appended {
    /// Entries written by this call.
    pub new: usize,
    /// Entries the books already had, exactly as given (an earlier delivery, or a repeat
    /// within the batch).
    pub already: usize,
    /// Entries whose id the books already had with other content: not written. In entry id
    /// order.
    pub conflicts: Vec<Conflict>,
}

/// An entry refused because its id is taken by another entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The entry the books keep under that id.
    pub kept: Entry,
    /// The entry that was refused.
    pub refused: Entry,
}

/// The books. Every method is safe to call again: `append` is idempotent by entry id and
/// the others only read.
pub trait Books: Send + Sync + 'static {
    /// Adds the entries the books do not have yet, and reports what it did with each.
    /// The batch is checked whole first: one entry breaking the conventions refuses the
    /// batch ([`BooksError::Invalid`]) with nothing written. Each entry's time is kept to the
    /// microsecond ([`Entry::normalized`]).
    fn append(&self, entries: Vec<Entry>) -> BooksFuture<'_, Appended>;

    /// One [`AccountGroup`] per key with at least one entry (top-ups aside) in the range,
    /// ordered by key (byte order).
    fn accounts(&self, q: AccountsQuery) -> BooksFuture<'_, Vec<AccountGroup>>;

    /// A page of entries, newest first (see [`EntryQuery`]).
    fn entries(&self, q: EntryQuery) -> BooksFuture<'_, EntryPage>;

    /// [`BuyerMoney`] over all time of every buyer with at least one entry, ordered by buyer,
    /// or of `only` (no element when it has none): what a reconciliation compares with the
    /// balances the store enforces.
    fn buyer_money(&self, only: Option<BuyerId>) -> BooksFuture<'_, Vec<BuyerMoney>>;

    /// Whether the books answer at all (readiness).
    fn health(&self) -> BooksFuture<'_, ()>;
}

/// A batch checked, normalized and rid of repeats, before an implementation stores it.
pub(crate) struct Batch {
    /// Each id once (its first occurrence), in entry id order: concurrent batches then take
    /// PostgreSQL's row locks in one order, so overlapping deliveries never deadlock.
    pub unique: Vec<Entry>,
    /// What the batch's own repeats already tell.
    pub report: Appended,
}

impl Batch {
    pub fn prepare(entries: Vec<Entry>) -> BooksResult<Batch> {
        for e in &entries {
            e.check().map_err(|rule| BooksError::Invalid { entry_id: e.entry_id.clone(), rule })?;
        }
        let mut report = Appended::default();
        let mut first: HashMap<String, usize> = HashMap::new();
        let mut unique: Vec<Entry> = Vec::with_capacity(entries.len());
        for e in entries.into_iter().map(Entry::normalized) {
            match first.get(&e.entry_id) {
                Some(&i) => report.compare(unique[i].clone(), e),
                None => {
                    first.insert(e.entry_id.clone(), unique.len());
                    unique.push(e);
                }
            }
        }
        unique.sort_by(|a, b| a.entry_id.cmp(&b.entry_id));
        Ok(Batch { unique, report })
    }
}

impl Appended {
    /// Counts `offered`, whose id the books have as `kept`: the same entry again, or a conflict.
    pub(crate) fn compare(&mut self, kept: Entry, offered: Entry) {
        if kept == offered {
            self.already += 1;
        } else {
            self.conflicts.push(Conflict { kept, refused: offered });
        }
    }
}
