//! The lead event log, the engine's side (SPEC "Repeat leads, the window what-if and the lead
//! event log"): each answered live ping becomes one [`LeadEvent`] — where each contract of the
//! offer stopped, or its bid, and the gaps a different window would have judged by — queued
//! in the store's event outbox off the answer's path; the relay moves what waits to the log
//! ([`pingpost_events::relay`]), the upkeep makes its days ahead and drops those past the
//! retention, and the age of the oldest waiting event is the log's lag.

use crate::audit::{AuditEntry, AuditPage, AuditQuery, AuditSink};
use crate::stats::{fold_groups, GroupBy, Hour, Increment, Metric, StatsGroup, StatsSink, Sums};
use crate::{Engine, EngineError};
use pingpost_core::auction::Bid;
use pingpost_core::checkpoint::{Checkpoint, ConsumerHistory, Drop, Ineligible};
use pingpost_core::config::Planned;
use pingpost_core::events::{ContractFate, CountRow, Fate, Hit, HitQuery, LeadEvent, LogEvent, SaleEvent};
use pingpost_core::ids::{BuyerId, ContractId};
use pingpost_core::money::Money;
use pingpost_core::whatif::{gap_since, Gap};
use pingpost_core::Timestamp;
use pingpost_events::relay::{relay_events, Relayed};
use pingpost_store::QueuedEvent;
use rustc_hash::FxHashMap;

/// `pingpost_events_lag_seconds`: how old the oldest event waiting for the log is (0: none).
pub const EVENTS_LAG_SECONDS: &str = "pingpost_events_lag_seconds";
/// Events moved to the log per statement.
pub const RELAY_BATCH: usize = 5_000;
/// Days the log has room for ahead of today.
pub const DAYS_AHEAD: u32 = 7;
/// `--event-retention-days` when not given.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;

/// What a ping's contracts came to, for its event.
pub(crate) struct ContractFacts<'a> {
    /// The offer's contracts, in the configuration's order: the event lists them so.
    pub contracts: &'a [Planned],
    /// Not candidates at all (paused, filtered, out of schedule, capped).
    pub ineligible: &'a [(ContractId, Ineligible)],
    pub drops: &'a [Drop],
    pub disqualified: &'a [(BuyerId, ContractId)],
    pub bids: &'a [Bid],
    pub history: &'a ConsumerHistory,
    pub now: Timestamp,
}

/// Each contract's fate, in the offer's order (pure). A candidate that neither bid nor was
/// disqualified did not bid; the gap is the days since its buyer's latest mark on the
/// consumer (a sale, a "duplicate" answer or a reservation), whatever the window.
pub(crate) fn fates(f: &ContractFacts<'_>) -> Vec<ContractFate> {
    let mut known: FxHashMap<&str, (Fate, Money)> =
        FxHashMap::with_capacity_and_hasher(f.contracts.len(), Default::default());
    for (c, why) in f.ineligible {
        known.insert(c.as_str(), (Fate::Ineligible(*why), Money::ZERO));
    }
    for d in f.drops {
        known.insert(d.contract.as_str(), (Fate::Dropped(d.checkpoint), Money::ZERO));
    }
    for (_, c) in f.disqualified {
        known.insert(c.as_str(), (Fate::Dropped(Checkpoint::DqDuplicate), Money::ZERO));
    }
    for b in f.bids {
        known.insert(b.contract.as_str(), (Fate::Bid, b.price));
    }
    let mut latest: FxHashMap<&str, Timestamp> = FxHashMap::default();
    for m in &f.history.sales {
        let at = latest.entry(m.buyer.as_str()).or_insert(m.at);
        *at = (*at).max(m.at);
    }
    f.contracts
        .iter()
        .map(|p| {
            let c = &p.contract;
            let (fate, price) = known.get(c.id.as_str()).copied().unwrap_or((Fate::NoBid, Money::ZERO));
            let gap: Gap = latest.get(c.buyer.as_str()).map(|at| gap_since(*at, f.now));
            ContractFate { contract: c.id.clone(), fate, gap, price }
        })
        .collect()
}

/// The events this node answered and has not handed to the store yet: queued by the ping
/// under a lock (no task, no store call per ping) and handed over in one batch by
/// [`Engine::flush_events`] every [`FLUSH_INTERVAL_MS`] and before every relay pass. What a
/// node killed outright held here is missing from the log (at most that interval's events:
/// the log is for statistics and the what-if, never for money); what the store refused is
/// kept for the next flush, up to [`MAX_PENDING`].
#[derive(Default)]
pub(crate) struct PendingEvents(std::sync::Mutex<Vec<LogEvent>>, std::sync::Mutex<Sums>);

/// How often a node hands its answered pings' events to the store.
pub const FLUSH_INTERVAL_MS: u64 = 100;
/// Events a node keeps while the store refuses them; past that the newest are not kept
/// (`pingpost_events_dropped_total`): the store being down, the pings are failing too.
pub const MAX_PENDING: usize = 100_000;
/// `pingpost_events_unreadable_total`: events the relay could not read, dropped from the outbox.
pub const EVENTS_UNREADABLE_TOTAL: &str = "pingpost_events_unreadable_total";
/// `pingpost_events_dropped_total`: events a node could not keep for the log.
pub const EVENTS_DROPPED_TOTAL: &str = "pingpost_events_dropped_total";

impl PendingEvents {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<LogEvent>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn push(&self, event: LogEvent) {
        let mut pending = self.lock();
        if pending.len() < MAX_PENDING {
            pending.push(event);
        } else {
            drop(pending);
            metrics::counter!(EVENTS_DROPPED_TOTAL).increment(1);
        }
    }

    fn take(&self) -> Vec<LogEvent> {
        std::mem::take(&mut *self.lock())
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Sums> {
        self.1.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Statistics increments for the log, summed until the next flush.
    pub(crate) fn add_counts(&self, increments: &[Increment]) {
        crate::stats::aggregate(&mut self.counts(), increments.to_vec());
    }

    /// The counters summed since the last flush, as rows.
    fn take_counts(&self) -> Vec<CountRow> {
        std::mem::take(&mut *self.counts())
            .into_iter()
            .map(|((hour, by, key, metric), n)| CountRow {
                hour: hour.0,
                by: by.as_str().into(),
                key: key.to_string(),
                metric: metric.as_str().into(),
                n,
            })
            .collect()
    }

    /// Puts back a batch the store refused, ahead of what came since.
    fn put_back(&self, mut events: Vec<LogEvent>) {
        let mut pending = self.lock();
        events.append(&mut pending);
        events.truncate(MAX_PENDING);
        *pending = events;
    }
}

impl Engine {
    /// Keeps a ping's event for the next flush (off the answer's path: a push under a lock).
    pub(crate) fn queue_event(&self, event: LeadEvent) {
        self.pending_events.push(LogEvent::Lead(event));
    }

    /// Keeps a sale for the next flush.
    pub(crate) fn queue_sale_event(&self, sale: SaleEvent) {
        self.pending_events.push(LogEvent::Sale(sale));
    }

    /// Hands the events this node answered to the store's outbox, in one call; kept for the
    /// next flush if the store refuses them.
    pub async fn flush_events(&self) -> Result<(), EngineError> {
        let mut events = self.pending_events.take();
        let counts = self.pending_events.take_counts();
        if !counts.is_empty() {
            // Named once, so a batch the store keeps twice (a lost answer) is added once.
            events.push(LogEvent::Counts { id: self.ids.token(), at: self.now(), rows: counts });
        }
        if events.is_empty() {
            return Ok(());
        }
        let queued = events.iter().map(|e| QueuedEvent { id: e.outbox_id(), at: e.at(), body: e.encode() }).collect();
        if let Err(e) = self.store.queue_events(queued).await {
            self.pending_events.put_back(events);
            return Err(e.into());
        }
        Ok(())
    }

    /// Moves what waits in the store's event outbox to the event log and reports the lag.
    /// This node's own events are flushed first; if the store refuses them, what already
    /// waits there is still relayed.
    pub async fn relay_events(&self) -> Result<Relayed, EngineError> {
        let flushed = self.flush_events().await;
        let relayed = match relay_events(&*self.store, &*self.events, RELAY_BATCH).await {
            Ok(relayed) => relayed,
            Err(e) => {
                // The log is down: its lag keeps growing, and says so.
                if let Ok(oldest) = self.store.queued_events(1).await {
                    self.report_lag(oldest.first().map(|q| q.at));
                }
                return Err(e.into());
            }
        };
        self.report_lag(relayed.oldest_waiting);
        if relayed.unreadable > 0 {
            metrics::counter!(EVENTS_UNREADABLE_TOTAL).increment(relayed.unreadable as u64);
        }
        flushed.map(|()| relayed)
    }

    fn report_lag(&self, oldest_waiting: Option<pingpost_core::Timestamp>) {
        let lag = oldest_waiting.map_or(0.0, |at| (self.now() - at).num_milliseconds().max(0) as f64 / 1000.0);
        metrics::gauge!(EVENTS_LAG_SECONDS).set(lag);
    }

    /// Removes these identifier hashes from the event log, and from the events written to it
    /// later (those waiting in the store or a node now): answers how many events held one.
    pub async fn erase_events(&self, hashes: Vec<pingpost_core::identity::Sha256Hex>) -> Result<u64, EngineError> {
        // This node's latest events first, so the answer counts them; any still on their way
        // (another node's, or waiting while the log is down) are written without the hashes.
        if let Err(e) = self.relay_events().await {
            tracing::debug!(error = %e, "erasure ran before the latest events reached the log");
        }
        Ok(self.events.erase(hashes, self.now()).await?)
    }

    /// Makes the event log's room for today and the days ahead, and drops the days past
    /// `retention_days`.
    pub async fn event_upkeep(&self, retention_days: u32) -> Result<(), EngineError> {
        let today = self.now().date_naive();
        let keep_from = today - chrono::Days::new(u64::from(retention_days));
        self.events.upkeep(today, DAYS_AHEAD, keep_from).await?;
        Ok(())
    }
}

/// The audit sink the engine records to, when the event log keeps the audit log's hits: each
/// record's live hits also go to the log (as one event, with the ping's events), and the
/// audit API reads them there, over the log's whole retention ([`Engine::audit_page`]).
pub(crate) struct LoggedAudit {
    inner: std::sync::Arc<dyn AuditSink>,
    pending: std::sync::Arc<PendingEvents>,
}

impl LoggedAudit {
    pub(crate) fn new(inner: std::sync::Arc<dyn AuditSink>, pending: std::sync::Arc<PendingEvents>) -> Self {
        LoggedAudit { inner, pending }
    }
}

fn hit_of(e: &AuditEntry) -> Hit {
    Hit {
        at: e.at,
        ping_id: e.ping_id.to_string(),
        partner: e.partner.clone(),
        vertical: e.vertical.clone(),
        offer: e.offer.clone(),
        buyer: e.buyer.clone(),
        contract: e.contract.clone(),
        checkpoint: e.checkpoint,
        matched: e.matched,
        prior_at: e.prior_at,
        reason: e.reason.clone(),
    }
}

fn entry_of(h: Hit) -> AuditEntry {
    AuditEntry {
        at: h.at,
        ping_id: std::sync::Arc::from(h.ping_id),
        partner: h.partner,
        vertical: h.vertical,
        offer: h.offer,
        buyer: h.buyer,
        contract: h.contract,
        checkpoint: h.checkpoint,
        matched: h.matched,
        prior_at: h.prior_at,
        reason: h.reason,
        test: false,
    }
}

impl AuditSink for LoggedAudit {
    fn record(&self, entries: Vec<AuditEntry>) {
        // A test lead's hits stay in the store's audit log only, as its pings are in no log.
        let hits: Vec<Hit> = entries.iter().filter(|e| !e.test).map(hit_of).collect();
        if !hits.is_empty() {
            self.pending.push(LogEvent::Hits(hits));
        }
        self.inner.record(entries);
    }

    fn recent(&self, limit: usize) -> pingpost_store::StoreFuture<'_, Vec<AuditEntry>> {
        self.inner.recent(limit)
    }

    fn query(&self, q: AuditQuery) -> pingpost_store::StoreFuture<'_, AuditPage> {
        self.inner.query(q)
    }

    fn flush(&self) -> pingpost_store::StoreFuture<'_, ()> {
        self.inner.flush()
    }
}

/// A cursor of the log's pages: the last hit's time in microseconds, its record's row and its
/// place in the record, `<µs>-<row>-<place>`.
fn log_cursor(cursor: &str) -> Option<pingpost_core::events::HitCursor> {
    let mut parts = cursor.splitn(3, '-');
    let mut next = || parts.next()?.parse().ok();
    Some((next()?, next()?, next()?))
}

impl Engine {
    /// A page of the dedup audit log: from the event log when it keeps the hits (PostgreSQL:
    /// its whole retention, at any volume), else from the store's own audit log. A test
    /// lead's hits are in the store's log only.
    pub async fn audit_page(&self, q: AuditQuery) -> Result<AuditPage, EngineError> {
        if !self.events.serves_reads() {
            return Ok(self.audit.query(q).await?);
        }
        // What this node answered last is in the page too; if it cannot be moved now, the page
        // answers what the log holds.
        if let Err(e) = self.relay_events().await {
            tracing::debug!(error = %e, "audit page read before the latest events reached the log");
        }
        let after = match q.cursor.as_deref() {
            None => None,
            Some(c) => {
                Some(log_cursor(c).ok_or_else(|| EngineError::invalid("cursor", "is not a cursor this log gave"))?)
            }
        };
        let wanted = HitQuery {
            buyer: q.buyer,
            partner: q.partner,
            vertical: q.vertical,
            offer: q.offer,
            checkpoint: q.checkpoint,
            since: q.since,
            until: q.until,
            limit: q.limit,
            after,
        };
        let page = self.events.hits(wanted).await?;
        Ok(AuditPage {
            entries: page.hits.into_iter().map(entry_of).collect(),
            next_cursor: page.next.map(|(micros, row, place)| format!("{micros}-{row}-{place}")),
        })
    }
}

/// The statistics sink the engine records to when the event log serves the statistics: each
/// record's increments are also summed for the log (sent with the events, once per flush),
/// and the statistics API reads them there ([`Engine::stats_query`]).
pub(crate) struct LoggedStats {
    inner: std::sync::Arc<dyn StatsSink>,
    pending: std::sync::Arc<PendingEvents>,
}

impl LoggedStats {
    pub(crate) fn new(inner: std::sync::Arc<dyn StatsSink>, pending: std::sync::Arc<PendingEvents>) -> Self {
        LoggedStats { inner, pending }
    }
}

impl StatsSink for LoggedStats {
    fn record(&self, increments: Vec<Increment>) {
        self.pending.add_counts(&increments);
        self.inner.record(increments);
    }

    fn query(
        &self,
        by: GroupBy,
        since: pingpost_core::Timestamp,
        until: pingpost_core::Timestamp,
    ) -> pingpost_store::StoreFuture<'_, Vec<StatsGroup>> {
        self.inner.query(by, since, until)
    }

    fn flush(&self) -> pingpost_store::StoreFuture<'_, ()> {
        self.inner.flush()
    }
}

impl Engine {
    /// Each group's counters of kind `by` over the whole UTC hours overlapping
    /// `[since, until)`: from the event log when it serves them (PostgreSQL, its whole
    /// retention), else from the store's own counters.
    pub async fn stats_query(
        &self,
        by: GroupBy,
        since: pingpost_core::Timestamp,
        until: pingpost_core::Timestamp,
    ) -> Result<Vec<StatsGroup>, EngineError> {
        if !self.events.serves_reads() {
            // This node's pending counts first, so that what it just answered is in the numbers.
            self.stats.flush().await?;
            return Ok(self.stats.query(by, since, until).await?);
        }
        if let Err(e) = self.relay_events().await {
            tracing::debug!(error = %e, "statistics read before the latest counts reached the log");
        }
        let hours = Hour::overlapping(since, until);
        if hours.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self.events.counts(by.as_str(), hours).await?;
        Ok(fold_groups(rows.into_iter().filter_map(|(key, metric, n)| Metric::parse(&metric).map(|m| (key, m, n)))))
    }
}
