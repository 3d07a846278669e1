//! The sale guarantees, checked over a whole store rather than over a test's own
//! bookkeeping: every store can render itself as a [`Snapshot`] (every consumer mark, ledger
//! entry and counter), and [`check`] states each guarantee of SPEC.md "Sale guarantees" as a
//! property of that snapshot. Fault-injection, crash and randomized tests end with it.

use crate::{LedgerState, SaleRecord};
use pingpost_core::checkpoint::SaleState;
use pingpost_core::identity::{Ident, Sha256Hex};
use pingpost_core::ids::{BuyerId, ContractId, OfferId, VerticalId};
use pingpost_core::window::WindowDays;
use pingpost_core::Timestamp;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// One vertical submission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerticalSnap {
    pub vertical: VerticalId,
    pub at: Timestamp,
    pub ping_id: String,
    pub pending_until: Option<Timestamp>,
    /// A pending repeat's: the confirmed submission it replaced.
    pub replaced: Option<Timestamp>,
}

/// One sale mark; `state` is `None` for the tombstone a released sale leaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarkSnap {
    pub sale_id: String,
    pub buyer: BuyerId,
    pub at: Timestamp,
    pub state: Option<SaleState>,
    pub lease_until: Option<Timestamp>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsumerSnap {
    pub suppressed_at: Option<Timestamp>,
    pub vertical: Vec<VerticalSnap>,
    pub marks: Vec<MarkSnap>,
    pub dq: Vec<(BuyerId, Timestamp)>,
}

/// What a ledger entry took from one counter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebitSnap {
    pub key: String,
    pub amount: i64,
    pub limit: i64,
    pub is_money: bool,
    /// The counter raising the limit (a buyer's top-ups and refunds).
    pub credit_key: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaleSnap {
    pub record: SaleRecord,
    /// The identifiers it was reserved under (the ping's).
    pub idents: Vec<Ident>,
    pub debits: Vec<DebitSnap>,
}

/// Everything a store holds about consumers, sales and counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub consumers: BTreeMap<Sha256Hex, ConsumerSnap>,
    pub sales: BTreeMap<String, SaleSnap>,
    pub counters: BTreeMap<String, i64>,
}

/// What the check needs from the configuration and the test.
pub struct Rules<'a> {
    /// A contract's dedup window (`None`: dedup disabled).
    pub window: &'a dyn Fn(&ContractId) -> Option<WindowDays>,
    /// How many standing sales a ping of the offer may have.
    pub slots: &'a dyn Fn(&OfferId) -> u16,
    /// Identifier hashes an operator erased during the run: their marks may be gone, and a
    /// buyer may buy them again.
    pub erased: &'a HashSet<Sha256Hex>,
    /// The check runs after a sweep at `now`: no reservation may still be past its lease.
    pub swept_at: Option<Timestamp>,
}

/// Every guarantee that does not hold, in words; empty when all hold.
pub fn check(s: &Snapshot, rules: &Rules<'_>) -> Vec<String> {
    let mut problems = Vec::new();
    one_consumer_one_buyer_one_window(s, rules, &mut problems);
    one_ping_its_slots(s, rules, &mut problems);
    marks_follow_the_ledger(s, rules, &mut problems);
    counters_are_exact(s, rules, &mut problems);
    crashes_are_bounded(s, rules, &mut problems);
    problems
}

/// Panics with every problem and the snapshot when a guarantee does not hold.
pub fn assert_holds(s: &Snapshot, rules: &Rules<'_>, context: &str) {
    let problems = check(s, rules);
    assert!(problems.is_empty(), "{context}: sale guarantees broken:\n- {}\n\nstore: {s:#?}", problems.join("\n- "));
}

/// Sales that count as the buyer having the consumer: standing ones, and rolled-back ones
/// (the buyer said it already had the consumer).
fn counts_as_bought(state: LedgerState) -> bool {
    state.is_standing() || state == LedgerState::RolledBack
}

/// One consumer, one buyer, one window: a buyer is never sold one consumer twice inside its
/// contract's window — except a repeat sale, which needs only its own `repeat_after` since the
/// buyer's previous sale (at most one repeat per `repeat_after`).
fn one_consumer_one_buyer_one_window(s: &Snapshot, rules: &Rules<'_>, problems: &mut Vec<String>) {
    let mut by_buyer: BTreeMap<&BuyerId, Vec<&SaleSnap>> = BTreeMap::new();
    for sale in s.sales.values().filter(|x| counts_as_bought(x.record.state)) {
        by_buyer.entry(&sale.record.buyer).or_default().push(sale);
    }
    for (buyer, mut sales) in by_buyer {
        sales.sort_by_key(|x| (x.record.reserved_at, x.record.sale_id.clone()));
        for (i, later) in sales.iter().enumerate() {
            if !later.record.state.is_standing() {
                continue;
            }
            let Some(window) = later.record.repeat_after.or_else(|| (rules.window)(&later.record.contract)) else {
                continue;
            };
            for earlier in &sales[..i] {
                // An erased identifier is a consumer the operator made the store forget: a
                // later sale by it alone is a new consumer as far as dedup may know.
                let shared = later
                    .idents
                    .iter()
                    .filter(|a| !rules.erased.contains(&a.hash))
                    .any(|a| earlier.idents.iter().any(|b| a.hash == b.hash));
                if shared && window.contains(earlier.record.reserved_at, later.record.reserved_at) {
                    problems.push(format!(
                        "buyer {buyer} sold one consumer twice inside {} days{}: {} ({:?}) then {} ({:?})",
                        window.days(),
                        if later.record.repeat_after.is_some() { " (a repeat's)" } else { "" },
                        earlier.record.sale_id,
                        earlier.record.state,
                        later.record.sale_id,
                        later.record.state
                    ));
                }
            }
        }
    }
}

/// One ping, its slots: a ping has at most its slots of standing sales, to distinct buyers.
fn one_ping_its_slots(s: &Snapshot, rules: &Rules<'_>, problems: &mut Vec<String>) {
    let mut by_ping: BTreeMap<&str, Vec<&SaleRecord>> = BTreeMap::new();
    for sale in s.sales.values().filter(|x| x.record.state.is_standing()) {
        by_ping.entry(&sale.record.ping_id).or_default().push(&sale.record);
    }
    for (ping, sales) in by_ping {
        let slots = usize::from((rules.slots)(&sales[0].offer));
        if sales.len() > slots {
            let ids: Vec<&str> = sales.iter().map(|r| r.sale_id.as_str()).collect();
            problems.push(format!("ping {ping} has {} standing sales for {slots} slots: {ids:?}", sales.len()));
        }
        let buyers: BTreeSet<&BuyerId> = sales.iter().map(|r| &r.buyer).collect();
        if buyers.len() < sales.len() {
            problems.push(format!("ping {ping} sold twice to one buyer"));
        }
    }
}

/// One consumer, one buyer, one window (continued): a sale is recorded under every identifier of its ping, in the state the
/// ledger says; a mark without a ledger entry can only be a reservation whose engine died
/// before the ledger step, and it carries a lease.
fn marks_follow_the_ledger(s: &Snapshot, rules: &Rules<'_>, problems: &mut Vec<String>) {
    for (sale_id, sale) in &s.sales {
        let r = &sale.record;
        for ident in &sale.idents {
            let mark = s.consumers.get(&ident.hash).and_then(|c| c.marks.iter().find(|m| &m.sale_id == sale_id));
            let expected: &[Option<SaleState>] = match r.state {
                LedgerState::Reserved => &[Some(SaleState::Reserved)],
                LedgerState::Sold => &[Some(SaleState::Sold)],
                // The sweep does not touch marks: a lapsed reservation mark reads as the
                // unconfirmed sale; a late settlement may have made it a sale.
                LedgerState::Unconfirmed => &[Some(SaleState::Reserved), Some(SaleState::Sold)],
                // A return leaves dedup as it was (an unconfirmed sale may be returned too).
                LedgerState::Returned => &[Some(SaleState::Reserved), Some(SaleState::Sold)],
                LedgerState::RolledBack => &[Some(SaleState::Duplicate)],
                LedgerState::Released => &[None],
            };
            match mark {
                Some(m) if !expected.contains(&m.state) => problems.push(format!(
                    "sale {sale_id} is {:?} in the ledger but its {:?} mark is {:?}",
                    r.state, ident.kind, m.state
                )),
                Some(m) if m.buyer != r.buyer => {
                    problems.push(format!("sale {sale_id}'s {:?} mark names buyer {}", ident.kind, m.buyer))
                }
                None if r.state != LedgerState::Released && !rules.erased.contains(&ident.hash) => problems
                    .push(format!("sale {sale_id} ({:?}) has no mark under the ping's {:?}", r.state, ident.kind)),
                _ => {}
            }
        }
    }
    for (hash, c) in &s.consumers {
        for m in &c.marks {
            if m.state == Some(SaleState::Reserved) && m.lease_until.is_none() {
                problems.push(format!("reservation mark {} has no lease: it would count for ever", m.sale_id));
            }
            let orphan = !s.sales.contains_key(&m.sale_id);
            if orphan && matches!(m.state, Some(SaleState::Sold | SaleState::Duplicate)) && !left(s, m, rules) {
                problems.push(format!("mark {} of {hash:?} is {:?} without a ledger entry", m.sale_id, m.state));
            }
        }
    }
}

/// Whether the settled sale behind mark `m` has left the store by the sweep the check follows,
/// as it may: a settled sale is kept at least [`SETTLED_KEPT`](crate::SETTLED_KEPT) after its
/// settlement (the mark's time), its marks for the retention.
fn left(s: &Snapshot, m: &MarkSnap, rules: &Rules<'_>) -> bool {
    !s.sales.contains_key(&m.sale_id)
        && matches!(m.state, Some(SaleState::Sold | SaleState::Duplicate))
        && rules.swept_at.is_some_and(|now| m.at + crate::SETTLED_KEPT <= now)
}

/// Caps and money: every counter is exactly what its standing sales took (each debit given
/// back exactly once), never below zero, never past its limit. Once sales have left the store
/// (settled marks without entries, old enough to), a counter that never expires (a buyer's
/// spent balance) may hold what they took too: it is then at least what the standing sales took.
fn counters_are_exact(s: &Snapshot, rules: &Rules<'_>, problems: &mut Vec<String>) {
    let sales_left = s.consumers.values().flat_map(|c| &c.marks).any(|m| left(s, m, rules));
    let mut expected: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    let mut credit_of: BTreeMap<&str, &str> = BTreeMap::new();
    for sale in s.sales.values() {
        for d in &sale.debits {
            if let Some(credit) = &d.credit_key {
                credit_of.insert(&d.key, credit);
            }
            let taken = match sale.record.state {
                LedgerState::Reserved | LedgerState::Unconfirmed => d.amount,
                // A return refunds through the credit: its debits stay taken.
                LedgerState::Sold | LedgerState::Returned if d.is_money => d.amount.min(sale.record.price.minor()),
                LedgerState::Sold | LedgerState::Returned => d.amount,
                LedgerState::Released | LedgerState::RolledBack => 0,
            };
            let e = expected.entry(&d.key).or_insert((0, i64::MIN));
            e.0 += taken;
            e.1 = e.1.max(d.limit);
        }
    }
    for (key, value) in &s.counters {
        // Credits are what operators and refunds added, not what sales took.
        if pingpost_core::caps::is_credit_key(key) {
            continue;
        }
        let (want, limit) = expected.get(key.as_str()).copied().unwrap_or((0, i64::MAX));
        let credit = credit_of.get(key.as_str()).and_then(|c| s.counters.get(*c)).copied().unwrap_or(0);
        let limit = limit.saturating_add(credit);
        let departed_may_count = sales_left && pingpost_core::caps::is_balance_key(key);
        if *value != want && !(departed_may_count && *value > want) {
            problems.push(format!("counter {key} is {value}, its sales took {want}"));
        }
        if *value < 0 || *value > limit {
            problems.push(format!("counter {key} is {value}, outside 0..={limit}"));
        }
    }
}

/// Bounded effects of a crash: after a sweep no reservation is past its lease.
fn crashes_are_bounded(s: &Snapshot, rules: &Rules<'_>, problems: &mut Vec<String>) {
    let Some(swept_at) = rules.swept_at else { return };
    for sale in s.sales.values() {
        let r = &sale.record;
        if r.state == LedgerState::Reserved && r.lease_until <= swept_at {
            problems.push(format!("sale {} is still reserved after its lease and a sweep", r.sale_id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A consumer b1 bought on day 0 whose sale's entry is gone, b1's spent balance still
    /// holding its charge, and a cap counter nobody's sale took.
    fn departed() -> Snapshot {
        let mark = MarkSnap {
            sale_id: "s1".into(),
            buyer: BuyerId::new("b1"),
            at: chrono::DateTime::UNIX_EPOCH,
            state: Some(SaleState::Sold),
            lease_until: None,
        };
        let consumer = ConsumerSnap { marks: vec![mark], ..ConsumerSnap::default() };
        Snapshot {
            consumers: [(Sha256Hex::digest("gone@example.com"), consumer)].into(),
            sales: BTreeMap::new(),
            counters: [("b1/balance".to_string(), 1000), ("b1/cap:c1:d:x".to_string(), 1)].into(),
        }
    }

    fn problems_after(swept_at: Option<Timestamp>) -> Vec<String> {
        let erased = HashSet::new();
        let rules = Rules { window: &|_| None, slots: &|_| 1, erased: &erased, swept_at };
        check(&departed(), &rules)
    }

    /// Sales of one consumer to b1 (contract window 30 days): (days after the first, a repeat
    /// under `after` days, or a new lead) and whether the window guarantee holds.
    #[test]
    fn a_second_sale_inside_the_window_holds_only_as_a_repeat_past_its_after_days() {
        let day_0 = chrono::DateTime::UNIX_EPOCH;
        let ident = Ident { kind: pingpost_core::identity::IdentKind::Email, hash: Sha256Hex::digest("c@example.com") };
        let sale = |id: &str, day: i64, repeat_after: Option<i64>| {
            let mut record = crate::conformance::record(id, "b1", 1000, day_0 + chrono::Duration::days(day));
            record.state = LedgerState::Sold;
            record.repeat_after = repeat_after.and_then(|d| WindowDays::new(d).ok());
            SaleSnap { record, idents: vec![ident.clone()], debits: Vec::new() }
        };
        let erased = HashSet::new();
        let window = WindowDays::new(30).ok();
        let rules = Rules { window: &|_| window, slots: &|_| 1, erased: &erased, swept_at: None };
        let table = [
            (20, Some(14), true),
            (14, Some(14), true), // exactly after_days
            (10, Some(14), false),
            (20, None, false),
            (30, None, true),
        ];
        for (day, repeat_after, holds) in table {
            let second = sale("s2", day, repeat_after);
            let snap = Snapshot {
                sales: [("s1".to_string(), sale("s1", 0, None)), ("s2".to_string(), second)].into(),
                ..Snapshot::default()
            };
            let problems: Vec<String> =
                check(&snap, &rules).into_iter().filter(|p| p.contains("sold one consumer twice")).collect();
            assert_eq!(problems.is_empty(), holds, "day {day}, repeat after {repeat_after:?}: {problems:?}");
        }
    }

    #[test]
    fn a_settled_sale_may_leave_the_store_only_after_it_is_kept_and_a_sweep_and_its_caps_stay_exact() {
        let day_0 = chrono::DateTime::UNIX_EPOCH;
        for swept_at in [None, Some(day_0 + crate::SETTLED_KEPT - chrono::Duration::seconds(1))] {
            let problems = problems_after(swept_at);
            assert!(problems.iter().any(|p| p.contains("without a ledger entry")), "{swept_at:?}: {problems:?}");
            assert!(problems.iter().any(|p| p.contains("b1/balance is 1000")), "{swept_at:?}: {problems:?}");
        }
        let problems = problems_after(Some(day_0 + crate::SETTLED_KEPT));
        assert_eq!(problems, ["counter b1/cap:c1:d:x is 1, its sales took 0"], "only the cap counter is wrong");
    }
}
