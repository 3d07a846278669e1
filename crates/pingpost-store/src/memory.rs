//! The embedded store: all state in this process, for a single node and for tests.
//!
//! Consumers (one entry per identifier hash) live in a `DashMap` of `Arc<Mutex<_>>`: an
//! operation clones the Arcs out first (so no dashmap guard is held while locking, see
//! STYLE.md), then locks the identifiers in sorted order, then the ledger. Every operation
//! takes locks in that same order, so none can deadlock, and each check-then-write happens
//! under the locks it reads — the same atomicity a Redis script gives.

use crate::*;
use dashmap::DashMap;
use pingpost_core::caps::Debit;
use pingpost_core::checkpoint::{ConsumerHistory, DqMark, SaleMark, SaleState};
use pingpost_core::identity::IdentKind;
use pingpost_core::ids::VerticalId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug, Default)]
struct VerticalMark {
    at: Timestamp,
    ping_id: String,
}

#[derive(Debug, Clone)]
struct StoredSale {
    buyer: BuyerId,
    sale_id: String,
    at: Timestamp,
    state: SaleState,
}

#[derive(Debug, Default)]
struct Consumer {
    suppressed_at: Option<Timestamp>,
    vertical: HashMap<VerticalId, VerticalMark>,
    sales: Vec<StoredSale>,
    dq: HashMap<BuyerId, Timestamp>,
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
    idents: Vec<Ident>,
    debits: Vec<Debit>,
    lease_until: Timestamp,
}

#[derive(Debug, Default)]
struct Ledger {
    counters: HashMap<String, Counter>,
    sales: HashMap<String, LedgerEntry>,
}

impl Ledger {
    fn value(&self, key: &str) -> i64 {
        self.counters.get(key).map_or(0, |c| c.value)
    }

    fn take(&mut self, debit: &Debit) {
        let c = self.counters.entry(debit.key.clone()).or_insert(Counter { value: 0, expires_at: debit.expires_at });
        c.value = c.value.saturating_add(debit.amount);
        if let (Some(old), Some(new)) = (c.expires_at, debit.expires_at) {
            c.expires_at = Some(old.max(new));
        }
    }

    /// Gives back to a counter; one that already expired has nothing to give back to.
    fn give_back(&mut self, key: &str, amount: i64) {
        if let Some(c) = self.counters.get_mut(key) {
            c.value = c.value.saturating_sub(amount);
        }
    }
}

#[derive(Debug)]
enum ClaimState {
    InFlight { lease_until: Timestamp },
    Done { answer: Vec<u8>, keep_until: Timestamp },
}

#[derive(Debug)]
struct ClaimEntry {
    fingerprint: String,
    state: ClaimState,
}

/// The embedded store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    consumers: DashMap<Sha256Hex, Arc<Mutex<Consumer>>>,
    ledger: Mutex<Ledger>,
    blobs: DashMap<String, (Vec<u8>, Timestamp)>,
    claims: DashMap<String, ClaimEntry>,
    config: Mutex<Option<ConfigDoc>>,
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
            out.push_str(&format!("config v{} {}\n", doc.version, String::from_utf8_lossy(&doc.body)));
        }
        for entry in self.claims.iter() {
            let state = match &entry.value().state {
                ClaimState::InFlight { lease_until } => format!("in flight until {lease_until}"),
                ClaimState::Done { answer, .. } => String::from_utf8_lossy(answer).into_owned(),
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
        let handles = self.handles(&req.idents);
        let mut locked = Self::lock_all(&handles);
        for (kind, c) in &locked.guards {
            if let Some(since) = c.suppressed_at {
                return AdmitOutcome::Suppressed { matched: *kind, since };
            }
        }
        for (kind, c) in &locked.guards {
            if let Some(m) = c.vertical.get(&req.vertical) {
                if req.window.contains(m.at, req.now) {
                    return AdmitOutcome::VerticalDuplicate { matched: *kind, prior_at: m.at };
                }
            }
        }
        let mut history = ConsumerHistory::default();
        for (kind, c) in &mut locked.guards {
            c.vertical.insert(req.vertical.clone(), VerticalMark { at: req.now, ping_id: req.ping_id.clone() });
            history.sales.extend(c.sales.iter().map(|s| SaleMark {
                buyer: s.buyer.clone(),
                matched: *kind,
                at: s.at,
                state: s.state,
            }));
            history.dq.extend(c.dq.iter().map(|(b, at)| DqMark { buyer: b.clone(), matched: *kind, at: *at }));
        }
        AdmitOutcome::Admitted { history }
    }

    fn reserve_now(&self, req: SaleReservation) -> ReserveOutcome {
        let handles = self.handles(&req.idents);
        let mut locked = Self::lock_all(&handles);
        let buyer = &req.record.buyer;
        if let Some(window) = req.window {
            for (kind, c) in &locked.guards {
                let prior = c
                    .sales
                    .iter()
                    .filter(|s| &s.buyer == buyer && s.state.counts_as_bought(s.at, window, req.record.reserved_at))
                    .max_by_key(|s| s.at);
                if let Some(s) = prior {
                    return ReserveOutcome::AlreadyBought { matched: *kind, prior_at: s.at };
                }
            }
        }
        let mut ledger = lock(&self.ledger);
        if let Some(d) = req.debits.iter().find(|d| !d.fits(ledger.value(&d.key))) {
            return ReserveOutcome::LimitReached { key: d.key.clone() };
        }
        for d in &req.debits {
            ledger.take(d);
        }
        for (_, c) in &mut locked.guards {
            c.sales.push(StoredSale {
                buyer: buyer.clone(),
                sale_id: req.record.sale_id.clone(),
                at: req.record.reserved_at,
                state: SaleState::Reserved,
            });
        }
        let mut record = req.record;
        record.state = LedgerState::Reserved;
        ledger.sales.insert(
            record.sale_id.clone(),
            LedgerEntry { record, idents: req.idents, debits: req.debits, lease_until: req.lease_until },
        );
        ReserveOutcome::Reserved
    }

    /// Settles a reservation: `refund` gives back (part of) the debits, `mark` decides what
    /// becomes of the consumer's sale mark (`None` removes it).
    fn settle(
        &self,
        sale_id: &str,
        state: LedgerState,
        mark: Option<(SaleState, Timestamp)>,
        final_price: Option<Money>,
    ) {
        let Some(idents) = lock(&self.ledger)
            .sales
            .get(sale_id)
            .filter(|e| e.record.state == LedgerState::Reserved)
            .map(|e| e.idents.clone())
        else {
            return;
        };
        let handles = self.handles(&idents);
        let mut locked = Self::lock_all(&handles);
        let mut ledger = lock(&self.ledger);
        let Some(entry) = ledger.sales.get_mut(sale_id).filter(|e| e.record.state == LedgerState::Reserved) else {
            return;
        };
        entry.record.state = state;
        // Given back: everything for a release or rollback; for a sale at a lower final
        // price, the difference on the money debits.
        let refund = |d: &Debit| match (state, final_price) {
            (LedgerState::Sold, Some(price)) if d.is_money => (d.amount - price.minor()).max(0),
            (LedgerState::Sold | LedgerState::Unconfirmed, _) => 0,
            _ => d.amount,
        };
        let refunds: Vec<(String, i64)> = entry.debits.iter().map(|d| (d.key.clone(), refund(d))).collect();
        if let Some(price) = final_price.filter(|p| *p < entry.record.price) {
            entry.record.price = price;
        }
        for (key, amount) in refunds {
            if amount != 0 {
                ledger.give_back(&key, amount);
            }
        }
        for (_, c) in &mut locked.guards {
            match mark {
                Some((s, at)) => c.sales.iter_mut().filter(|m| m.sale_id == sale_id).for_each(|m| {
                    m.state = s;
                    m.at = at;
                }),
                None => c.sales.retain(|m| m.sale_id != sale_id),
            }
        }
    }

    fn sweep_now(&self, now: Timestamp, keep: chrono::Duration) -> SweepReport {
        let mut report = SweepReport::default();
        let horizon = now - keep;
        // Abandoned reservations become unconfirmed sales: kept for dedup and caps.
        let abandoned: Vec<String> = lock(&self.ledger)
            .sales
            .values()
            .filter(|e| e.record.state == LedgerState::Reserved && e.lease_until <= now)
            .map(|e| e.record.sale_id.clone())
            .collect();
        for sale_id in &abandoned {
            self.settle(sale_id, LedgerState::Unconfirmed, Some((SaleState::Sold, now)), None);
        }
        report.reservations_unconfirmed = abandoned.len() as u64;
        for entry in self.consumers.iter() {
            let mut c = lock(entry.value());
            c.vertical.retain(|_, m| m.at > horizon);
            c.sales.retain(|s| s.state == SaleState::Reserved || s.at > horizon);
            c.dq.retain(|_, at| *at > horizon);
        }
        let before = self.consumers.len();
        // strong_count == 1 under the shard lock: nobody holds this entry, so nobody can be
        // about to write into it after it is removed.
        self.consumers.retain(|_, v| Arc::strong_count(v) > 1 || !lock(v).is_empty());
        report.consumers_removed = (before - self.consumers.len()) as u64;
        let mut ledger = lock(&self.ledger);
        let before = ledger.counters.len();
        ledger.counters.retain(|_, c| c.expires_at.is_none_or(|e| e > now));
        report.counters_removed = (before - ledger.counters.len()) as u64;
        ledger.sales.retain(|_, e| e.record.state == LedgerState::Reserved || e.record.reserved_at > horizon);
        drop(ledger);
        let before = self.blobs.len();
        self.blobs.retain(|_, (_, exp)| *exp > now);
        report.blobs_removed = (before - self.blobs.len()) as u64;
        self.claims.retain(|_, c| match &c.state {
            ClaimState::InFlight { lease_until } => *lease_until > now,
            ClaimState::Done { keep_until, .. } => *keep_until > now,
        });
        report
    }

    fn claim_now(&self, req: ClaimRequest) -> Claim {
        use dashmap::mapref::entry::Entry;
        match self.claims.entry(req.key) {
            Entry::Vacant(v) => {
                v.insert(ClaimEntry {
                    fingerprint: req.fingerprint,
                    state: ClaimState::InFlight { lease_until: req.lease_until },
                });
                Claim::Claimed
            }
            Entry::Occupied(mut o) => {
                let entry = o.get_mut();
                if entry.fingerprint != req.fingerprint {
                    return Claim::Mismatch;
                }
                match &entry.state {
                    ClaimState::Done { answer, .. } => Claim::Done(answer.clone()),
                    ClaimState::InFlight { lease_until } if *lease_until > req.now => Claim::InFlight,
                    ClaimState::InFlight { .. } => {
                        entry.state = ClaimState::InFlight { lease_until: req.lease_until };
                        Claim::Claimed
                    }
                }
            }
        }
    }
}

fn ready<T: Send + 'static>(value: T) -> StoreFuture<'static, T> {
    Box::pin(std::future::ready(Ok(value)))
}

impl Store for MemoryStore {
    fn admit(&self, req: Admission) -> StoreFuture<'_, AdmitOutcome> {
        ready(self.admit_now(&req))
    }

    fn release_admission(&self, req: Admission) -> StoreFuture<'_, ()> {
        let handles = self.handles(&req.idents);
        let mut locked = Self::lock_all(&handles);
        for (_, c) in &mut locked.guards {
            if c.vertical.get(&req.vertical).is_some_and(|m| m.ping_id == req.ping_id) {
                c.vertical.remove(&req.vertical);
            }
        }
        ready(())
    }

    fn read_counters(&self, keys: Vec<String>) -> StoreFuture<'_, Vec<i64>> {
        let ledger = lock(&self.ledger);
        ready(keys.iter().map(|k| ledger.value(k)).collect())
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

    fn reserve_sale(&self, req: SaleReservation) -> StoreFuture<'_, ReserveOutcome> {
        ready(self.reserve_now(req))
    }

    fn commit_sale(&self, sale_id: String, final_price: Money, now: Timestamp) -> StoreFuture<'_, ()> {
        self.settle(&sale_id, LedgerState::Sold, Some((SaleState::Sold, now)), Some(final_price));
        ready(())
    }

    fn release_sale(&self, sale_id: String) -> StoreFuture<'_, ()> {
        self.settle(&sale_id, LedgerState::Released, None, None);
        ready(())
    }

    fn rollback_sale(&self, sale_id: String, now: Timestamp) -> StoreFuture<'_, ()> {
        self.settle(&sale_id, LedgerState::RolledBack, Some((SaleState::Duplicate, now)), None);
        ready(())
    }

    fn sale(&self, sale_id: String) -> StoreFuture<'_, Option<SaleRecord>> {
        ready(lock(&self.ledger).sales.get(&sale_id).map(|e| e.record.clone()))
    }

    fn put_blob(&self, key: String, value: Vec<u8>, _now: Timestamp, expires_at: Timestamp) -> StoreFuture<'_, ()> {
        self.blobs.insert(key, (value, expires_at));
        ready(())
    }

    fn get_blob(&self, key: String, now: Timestamp) -> StoreFuture<'_, Option<Vec<u8>>> {
        let value = self.blobs.get(&key).filter(|b| b.1 > now).map(|b| b.0.clone());
        ready(value)
    }

    fn claim(&self, req: ClaimRequest) -> StoreFuture<'_, Claim> {
        ready(self.claim_now(req))
    }

    fn complete_claim(
        &self,
        key: String,
        answer: Vec<u8>,
        _now: Timestamp,
        keep_until: Timestamp,
    ) -> StoreFuture<'_, ()> {
        if let Some(mut c) = self.claims.get_mut(&key) {
            c.state = ClaimState::Done { answer, keep_until };
        }
        ready(())
    }

    fn abandon_claim(&self, key: String) -> StoreFuture<'_, ()> {
        self.claims.remove_if(&key, |_, c| matches!(c.state, ClaimState::InFlight { .. }));
        ready(())
    }

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

    fn sweep(&self, now: Timestamp, keep: chrono::Duration) -> StoreFuture<'_, SweepReport> {
        ready(self.sweep_now(now, keep))
    }

    fn erase(&self, hashes: Vec<Sha256Hex>) -> StoreFuture<'_, Erased> {
        let mut erased = Erased::default();
        for h in hashes {
            let Some(c) = self.consumers.get(&h).map(|e| Arc::clone(e.value())) else { continue };
            let mut c = lock(&c);
            erased += Erased {
                vertical_submissions: c.vertical.len() as u64,
                sales: c.sales.len() as u64,
                dq: c.dq.len() as u64,
            };
            c.vertical.clear();
            c.sales.clear();
            c.dq.clear();
        }
        ready(erased)
    }

    fn config(&self) -> StoreFuture<'_, Option<ConfigDoc>> {
        ready(lock(&self.config).clone())
    }

    fn config_version(&self) -> StoreFuture<'_, u64> {
        ready(lock(&self.config).as_ref().map_or(0, |d| d.version))
    }

    fn save_config(&self, expected: u64, body: Vec<u8>) -> StoreFuture<'_, Option<u64>> {
        let mut doc = lock(&self.config);
        let current = doc.as_ref().map_or(0, |d| d.version);
        if current != expected {
            return ready(None);
        }
        *doc = Some(ConfigDoc { version: current + 1, body });
        ready(Some(current + 1))
    }

    fn health(&self) -> StoreFuture<'_, ()> {
        ready(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conformance() {
        crate::conformance::run_all(|| async { Arc::new(MemoryStore::new()) }).await;
    }

    /// The embedded store has no TTLs: its sweep forgets what the longest window no longer
    /// reaches (Redis does the same with key expiry).
    #[tokio::test]
    async fn sweep_forgets_state_older_than_the_longest_window() {
        use chrono::{Duration, TimeZone, Utc};
        use pingpost_core::caps::Debit;
        use pingpost_core::ids::{ContractId, OfferId, PartnerId};
        use pingpost_core::window::WindowDays;
        let s = MemoryStore::new();
        let t0 = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).single().expect("valid time");
        let email = Ident { kind: IdentKind::Email, hash: Sha256Hex::digest("old") };
        let window = WindowDays::new(30).expect("valid window");
        let admission = Admission {
            idents: vec![email.clone()],
            vertical: VerticalId::new("auto"),
            window,
            ping_id: "p".into(),
            now: t0,
        };
        assert!(matches!(s.admit(admission).await, Ok(AdmitOutcome::Admitted { .. })));
        let debit = Debit {
            key: "cap:c1:d:x".into(),
            amount: 1,
            limit: 5,
            is_money: false,
            expires_at: Some(t0 + Duration::days(1)),
        };
        let record = SaleRecord {
            sale_id: "s1".into(),
            ping_id: "p".into(),
            partner: PartnerId::new("p1"),
            offer: OfferId::new("o1"),
            vertical: VerticalId::new("auto"),
            buyer: BuyerId::new("b1"),
            contract: ContractId::new("c1"),
            price: Money::from_minor(100),
            reserved_at: t0,
            state: LedgerState::Reserved,
        };
        let r = SaleReservation {
            idents: vec![Ident { kind: IdentKind::Email, hash: Sha256Hex::digest("sold") }],
            window: Some(window),
            debits: vec![debit],
            lease_until: t0 + Duration::minutes(5),
            record,
        };
        assert_eq!(s.reserve_sale(r).await.ok(), Some(ReserveOutcome::Reserved));
        s.commit_sale("s1".into(), Money::from_minor(100), t0).await.expect("commit");

        let report = s.sweep(t0 + Duration::days(31), Duration::days(30)).await.expect("sweep");
        assert_eq!((report.consumers_removed, report.counters_removed), (2, 1), "{report:?}");
        assert_eq!(s.sale("s1".into()).await.expect("sale"), None);
        assert!(!s.dump().contains(Sha256Hex::digest("old").as_str()));
    }
}
