//! A ping's contracts' fates, for its event: pure.

use pingpost_core::auction::Bid;
use pingpost_core::checkpoint::{Checkpoint, ConsumerHistory, Drop, Ineligible};
use pingpost_core::config::Planned;
use pingpost_core::events::{ContractFate, Fate};
use pingpost_core::ids::{BuyerId, ContractId};
use pingpost_core::money::Money;
use pingpost_core::whatif::{gap_since, Gap};
use pingpost_core::Timestamp;
use rustc_hash::FxHashMap;

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
