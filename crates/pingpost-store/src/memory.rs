//! The embedded store: all state in this process, for a single node and for tests.
//!
//! Consumers (one entry per identifier hash) live in a `DashMap` of `Arc<Mutex<_>>`: an
//! operation clones the Arcs out first (so no dashmap guard is held while locking, see
//! STYLE.md), then locks the identifiers in sorted order, then the ledger. Every operation
//! takes locks in that same order, so none can deadlock, and each check-then-write happens
//! under the locks it reads — the same atomicity a Redis script gives.

#[cfg(feature = "testing")]
use crate::invariants::{ConsumerSnap, DebitSnap, MarkSnap, SaleSnap, Snapshot, VerticalSnap};
use crate::*;
use dashmap::DashMap;
use pingpost_core::caps::{balance_key, credit_key, Debit};
use pingpost_core::checkpoint::{vertical_submission_counts, ConsumerHistory, DqMark, SaleMark, SaleState};
use pingpost_core::identity::IdentKind;
use pingpost_core::ids::VerticalId;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

mod returns;
mod sweep;
mod vec_map;

use vec_map::VecMap;

#[derive(Debug, Default)]
struct VerticalMark {
    at: Timestamp,
    ping_id: String,
    pending_until: Option<Timestamp>,
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

    /// Every consumer mark, ledger entry and counter, for the invariant check (tests only).
    #[cfg(feature = "testing")]
    pub fn snapshot(&self) -> Snapshot {
        let mut snap = Snapshot::default();
        for entry in self.consumers.iter() {
            let c = lock(entry.value());
            let consumer = ConsumerSnap {
                suppressed_at: c.suppressed_at,
                vertical: c
                    .vertical
                    .iter()
                    .map(|(v, m)| VerticalSnap {
                        vertical: v.clone(),
                        at: m.at,
                        ping_id: m.ping_id.clone(),
                        pending_until: m.pending_until,
                    })
                    .collect(),
                marks: c
                    .sales
                    .iter()
                    .map(|m| MarkSnap {
                        sale_id: m.sale_id.clone(),
                        buyer: m.buyer.clone(),
                        at: m.at,
                        state: m.state,
                        lease_until: m.lease_until,
                    })
                    .collect(),
                dq: c.dq.iter().map(|(b, at)| (b.clone(), *at)).collect(),
            };
            snap.consumers.insert(entry.key().clone(), consumer);
        }
        let ledger = lock(&self.ledger);
        for (id, e) in &ledger.sales {
            let debits = e
                .debits
                .iter()
                .map(|d| DebitSnap {
                    key: d.key.clone(),
                    amount: d.amount,
                    limit: d.limit,
                    is_money: d.is_money,
                    credit_key: d.credit_key.clone(),
                })
                .collect();
            snap.sales.insert(id.clone(), SaleSnap { record: e.record.clone(), idents: e.idents.clone(), debits });
        }
        snap.counters = ledger.counters.iter().map(|(k, c)| (k.clone(), c.value)).collect();
        snap
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

    fn admit_now(&self, req: &Admission) -> AdmitOutcome {
        // A dry run looks consumers up without adding an entry for one never seen.
        let handles = if req.dry_run { self.existing_handles(&req.idents) } else { self.handles(&req.idents) };
        let mut locked = Self::lock_all(&handles);
        for (kind, c) in &locked.guards {
            if let Some(since) = c.suppressed_at {
                return AdmitOutcome::Suppressed { matched: *kind, since };
            }
        }
        for (kind, c) in &locked.guards {
            if let Some(m) = c.vertical.get(&req.vertical) {
                let own = m.ping_id == req.ping_id;
                if !own && vertical_submission_counts(m.at, m.pending_until, req.window, req.now) {
                    return AdmitOutcome::VerticalDuplicate { matched: *kind, prior_at: m.at };
                }
            }
        }
        let mut history = ConsumerHistory::default();
        for (kind, c) in &mut locked.guards {
            // A re-sent admission finds its own mark and leaves it as it is (it may be confirmed).
            if !req.dry_run && c.vertical.get(&req.vertical).is_none_or(|m| m.ping_id != req.ping_id) {
                let mark =
                    VerticalMark { at: req.now, ping_id: req.ping_id.clone(), pending_until: Some(req.pending_until) };
                c.vertical.insert(req.vertical.clone(), mark);
            }
            history.sales.extend(c.sales.iter().filter_map(|s| {
                Some(SaleMark {
                    buyer: s.buyer.clone(),
                    matched: *kind,
                    at: s.at,
                    state: s.state?,
                    lease_until: s.lease_until,
                })
            }));
            history.dq.extend(c.dq.iter().map(|(b, at)| DqMark { buyer: b.clone(), matched: *kind, at: *at }));
        }
        AdmitOutcome::Admitted { history }
    }

    fn with_own_vertical_marks(&self, req: &Admission, f: impl Fn(&mut VecMap<VerticalId, VerticalMark>)) {
        let handles = self.handles(&req.idents);
        let mut locked = Self::lock_all(&handles);
        for (_, c) in &mut locked.guards {
            if c.vertical.get(&req.vertical).is_some_and(|m| m.ping_id == req.ping_id) {
                f(&mut c.vertical);
            }
        }
    }

    fn reserve_now(&self, req: SaleReservation) -> ReserveOutcome {
        let handles = self.handles(&req.idents);
        let mut locked = Self::lock_all(&handles);
        let mut ledger = lock(&self.ledger);
        let sale_id = &req.record.sale_id;
        if let Some(e) = ledger.sales.get(sale_id) {
            return ReserveOutcome::Existing(Box::new(e.record.clone()));
        }
        if let Some((_, reason)) = ledger.tombstones.get(sale_id) {
            return ReserveOutcome::Existing(Box::new(released_before_reserved(req.record, reason)));
        }
        let buyer = &req.record.buyer;
        let now = req.record.reserved_at;
        if let Some(window) = req.window {
            for (kind, c) in &locked.guards {
                let prior = c
                    .sales
                    .iter()
                    .filter(|s| &s.buyer == buyer && &s.sale_id != sale_id)
                    .filter(|s| s.state.is_some_and(|st| st.counts_as_bought(s.at, s.lease_until, window, now)))
                    .max_by_key(|s| s.at);
                if let Some(s) = prior {
                    return ReserveOutcome::AlreadyBought { matched: *kind, prior_at: s.at };
                }
            }
        }
        if !ledger.slot_free(&req.record.ping_id, buyer, req.slots) {
            return ReserveOutcome::SlotsTaken;
        }
        if let Some(d) = req.debits.iter().find(|d| !ledger.fits(d)) {
            return ReserveOutcome::LimitReached { key: d.key.clone() };
        }
        for d in &req.debits {
            ledger.take(d);
        }
        for (_, c) in &mut locked.guards {
            c.sales.retain(|m| &m.sale_id != sale_id);
            c.sales.push(StoredSale {
                buyer: buyer.clone(),
                sale_id: sale_id.clone(),
                at: now,
                state: Some(SaleState::Reserved),
                lease_until: Some(req.record.lease_until),
            });
        }
        let mut record = req.record;
        record.state = LedgerState::Reserved;
        ledger.by_ping.entry(record.ping_id.clone()).or_default().push(record.sale_id.clone());
        ledger.sales.insert(
            record.sale_id.clone(),
            LedgerEntry {
                record,
                #[cfg(feature = "testing")]
                idents: req.idents,
                debits: req.debits,
            },
        );
        ReserveOutcome::Reserved
    }

    fn settle_now(&self, s: &Settlement) -> Option<LedgerState> {
        let handles = self.handles(&s.idents);
        let mut locked = Self::lock_all(&handles);
        let mut ledger = lock(&self.ledger);
        let Some(entry) = ledger.sales.get_mut(&s.sale_id) else {
            if let SaleEnd::Released { reason } = &s.end {
                ledger.tombstones.insert(s.sale_id.clone(), (s.at, reason.clone()));
                drop(ledger);
                for (_, c) in &mut locked.guards {
                    settle_mark(c, s, None);
                }
            }
            return None;
        };
        if matches!(entry.record.state, LedgerState::Reserved | LedgerState::Unconfirmed) {
            let was_charged = entry.record.state == LedgerState::Unconfirmed;
            let (state, final_price) = match &s.end {
                // An unconfirmed sale is in the books at its price already: a late acceptance
                // keeps it so.
                SaleEnd::Sold { lead_id, .. } if was_charged => {
                    entry.record.lead_id.clone_from(lead_id);
                    (LedgerState::Sold, None)
                }
                SaleEnd::Sold { final_price, final_payout, reason, lead_id } => {
                    entry.record.lead_id.clone_from(lead_id);
                    if *final_price < entry.record.price {
                        entry.record.payout = (*final_payout).min(entry.record.payout);
                        entry.record.reason.clone_from(reason);
                    }
                    (LedgerState::Sold, Some(*final_price))
                }
                SaleEnd::Released { reason } => {
                    entry.record.reason = Some(reason.clone());
                    (LedgerState::Released, None)
                }
                SaleEnd::RolledBack => (LedgerState::RolledBack, None),
            };
            entry.record.state = state;
            if !was_charged && state == LedgerState::Sold {
                entry.record.sold_at = Some(whole_millis(s.at));
            }
            let refunds: Vec<(String, i64)> =
                entry.debits.iter().map(|d| (d.key.clone(), refund(d, state, final_price))).collect();
            if let Some(price) = final_price.filter(|p| *p < entry.record.price) {
                entry.record.price = price;
            }
            let books = match (was_charged, state) {
                (false, LedgerState::Sold) => Some(EntryKind::Sale),
                (true, LedgerState::Released | LedgerState::RolledBack) => Some(EntryKind::Rollback),
                _ => None,
            };
            let record = entry.record.clone();
            let entry = books.map(|kind| OutboxEntry::of_sale(kind, &record, s.at));
            match books {
                Some(EntryKind::Sale) => ledger.charged(&record),
                Some(_) => ledger.uncharged(&record),
                None => {}
            }
            for (key, amount) in refunds {
                if amount != 0 {
                    ledger.give_back(&key, amount);
                }
            }
            if let Some(e) = entry {
                ledger.write_entry(e);
            }
        }
        let state = ledger.sales.get(&s.sale_id).map(|e| e.record.state);
        drop(ledger);
        // The marks follow the ledger's state, whatever this call asked: a settlement re-sent
        // after the entry was settled otherwise still leaves the marks as the ledger says.
        let mark = match state {
            // A returned lead was delivered: dedup stays as it was.
            Some(LedgerState::Sold | LedgerState::Returned) => Some(SaleState::Sold),
            Some(LedgerState::RolledBack) => Some(SaleState::Duplicate),
            _ => None,
        };
        if !matches!(state, Some(LedgerState::Reserved | LedgerState::Unconfirmed)) {
            for (_, c) in &mut locked.guards {
                settle_mark(c, s, mark);
            }
        }
        state
    }

    fn claim_now(&self, req: ClaimRequest) -> Claim {
        use dashmap::mapref::entry::Entry;
        let in_flight =
            |resumed| ClaimState::InFlight { holder: req.holder.clone(), lease_until: req.lease_until, resumed };
        match self.claims.entry(req.key.clone()) {
            Entry::Vacant(v) => {
                v.insert(ClaimEntry {
                    fingerprint: req.fingerprint.clone(),
                    state: in_flight(false),
                    keep_until: req.keep_until,
                });
                Claim::Claimed { resumed: false }
            }
            Entry::Occupied(mut o) => {
                let entry = o.get_mut();
                if entry.fingerprint != req.fingerprint {
                    return Claim::Mismatch;
                }
                match &entry.state {
                    ClaimState::Done { answer } => Claim::Done(answer.clone()),
                    ClaimState::InFlight { holder, resumed, .. } if holder == &req.holder => {
                        Claim::Claimed { resumed: *resumed }
                    }
                    ClaimState::InFlight { lease_until, .. } if *lease_until > req.now => Claim::InFlight,
                    ClaimState::InFlight { .. } | ClaimState::Free => {
                        entry.state = in_flight(true);
                        entry.keep_until = entry.keep_until.max(req.keep_until);
                        Claim::Claimed { resumed: true }
                    }
                }
            }
        }
    }

    fn ledger_now(&self, q: LedgerQuery) -> Vec<SaleRecord> {
        let ledger = lock(&self.ledger);
        match q {
            LedgerQuery::Sale(id) => ledger.sales.get(&id).map(|e| e.record.clone()).into_iter().collect(),
            LedgerQuery::Ping(ping) => {
                let mut out: Vec<SaleRecord> = ledger
                    .by_ping
                    .get(&ping)
                    .into_iter()
                    .flatten()
                    .filter_map(|id| ledger.sales.get(id))
                    .map(|e| e.record.clone())
                    .collect();
                out.sort_by(|a, b| (a.reserved_at, &a.sale_id).cmp(&(b.reserved_at, &b.sale_id)));
                out
            }
            LedgerQuery::Unconfirmed { limit } => {
                let mut out: Vec<SaleRecord> = ledger
                    .sales
                    .values()
                    .filter(|e| e.record.state == LedgerState::Unconfirmed)
                    .map(|e| e.record.clone())
                    .collect();
                out.sort_by(|a, b| (b.reserved_at, &b.sale_id).cmp(&(a.reserved_at, &a.sale_id)));
                out.truncate(limit);
                out
            }
            LedgerQuery::Buyer { buyer, since, until, after, limit } => {
                ledger.buyer_sales_page(&buyer, since, until, after, limit)
            }
            LedgerQuery::Reserved { after, limit } => {
                let mut out: Vec<SaleRecord> = ledger
                    .sales
                    .values()
                    .filter(|e| e.record.state == LedgerState::Reserved)
                    .filter(|e| {
                        after.as_ref().is_none_or(|(at, id)| (e.record.lease_until, &e.record.sale_id) > (*at, id))
                    })
                    .map(|e| e.record.clone())
                    .collect();
                out.sort_by(|a, b| (a.lease_until, &a.sale_id).cmp(&(b.lease_until, &b.sale_id)));
                out.truncate(limit);
                out
            }
        }
    }
}

/// What a settlement gives back of one debit: everything for a release or a rollback; for a
/// sale at a lower final price, the difference on the money debits.
fn refund(d: &Debit, state: LedgerState, final_price: Option<Money>) -> i64 {
    match (state, final_price) {
        (LedgerState::Sold, Some(price)) if d.is_money => (d.amount - price.minor()).max(0),
        // A return refunds through the buyer's credit: the delivery keeps its debits.
        (LedgerState::Sold | LedgerState::Unconfirmed | LedgerState::Reserved | LedgerState::Returned, _) => 0,
        (LedgerState::Released | LedgerState::RolledBack, _) => d.amount,
    }
}

/// A reservation of a sale whose release came first: it stands as released, for the reason
/// the release gave.
fn released_before_reserved(mut record: SaleRecord, reason: &str) -> SaleRecord {
    record.state = LedgerState::Released;
    record.reason = Some(reason.to_string());
    record
}

/// Moves one consumer's mark of the settled sale to `state` (`None`: a tombstone), writing
/// a tombstone where a release finds no mark, so a reservation still on its way cannot
/// apply after the release.
fn settle_mark(c: &mut Consumer, s: &Settlement, state: Option<SaleState>) {
    match c.sales.iter_mut().find(|m| m.sale_id == s.sale_id) {
        Some(m) if m.state == state && m.lease_until.is_none() => {}
        Some(m) => {
            m.state = state;
            m.at = s.at;
            m.lease_until = None;
        }
        None if state.is_none() => c.sales.push(StoredSale {
            buyer: s.buyer.clone(),
            sale_id: s.sale_id.clone(),
            at: s.at,
            state: None,
            lease_until: None,
        }),
        // Settled marks that are gone were erased: the erasure stands.
        None => {}
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

impl Admissions for MemoryStore {
    fn admit(&self, req: Admission) -> StoreFuture<'_, AdmitOutcome> {
        ready(self.admit_now(&req))
    }

    fn confirm_admission(&self, req: Admission) -> StoreFuture<'_, ()> {
        self.with_own_vertical_marks(&req, |marks| {
            if let Some(m) = marks.get_mut(&req.vertical) {
                m.pending_until = None;
            }
        });
        ready(())
    }

    fn release_admission(&self, req: Admission) -> StoreFuture<'_, ()> {
        self.with_own_vertical_marks(&req, |marks| {
            marks.remove(&req.vertical);
        });
        ready(())
    }

    fn record_dq(&self, idents: Vec<Ident>, buyers: Vec<BuyerId>, now: Timestamp) -> StoreFuture<'_, ()> {
        for (_, _, c) in self.handles(&idents) {
            let mut c = lock(&c);
            for b in &buyers {
                c.dq.insert(b.clone(), now);
            }
        }
        ready(())
    }
}

impl Counters for MemoryStore {
    fn read_counters(&self, keys: Vec<String>) -> StoreFuture<'_, Vec<i64>> {
        let ledger = lock(&self.ledger);
        ready(keys.iter().map(|k| ledger.value(k)).collect())
    }
}

impl Sales for MemoryStore {
    fn reserve_sale(&self, req: SaleReservation) -> StoreFuture<'_, ReserveOutcome> {
        ready(self.reserve_now(req))
    }

    fn settle_sale(&self, s: Settlement) -> StoreFuture<'_, Option<LedgerState>> {
        ready(self.settle_now(&s))
    }

    fn ledger(&self, q: LedgerQuery) -> StoreFuture<'_, Vec<SaleRecord>> {
        ready(self.ledger_now(q))
    }
}

impl Balances for MemoryStore {
    fn top_up(&self, t: TopUp) -> StoreFuture<'_, TopUpOutcome> {
        let mut ledger = lock(&self.ledger);
        if let Some(first) = ledger.top_ups.get(&t.id) {
            if (&first.buyer, first.amount) != (&t.buyer, t.amount) {
                return ready(TopUpOutcome::IdReused { buyer: first.buyer.clone(), amount: first.amount });
            }
        } else {
            ledger.top_ups.insert(t.id.clone(), t.clone());
            ledger.take(&Debit {
                key: credit_key(&t.buyer),
                amount: t.amount.minor(),
                limit: i64::MAX,
                is_money: true,
                expires_at: None,
                credit_key: None,
            });
            ledger.write_entry(OutboxEntry::of_top_up(&t));
        }
        ready(TopUpOutcome::Applied(ledger.buyer_money(&t.buyer)))
    }

    fn buyer_money(&self, buyer: BuyerId) -> StoreFuture<'_, BuyerMoney> {
        ready(lock(&self.ledger).buyer_money(&buyer))
    }
}

impl Returns for MemoryStore {
    fn open_return(&self, r: ReturnRequest) -> StoreFuture<'_, ReturnOutcome> {
        ready(lock(&self.ledger).open_return(r))
    }

    fn decide_return(
        &self,
        return_id: String,
        approve: bool,
        note: Option<String>,
        at: Timestamp,
    ) -> StoreFuture<'_, DecideOutcome> {
        ready(lock(&self.ledger).decide_return(&return_id, approve, note, at))
    }

    fn returns(&self, q: ReturnQuery) -> StoreFuture<'_, Vec<ReturnRecord>> {
        ready(lock(&self.ledger).returns_matching(q))
    }
}

impl Outbox for MemoryStore {
    fn outbox(&self, limit: usize) -> StoreFuture<'_, Vec<OutboxEntry>> {
        let ledger = lock(&self.ledger);
        let mut waiting: Vec<&OutboxEntry> = ledger.outbox.values().collect();
        waiting.sort_by(|a, b| (a.at, &a.entry_id).cmp(&(b.at, &b.entry_id)));
        ready(waiting.into_iter().take(limit).cloned().collect())
    }

    fn outbox_done(&self, entry_ids: Vec<String>) -> StoreFuture<'_, ()> {
        let mut ledger = lock(&self.ledger);
        for id in entry_ids {
            ledger.outbox.remove(&id);
        }
        ready(())
    }

    fn outbox_park(&self, refused: Vec<Refusal>, at: Timestamp) -> StoreFuture<'_, ()> {
        let mut ledger = lock(&self.ledger);
        for r in refused {
            if let Some(entry) = ledger.outbox.remove(&r.entry_id) {
                ledger.parked.insert(r.entry_id, ParkedEntry { entry, reason: r.reason, parked_at: whole_millis(at) });
            }
        }
        ready(())
    }

    fn outbox_parked(&self, after: Option<(Timestamp, String)>, limit: usize) -> StoreFuture<'_, Vec<ParkedEntry>> {
        let ledger = lock(&self.ledger);
        let mut parked: Vec<&ParkedEntry> = ledger
            .parked
            .values()
            .filter(|p| after.as_ref().is_none_or(|(at, id)| (p.entry.at, &p.entry.entry_id) > (*at, id)))
            .collect();
        parked.sort_by(|a, b| (a.entry.at, &a.entry.entry_id).cmp(&(b.entry.at, &b.entry.entry_id)));
        ready(parked.into_iter().take(limit).cloned().collect())
    }
}

impl Blobs for MemoryStore {
    fn put_blob(
        &self,
        mut key: String,
        mut value: Vec<u8>,
        _now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreFuture<'_, ()> {
        // Kept until it expires, one per accepted ping: without the room a writer left at
        // the end (a serializer doubles its buffer, so up to half of it).
        value.shrink_to_fit();
        key.shrink_to_fit();
        self.blobs.insert(key, (value, expires_at));
        ready(())
    }

    fn get_blob(&self, key: String, now: Timestamp) -> StoreFuture<'_, Option<Vec<u8>>> {
        let value = self.blobs.get(&key).filter(|b| b.1 > now).map(|b| b.0.clone());
        ready(value)
    }
}

impl Claims for MemoryStore {
    fn claim(&self, req: ClaimRequest) -> StoreFuture<'_, Claim> {
        ready(self.claim_now(req))
    }

    fn complete_claim(
        &self,
        key: String,
        holder: String,
        answer: Vec<u8>,
        _now: Timestamp,
        keep_until: Timestamp,
    ) -> StoreFuture<'_, ()> {
        if let Some(mut c) = self.claims.get_mut(&key) {
            if matches!(&c.state, ClaimState::InFlight { holder: h, .. } if h == &holder) {
                c.state = ClaimState::Done { answer };
                c.keep_until = keep_until;
            }
        }
        ready(())
    }

    fn abandon_claim(&self, key: String, holder: String) -> StoreFuture<'_, ()> {
        // A claim taken fresh goes; one taken over from an earlier holder stays, given up.
        let held = |c: &ClaimEntry| matches!(&c.state, ClaimState::InFlight { holder: h, .. } if h == &holder);
        let fresh = |c: &ClaimEntry| matches!(&c.state, ClaimState::InFlight { resumed: false, .. });
        self.claims.remove_if(&key, |_, c| held(c) && fresh(c));
        if let Some(mut c) = self.claims.get_mut(&key) {
            if held(&c) {
                c.state = ClaimState::Free;
            }
        }
        ready(())
    }
}

impl Suppression for MemoryStore {
    fn suppress(&self, hashes: Vec<Sha256Hex>, now: Timestamp) -> StoreFuture<'_, Vec<bool>> {
        let added = hashes
            .into_iter()
            .map(|h| {
                let c = Arc::clone(self.consumers.entry(h).or_default().value());
                let mut c = lock(&c);
                let new = c.suppressed_at.is_none();
                if new {
                    c.suppressed_at = Some(now);
                }
                new
            })
            .collect();
        ready(added)
    }

    fn unsuppress(&self, hashes: Vec<Sha256Hex>) -> StoreFuture<'_, u64> {
        let mut removed = 0;
        for h in hashes {
            let Some(c) = self.consumers.get(&h).map(|c| Arc::clone(c.value())) else { continue };
            if lock(&c).suppressed_at.take().is_some() {
                removed += 1;
            }
        }
        ready(removed)
    }

    fn suppression_status(&self, hashes: Vec<Sha256Hex>) -> StoreFuture<'_, Vec<Option<Timestamp>>> {
        let status = hashes
            .iter()
            .map(|h| self.consumers.get(h).map(|c| Arc::clone(c.value())).and_then(|c| lock(&c).suppressed_at))
            .collect();
        ready(status)
    }
}

impl Erasure for MemoryStore {
    fn erase(&self, hashes: Vec<Sha256Hex>, now: Timestamp) -> StoreFuture<'_, Erased> {
        let mut erased = Erased::default();
        for h in hashes {
            let Some(c) = self.consumers.get(&h).map(|e| Arc::clone(e.value())) else { continue };
            let mut c = lock(&c);
            let in_flight =
                |s: &StoredSale| s.state == Some(SaleState::Reserved) && s.lease_until.is_some_and(|l| l > now);
            let kept = c.sales.iter().filter(|s| in_flight(s)).count() as u64;
            erased += Erased {
                vertical_submissions: c.vertical.len() as u64,
                sales: c.sales.iter().filter(|s| s.state.is_some()).count() as u64 - kept,
                dq: c.dq.len() as u64,
                kept_in_flight: kept,
            };
            c.vertical.clear();
            c.sales.retain(in_flight);
            c.dq.clear();
        }
        ready(erased)
    }
}

impl Upkeep for MemoryStore {
    fn sweep(&self, now: Timestamp) -> StoreFuture<'_, SweepReport> {
        ready(self.sweep_now(now))
    }

    fn health(&self) -> StoreFuture<'_, ()> {
        ready(())
    }
}

impl ConfigDocs for MemoryStore {
    fn config(&self) -> StoreFuture<'_, Option<ConfigDoc>> {
        ready(lock(&self.config).clone())
    }

    fn config_stamp(&self) -> StoreFuture<'_, Option<ConfigStamp>> {
        ready(lock(&self.config).as_ref().map(|d| d.stamp.clone()))
    }

    fn save_config(
        &self,
        expected: Option<ConfigStamp>,
        rev: String,
        body: Vec<u8>,
    ) -> StoreFuture<'_, Option<ConfigStamp>> {
        let mut doc = lock(&self.config);
        let stored = doc.as_ref().map(|d| &d.stamp);
        if let Some(own) = stored.filter(|s| s.rev == rev) {
            return ready(Some(own.clone()));
        }
        if stored != expected.as_ref() {
            return ready(None);
        }
        let stamp = ConfigStamp { version: stored.map_or(0, |s| s.version) + 1, rev };
        *doc = Some(ConfigDoc { stamp: stamp.clone(), body });
        ready(Some(stamp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conformance() {
        crate::conformance::run_all(|| async { Arc::new(MemoryStore::new()) }).await;
    }
}
