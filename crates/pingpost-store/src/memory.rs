//! The embedded store: all state in this process, for a single node and for tests.
//!
//! Consumers (one entry per identifier hash) live in a `DashMap` of `Arc<Mutex<_>>`: an
//! operation clones the Arcs out first (so no dashmap guard is held while locking, see
//! STYLE.md), then locks the identifiers in sorted order, then the ledger. Every operation
//! takes locks in that same order, so none can deadlock, and each check-then-write happens
//! under the locks it reads — the same atomicity a Redis script gives.
//!
//! This file holds the state every concern shares (consumers, the ledger, claims, blobs, the
//! configuration document) and the lock order; each concern's trait is implemented in a file
//! of its own, `memory/<concern>.rs` (the sweep's in `sweep.rs`), with the work under it.

use crate::*;
use dashmap::DashMap;
use pingpost_core::caps::{balance_key, credit_key, Debit};
use pingpost_core::checkpoint::{
    vertical_verdict, ConsumerHistory, DqMark, SaleMark, SaleState, Submission, VerticalVerdict,
};
use pingpost_core::identity::IdentKind;
use pingpost_core::ids::{BuyerId, VerticalId};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

mod admissions;
mod balances;
mod blobs;
mod claims;
mod config_docs;
mod counters;
mod erasure;
mod events;
mod outbox;
mod returns;
mod sales;
#[cfg(feature = "testing")]
mod snapshot;
mod suppression;
mod sweep;
mod vec_map;

use vec_map::VecMap;

#[derive(Debug, Default)]
struct VerticalMark {
    at: Timestamp,
    ping_id: String,
    pending_until: Option<Timestamp>,
    /// A pending repeat's: the confirmed submission it replaced (see `Submission`).
    replaced: Option<Timestamp>,
}

impl VerticalMark {
    fn submission(&self) -> Submission {
        Submission { at: self.at, pending_until: self.pending_until, replaced: self.replaced }
    }
}

#[derive(Debug, Clone)]
struct StoredSale {
    buyer: BuyerId,
    sale_id: String,
    at: Timestamp,
    /// `None`: the tombstone of a released sale, which only fences a reservation of the
    /// same sale that might still be on its way.
    state: Option<SaleState>,
    lease_until: Option<Timestamp>,
}

#[derive(Debug, Default)]
struct Consumer {
    suppressed_at: Option<Timestamp>,
    vertical: VecMap<VerticalId, VerticalMark>,
    sales: Vec<StoredSale>,
    dq: VecMap<BuyerId, Timestamp>,
}

impl Consumer {
    fn is_empty(&self) -> bool {
        self.suppressed_at.is_none() && self.vertical.is_empty() && self.sales.is_empty() && self.dq.is_empty()
    }
}

#[derive(Debug)]
struct Counter {
    value: i64,
    expires_at: Option<Timestamp>,
}

#[derive(Debug)]
struct LedgerEntry {
    record: SaleRecord,
    /// The sale's identifiers, for the snapshot alone (its settlements carry their own).
    #[cfg(feature = "testing")]
    idents: Vec<Ident>,
    debits: Vec<Debit>,
    /// Until when a settled sale is kept ([`kept_after_settling`], from its settlement or its
    /// return's decision); `None` while its outcome is open (reserved, unconfirmed, a return
    /// pending): then [`RETENTION`] from its last write.
    kept_until: Option<Timestamp>,
}

// The maps the sweep walks are ordered by key, so that it can walk them a chunk at a time
// and let go of the lock between chunks (see `MemoryStore::sweep_now`); the counters, read
// by every ping, stay hashed, with an index of when they expire.
#[derive(Debug, Default)]
struct Ledger {
    counters: HashMap<String, Counter>,
    /// The counters that expire, by when.
    expiring: BTreeSet<(Timestamp, String)>,
    sales: BTreeMap<String, LedgerEntry>,
    /// Each ping's sale ids: its post's journal and its slots.
    by_ping: HashMap<String, Vec<String>>,
    /// Sales fenced by the holder that took their post over (see `Sales::take_over`), until when.
    fences: HashMap<String, (String, Timestamp)>,
    /// Sales released before any reservation of them arrived: when, and why.
    tombstones: BTreeMap<String, (Timestamp, String)>,
    /// Top-ups applied, by id, so a re-sent one applies once and an id reused for another
    /// buyer or amount is told apart.
    top_ups: HashMap<String, TopUp>,
    /// Books entries not yet in the books, by entry id.
    outbox: HashMap<String, OutboxEntry>,
    /// Entries the books refused, by entry id: out of the outbox, kept for an operator.
    parked: HashMap<String, ParkedEntry>,
    /// Each buyer's charged sales by when they were charged: its sales list and the base
    /// of its return rate.
    buyer_sales: HashMap<BuyerId, BTreeSet<(Timestamp, String)>>,
    /// Returns by return id.
    returns: BTreeMap<String, ReturnRecord>,
}

impl Ledger {
    fn value(&self, key: &str) -> i64 {
        self.counters.get(key).map_or(0, |c| c.value)
    }

    fn take(&mut self, debit: &Debit) {
        use std::collections::hash_map::Entry;
        let (c, was) = match self.counters.entry(debit.key.clone()) {
            Entry::Occupied(o) => {
                let c = o.into_mut();
                let was = c.expires_at;
                (c, Some(was))
            }
            Entry::Vacant(v) => (v.insert(Counter { value: 0, expires_at: debit.expires_at }), None),
        };
        c.value = c.value.saturating_add(debit.amount);
        if let (Some(old), Some(new)) = (c.expires_at, debit.expires_at) {
            c.expires_at = Some(old.max(new));
        }
        if was != Some(c.expires_at) {
            if let Some(Some(old)) = was {
                self.expiring.remove(&(old, debit.key.clone()));
            }
            if let Some(new) = c.expires_at {
                self.expiring.insert((new, debit.key.clone()));
            }
        }
    }

    /// Gives back to a counter; one that already expired has nothing to give back to.
    fn give_back(&mut self, key: &str, amount: i64) {
        if let Some(c) = self.counters.get_mut(key) {
            c.value = c.value.saturating_sub(amount);
        }
    }

    fn fits(&self, d: &Debit) -> bool {
        d.fits(self.value(&d.key), d.credit_key.as_deref().map_or(0, |k| self.value(k)))
    }

    /// Writes a books entry for the relay; an entry already waiting is kept as it is.
    fn write_entry(&mut self, entry: OutboxEntry) {
        self.outbox.entry(entry.entry_id.clone()).or_insert(entry);
    }

    fn buyer_money(&self, buyer: &BuyerId) -> BuyerMoney {
        BuyerMoney {
            spent: Money::from_minor(self.value(&balance_key(buyer))),
            credit: Money::from_minor(self.value(&credit_key(buyer))),
        }
    }

    /// Whether the ping can take one more standing sale, to `buyer`.
    fn slot_free(&self, ping_id: &str, buyer: &BuyerId, slots: u16) -> bool {
        let standing: Vec<&SaleRecord> = self
            .by_ping
            .get(ping_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.sales.get(id))
            .map(|e| &e.record)
            .filter(|r| r.state.is_standing())
            .collect();
        standing.len() < usize::from(slots) && !standing.iter().any(|r| &r.buyer == buyer)
    }
}

#[derive(Debug)]
enum ClaimState {
    InFlight {
        holder: String,
        lease_until: Timestamp,
        resumed: bool,
    },
    /// Given up by its holder: the next claim takes it at once.
    Free,
    Done {
        answer: Vec<u8>,
    },
}

#[derive(Debug)]
struct ClaimEntry {
    fingerprint: String,
    state: ClaimState,
    keep_until: Timestamp,
}

/// The embedded store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    consumers: DashMap<Sha256Hex, Arc<Mutex<Consumer>>>,
    ledger: Mutex<Ledger>,
    blobs: DashMap<String, (Vec<u8>, Timestamp)>,
    /// Lead events waiting for the event log, by (time, id).
    events: Mutex<std::collections::BTreeMap<(Timestamp, String), crate::events::Stored>>,
    claims: DashMap<String, ClaimEntry>,
    config: Mutex<Option<ConfigDoc>>,
    secrets: Mutex<crate::secrets::memory::SecretTable>,
}

/// A poisoned lock means a panic while holding it; the data is still the last consistent
/// write (every mutation is a few infallible assignments), so keep serving.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Locked consumer states of a request's identifiers, in the request's order.
struct Locked<'a> {
    guards: Vec<(IdentKind, MutexGuard<'a, Consumer>)>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn secret_table(&self) -> &Mutex<crate::secrets::memory::SecretTable> {
        &self.secrets
    }

    /// Everything the store holds, keys and values, as text (blobs decoded as UTF-8), so a
    /// test can prove what is *not* in it — above all, no plaintext email or phone.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        for entry in self.consumers.iter() {
            out.push_str(&format!("{:?} {:?}\n", entry.key(), lock(entry.value())));
        }
        out.push_str(&format!("{:?}\n", lock(&self.ledger)));
        for entry in self.blobs.iter() {
            out.push_str(&format!("{} {}\n", entry.key(), String::from_utf8_lossy(&entry.value().0)));
        }
        if let Some(doc) = lock(&self.config).as_ref() {
            out.push_str(&format!("config v{} {}\n", doc.stamp.version, String::from_utf8_lossy(&doc.body)));
        }
        out.push_str(&format!("{}\n", lock(&self.secrets).describe()));
        for entry in self.claims.iter() {
            let state = match &entry.value().state {
                ClaimState::InFlight { lease_until, .. } => format!("in flight until {lease_until}"),
                ClaimState::Free => "free".to_string(),
                ClaimState::Done { answer } => String::from_utf8_lossy(answer).into_owned(),
            };
            out.push_str(&format!("{} {} {state}\n", entry.key(), entry.value().fingerprint));
        }
        out
    }

    fn handles(&self, idents: &[Ident]) -> Vec<(IdentKind, Sha256Hex, Arc<Mutex<Consumer>>)> {
        idents
            .iter()
            .map(|i| {
                let arc = Arc::clone(self.consumers.entry(i.hash.clone()).or_default().value());
                (i.kind, i.hash.clone(), arc)
            })
            .collect()
    }

    /// [`Self::handles`] without adding a consumer: one never seen gets a fresh state of its
    /// own, dropped after use.
    fn existing_handles(&self, idents: &[Ident]) -> Vec<(IdentKind, Sha256Hex, Arc<Mutex<Consumer>>)> {
        idents
            .iter()
            .map(|i| {
                let arc = self.consumers.get(&i.hash).map_or_else(Default::default, |c| Arc::clone(c.value()));
                (i.kind, i.hash.clone(), arc)
            })
            .collect()
    }

    /// Locks each distinct identifier once, in hash order (the global lock order).
    fn lock_all<'a>(handles: &'a [(IdentKind, Sha256Hex, Arc<Mutex<Consumer>>)]) -> Locked<'a> {
        let mut order: Vec<usize> = (0..handles.len()).collect();
        order.sort_by(|a, b| handles[*a].1.cmp(&handles[*b].1));
        order.dedup_by(|a, b| handles[*a].1 == handles[*b].1);
        let mut guards: Vec<(usize, IdentKind, MutexGuard<'a, Consumer>)> =
            order.into_iter().map(|i| (i, handles[i].0, lock(&handles[i].2))).collect();
        guards.sort_by_key(|g| g.0);
        Locked { guards: guards.into_iter().map(|(_, k, g)| (k, g)).collect() }
    }
}

/// Times a listing pages by are kept to the millisecond, as Redis keeps them: a cursor (the
/// last sale's time in ms and id) then names a place in the order exactly.
fn whole_millis(t: Timestamp) -> Timestamp {
    chrono::DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

fn ready<T: Send + 'static>(value: T) -> StoreFuture<'static, T> {
    Box::pin(std::future::ready(Ok(value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conformance() {
        crate::conformance::run_all(|| async { Arc::new(MemoryStore::new()) }).await;
    }
}
