//! The lead event log, the engine's side (SPEC "Repeat leads, the window what-if and the lead
//! event log"): each answered live ping becomes one [`LeadEvent`] — where each contract of the
//! offer stopped, or its bid, and the gaps a different window would have judged by — queued
//! in the store's event outbox off the answer's path; the relay moves what waits to the log
//! ([`pingpost_events::relay`]), the upkeep makes its days ahead and drops those past the
//! retention, and the age of the oldest waiting event is the log's lag.

use crate::{Engine, EngineError};
use pingpost_core::auction::Bid;
use pingpost_core::checkpoint::{Checkpoint, ConsumerHistory, Drop, Ineligible};
use pingpost_core::config::Planned;
use pingpost_core::events::{ContractFate, Fate, LeadEvent};
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

impl Engine {
    /// Queues a ping's event in the store's outbox, off the answer's path, a few times if the
    /// store fails (a failure logged after that: the store being down, the ping failed too).
    pub(crate) fn queue_event(&self, event: LeadEvent) {
        let store: std::sync::Arc<dyn pingpost_store::EventOutbox> = std::sync::Arc::clone(&self.store) as _;
        self.in_flight.spawn(async move {
            let queued = QueuedEvent { id: event.ping_id.clone(), at: event.at, body: event.encode() };
            for attempt in 1..=3u64 {
                match store.queue_events(vec![queued.clone()]).await {
                    Ok(()) => return,
                    Err(e) if attempt == 3 => {
                        tracing::warn!(ping_id = %queued.id, error = %e, "lead event not queued; the event log misses this ping");
                    }
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await,
                }
            }
        });
    }

    /// Moves what waits in the store's event outbox to the event log and reports the lag.
    pub async fn relay_events(&self) -> Result<Relayed, EngineError> {
        let relayed = relay_events(&*self.store, &*self.events, RELAY_BATCH).await?;
        let lag = relayed.oldest_waiting.map_or(0.0, |at| (self.now() - at).num_milliseconds().max(0) as f64 / 1000.0);
        metrics::gauge!(EVENTS_LAG_SECONDS).set(lag);
        Ok(relayed)
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
