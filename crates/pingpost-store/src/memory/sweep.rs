//! The embedded store's sweep: what Redis does by key expiry and `sweep_ledger.lua`.
//!
//! Everything a window may look back on is kept for [`RETENTION`] after its last write,
//! whatever the windows in force (so does Redis), a settled sale and its return as long as
//! [`kept_after_settling`] says (Redis: its keys' expiry), and every reservation past its
//! lease becomes an unconfirmed sale.
//!
//! The ledger is behind one lock that every ping (its counters), reservation and settlement
//! takes, and it may hold a year of sales: the sweep walks it [`SWEEP_CHUNK`] entries per
//! hold of the lock, continuing after the last key it saw, so no request waits behind a whole
//! scan. What is written behind the sweep's place meanwhile waits for the next sweep.
//!
//! Counts are of what was removed, never a difference of sizes: writers add entries while
//! the sweep runs.

use super::{lock, ready, whole_millis, Ledger, MemoryStore, StoredSale};
use crate::*;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

/// Ledger entries looked at per hold of the ledger's lock.
const SWEEP_CHUNK: usize = 512;

/// How long tombstones are kept: far longer than any call can be on its way.
const TOMBSTONE_KEEP: chrono::Duration = chrono::Duration::days(1);

/// `at` minus `span`, or the earliest time there is (the sweep of a clock near its start
/// must not panic on an overflow).
fn before(at: Timestamp, span: chrono::Duration) -> Timestamp {
    at.checked_sub_signed(span).unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
}

/// What the sweep does to a sale.
enum Due {
    /// A reservation past its lease: its engine died or its settlement was lost.
    Unconfirm,
    /// Past the retention.
    Forget,
}

impl MemoryStore {
    pub(super) fn sweep_now(&self, now: Timestamp) -> SweepReport {
        let horizon = before(now, RETENTION);
        let tombstone_horizon = before(now, TOMBSTONE_KEEP);
        let mut report = SweepReport::default();
        self.sweep_sales(now, horizon, &mut report);
        report.counters_removed = self.in_chunks(|ledger| ledger.drop_expired_counters(now));
        self.forget_in_chunks(|l| &mut l.tombstones, |(at, _)| *at <= tombstone_horizon);
        report.consumers_removed = self.sweep_consumers(now, horizon, tombstone_horizon);
        let mut blobs_removed = 0;
        self.blobs.retain(|_, (_, expires_at)| {
            let keep = *expires_at > now;
            blobs_removed += u64::from(!keep);
            keep
        });
        report.blobs_removed = blobs_removed;
        self.claims.retain(|_, c| c.keep_until > now);
        report
    }

    /// Runs `step` under the ledger's lock, again and again with the lock let go in between,
    /// until it does less than a whole chunk; answers the sum of what it did.
    fn in_chunks(&self, mut step: impl FnMut(&mut Ledger) -> usize) -> u64 {
        let mut total = 0;
        loop {
            let done = step(&mut lock(&self.ledger));
            total += done as u64;
            if done < SWEEP_CHUNK {
                return total;
            }
        }
    }

    /// Removes the entries of one of the ledger's maps that `past` says are past keeping.
    fn forget_in_chunks<V>(&self, map: impl Fn(&mut Ledger) -> &mut BTreeMap<String, V>, past: impl Fn(&V) -> bool) {
        let mut after = None;
        loop {
            let mut ledger = lock(&self.ledger);
            let map = map(&mut ledger);
            let (gone, next) = chunk(map, after.as_deref(), |v| past(v).then_some(()));
            for (key, ()) in gone {
                map.remove(&key);
            }
            drop(ledger);
            match next {
                Some(key) => after = Some(key),
                None => return,
            }
        }
    }

    /// Turns reservations past their lease into unconfirmed sales and forgets sales past the
    /// retention, with their place in their ping's journal and their buyer's list.
    fn sweep_sales(&self, now: Timestamp, horizon: Timestamp, report: &mut SweepReport) {
        let mut after = None;
        loop {
            let mut ledger = lock(&self.ledger);
            let mut unconfirmed = 0;
            let (due, next) = chunk(&ledger.sales, after.as_deref(), |e| {
                let r = &e.record;
                let due = match r.state {
                    LedgerState::Reserved if r.lease_until <= now => Some(Due::Unconfirm),
                    LedgerState::Reserved => None,
                    _ if e.kept_until.map_or_else(
                        // Its outcome open: kept from its last write, its charge or its reservation.
                        || r.sold_at.map_or(r.reserved_at, |at| at.max(r.reserved_at)) <= horizon,
                        |until| until <= now,
                    ) =>
                    {
                        Some(Due::Forget)
                    }
                    _ => None,
                };
                let stays_unconfirmed = r.state == LedgerState::Unconfirmed && due.is_none();
                unconfirmed += u64::from(stays_unconfirmed || matches!(due, Some(Due::Unconfirm)));
                due
            });
            report.unconfirmed += unconfirmed;
            for (sale_id, due) in due {
                match due {
                    Due::Unconfirm => {
                        ledger.unconfirm(&sale_id, now);
                        report.reservations_unconfirmed += 1;
                    }
                    Due::Forget => ledger.forget_sale(&sale_id),
                }
            }
            drop(ledger);
            match next {
                Some(key) => after = Some(key),
                None => return,
            }
        }
    }

    /// Forgets consumers' marks past the retention (tombstones past a day) and the
    /// consumers left with none. Each consumer is locked on its own.
    fn sweep_consumers(&self, now: Timestamp, horizon: Timestamp, tombstone_horizon: Timestamp) -> u64 {
        let still_needed = |s: &StoredSale| match s.state {
            None => s.at > tombstone_horizon,
            Some(_) => s.lease_until.is_some_and(|l| l > now) || s.at > horizon,
        };
        for entry in self.consumers.iter() {
            let mut c = lock(entry.value());
            c.vertical.retain(|_, m| m.at > horizon);
            c.sales.retain(still_needed);
            c.dq.retain(|_, at| *at > horizon);
        }
        let mut removed = 0;
        // strong_count == 1 under the shard lock: nobody holds this entry, so nobody can be
        // about to write into it after it is removed.
        self.consumers.retain(|_, v| {
            let keep = Arc::strong_count(v) > 1 || !lock(v).is_empty();
            removed += u64::from(!keep);
            keep
        });
        removed
    }
}

impl Ledger {
    /// A reservation past its lease becomes an unconfirmed sale: the lead may have been
    /// delivered, so its debits stay taken and it is charged (its marks already read as
    /// sales, their lease having run out).
    fn unconfirm(&mut self, sale_id: &str, now: Timestamp) {
        let Some(entry) = self.sales.get_mut(sale_id) else { return };
        entry.record.state = LedgerState::Unconfirmed;
        entry.record.sold_at = Some(whole_millis(now));
        let record = entry.record.clone();
        self.charged(&record);
        self.write_entry(OutboxEntry::of_sale(EntryKind::Sale, &record, whole_millis(now)));
    }

    fn forget_sale(&mut self, sale_id: &str) {
        let Some(entry) = self.sales.remove(sale_id) else { return };
        let record = &entry.record;
        if let Some(ids) = self.by_ping.get_mut(&record.ping_id) {
            ids.retain(|id| id != sale_id);
            if ids.is_empty() {
                self.by_ping.remove(&record.ping_id);
            }
        }
        // Out of its buyer's list, as Redis trims the list; its return goes with it.
        self.uncharged(record);
        self.returns.remove(&return_id_of(sale_id));
        if self.buyer_sales.get(&record.buyer).is_some_and(|s| s.is_empty()) {
            self.buyer_sales.remove(&record.buyer);
        }
    }

    /// Removes up to a chunk of the counters expired by `now`, soonest expired first;
    /// answers how many.
    fn drop_expired_counters(&mut self, now: Timestamp) -> usize {
        let mut removed = 0;
        while removed < SWEEP_CHUNK && self.expiring.first().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, key)) = self.expiring.pop_first() {
                self.counters.remove(&key);
            }
            removed += 1;
        }
        removed
    }
}

/// Up to [`SWEEP_CHUNK`] entries of `map` after the key `after` (from the first when `None`):
/// the keys `pick` picks, with what it picked, and the key to continue after (`None` once
/// the map is done).
fn chunk<V, T>(
    map: &BTreeMap<String, V>,
    after: Option<&str>,
    mut pick: impl FnMut(&V) -> Option<T>,
) -> (Vec<(String, T)>, Option<String>) {
    let from = after.map_or(Bound::Unbounded, Bound::Excluded);
    let mut picked = Vec::new();
    let mut seen = 0;
    let mut last = None;
    for (key, value) in map.range::<str, _>((from, Bound::Unbounded)).take(SWEEP_CHUNK) {
        if let Some(t) = pick(value) {
            picked.push((key.clone(), t));
        }
        seen += 1;
        last = Some(key);
    }
    let next = if seen == SWEEP_CHUNK { last.cloned() } else { None };
    (picked, next)
}

impl Upkeep for MemoryStore {
    fn sweep(&self, now: Timestamp) -> StoreFuture<'_, SweepReport> {
        ready(self.sweep_now(now))
    }

    fn health(&self) -> StoreFuture<'_, ()> {
        ready(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};
    use pingpost_core::caps::Debit;
    use pingpost_core::identity::IdentKind;
    use pingpost_core::ids::{ContractId, OfferId, PartnerId, VerticalId};
    use pingpost_core::window::WindowDays;

    fn t0() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).single().unwrap_or_default()
    }

    fn email(seed: &str) -> Ident {
        Ident { kind: IdentKind::Email, hash: Sha256Hex::digest(seed) }
    }

    fn admission(seed: &str, window: WindowDays, now: Timestamp) -> Admission {
        Admission {
            idents: vec![email(seed)],
            vertical: VerticalId::new("auto"),
            window,
            repeat_after: None,
            ping_id: format!("ping-{seed}-{}", now.timestamp()),
            now,
            pending_until: now + Duration::minutes(1),
            dry_run: false,
            buyers: (0..10).map(|i| pingpost_core::ids::BuyerId::new(format!("b{i}"))).collect(),
        }
    }

    fn three_days() -> WindowDays {
        WindowDays::new(3).unwrap_or(WindowDays::MAX)
    }

    /// Reserves sale `n` (of ping `p<n>`, consumer `c<n>`, buyer b1) at `at`, taking one of
    /// the counter `counter`, which expires a day later.
    fn reserve(s: &MemoryStore, n: usize, counter: &str, at: Timestamp) {
        assert_eq!(s.reserve_now(reservation(n, counter, at)), ReserveOutcome::Reserved);
    }

    fn reservation(n: usize, counter: &str, at: Timestamp) -> SaleReservation {
        let record = SaleRecord {
            sale_id: format!("s{n}"),
            ping_id: format!("p{n}"),
            partner: PartnerId::new("p1"),
            offer: OfferId::new("o1"),
            vertical: VerticalId::new("auto"),
            buyer: BuyerId::new("b1"),
            contract: ContractId::new("c1"),
            price: Money::from_minor(100),
            payout: Money::from_minor(90),
            reserved_at: at,
            state: LedgerState::Reserved,
            holder: "h".into(),
            lease_until: at + Duration::minutes(5),
            reason: None,
            sold_at: None,
            lead_id: None,
            repeat_after: None,
        };
        let debit = Debit {
            key: counter.into(),
            amount: 1,
            limit: i64::MAX,
            is_money: false,
            expires_at: Some(at + Duration::days(1)),
            credit_key: None,
        };
        SaleReservation {
            idents: vec![email(&format!("c{n}"))],
            window: Some(three_days()),
            debits: vec![debit],
            slots: 1,
            record,
        }
    }

    fn sell(s: &MemoryStore, n: usize, at: Timestamp) {
        let settlement = Settlement {
            sale_id: format!("s{n}"),
            ping_id: format!("p{n}"),
            buyer: BuyerId::new("b1"),
            idents: vec![email(&format!("c{n}"))],
            end: SaleEnd::Sold {
                final_price: Money::from_minor(100),
                final_payout: Money::from_minor(90),
                reason: None,
                lead_id: None,
            },
            at,
            return_window: chrono::Duration::days(7),
            reserved: ReservedTerms {
                price: Money::from_minor(100),
                payout: Money::from_minor(90),
                debits: Vec::new(),
            },
        };
        assert_eq!(s.settle_now(&settlement), Some(LedgerState::Sold));
    }

    fn buyer_sales(s: &MemoryStore) -> usize {
        s.ledger_now(LedgerQuery::Buyer {
            buyer: BuyerId::new("b1"),
            since: None,
            until: None,
            after: None,
            limit: usize::MAX,
        })
        .len()
    }

    /// The windows of the day were 3 days: nothing dedup reaches is forgotten by them, only by
    /// the retention (Redis' keys live as long); the settled sale itself leaves once its return
    /// window (7 days) and [`SETTLED_KEPT`] have passed, its marks staying behind.
    #[test]
    fn what_dedup_reaches_is_kept_for_the_retention_and_a_settled_sale_past_its_return_window() {
        let s = MemoryStore::new();
        let submitted = admission("old", three_days(), t0());
        assert!(matches!(s.admit_now(&submitted), AdmitOutcome::Admitted { .. }));
        s.with_own_vertical_marks(&submitted, |marks| {
            if let Some(m) = marks.get_mut(&submitted.vertical) {
                m.pending_until = None;
            }
        });
        reserve(&s, 1, "b1/cap:c1:d:x", t0());
        sell(&s, 1, t0());

        let kept = kept_after_settling(LedgerState::Sold, Duration::days(7));
        let report = s.sweep_now(t0() + kept - Duration::seconds(1));
        assert_eq!((report.consumers_removed, report.counters_removed), (0, 1), "{report:?}");
        assert_eq!(
            s.ledger_now(LedgerQuery::Sale("s1".into())).len(),
            1,
            "kept inside its return window and the grace"
        );
        assert_eq!(buyer_sales(&s), 1);

        let day_300 = t0() + Duration::days(300);
        let report = s.sweep_now(t0() + kept);
        assert_eq!(report.consumers_removed, 0, "{report:?}");
        assert_eq!(s.ledger_now(LedgerQuery::Sale("s1".into())), [], "the books keep it from now on");
        assert_eq!(buyer_sales(&s), 0);
        {
            let ledger = lock(&s.ledger);
            assert!(ledger.by_ping.is_empty() && ledger.buyer_sales.is_empty(), "{ledger:?}");
        }
        let again = s.admit_now(&admission("old", WindowDays::MAX, day_300));
        assert!(matches!(again, AdmitOutcome::VerticalDuplicate { .. }), "{again:?}");
        let mut rebuy = reservation(1, "b1/cap:c1:d:y", day_300);
        (rebuy.record.sale_id, rebuy.record.ping_id, rebuy.window) = ("s9".into(), "p9".into(), Some(WindowDays::MAX));
        assert!(
            matches!(s.reserve_now(rebuy), ReserveOutcome::AlreadyBought { .. }),
            "the buyer's mark outlives the entry"
        );

        // A duplicate writes nothing: both consumers' marks are from day 0.
        let report = s.sweep_now(t0() + RETENTION + Duration::seconds(1));
        assert_eq!(report.consumers_removed, 2, "{report:?}");
    }

    #[test]
    fn the_sweep_walks_the_ledger_a_chunk_at_a_time_and_misses_nothing() {
        let s = MemoryStore::new();
        let n = 2 * SWEEP_CHUNK + 7;
        for i in 0..n {
            reserve(&s, i, &format!("b1/cap:c{i}:d:x"), t0());
            if i % 2 == 0 {
                sell(&s, i, t0());
            }
        }
        let abandoned = (n / 2) as u64;
        let report = s.sweep_now(t0() + Duration::hours(1));
        assert_eq!((report.reservations_unconfirmed, report.unconfirmed), (abandoned, abandoned), "{report:?}");
        assert_eq!(buyer_sales(&s), n, "every sale charged is listed");
        let report = s.sweep_now(t0() + Duration::days(2));
        assert_eq!((report.reservations_unconfirmed, report.unconfirmed), (0, abandoned), "{report:?}");
        assert_eq!(report.counters_removed, n as u64, "{report:?}");
        assert!(lock(&s.ledger).expiring.is_empty());

        let report = s.sweep_now(t0() + RETENTION + Duration::hours(1));
        assert_eq!((report.unconfirmed, report.consumers_removed), (0, n as u64), "{report:?}");
        let ledger = lock(&s.ledger);
        assert!(ledger.sales.is_empty() && ledger.by_ping.is_empty() && ledger.buyer_sales.is_empty());
    }

    #[test]
    fn a_chunk_is_bounded_and_says_where_to_continue() {
        let map: BTreeMap<String, usize> = (0..SWEEP_CHUNK + 1).map(|i| (format!("{i:05}"), i)).collect();
        let (odd, next) = chunk(&map, None, |v| (v % 2 == 1).then_some(*v));
        assert_eq!((odd.len(), next.as_deref()), (SWEEP_CHUNK / 2, Some(format!("{:05}", SWEEP_CHUNK - 1).as_str())));
        let (rest, next) = chunk(&map, next.as_deref(), |v| Some(*v));
        assert_eq!((rest, next), (vec![(format!("{SWEEP_CHUNK:05}"), SWEEP_CHUNK)], None));
    }

    /// Writers add consumers and blobs while sweeps run: a count taken as the difference of
    /// a map's sizes before and after underflowed (a panic in debug builds, which killed the
    /// sweeper for good).
    #[test]
    fn a_sweep_racing_writers_counts_without_underflow() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let s = Arc::new(MemoryStore::new());
        let write = |s: &MemoryStore, n: u64| {
            s.admit_now(&admission(&n.to_string(), WindowDays::MAX, t0()));
            s.blobs.insert(format!("b{n}"), (Vec::new(), t0() + Duration::days(1)));
        };
        for n in 0..20_000 {
            write(&s, n);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (s, stop) = (Arc::clone(&s), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut n = 20_000;
                while !stop.load(Ordering::Relaxed) {
                    write(&s, n);
                    n += 1;
                }
            })
        };
        let swept = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for _ in 0..50 {
                s.sweep_now(t0() + Duration::hours(1));
            }
        }));
        stop.store(true, Ordering::Relaxed);
        writer.join().expect("the writer ran to its end");
        assert!(swept.is_ok(), "the sweep panicked");
    }

    #[test]
    fn a_clock_near_the_start_of_time_sweeps_without_overflow() {
        let s = MemoryStore::new();
        let report = s.sweep_now(chrono::DateTime::<Utc>::MIN_UTC + Duration::hours(1));
        assert_eq!(report, SweepReport::default());
    }
}
