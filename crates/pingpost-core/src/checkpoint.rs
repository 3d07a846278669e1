//! The checkpoints of a ping, as pure decisions.
//!
//! Checkpoints 1 and 2 (suppression, vertical dedup) are decided by the store atomically with
//! the vertical reservation; their outcome arrives here as [`Checkpoint`] values only for the
//! audit log. Checkpoints 3-5 are decided here, over a snapshot the store returned in the
//! same round trips: the consumer's sale and DQ history and the current cap counters.
//!
//! The order is fixed and each dropped contract is reported with the first checkpoint that
//! dropped it: (1) suppression, (2) vertical dedup, (3) in-auction buyer dedup,
//! (4) per-contract window, (5) DQ dedup; and after delivery, (6) the buyer's "duplicate"
//! answer.
//!
//! Contracts that are paused, filtered out, out of schedule, capped or out of balance are
//! not candidates at all: they are "ineligible", not dedup hits.

use crate::caps::{sale_debits, Debit};
use crate::config::{Buyer, Contract, ContractStatus, Planned};
use crate::filter::matches_all;
use crate::identity::IdentKind;
use crate::ids::{BuyerId, ContractId};
use crate::lead::LeadFields;
use crate::window::WindowDays;
use crate::Timestamp;
use rustc_hash::FxHashMap;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Checkpoint {
    Suppressed,
    VerticalDuplicate,
    InAuctionDuplicate,
    ContractDuplicate,
    DqDuplicate,
    /// After delivery: the buyer answered "duplicate" and the sale was rolled back.
    PostDuplicate,
    /// Not a dedup hit: a test lead left the contract out because its buyer has no
    /// `sandbox_url` for a call the contract needs (bid, DQ or post).
    NoSandbox,
    /// Checkpoint 2 let the consumer through as a repeat (its last submission on the vertical
    /// is older than the vertical's `repeat_after_days`) and this contract takes no repeats.
    VerticalRepeat,
    /// Not a drop: the contract bids on the consumer as a repeat, at its repeat price (its
    /// buyer bought the consumer inside its window but longer ago than its `repeat.after_days`,
    /// or the ping is a vertical repeat).
    ContractRepeat,
}

impl Checkpoint {
    pub const ALL: [Checkpoint; 9] = [
        Checkpoint::Suppressed,
        Checkpoint::VerticalDuplicate,
        Checkpoint::InAuctionDuplicate,
        Checkpoint::ContractDuplicate,
        Checkpoint::DqDuplicate,
        Checkpoint::PostDuplicate,
        Checkpoint::NoSandbox,
        Checkpoint::VerticalRepeat,
        Checkpoint::ContractRepeat,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Checkpoint::Suppressed => "suppressed",
            Checkpoint::VerticalDuplicate => "vertical_duplicate",
            Checkpoint::InAuctionDuplicate => "in_auction_duplicate",
            Checkpoint::ContractDuplicate => "contract_duplicate",
            Checkpoint::DqDuplicate => "dq_duplicate",
            Checkpoint::PostDuplicate => "post_duplicate",
            Checkpoint::NoSandbox => "no_sandbox",
            Checkpoint::VerticalRepeat => "vertical_repeat",
            Checkpoint::ContractRepeat => "contract_repeat",
        }
    }
}

/// Whether a consumer-buyer sale mark is a sale in flight, a sale, or a sale the buyer
/// answered "duplicate" to (which counts as the buyer having the consumer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SaleState {
    Reserved,
    Sold,
    Duplicate,
}

impl SaleState {
    /// Whether a sale mark in this state from `at` means the buyer has the consumer for a
    /// contract with `window`. A reservation whose lease still runs always does (it may
    /// become a sale any moment, whatever the window); one whose lease ran out is a sale of
    /// unknown outcome (its engine died, or its settlement was lost, mid-delivery) and counts
    /// like a sale from when it was reserved; a sale or a "duplicate" answer counts inside the
    /// window. So no mark outlives its window plus its lease. The one statement of this rule,
    /// for checkpoint 4 and for every store's sale reservation.
    pub fn counts_as_bought(
        self,
        at: Timestamp,
        lease_until: Option<Timestamp>,
        window: WindowDays,
        now: Timestamp,
    ) -> bool {
        let in_flight = self == SaleState::Reserved && lease_until.is_none_or(|lease| now < lease);
        in_flight || window.contains(at, now)
    }
}

/// A consumer's last submission on a vertical, as a store keeps it. A submission is
/// *pending* until its ping is answered (`pending_until` is the end of that lease) and then
/// confirmed. A pending submission that passed as a repeat keeps the confirmed one it
/// replaced (`replaced`), which stands again if the ping never confirms it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Submission {
    pub at: Timestamp,
    pub pending_until: Option<Timestamp>,
    pub replaced: Option<Timestamp>,
}

impl Submission {
    /// The confirmed submission this mark stands for at `now`, whatever its age: its own once
    /// confirmed; while pending, none (another ping of the consumer is in flight, see
    /// [`vertical_verdict`]); once its lease ran out unconfirmed, the one it replaced.
    pub fn standing(&self, now: Timestamp) -> Option<Timestamp> {
        match self.pending_until {
            None => Some(self.at),
            Some(lease) if now < lease => None,
            Some(_) => self.replaced,
        }
    }
}

/// What a consumer's last submission on a vertical makes of a new ping of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerticalVerdict {
    /// No submission counts: the ping is new on the vertical.
    New,
    /// Submitted at `prior_at`, inside the window but at least the vertical's
    /// `repeat_after_days` ago: the ping goes on as a repeat.
    Repeat { prior_at: Timestamp },
    /// Submitted at `prior_at`, inside the window (or another ping of it is in flight).
    Duplicate { prior_at: Timestamp },
}

/// What `last` makes of a new ping of the consumer on a vertical with `window` and
/// `repeat_after`. A pending submission counts only while its lease runs, so a ping that
/// failed, or whose engine died, never turns its own retry away for longer than the lease
/// (the confirmed submission it replaced counts again); one still running is another ping of
/// the consumer in flight, a duplicate whatever its age. A confirmed one counts for the whole
/// window, as a repeat once it is `repeat_after` old. The one statement of this rule: the
/// embedded store calls it, and Redis's admission is given its thresholds
/// ([`WindowDays::counts_after`] of both windows).
pub fn vertical_verdict(
    last: &Submission,
    window: WindowDays,
    repeat_after: Option<WindowDays>,
    now: Timestamp,
) -> VerticalVerdict {
    if last.pending_until.is_some_and(|lease| now < lease) {
        return VerticalVerdict::Duplicate { prior_at: last.at };
    }
    match last.standing(now) {
        Some(at) if window.contains(at, now) => {
            if repeat_after.is_some_and(|r| !r.contains(at, now)) {
                VerticalVerdict::Repeat { prior_at: at }
            } else {
                VerticalVerdict::Duplicate { prior_at: at }
            }
        }
        _ => VerticalVerdict::New,
    }
}

/// A buyer's prior purchase of (or reservation on) this consumer, found by one identifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaleMark {
    pub buyer: BuyerId,
    pub matched: IdentKind,
    pub at: Timestamp,
    pub state: SaleState,
    /// Until when a reservation in flight holds the consumer (`None` once settled).
    pub lease_until: Option<Timestamp>,
}

/// A buyer's prior disqualification of this consumer, found by one identifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DqMark {
    pub buyer: BuyerId,
    pub matched: IdentKind,
    pub at: Timestamp,
}

/// What the store knows of a consumer, for checkpoints 4 and 5.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsumerHistory {
    pub sales: Vec<SaleMark>,
    pub dq: Vec<DqMark>,
}

impl ConsumerHistory {
    /// The most recent sale mark by which `buyer` has the consumer for `window`.
    pub fn sale_within(&self, buyer: &BuyerId, window: WindowDays, now: Timestamp) -> Option<&SaleMark> {
        self.sales
            .iter()
            .filter(|m| &m.buyer == buyer && m.state.counts_as_bought(m.at, m.lease_until, window, now))
            .max_by_key(|m| m.at)
    }

    pub fn dq_within(&self, buyer: &BuyerId, window: WindowDays, now: Timestamp) -> Option<&DqMark> {
        self.dq.iter().filter(|m| &m.buyer == buyer && window.contains(m.at, now)).max_by_key(|m| m.at)
    }
}

/// Why a contract was not a candidate at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ineligible {
    Paused,
    Filtered,
    OutOfSchedule,
    CapReached,
}

/// A contract dropped by a dedup checkpoint, for the audit log; at
/// [`Checkpoint::ContractRepeat`], a contract kept as a repeat (a hit, not a drop).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drop {
    pub contract: ContractId,
    pub buyer: BuyerId,
    pub checkpoint: Checkpoint,
    pub matched: Option<IdentKind>,
    pub prior_at: Option<Timestamp>,
}

/// A contract that passed filters and schedule, with the debits a sale on it would take.
#[derive(Clone, Debug)]
pub struct Eligible {
    pub contract: Arc<Contract>,
    pub buyer: Arc<Buyer>,
    pub debits: Vec<Debit>,
}

/// A contract still in the auction after checkpoint 5 (its DQ question, if any, still to ask).
#[derive(Clone, Debug)]
pub struct Candidate {
    pub contract: Arc<Contract>,
    pub buyer: Arc<Buyer>,
    /// It bids on the consumer as a repeat, at its `repeat` price.
    pub repeat: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Screening {
    pub candidates: Vec<Candidate>,
    pub drops: Vec<Drop>,
    /// The candidates kept as repeats, as audit hits ([`Checkpoint::ContractRepeat`]).
    pub repeats: Vec<Drop>,
    pub ineligible: Vec<(ContractId, Ineligible)>,
}

/// Checkpoint 4 for one contract: the buyer's purchases of the consumer inside the contract's
/// window drop it, unless its `repeat` terms take the consumer as a repeat — its last purchase
/// at least `after` old. On a vertical repeat (`vertical_repeat`: checkpoint 2's match and the
/// consumer's last submission) only a contract with `repeat` terms bids, as a repeat.
fn checkpoint_4(
    c: &Contract,
    history: &ConsumerHistory,
    vertical_repeat: Option<(IdentKind, Timestamp)>,
    now: Timestamp,
) -> Result<bool, (Checkpoint, Option<IdentKind>, Option<Timestamp>)> {
    let bought = c.dedup.enabled.then(|| history.sale_within(&c.buyer, c.dedup.window, now)).flatten();
    let prior = match (bought, vertical_repeat) {
        (Some(m), _) => (Checkpoint::ContractDuplicate, m.matched, m.at),
        (None, Some((matched, at))) => (Checkpoint::VerticalRepeat, matched, at),
        (None, None) => return Ok(false),
    };
    let Some(terms) = &c.repeat else { return Err((prior.0, Some(prior.1), Some(prior.2))) };
    match history.sale_within(&c.buyer, terms.after, now) {
        Some(recent) => Err((Checkpoint::ContractDuplicate, Some(recent.matched), Some(recent.at))),
        None => Ok(true),
    }
}

/// Step one, before any store read: which contracts could take this lead now, and the
/// counters their caps depend on.
pub fn eligible(
    contracts: &[Planned],
    fields: &LeadFields,
    now: Timestamp,
) -> (Vec<Eligible>, Vec<(ContractId, Ineligible)>) {
    let mut out = Vec::with_capacity(contracts.len());
    let mut ineligible = Vec::new();
    for Planned { contract: c, buyer } in contracts {
        let buyer = match buyer {
            Some(b) if c.status == ContractStatus::Active => b,
            _ => {
                ineligible.push((c.id.clone(), Ineligible::Paused));
                continue;
            }
        };
        if !matches_all(&c.filters, fields) {
            ineligible.push((c.id.clone(), Ineligible::Filtered));
            continue;
        }
        if c.schedule.as_ref().is_some_and(|s| !s.is_open(now)) {
            ineligible.push((c.id.clone(), Ineligible::OutOfSchedule));
            continue;
        }
        let debits = sale_debits(c, buyer, c.pricing.ranking_price(), now);
        out.push(Eligible { contract: Arc::clone(c), buyer: Arc::clone(buyer), debits });
    }
    (out, ineligible)
}

/// The distinct counter keys the eligible contracts depend on, to read in one store call.
pub fn counter_keys(eligible: &[Eligible]) -> Vec<String> {
    let mut keys: Vec<String> = eligible
        .iter()
        .flat_map(|e| e.debits.iter().flat_map(|d| std::iter::once(d.key.clone()).chain(d.credit_key.clone())))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// Step two, over the store's snapshot: caps and balance, then checkpoints 3, 4 and 5.
/// `vertical_repeat` is checkpoint 2's match when it let the consumer through as a repeat.
pub fn screen(
    eligible: Vec<Eligible>,
    counters: &HashMap<String, i64>,
    history: &ConsumerHistory,
    vertical_repeat: Option<(IdentKind, Timestamp)>,
    now: Timestamp,
) -> Screening {
    // Sized for the most each list can take: growing them showed in profiles.
    let mut s = Screening {
        candidates: Vec::with_capacity(eligible.len()),
        drops: Vec::with_capacity(eligible.len()),
        repeats: Vec::new(),
        ineligible: Vec::new(),
    };
    // Caps and balance decide candidacy.
    let mut candidates: Vec<Eligible> = Vec::with_capacity(eligible.len());
    for e in eligible {
        let value = |key: &str| counters.get(key).copied().unwrap_or(0);
        if e.debits.iter().all(|d| d.fits(value(&d.key), d.credit_key.as_deref().map_or(0, value))) {
            candidates.push(e);
        } else {
            s.ineligible.push((e.contract.id.clone(), Ineligible::CapReached));
        }
    }

    // 3. In-auction buyer dedup: one contract per buyer, the best-priced (ties: lowest id).
    // Keyed by the buyer's place in memory rather than its id: within one configuration a
    // buyer is one `Arc` (`Planned` resolves every contract's buyer from its one map), and
    // hashing an address is one multiplication where hashing ids showed in profiles.
    let mut best: FxHashMap<*const Buyer, &Eligible> =
        FxHashMap::with_capacity_and_hasher(candidates.len(), Default::default());
    for e in &candidates {
        let slot = best.entry(Arc::as_ptr(&e.buyer)).or_insert(e);
        let better = (e.contract.pricing.ranking_price(), std::cmp::Reverse(&e.contract.id))
            > (slot.contract.pricing.ranking_price(), std::cmp::Reverse(&slot.contract.id));
        if better {
            *slot = e;
        }
    }
    let mut kept = Vec::with_capacity(best.len());
    for e in &candidates {
        let winner = best.get(&Arc::as_ptr(&e.buyer)).is_some_and(|w| w.contract.id == e.contract.id);
        if winner {
            kept.push(e);
        } else {
            s.drops.push(Drop {
                contract: e.contract.id.clone(),
                buyer: e.contract.buyer.clone(),
                checkpoint: Checkpoint::InAuctionDuplicate,
                matched: None,
                prior_at: None,
            });
        }
    }

    for e in kept {
        let c = &e.contract;
        // 4. Per-contract window against the buyer's purchases (and "duplicate" answers).
        let hit = |checkpoint, matched, prior_at| Drop {
            contract: c.id.clone(),
            buyer: c.buyer.clone(),
            checkpoint,
            matched,
            prior_at,
        };
        let repeat = match checkpoint_4(c, history, vertical_repeat, now) {
            Ok(repeat) => repeat,
            Err((checkpoint, matched, prior_at)) => {
                s.drops.push(hit(checkpoint, matched, prior_at));
                continue;
            }
        };
        // 5. DQ dedup: a buyer that disqualified this consumer is not asked again.
        if let Some(dq) = &c.dq {
            if let Some(m) = history.dq_within(&c.buyer, dq.window, now) {
                s.drops.push(Drop {
                    contract: c.id.clone(),
                    buyer: c.buyer.clone(),
                    checkpoint: Checkpoint::DqDuplicate,
                    matched: Some(m.matched),
                    prior_at: Some(m.at),
                });
                continue;
            }
        }
        if repeat {
            let prior = history.sale_within(&c.buyer, c.dedup.window, now).map(|m| (m.matched, m.at));
            let (matched, prior_at) = prior.or(vertical_repeat).unzip();
            s.repeats.push(hit(Checkpoint::ContractRepeat, matched, prior_at));
        }
        s.candidates.push(Candidate { contract: Arc::clone(c), buyer: Arc::clone(&e.buyer), repeat });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{buyer, contract};
    use crate::config::{DqSettings, Pricing};
    use crate::money::Money;
    use crate::window::WindowDays;
    use chrono::{Duration, TimeZone};
    use std::collections::BTreeMap;

    fn now() -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    fn buyers(ids: &[&str]) -> BTreeMap<BuyerId, Arc<Buyer>> {
        ids.iter().map(|b| (BuyerId::new(*b), Arc::new(buyer(b)))).collect()
    }

    fn priced(id: &str, b: &str, cents: i64) -> Arc<Contract> {
        let mut c = contract(id, b, "o1");
        c.pricing = Pricing::Fixed(Money::from_minor(cents));
        Arc::new(c)
    }

    /// Runs the pipeline and returns (candidate ids, drops as (contract, checkpoint)).
    fn run(contracts: &[Arc<Contract>], history: &ConsumerHistory) -> (Vec<String>, Vec<(String, Checkpoint)>) {
        let (el, _) =
            eligible(&crate::config::plan(contracts, &buyers(&["b1", "b2", "b3"])), &LeadFields::new(), now());
        let s = screen(el, &HashMap::new(), history, None, now());
        (
            s.candidates.iter().map(|c| c.contract.id.to_string()).collect(),
            s.drops.iter().map(|d| (d.contract.to_string(), d.checkpoint)).collect(),
        )
    }

    fn sale(b: &str, kind: IdentKind, age: Duration, state: SaleState) -> SaleMark {
        let lease_until = (state == SaleState::Reserved).then(|| now() + Duration::seconds(30));
        SaleMark { buyer: BuyerId::new(b), matched: kind, at: now() - age, state, lease_until }
    }

    #[test]
    fn two_contracts_of_one_buyer_keep_the_best_priced() {
        let (kept, drops) = run(
            &[priced("c1", "b1", 1000), priced("c2", "b1", 2000), priced("c3", "b2", 500)],
            &ConsumerHistory::default(),
        );
        assert_eq!(kept, ["c2", "c3"]);
        assert_eq!(drops, [("c1".to_string(), Checkpoint::InAuctionDuplicate)]);
    }

    #[test]
    fn equal_prices_of_one_buyer_keep_the_lowest_contract_id() {
        let (kept, drops) = run(&[priced("c9", "b1", 1000), priced("c2", "b1", 1000)], &ConsumerHistory::default());
        assert_eq!(kept, ["c2"]);
        assert_eq!(drops, [("c9".to_string(), Checkpoint::InAuctionDuplicate)]);
    }

    #[test]
    fn contract_window_drops_only_the_buyer_that_bought_inside_it() {
        let history = ConsumerHistory {
            sales: vec![sale("b1", IdentKind::Phone, Duration::days(10), SaleState::Sold)],
            dq: vec![],
        };
        let (kept, drops) = run(&[priced("c1", "b1", 1000), priced("c2", "b2", 1000)], &history);
        assert_eq!(kept, ["c2"]);
        assert_eq!(drops, [("c1".to_string(), Checkpoint::ContractDuplicate)]);
    }

    #[test]
    fn contract_window_edge_is_half_open() {
        let just_inside = ConsumerHistory {
            sales: vec![sale("b1", IdentKind::Email, Duration::seconds(30 * 86_400 - 1), SaleState::Sold)],
            dq: vec![],
        };
        assert_eq!(run(&[priced("c1", "b1", 1000)], &just_inside).0.len(), 0);
        let just_outside = ConsumerHistory {
            sales: vec![sale("b1", IdentKind::Email, Duration::seconds(30 * 86_400), SaleState::Sold)],
            dq: vec![],
        };
        assert_eq!(run(&[priced("c1", "b1", 1000)], &just_outside).0, ["c1"]);
    }

    #[test]
    fn a_duplicate_answer_and_a_reservation_in_flight_count_as_bought() {
        for state in [SaleState::Duplicate, SaleState::Reserved] {
            let history =
                ConsumerHistory { sales: vec![sale("b1", IdentKind::Email, Duration::days(1), state)], dq: vec![] };
            assert_eq!(
                run(&[priced("c1", "b1", 1000)], &history).1,
                [("c1".to_string(), Checkpoint::ContractDuplicate)]
            );
        }
    }

    /// (state, age of the mark, lease left (None = settled), window days, counts?)
    fn check_bought(state: SaleState, age: Duration, lease_left: Option<Duration>, window: i64, expected: bool) {
        let w = WindowDays::new(window).unwrap();
        let lease = lease_left.map(|l| now() + l);
        assert_eq!(
            state.counts_as_bought(now() - age, lease, w, now()),
            expected,
            "{state:?} aged {age:?}, lease left {lease_left:?}, window {window}"
        );
    }

    #[test]
    fn a_reservation_counts_while_its_lease_runs_then_like_a_sale_from_when_it_was_reserved() {
        let (day, sec) = (Duration::days(1), Duration::seconds(1));
        check_bought(SaleState::Reserved, day * 40, Some(sec), 30, true); // in flight: whatever the window
        check_bought(SaleState::Reserved, day * 40, Some(-sec), 30, false); // lapsed, and past the window
        check_bought(SaleState::Reserved, day * 29, Some(-sec), 30, true); // lapsed: unconfirmed sale
        check_bought(SaleState::Reserved, day * 30, Some(Duration::zero()), 30, false); // lease ends now
        check_bought(SaleState::Sold, day * 30 - sec, None, 30, true);
        check_bought(SaleState::Sold, day * 30, None, 30, false);
        check_bought(SaleState::Duplicate, day, None, 1, false);
    }

    #[test]
    fn a_pending_vertical_submission_counts_only_while_its_lease_runs_and_an_old_one_is_a_repeat() {
        use VerticalVerdict::{Duplicate, New, Repeat};
        let w = WindowDays::new(30).unwrap();
        let r14 = WindowDays::new(14).ok();
        let (day, sec) = (Duration::days(1), Duration::seconds(1));
        let ago = |d: Duration| now() - d;
        let sub = |age: Duration, lease: Option<Duration>, replaced: Option<Duration>| Submission {
            at: ago(age),
            pending_until: lease.map(|l| now() + l),
            replaced: replaced.map(ago),
        };
        // (submission, repeat_after, verdict)
        let table = [
            (sub(sec * 10, Some(sec * 50), None), None, Duplicate { prior_at: ago(sec * 10) }),
            (sub(sec * 10, Some(Duration::zero()), None), None, New), // lapsed: its ping never answered
            (sub(sec * 10, None, None), None, Duplicate { prior_at: ago(sec * 10) }), // confirmed
            (sub(day * 30, None, None), None, New),                   // past the window
            (sub(day * 30 - sec, None, None), None, Duplicate { prior_at: ago(day * 30 - sec) }),
            (sub(day * 31, Some(sec), None), None, Duplicate { prior_at: ago(day * 31) }), // in flight
            // Repeats: a confirmed submission at least repeat_after old, inside the window.
            (sub(day * 14, None, None), r14, Repeat { prior_at: ago(day * 14) }),
            (sub(day * 14 - sec, None, None), r14, Duplicate { prior_at: ago(day * 14 - sec) }),
            (sub(day * 29, None, None), r14, Repeat { prior_at: ago(day * 29) }),
            (sub(day * 30, None, None), r14, New),
            // A repeat's ping in flight turns another ping away, however old what it replaced.
            (sub(sec, Some(sec * 50), Some(day * 20)), r14, Duplicate { prior_at: ago(sec) }),
            // A repeat's ping that never confirmed: the submission it replaced stands again.
            (sub(sec, Some(-sec), Some(day * 20)), r14, Repeat { prior_at: ago(day * 20) }),
            (sub(sec, Some(-sec), Some(day * 20)), None, Duplicate { prior_at: ago(day * 20) }),
            (sub(sec, Some(-sec), Some(day * 40)), r14, New),
        ];
        for (last, repeat_after, want) in table {
            assert_eq!(vertical_verdict(&last, w, repeat_after, now()), want, "{last:?} repeat after {repeat_after:?}");
        }
    }

    #[test]
    fn dedup_disabled_contract_is_not_dropped_by_its_window() {
        let mut c = contract("c1", "b1", "o1");
        c.dedup.enabled = false;
        let history = ConsumerHistory {
            sales: vec![sale("b1", IdentKind::Email, Duration::days(1), SaleState::Sold)],
            dq: vec![],
        };
        assert_eq!(run(&[Arc::new(c)], &history).0, ["c1"]);
    }

    #[test]
    fn dq_inside_its_window_drops_without_asking_again() {
        let mut c = contract("c1", "b1", "o1");
        c.dq = Some(DqSettings {
            url: Some("http://127.0.0.1:1/dq".into()),
            window: WindowDays::new(7).unwrap(),
            timeout_ms: 80,
        });
        let c = Arc::new(c);
        let recent = ConsumerHistory {
            sales: vec![],
            dq: vec![DqMark { buyer: BuyerId::new("b1"), matched: IdentKind::Email, at: now() - Duration::days(6) }],
        };
        assert_eq!(run(&[Arc::clone(&c)], &recent).1, [("c1".to_string(), Checkpoint::DqDuplicate)]);
        let old = ConsumerHistory {
            sales: vec![],
            dq: vec![DqMark { buyer: BuyerId::new("b1"), matched: IdentKind::Email, at: now() - Duration::days(7) }],
        };
        assert_eq!(run(&[c], &old).0, ["c1"]);
    }

    #[test]
    fn the_first_checkpoint_that_drops_a_contract_is_the_one_reported() {
        // c1 is bought inside its window AND disqualified: checkpoint 4 comes first.
        let mut c = contract("c1", "b1", "o1");
        c.dq = Some(DqSettings {
            url: Some("http://127.0.0.1:1/dq".into()),
            window: WindowDays::new(7).unwrap(),
            timeout_ms: 80,
        });
        let history = ConsumerHistory {
            sales: vec![sale("b1", IdentKind::Email, Duration::days(1), SaleState::Sold)],
            dq: vec![DqMark { buyer: BuyerId::new("b1"), matched: IdentKind::Email, at: now() - Duration::days(1) }],
        };
        assert_eq!(run(&[Arc::new(c)], &history).1, [("c1".to_string(), Checkpoint::ContractDuplicate)]);
    }

    /// A contract of `b` at 10.00, window 30 days, taking repeats after 14 days at 40 %
    /// (`repeat`) or not.
    fn repeat_contract(id: &str, b: &str, repeat: bool) -> Arc<Contract> {
        let mut c = contract(id, b, "o1");
        c.pricing = Pricing::Fixed(Money::from_minor(1000));
        c.dedup.window = WindowDays::new(30).unwrap();
        c.repeat = repeat.then(|| crate::repeat::RepeatTerms {
            after: WindowDays::new(14).unwrap(),
            price: crate::repeat::RepeatPrice::Percent(4_000),
        });
        Arc::new(c)
    }

    #[test]
    fn a_contract_with_repeat_terms_bids_as_a_repeat_on_a_consumer_bought_long_enough_ago() {
        let (day, sec) = (Duration::days(1), Duration::seconds(1));
        let sold = |age| sale("b1", IdentKind::Email, age, SaleState::Sold);
        let vertical = Some((IdentKind::Phone, now() - day * 20));
        // (takes repeats, the buyer's marks, vertical repeat, (candidate's repeat | checkpoint))
        type Row = (bool, Vec<SaleMark>, Option<(IdentKind, Timestamp)>, Result<bool, Checkpoint>);
        let table: Vec<Row> = vec![
            (true, vec![], None, Ok(false)),
            (true, vec![sold(day * 20)], None, Ok(true)),
            (true, vec![sold(day * 14)], None, Ok(true)), // exactly after_days: a repeat
            (true, vec![sold(day * 14 - sec)], None, Err(Checkpoint::ContractDuplicate)),
            (true, vec![sold(day * 30)], None, Ok(false)), // past the window: a new lead
            // A repeat sold 10 days ago: one repeat per 14 days.
            (true, vec![sold(day * 25), sold(day * 10)], None, Err(Checkpoint::ContractDuplicate)),
            // A reservation in flight counts whatever its age.
            (
                true,
                vec![sale("b1", IdentKind::Email, day * 20, SaleState::Reserved)],
                None,
                Err(Checkpoint::ContractDuplicate),
            ),
            (true, vec![sale("b1", IdentKind::Email, day * 20, SaleState::Duplicate)], None, Ok(true)),
            (false, vec![sold(day * 20)], None, Err(Checkpoint::ContractDuplicate)),
            (false, vec![], vertical, Err(Checkpoint::VerticalRepeat)),
            (true, vec![], vertical, Ok(true)),
            (true, vec![sold(day * 5)], vertical, Err(Checkpoint::ContractDuplicate)),
            (false, vec![sold(day * 20)], vertical, Err(Checkpoint::ContractDuplicate)),
        ];
        for (takes, sales, vertical_repeat, want) in table {
            let c = repeat_contract("c1", "b1", takes);
            let (el, _) = eligible(&crate::config::plan(&[c], &buyers(&["b1"])), &LeadFields::new(), now());
            let history = ConsumerHistory { sales: sales.clone(), dq: vec![] };
            let s = screen(el, &HashMap::new(), &history, vertical_repeat, now());
            let got = match (s.candidates.first(), s.drops.first()) {
                (Some(c), None) => Ok(c.repeat),
                (None, Some(d)) => Err(d.checkpoint),
                _ => panic!("one candidate or one drop: {s:?}"),
            };
            assert_eq!(got, want, "takes repeats {takes}, marks {sales:?}, vertical {vertical_repeat:?}");
            let hits: Vec<Checkpoint> = s.repeats.iter().map(|h| h.checkpoint).collect();
            assert_eq!(hits, if want == Ok(true) { vec![Checkpoint::ContractRepeat] } else { vec![] });
        }
    }

    #[test]
    fn capped_contracts_are_not_candidates() {
        let mut c = contract("c1", "b1", "o1");
        c.caps.daily = Some(3);
        let (el, _) = eligible(&crate::config::plan(&[Arc::new(c)], &buyers(&["b1"])), &LeadFields::new(), now());
        let keys = counter_keys(&el);
        let full: HashMap<String, i64> = keys.iter().map(|k| (k.clone(), 3)).collect();
        let s = screen(el.clone(), &full, &ConsumerHistory::default(), None, now());
        assert!(s.candidates.is_empty());
        assert_eq!(s.ineligible, [(ContractId::new("c1"), Ineligible::CapReached)]);
        let room: HashMap<String, i64> = keys.iter().map(|k| (k.clone(), 2)).collect();
        assert_eq!(screen(el, &room, &ConsumerHistory::default(), None, now()).candidates.len(), 1);
    }
}
