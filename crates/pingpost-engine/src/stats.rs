//! Dedup statistics: what pings and posts did, as counters per UTC hour, grouped by
//! partner, buyer and vertical.
//!
//! The engine describes each fact once, as a [`PingFacts`] or [`PostFacts`], when the
//! answer it belongs to is final (an idempotent retry or a repeated post returns the stored
//! answer and describes nothing). A fact becomes [`Increment`]s — (hour, group kind, group
//! key, metric, n) — which a [`StatsSink`] adds up. Sinks keep hourly aggregates only, never
//! events, so their size grows with hours × configured ids, not with traffic; and no key
//! holds an identifier (hashed or not).
//!
//! A ping's facts are described after its record is stored (a failed ping gave its
//! reservation back and is counted when its retry is answered), a post's from its answer.
//! The mapping from facts to increments is a pure function, unit-tested here. `record` never
//! blocks or fails a ping: [`MemoryStats`] adds under a mutex and forgets hours past its
//! retention ([`DEFAULT_RETENTION`], 400 days, counted back from the newest hour recorded);
//! the Redis sink (`pingpost_redis::RedisStats`) hands increments to a writer task.

use crate::records::{AttemptOutcome, PostAnswer};
use pingpost_core::auction::Bid;
use pingpost_core::checkpoint::{Checkpoint, Screening};
use pingpost_core::ids::{BuyerId, ContractId, PartnerId, VerticalId};
use pingpost_core::Timestamp;
use pingpost_store::StoreFuture;
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// How long hourly counters are kept by default: a year and a month, so that this month
/// can be compared with the same month last year.
pub const DEFAULT_RETENTION: chrono::Duration = chrono::Duration::days(400);

/// The longest range one query may cover.
pub const MAX_RANGE: chrono::Duration = chrono::Duration::days(366);

const SECS_PER_HOUR: i64 = 3600;

/// What the counters are grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupBy {
    Partner,
    Buyer,
    Vertical,
}

impl GroupBy {
    pub const ALL: [GroupBy; 3] = [GroupBy::Partner, GroupBy::Buyer, GroupBy::Vertical];

    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Partner => "partner",
            GroupBy::Buyer => "buyer",
            GroupBy::Vertical => "vertical",
        }
    }

    pub fn parse(s: &str) -> Option<GroupBy> {
        GroupBy::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

/// One counter of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    Pings,
    Suppressed,
    VerticalDuplicate,
    InAuctionDuplicate,
    ContractDuplicate,
    DqDuplicate,
    Bids,
    Sales,
    Rollbacks,
    /// Pings checkpoint 2 let through as repeats (the vertical's `repeat_after_days`).
    RepeatPings,
    /// Contracts a vertical repeat dropped: they take no repeats.
    VerticalRepeat,
    /// Contracts that bid on a returning consumer at their repeat price.
    ContractRepeat,
    /// Sales of repeats (also counted in `sales`).
    RepeatSales,
}

impl Metric {
    pub const ALL: [Metric; 13] = [
        Metric::Pings,
        Metric::Suppressed,
        Metric::VerticalDuplicate,
        Metric::InAuctionDuplicate,
        Metric::ContractDuplicate,
        Metric::DqDuplicate,
        Metric::Bids,
        Metric::Sales,
        Metric::Rollbacks,
        Metric::RepeatPings,
        Metric::VerticalRepeat,
        Metric::ContractRepeat,
        Metric::RepeatSales,
    ];

    /// The name in the API answer and in stored field names.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Pings => "pings",
            Metric::Suppressed => "suppressed",
            Metric::VerticalDuplicate => "vertical_duplicate",
            Metric::InAuctionDuplicate => "in_auction_duplicate",
            Metric::ContractDuplicate => "contract_duplicate",
            Metric::DqDuplicate => "dq_duplicate",
            Metric::Bids => "bids",
            Metric::Sales => "sales",
            Metric::Rollbacks => "rollbacks",
            Metric::RepeatPings => "repeat_pings",
            Metric::VerticalRepeat => "vertical_repeat",
            Metric::ContractRepeat => "contract_repeat",
            Metric::RepeatSales => "repeat_sales",
        }
    }

    pub fn parse(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// The metric's place in [`Metric::ALL`] (the declaration order).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The counter of a dedup checkpoint. A "duplicate" answer after delivery is counted
    /// as a rollback by the post, not here.
    fn of_checkpoint(c: Checkpoint) -> Option<Metric> {
        match c {
            Checkpoint::Suppressed => Some(Metric::Suppressed),
            Checkpoint::VerticalDuplicate => Some(Metric::VerticalDuplicate),
            Checkpoint::InAuctionDuplicate => Some(Metric::InAuctionDuplicate),
            Checkpoint::ContractDuplicate => Some(Metric::ContractDuplicate),
            Checkpoint::DqDuplicate => Some(Metric::DqDuplicate),
            Checkpoint::VerticalRepeat => Some(Metric::VerticalRepeat),
            Checkpoint::ContractRepeat => Some(Metric::ContractRepeat),
            // Test leads count in no statistics; a post's duplicate is counted from its answer.
            Checkpoint::PostDuplicate | Checkpoint::NoSandbox => None,
        }
    }
}

/// A UTC hour, as hours since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hour(pub i64);

impl Hour {
    /// The hour `t` falls in.
    pub fn of(t: Timestamp) -> Hour {
        Hour(t.timestamp().div_euclid(SECS_PER_HOUR))
    }

    pub fn start(self) -> Option<Timestamp> {
        chrono::DateTime::from_timestamp(self.0.checked_mul(SECS_PER_HOUR)?, 0)
    }

    /// `yyyymmddhh`, how stores name the hour; sorts like the hour itself.
    pub fn label(self) -> String {
        self.start().map(|t| t.format("%Y%m%d%H").to_string()).unwrap_or_else(|| format!("h{}", self.0))
    }

    /// The hours that overlap `[since, until)`: counters are kept per whole hour, so a range
    /// that starts or ends inside an hour counts all of that hour. Empty when `since >= until`.
    pub fn overlapping(since: Timestamp, until: Timestamp) -> std::ops::RangeInclusive<i64> {
        if since >= until {
            #[allow(clippy::reversed_empty_ranges)] // an empty range on purpose
            return 1..=0;
        }
        let first = Hour::of(since).0;
        // The hour of the last instant before `until`.
        let last = (until - chrono::Duration::nanoseconds(1)).timestamp().div_euclid(SECS_PER_HOUR);
        first..=last
    }
}

/// One counter to add `n` to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Increment {
    pub hour: Hour,
    pub by: GroupBy,
    /// The group's id, shared with the configuration's (no copy per increment).
    pub key: Arc<str>,
    pub metric: Metric,
    pub n: u64,
}

/// The counters of one group over a range, as the API answers them.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatsGroup {
    pub key: String,
    pub pings: u64,
    pub suppressed: u64,
    pub vertical_duplicate: u64,
    pub in_auction_duplicate: u64,
    pub contract_duplicate: u64,
    pub dq_duplicate: u64,
    pub bids: u64,
    pub sales: u64,
    pub rollbacks: u64,
    pub repeat_pings: u64,
    pub vertical_repeat: u64,
    pub contract_repeat: u64,
    pub repeat_sales: u64,
}

impl StatsGroup {
    pub fn new(key: impl Into<String>) -> Self {
        StatsGroup { key: key.into(), ..StatsGroup::default() }
    }

    pub fn add(&mut self, metric: Metric, n: u64) {
        let slot = match metric {
            Metric::Pings => &mut self.pings,
            Metric::Suppressed => &mut self.suppressed,
            Metric::VerticalDuplicate => &mut self.vertical_duplicate,
            Metric::InAuctionDuplicate => &mut self.in_auction_duplicate,
            Metric::ContractDuplicate => &mut self.contract_duplicate,
            Metric::DqDuplicate => &mut self.dq_duplicate,
            Metric::Bids => &mut self.bids,
            Metric::Sales => &mut self.sales,
            Metric::Rollbacks => &mut self.rollbacks,
            Metric::RepeatPings => &mut self.repeat_pings,
            Metric::VerticalRepeat => &mut self.vertical_repeat,
            Metric::ContractRepeat => &mut self.contract_repeat,
            Metric::RepeatSales => &mut self.repeat_sales,
        };
        *slot = slot.saturating_add(n);
    }
}

/// Adds up `(key, metric, n)` into groups sorted by key: the one way every sink answers.
pub fn fold_groups(counts: impl IntoIterator<Item = (String, Metric, u64)>) -> Vec<StatsGroup> {
    let mut groups: BTreeMap<String, StatsGroup> = BTreeMap::new();
    for (key, metric, n) in counts {
        groups.entry(key.clone()).or_insert_with(|| StatsGroup::new(key)).add(metric, n);
    }
    groups.into_values().collect()
}

/// Sums of counters across hours, keyed by (hour, kind, key, metric).
pub type Sums = HashMap<(Hour, GroupBy, Arc<str>, Metric), u64>;

/// Sums increments with the same counter, so a batch writes each counter once.
pub fn aggregate(into: &mut Sums, increments: Vec<Increment>) {
    for i in increments {
        let n = into.entry((i.hour, i.by, i.key, i.metric)).or_insert(0);
        *n = n.saturating_add(i.n);
    }
}

/// Where statistics go. Recording never fails nor slows a ping: a sink that writes
/// somewhere remote queues the increments and writes them in batches.
pub trait StatsSink: Send + Sync + 'static {
    fn record(&self, increments: Vec<Increment>);
    /// The groups of kind `by` with their counters summed over the whole UTC hours that
    /// overlap `[since, until)`, sorted by key. Groups with no counts are absent.
    fn query(&self, by: GroupBy, since: Timestamp, until: Timestamp) -> StoreFuture<'_, Vec<StatsGroup>>;
    /// Resolves once every increment recorded before the call has been written.
    fn flush(&self) -> StoreFuture<'_, ()>;
}

/// What one answered ping did. Built along the ping and turned into increments once the
/// answer is final.
#[derive(Clone, Debug)]
pub struct PingFacts {
    at: Timestamp,
    partner: PartnerId,
    vertical: VerticalId,
    tallies: Tallies,
}

impl PingFacts {
    pub fn new(at: Timestamp, partner: &PartnerId, vertical: &VerticalId) -> Self {
        let mut tallies = Tallies::default();
        tallies.source[Metric::Pings.index()] = 1;
        PingFacts { at, partner: partner.clone(), vertical: vertical.clone(), tallies }
    }

    /// Checkpoint 1 (suppression) or 2 (vertical dedup) stopped the ping.
    pub fn stopped(&mut self, at: Checkpoint) {
        if let Some(metric) = Metric::of_checkpoint(at) {
            self.tallies.source[metric.index()] += 1;
        }
    }

    /// Checkpoint 2 let the ping through as a repeat.
    pub fn vertical_repeat(&mut self) {
        self.tallies.source[Metric::RepeatPings.index()] = 1;
    }

    /// The outcome of checkpoints 3-5. Every contract that passed caps either was dropped
    /// at one of them or stayed a candidate, so together they are the contracts that
    /// reached checkpoint 3, and their buyers are the buyers the ping counts for. A candidate
    /// kept as a repeat counts as one.
    pub fn screened(&mut self, s: &Screening) {
        for c in &s.candidates {
            self.tallies.buyer(&c.contract.buyer)[Metric::Pings.index()] = 1;
        }
        for r in &s.repeats {
            self.tallies.both(&r.buyer, Metric::ContractRepeat);
        }
        for d in &s.drops {
            let tally = match Metric::of_checkpoint(d.checkpoint) {
                Some(metric) => self.tallies.both(&d.buyer, metric),
                None => self.tallies.buyer(&d.buyer),
            };
            tally[Metric::Pings.index()] = 1;
        }
    }

    /// Contracts whose buyer answered the DQ question "disqualified": dropped at checkpoint 5.
    pub fn disqualified(&mut self, dropped: &[(BuyerId, ContractId)]) {
        for (buyer, _) in dropped {
            self.tallies.both(buyer, Metric::DqDuplicate);
        }
    }

    /// The answer's bids. A bidding buyer's contract was a candidate, so the buyer reached
    /// checkpoint 3 (counted once whether or not [`PingFacts::screened`] saw it).
    pub fn bids(&mut self, bids: &[Bid]) {
        for b in bids {
            self.tallies.both(&b.buyer, Metric::Bids)[Metric::Pings.index()] = 1;
        }
    }

    pub fn increments(&self) -> Vec<Increment> {
        self.tallies.increments(Hour::of(self.at), &self.partner, &self.vertical)
    }
}

/// What one answered post did, read from its answer: sales that stood, sales rolled back on
/// a "duplicate" answer, and contracts the sale reservation found had already bought the
/// consumer (a contract duplicate caught at the post, e.g. after a concurrent sale).
#[derive(Clone, Debug)]
pub struct PostFacts<'a> {
    pub at: Timestamp,
    pub partner: &'a PartnerId,
    pub vertical: &'a VerticalId,
    pub answer: &'a PostAnswer,
}

impl PostFacts<'_> {
    pub fn increments(&self) -> Vec<Increment> {
        let mut tallies = Tallies::default();
        for a in &self.answer.attempts {
            let metric = match a.outcome {
                AttemptOutcome::Accepted => Metric::Sales,
                AttemptOutcome::Duplicate => Metric::Rollbacks,
                AttemptOutcome::Skipped if a.reason.as_deref() == Some(Checkpoint::ContractDuplicate.as_str()) => {
                    Metric::ContractDuplicate
                }
                _ => continue,
            };
            tallies.both(&a.buyer, metric);
            if a.repeat && a.outcome == AttemptOutcome::Accepted {
                tallies.both(&a.buyer, Metric::RepeatSales);
            }
        }
        tallies.increments(Hour::of(self.at), self.partner, self.vertical)
    }
}

/// A group's counters, indexed by [`Metric::index`].
type Tally = [u64; Metric::ALL.len()];

/// The counters one fact adds to: the lead's source (its partner and its vertical count the
/// same) and each buyer concerned. Plain arrays and one map of the buyers: a 30-contract
/// ping adds to its counters some hundred times, and a map entry per (group, metric) cost a
/// tenth of the ping (issue 13's profile). The maps hash with Fx, not SipHash: their keys
/// are configured ids, not input an attacker chooses.
#[derive(Clone, Debug, Default)]
struct Tallies {
    source: Tally,
    buyers: FxHashMap<BuyerId, Tally>,
}

impl Tallies {
    fn buyer(&mut self, buyer: &BuyerId) -> &mut Tally {
        self.buyers.entry(buyer.clone()).or_default()
    }

    /// A fact about one buyer's contract: counted for the source and for the buyer, whose
    /// tally is answered.
    fn both(&mut self, buyer: &BuyerId, metric: Metric) -> &mut Tally {
        self.source[metric.index()] += 1;
        let tally = self.buyer(buyer);
        tally[metric.index()] += 1;
        tally
    }

    /// One increment per counter that is not zero.
    fn increments(&self, hour: Hour, partner: &PartnerId, vertical: &VerticalId) -> Vec<Increment> {
        let mut out = Vec::with_capacity(8 + 3 * self.buyers.len());
        let mut group = |by: GroupBy, key: &Arc<str>, tally: &Tally| {
            for (metric, &n) in Metric::ALL.into_iter().zip(tally) {
                if n > 0 {
                    out.push(Increment { hour, by, key: Arc::clone(key), metric, n });
                }
            }
        };
        group(GroupBy::Partner, &partner.0, &self.source);
        group(GroupBy::Vertical, &vertical.0, &self.source);
        for (buyer, tally) in &self.buyers {
            group(GroupBy::Buyer, &buyer.0, tally);
        }
        out
    }
}

/// The embedded store's statistics: hourly aggregates in memory, the hours older than the
/// retention (counted back from the newest hour recorded) forgotten.
#[derive(Debug)]
pub struct MemoryStats {
    retention_hours: i64,
    hours: Mutex<BTreeMap<Hour, HourGroups>>,
}

/// An hour's counters, by group.
type HourGroups = FxHashMap<(GroupBy, Arc<str>), Tally>;

impl MemoryStats {
    pub fn new(retention: chrono::Duration) -> Self {
        MemoryStats { retention_hours: (retention.num_seconds() / SECS_PER_HOUR).max(1), hours: Mutex::default() }
    }
}

impl Default for MemoryStats {
    fn default() -> Self {
        MemoryStats::new(DEFAULT_RETENTION)
    }
}

impl StatsSink for MemoryStats {
    fn record(&self, increments: Vec<Increment>) {
        if increments.is_empty() {
            return;
        }
        let mut hours = self.hours.lock().unwrap_or_else(|p| p.into_inner());
        // A fact's increments come group by group: one lookup per group, not per counter.
        let mut run = increments.into_iter().peekable();
        while let Some(first) = run.next() {
            let tally = hours.entry(first.hour).or_default().entry((first.by, Arc::clone(&first.key))).or_default();
            tally[first.metric.index()] = tally[first.metric.index()].saturating_add(first.n);
            while let Some(i) = run.next_if(|i| i.hour == first.hour && i.by == first.by && i.key == first.key) {
                tally[i.metric.index()] = tally[i.metric.index()].saturating_add(i.n);
            }
        }
        if let Some(newest) = hours.keys().next_back().copied() {
            // Everything from the oldest hour still kept on.
            hours.retain(|h, _| h.0 > newest.0 - self.retention_hours);
        }
    }

    fn query(&self, by: GroupBy, since: Timestamp, until: Timestamp) -> StoreFuture<'_, Vec<StatsGroup>> {
        let range = Hour::overlapping(since, until);
        let hours = self.hours.lock().unwrap_or_else(|p| p.into_inner());
        let counts = hours
            .range(Hour(*range.start())..=Hour(*range.end()))
            .flat_map(|(_, groups)| groups.iter())
            .filter(|((kind, _), _)| *kind == by)
            .flat_map(|((_, key), tally)| {
                Metric::ALL.into_iter().zip(tally).filter(|(_, n)| **n > 0).map(|(m, n)| (key.to_string(), m, *n))
            })
            .collect::<Vec<_>>();
        let groups = if range.is_empty() { Vec::new() } else { fold_groups(counts) };
        Box::pin(std::future::ready(Ok(groups)))
    }

    fn flush(&self) -> StoreFuture<'_, ()> {
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::records::{Attempt, PostStatus};
    use chrono::TimeZone;
    use pingpost_core::checkpoint::Drop;
    use pingpost_core::ids::ContractId;
    use pingpost_core::money::Money;

    fn at(h: u32, m: u32) -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 11, 23, h, m, 0).unwrap()
    }

    /// The increments as `kind|key|metric=n` lines, sorted: readable expectations.
    fn check(increments: Vec<Increment>, expected: &[&str]) {
        let mut got: Vec<String> = increments
            .into_iter()
            .map(|i| format!("{}|{}|{}={}", i.by.as_str(), i.key, i.metric.as_str(), i.n))
            .collect();
        got.sort();
        let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(got, want);
    }

    fn facts() -> PingFacts {
        PingFacts::new(at(10, 30), &PartnerId::new("p1"), &VerticalId::new("auto"))
    }

    fn drop(contract: &str, buyer: &str, checkpoint: Checkpoint) -> Drop {
        Drop {
            contract: ContractId::new(contract),
            buyer: BuyerId::new(buyer),
            checkpoint,
            matched: None,
            prior_at: None,
        }
    }

    fn bid(buyer: &str) -> Bid {
        Bid {
            bid_id: format!("bid-{buyer}"),
            buyer: BuyerId::new(buyer),
            contract: ContractId::new(format!("c-{buyer}")),
            price: Money::from_minor(100),
            payout: Money::from_minor(90),
            token: None,
            repeat: false,
        }
    }

    #[test]
    fn a_metric_index_is_its_place_in_all() {
        for (n, m) in Metric::ALL.into_iter().enumerate() {
            assert_eq!(m.index(), n, "{m:?}");
        }
    }

    #[test]
    fn a_stopped_ping_counts_for_its_source_only() {
        let mut f = facts();
        f.stopped(Checkpoint::VerticalDuplicate);
        check(
            f.increments(),
            &[
                "partner|p1|pings=1",
                "partner|p1|vertical_duplicate=1",
                "vertical|auto|pings=1",
                "vertical|auto|vertical_duplicate=1",
            ],
        );
        let mut f = facts();
        f.stopped(Checkpoint::Suppressed);
        check(
            f.increments(),
            &["partner|p1|pings=1", "partner|p1|suppressed=1", "vertical|auto|pings=1", "vertical|auto|suppressed=1"],
        );
    }

    #[test]
    fn drops_and_bids_count_for_the_source_and_the_contracts_buyer() {
        let mut f = facts();
        let s = Screening {
            candidates: Vec::new(),
            drops: vec![
                drop("c1", "b1", Checkpoint::InAuctionDuplicate),
                drop("c2", "b1", Checkpoint::InAuctionDuplicate),
                drop("c3", "b2", Checkpoint::ContractDuplicate),
                drop("c4", "b3", Checkpoint::DqDuplicate),
            ],
            ineligible: Vec::new(),
            repeats: Vec::new(),
        };
        f.screened(&s);
        // b1's kept contract bid; b4 is a buyer that only bid (its contract was a candidate).
        f.bids(&[bid("b1"), bid("b4")]);
        check(
            f.increments(),
            &[
                "partner|p1|pings=1",
                "partner|p1|in_auction_duplicate=2",
                "partner|p1|contract_duplicate=1",
                "partner|p1|dq_duplicate=1",
                "partner|p1|bids=2",
                "vertical|auto|pings=1",
                "vertical|auto|in_auction_duplicate=2",
                "vertical|auto|contract_duplicate=1",
                "vertical|auto|dq_duplicate=1",
                "vertical|auto|bids=2",
                "buyer|b1|pings=1",
                "buyer|b1|in_auction_duplicate=2",
                "buyer|b1|bids=1",
                "buyer|b2|pings=1",
                "buyer|b2|contract_duplicate=1",
                "buyer|b3|pings=1",
                "buyer|b3|dq_duplicate=1",
                "buyer|b4|pings=1",
                "buyer|b4|bids=1",
            ],
        );
        assert!(f.increments().iter().all(|i| i.hour == Hour::of(at(10, 0))));
    }

    #[test]
    fn a_post_counts_sales_rollbacks_and_contract_duplicates_caught_at_the_reservation() {
        let attempt = |buyer: &str, outcome, reason: Option<&str>| Attempt {
            bid_id: format!("bid-{buyer}"),
            buyer: BuyerId::new(buyer),
            contract: ContractId::new(format!("c-{buyer}")),
            outcome,
            reason: reason.map(String::from),
            buyer_reason: None,
            repeat: false,
        };
        let answer = PostAnswer {
            ping_id: "x".into(),
            offer: pingpost_core::ids::OfferId::new("o1"),
            status: PostStatus::Sold,
            sales: Vec::new(),
            attempts: vec![
                attempt("b1", AttemptOutcome::Duplicate, None),
                attempt("b2", AttemptOutcome::Skipped, Some("contract_duplicate")),
                attempt("b3", AttemptOutcome::Skipped, Some("cap_reached")),
                attempt("b4", AttemptOutcome::Rejected, None),
                attempt("b5", AttemptOutcome::Error, Some("timeout")),
                attempt("b6", AttemptOutcome::Accepted, None),
            ],
            total_price: Money::ZERO,
            total_payout: Money::ZERO,
            test: false,
        };
        let (p, v) = (PartnerId::new("p1"), VerticalId::new("auto"));
        let facts = PostFacts { at: at(11, 59), partner: &p, vertical: &v, answer: &answer };
        check(
            facts.increments(),
            &[
                "partner|p1|rollbacks=1",
                "partner|p1|contract_duplicate=1",
                "partner|p1|sales=1",
                "vertical|auto|rollbacks=1",
                "vertical|auto|contract_duplicate=1",
                "vertical|auto|sales=1",
                "buyer|b1|rollbacks=1",
                "buyer|b2|contract_duplicate=1",
                "buyer|b6|sales=1",
            ],
        );
    }

    #[test]
    fn a_range_covers_every_whole_hour_it_overlaps() {
        let hours = |s, u| {
            let r = Hour::overlapping(s, u);
            if r.is_empty() {
                Vec::new()
            } else {
                vec![Hour(*r.start()).label(), Hour(*r.end()).label()]
            }
        };
        assert_eq!(hours(at(10, 0), at(11, 0)), ["2026112310", "2026112310"]);
        assert_eq!(hours(at(10, 59), at(11, 1)), ["2026112310", "2026112311"]);
        assert_eq!(hours(at(10, 0), at(10, 0)), Vec::<String>::new());
        assert_eq!(hours(at(11, 0), at(10, 0)), Vec::<String>::new());
    }

    fn inc(hour: Timestamp, by: GroupBy, key: &str, metric: Metric, n: u64) -> Increment {
        Increment { hour: Hour::of(hour), by, key: key.into(), metric, n }
    }

    #[tokio::test]
    async fn memory_stats_sum_hours_in_range_per_group_sorted_by_key() {
        let s = MemoryStats::default();
        s.record(vec![
            inc(at(9, 0), GroupBy::Partner, "p2", Metric::Pings, 5),
            inc(at(10, 0), GroupBy::Partner, "p2", Metric::Pings, 1),
            inc(at(10, 0), GroupBy::Partner, "p1", Metric::Pings, 2),
            inc(at(11, 0), GroupBy::Partner, "p1", Metric::Bids, 3),
            inc(at(11, 0), GroupBy::Buyer, "b1", Metric::Sales, 1),
        ]);
        s.record(vec![inc(at(10, 0), GroupBy::Partner, "p1", Metric::Pings, 1)]);
        let got = s.query(GroupBy::Partner, at(10, 15), at(11, 1)).await.unwrap();
        let mut p1 = StatsGroup::new("p1");
        p1.pings = 3;
        p1.bids = 3;
        let mut p2 = StatsGroup::new("p2");
        p2.pings = 1;
        assert_eq!(got, [p1, p2]);
        assert_eq!(s.query(GroupBy::Buyer, at(10, 0), at(11, 0)).await.unwrap(), []);
        assert_eq!(s.query(GroupBy::Vertical, at(0, 0), at(23, 0)).await.unwrap(), []);
    }

    #[tokio::test]
    async fn memory_stats_forget_hours_past_the_retention() {
        let s = MemoryStats::new(chrono::Duration::hours(2));
        s.record(vec![inc(at(8, 0), GroupBy::Vertical, "auto", Metric::Pings, 1)]);
        s.record(vec![inc(at(9, 0), GroupBy::Vertical, "auto", Metric::Pings, 1)]);
        s.record(vec![inc(at(10, 0), GroupBy::Vertical, "auto", Metric::Pings, 1)]);
        let got = s.query(GroupBy::Vertical, at(0, 0), at(23, 0)).await.unwrap();
        assert_eq!(got.iter().map(|g| g.pings).collect::<Vec<_>>(), [2]);
        assert_eq!(s.hours.lock().unwrap().len(), 2);
    }
}
