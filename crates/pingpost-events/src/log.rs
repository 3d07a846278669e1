//! [`EventLog`]: where lead events are kept for good — PostgreSQL ([`PgEvents`]) or, when the
//! engine has no database (`pingpost serve` alone), this process ([`MemoryEvents`]).

use crate::{EventsResult, PgEvents};
use chrono::NaiveDate;
use pingpost_core::audit::{AuditEntry, AuditQuery};
use pingpost_core::events::{CountRow, HitCursor, HitPage, LeadEvent, SaleEvent};
use pingpost_core::identity::Sha256Hex;
use pingpost_core::whatif::{GapCount, Rollup, Scope};
use pingpost_core::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

pub type EventsFuture<'a, T> = Pin<Box<dyn Future<Output = EventsResult<T>> + Send + 'a>>;

/// What one relay pass writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    pub leads: Vec<LeadEvent>,
    pub sales: Vec<SaleEvent>,
    /// Audit records' hits, a record's together.
    pub hits: Vec<Vec<AuditEntry>>,
    /// Statistics counters, each batch named by its id and time.
    pub counts: Vec<(String, Timestamp, Vec<CountRow>)>,
}

/// The lead event log. Appending an event it holds already writes nothing (a ping is named by
/// its day and ping id, a sale by its day and sale id); the upkeep makes the days ahead and
/// forgets those past the retention, whole. Every log keeps the what-if's rollup by the one
/// rule of `pingpost_core::whatif::Rollup`.
pub trait EventLog: Send + Sync {
    /// Writes pings' events, sales, audit hits and statistics counters, answering how many
    /// were new.
    fn append(&self, batch: Batch) -> EventsFuture<'_, u64>;
    /// Makes room for `today` and the `ahead` days after it; forgets every day before `keep_from`.
    fn upkeep(&self, today: NaiveDate, ahead: u32, keep_from: NaiveDate) -> EventsFuture<'_, ()>;
    /// Forgets the statistics' counters of the hours before `before_hour` (since the epoch):
    /// they are kept for the statistics' retention, which is not the events'.
    fn forget_counts(&self, before_hour: i64) -> EventsFuture<'_, ()>;
    /// The rollup's rows of one contract or vertical over the days `[since, until)`.
    fn gap_counts(
        &self,
        scope: Scope,
        key: String,
        since: NaiveDate,
        until: NaiveDate,
    ) -> EventsFuture<'_, Vec<GapCount>>;
    /// Removes these identifier hashes from the events held and from those written later;
    /// answers how many events held one.
    fn erase(&self, hashes: Vec<Sha256Hex>, now: Timestamp) -> EventsFuture<'_, u64>;
    /// Whether it keeps the audit log's hits and the statistics' counters, and answers
    /// [`EventLog::hits`] and [`EventLog::counts`]: a log in the process does not, the store's
    /// own audit log and counters serving then.
    fn serves_reads(&self) -> bool;
    /// The hits `q` asks for, newest first, from where the page before stopped (`after`);
    /// nothing from a log that does not keep them.
    fn hits(&self, q: AuditQuery, after: Option<HitCursor>) -> EventsFuture<'_, HitPage>;
    /// Each group's counters of kind `by` over the hours `hours`: (key, metric, n).
    fn counts(
        &self,
        by: &'static str,
        hours: std::ops::RangeInclusive<i64>,
    ) -> EventsFuture<'_, Vec<(String, String, u64)>>;
}

impl EventLog for PgEvents {
    fn append(&self, batch: Batch) -> EventsFuture<'_, u64> {
        Box::pin(async move {
            Ok(PgEvents::append(self, &batch.leads, &batch.sales).await?
                + PgEvents::append_hits(self, &batch.hits).await?
                + PgEvents::append_counts(self, &batch.counts).await?)
        })
    }

    fn upkeep(&self, today: NaiveDate, ahead: u32, keep_from: NaiveDate) -> EventsFuture<'_, ()> {
        Box::pin(async move { PgEvents::upkeep(self, today, ahead, keep_from).await.map(|_| ()) })
    }

    fn forget_counts(&self, before_hour: i64) -> EventsFuture<'_, ()> {
        Box::pin(PgEvents::forget_counts(self, before_hour))
    }

    fn gap_counts(
        &self,
        scope: Scope,
        key: String,
        since: NaiveDate,
        until: NaiveDate,
    ) -> EventsFuture<'_, Vec<GapCount>> {
        Box::pin(async move { PgEvents::gap_counts(self, scope, &key, since, until).await })
    }

    fn erase(&self, hashes: Vec<Sha256Hex>, now: Timestamp) -> EventsFuture<'_, u64> {
        Box::pin(async move { PgEvents::erase(self, &hashes, now).await })
    }

    fn serves_reads(&self) -> bool {
        true
    }

    fn hits(&self, q: AuditQuery, after: Option<HitCursor>) -> EventsFuture<'_, HitPage> {
        Box::pin(async move { PgEvents::hits(self, &q, after).await })
    }

    fn counts(
        &self,
        by: &'static str,
        hours: std::ops::RangeInclusive<i64>,
    ) -> EventsFuture<'_, Vec<(String, String, u64)>> {
        Box::pin(async move { PgEvents::counts(self, by, hours).await })
    }
}

/// The log in this process, by (day, ping id): gone with the process, as the embedded store
/// and books are, and holding at most [`MemoryEvents::MAX_EVENTS`] pings (the oldest days go
/// first): a process's memory is no place for 90 days of pings at full rate. Its rollup keeps
/// counting what it let go.
#[derive(Default)]
pub struct MemoryEvents {
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    leads: BTreeMap<(NaiveDate, String), LeadEvent>,
    /// Each ping's sales, by ping id (a ping's sales are few and follow it within its lifetime).
    sales: BTreeMap<String, Vec<SaleEvent>>,
    rollup: Rollup,
    erased: BTreeSet<Sha256Hex>,
}

/// Removes from `e` the hashes `erased` names; answers whether it held one.
fn forget(e: &mut LeadEvent, erased: impl Fn(&Sha256Hex) -> bool) -> bool {
    let mut held = false;
    for hash in [&mut e.email, &mut e.phone] {
        if hash.as_ref().is_some_and(&erased) {
            *hash = None;
            held = true;
        }
    }
    held
}

impl MemoryEvents {
    /// The most pings the process keeps: some hundreds of megabytes at 30 contracts a ping.
    pub const MAX_EVENTS: usize = 200_000;

    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every ping's event held, in (day, ping id) order.
    pub fn all(&self) -> Vec<LeadEvent> {
        self.lock().leads.values().cloned().collect()
    }

    /// Every sale held.
    pub fn sales(&self) -> Vec<SaleEvent> {
        self.lock().sales.values().flatten().cloned().collect()
    }
}

impl EventLog for MemoryEvents {
    fn append(&self, batch: Batch) -> EventsFuture<'_, u64> {
        let Batch { leads, sales, .. } = batch;
        let mut held = self.lock();
        let held = &mut *held;
        let mut new = 0;
        for mut e in leads {
            let key = (e.day(), e.ping_id.clone());
            if held.leads.contains_key(&key) {
                continue;
            }
            forget(&mut e, |h| held.erased.contains(h));
            held.rollup.add_ping(&e);
            for sale in held.sales.get(&e.ping_id).into_iter().flatten() {
                held.rollup.add_sale(&e, sale);
            }
            held.leads.insert(key, e);
            new += 1;
        }
        for s in sales {
            let of_ping = held.sales.entry(s.ping_id.clone()).or_default();
            if of_ping.iter().any(|known| known.sale_id == s.sale_id) {
                continue;
            }
            let day = s.at.date_naive();
            let ping =
                [day, day.pred_opt().unwrap_or(day)].into_iter().find_map(|d| held.leads.get(&(d, s.ping_id.clone())));
            if let Some(e) = ping {
                held.rollup.add_sale(e, &s);
            }
            of_ping.push(s);
            new += 1;
        }
        while held.leads.len() > Self::MAX_EVENTS {
            if let Some(((_, ping_id), _)) = held.leads.pop_first() {
                held.sales.remove(&ping_id);
            }
        }
        Box::pin(std::future::ready(Ok(new)))
    }

    fn upkeep(&self, _today: NaiveDate, _ahead: u32, keep_from: NaiveDate) -> EventsFuture<'_, ()> {
        let mut held = self.lock();
        let held = &mut *held;
        let kept = held.leads.split_off(&(keep_from, String::new()));
        for (_, ping_id) in std::mem::replace(&mut held.leads, kept).into_keys() {
            held.sales.remove(&ping_id);
        }
        held.rollup.forget_before(keep_from);
        Box::pin(std::future::ready(Ok(())))
    }

    fn forget_counts(&self, _before_hour: i64) -> EventsFuture<'_, ()> {
        // The process's log keeps no counters: the store's serve the statistics.
        Box::pin(std::future::ready(Ok(())))
    }

    fn gap_counts(
        &self,
        scope: Scope,
        key: String,
        since: NaiveDate,
        until: NaiveDate,
    ) -> EventsFuture<'_, Vec<GapCount>> {
        let rows = self.lock().rollup.counts(scope, &key, since, until);
        Box::pin(std::future::ready(Ok(rows)))
    }

    fn erase(&self, hashes: Vec<Sha256Hex>, _now: Timestamp) -> EventsFuture<'_, u64> {
        let mut held = self.lock();
        let held = &mut *held;
        let mut touched = 0;
        for e in held.leads.values_mut() {
            touched += u64::from(forget(e, |h| hashes.contains(h)));
        }
        held.erased.extend(hashes);
        Box::pin(std::future::ready(Ok(touched)))
    }

    fn serves_reads(&self) -> bool {
        false
    }

    fn hits(&self, _q: AuditQuery, _after: Option<HitCursor>) -> EventsFuture<'_, HitPage> {
        Box::pin(std::future::ready(Ok(HitPage::default())))
    }

    fn counts(
        &self,
        _by: &'static str,
        _hours: std::ops::RangeInclusive<i64>,
    ) -> EventsFuture<'_, Vec<(String, String, u64)>> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use pingpost_core::events::Outcome;
    use pingpost_core::ids::{OfferId, PartnerId, VerticalId};

    fn event(day: u32, n: usize) -> LeadEvent {
        LeadEvent {
            at: chrono::Utc.with_ymd_and_hms(2026, 12, day, 12, 0, 0).single().unwrap_or_default(),
            ping_id: format!("p-{n:07}"),
            partner: PartnerId::new("p1"),
            offer: OfferId::new("o1"),
            vertical: VerticalId::new("auto"),
            email: None,
            phone: None,
            outcome: Outcome::NoBids,
            repeat: false,
            vertical_gap: None,
            contracts: Vec::new(),
        }
    }

    #[tokio::test]
    async fn the_process_keeps_the_newest_events_up_to_its_bound_and_each_once() {
        let log = MemoryEvents::new();
        let old: Vec<LeadEvent> = (0..10).map(|n| event(6, n)).collect();
        assert_eq!(log.append(Batch { leads: old.clone(), ..Batch::default() }).await.ok(), Some(10));
        assert_eq!(log.append(Batch { leads: old, ..Batch::default() }).await.ok(), Some(0), "each once");
        let today: Vec<LeadEvent> = (0..MemoryEvents::MAX_EVENTS).map(|n| event(7, n)).collect();
        assert_eq!(
            log.append(Batch { leads: today, ..Batch::default() }).await.ok(),
            Some(MemoryEvents::MAX_EVENTS as u64)
        );
        let held = log.all();
        assert_eq!(held.len(), MemoryEvents::MAX_EVENTS);
        assert!(held.iter().all(|e| e.day() == event(7, 0).day()), "the oldest day went first");
        log.upkeep(event(8, 0).day(), 7, event(8, 0).day()).await.ok();
        assert!(log.all().is_empty(), "days before keep_from are dropped");
    }

    #[tokio::test]
    async fn an_event_written_after_an_erasure_comes_without_its_hashes() {
        let log = MemoryEvents::new();
        let jane = Sha256Hex::digest("jane@example.com");
        let mut held = event(7, 1);
        held.email = Some(jane.clone());
        let mut late = event(7, 2);
        late.email = Some(jane.clone());
        late.phone = Some(Sha256Hex::digest("4155550100"));
        log.append(Batch { leads: vec![held], ..Batch::default() }).await.ok();
        assert_eq!(log.erase(vec![jane], Timestamp::default()).await.ok(), Some(1));
        log.append(Batch { leads: vec![late], ..Batch::default() }).await.ok();
        let all = log.all();
        assert!(all.iter().all(|e| e.email.is_none()), "{all:?}");
        assert!(all[1].phone.is_some(), "the phone was not erased");
    }
}
