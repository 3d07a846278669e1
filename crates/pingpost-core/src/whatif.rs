//! The window what-if (SPEC "Repeat leads, the window what-if and the lead event log"): how
//! the pings of a past range would have gone with another window, from what the engine knew
//! at each ping — the **gap** since the prior event a window measures (the buyer's last
//! purchase of the consumer for a contract's window, the consumer's last submission for a
//! vertical's). A window of `W` days blocks a ping whose prior event is less than `W` days
//! old, and the gap is kept in whole days rounded down, so `gap < W` is exactly "blocked": no
//! ping is miscounted at a window's edge.
//!
//! The event log keeps, per day and contract (or vertical), how many pings met each gap and
//! how many of them sold, for how much ([`GapCount`]); every figure of the what-if is a sum
//! over those rows, so a week of 2 000 pings a second answers in milliseconds. What it does
//! not model, and says: a ping newly allowed might have sold and then blocked later pings of
//! the same consumer (first-order effects only), and what a newly allowed ping would have
//! sold for is unknown.

use crate::checkpoint::Checkpoint;
use crate::events::{Fate, LeadEvent, Outcome, SaleEvent};
use crate::money::Money;
use crate::window::WindowDays;

/// Days since the prior event a window measures, rounded down; `None`: none the log knows
/// (a consumer new to the buyer or the vertical, or seen before the log's retention).
pub type Gap = Option<u16>;

/// The gap from `prior` to `now` in whole days, rounded down (a prior in the future, from a
/// clock that moved back, is today's).
pub fn gap_since(prior: crate::Timestamp, now: crate::Timestamp) -> u16 {
    u16::try_from((now - prior).num_days().max(0)).unwrap_or(u16::MAX)
}

/// How many pings reached the checkpoint with one gap, and what those sold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GapCount {
    pub gap: Gap,
    pub pings: u64,
    /// Of `pings`, those sold (by this contract, or on this vertical).
    pub sales: u64,
    /// What those sales were charged.
    pub revenue: Money,
}

/// What a window change would have done to a range's pings (the SPEC's figures).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WhatIf {
    /// Pings that reached the checkpoint.
    pub reached: u64,
    /// Of them, blocked by the window in force, and by the window asked about.
    pub blocked_then: u64,
    pub blocked_with: u64,
    /// Allowed then and blocked with the new window; blocked then and allowed with it.
    pub newly_blocked: u64,
    pub newly_allowed: u64,
    /// Sales the new window would have stopped, and what they were charged.
    pub sales_stopped: u64,
    pub revenue_stopped: Money,
}

/// Whether a ping whose prior event is `gap` days old is blocked by `window`.
fn blocks(window: Option<WindowDays>, gap: Gap) -> bool {
    matches!((window, gap), (Some(w), Some(g)) if g < w.days())
}

/// The what-if of moving a window from `then` to `with` (`None`: no window, dedup off) over
/// the rows of a range. Rows with the same gap may repeat (one per day and key): they add up.
pub fn window_change(rows: &[GapCount], then: Option<WindowDays>, with: Option<WindowDays>) -> WhatIf {
    let mut w = WhatIf::default();
    for r in rows {
        let (before, after) = (blocks(then, r.gap), blocks(with, r.gap));
        w.reached += r.pings;
        w.blocked_then += if before { r.pings } else { 0 };
        w.blocked_with += if after { r.pings } else { 0 };
        if !before && after {
            w.newly_blocked += r.pings;
            w.sales_stopped += r.sales;
            w.revenue_stopped = w.revenue_stopped.saturating_add(r.revenue);
        }
        if before && !after {
            w.newly_allowed += r.pings;
        }
    }
    w
}

/// What a vertical's `repeat_after_days` changed from `then` to `with` would have done: a
/// submission at least that old inside the `window` passes as a repeat. Pings newly turned
/// into repeats were blocked then (and are `newly_allowed`); pings no longer repeats are
/// `newly_blocked`, with the sales they made.
pub fn repeat_change(
    rows: &[GapCount],
    window: WindowDays,
    then: Option<WindowDays>,
    with: Option<WindowDays>,
) -> WhatIf {
    // A repeat threshold R inside window W blocks exactly the gaps below R (and passes those
    // in [R, W) as repeats): the same arithmetic as a window of R.
    let blocking = |r: Option<WindowDays>| Some(r.map_or(window, |r| r.min(window)));
    window_change(rows, blocking(then), blocking(with))
}

/// Which window a rollup row measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// A contract's window (checkpoint 4): the gap since its buyer last bought the consumer.
    Contract,
    /// A vertical's window (checkpoint 2): the gap since the consumer's last submission.
    Vertical,
}

impl Scope {
    /// Its code in the log's rollup, fixed for good.
    pub fn code(self) -> i16 {
        match self {
            Scope::Contract => 0,
            Scope::Vertical => 1,
        }
    }

    pub fn of_code(code: i16) -> Option<Scope> {
        [Scope::Contract, Scope::Vertical].into_iter().find(|s| s.code() == code)
    }
}

/// A rollup row's key: the ping's UTC day, the contract or vertical, and the gap.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RollupKey {
    pub day: chrono::NaiveDate,
    pub scope: Scope,
    /// The contract's or vertical's id (shared with the event's: no copy per contract).
    pub key: std::sync::Arc<str>,
    pub gap: Gap,
}

/// Whether a contract's part in a ping reached checkpoint 4, its window: it bid, did not bid,
/// or was dropped there or after. Not: no candidate at all, or dropped before (checkpoints
/// 1-3, or a vertical repeat the contract does not take).
fn reached_contract_window(fate: Fate) -> bool {
    match fate {
        Fate::Bid | Fate::NoBid => true,
        Fate::Dropped(c) => {
            matches!(c, Checkpoint::ContractDuplicate | Checkpoint::ContractRepeat | Checkpoint::DqDuplicate)
        }
        Fate::Ineligible(_) => false,
    }
}

/// Where a ping counts in the rollup: at each contract of its offer that reached checkpoint 4,
/// with that contract's gap; at its vertical, unless suppression stopped it first, with the
/// vertical's gap. The one rule every log (in PostgreSQL and in the process) counts by.
pub fn ping_keys(e: &LeadEvent) -> Vec<RollupKey> {
    let day = e.day();
    let mut keys: Vec<RollupKey> = e
        .contracts
        .iter()
        .filter(|c| reached_contract_window(c.fate))
        .map(|c| RollupKey { day, scope: Scope::Contract, key: std::sync::Arc::clone(&c.contract.0), gap: c.gap })
        .collect();
    if e.outcome != Outcome::Suppressed {
        keys.push(RollupKey {
            day,
            scope: Scope::Vertical,
            key: std::sync::Arc::clone(&e.vertical.0),
            gap: e.vertical_gap,
        });
    }
    keys
}

/// Where a sale of ping `e` counts: its contract's row, if the contract reached checkpoint 4
/// (a sale always did), and its vertical's; both on the ping's day.
pub fn sale_keys(e: &LeadEvent, s: &SaleEvent) -> Vec<RollupKey> {
    ping_keys(e).into_iter().filter(|k| k.scope == Scope::Vertical || *k.key == *s.contract.as_str()).collect()
}

/// Pings, sales and revenue by [`RollupKey`]: what the log keeps for the what-if, small
/// enough (days × keys × gaps) to sum in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rollup(rustc_hash::FxHashMap<RollupKey, GapCount>);

impl Rollup {
    pub fn add_ping(&mut self, e: &LeadEvent) {
        for k in ping_keys(e) {
            self.row(k).pings += 1;
        }
    }

    pub fn add_sale(&mut self, e: &LeadEvent, s: &SaleEvent) {
        for k in sale_keys(e, s) {
            let row = self.row(k);
            row.sales += 1;
            row.revenue = row.revenue.saturating_add(s.price);
        }
    }

    fn row(&mut self, k: RollupKey) -> &mut GapCount {
        let gap = k.gap;
        self.0.entry(k).or_insert(GapCount { gap, ..GapCount::default() })
    }

    /// Its rows, in no particular order.
    pub fn rows(&self) -> impl Iterator<Item = (&RollupKey, &GapCount)> {
        self.0.iter()
    }

    /// The rows of one contract or vertical over the days `[since, until)`.
    pub fn counts(&self, scope: Scope, key: &str, since: chrono::NaiveDate, until: chrono::NaiveDate) -> Vec<GapCount> {
        self.0
            .iter()
            .filter(|(k, _)| k.scope == scope && &*k.key == key && k.day >= since && k.day < until)
            .map(|(_, c)| *c)
            .collect()
    }

    /// Forgets the days before `keep_from`.
    pub fn forget_before(&mut self, keep_from: chrono::NaiveDate) {
        self.0.retain(|k, _| k.day >= keep_from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(d: u16) -> Option<WindowDays> {
        WindowDays::new(i64::from(d)).ok()
    }

    fn row(gap: Gap, pings: u64, sales: u64, cents: i64) -> GapCount {
        GapCount { gap, pings, sales, revenue: Money::from_minor(cents) }
    }

    /// A hand-computed week: the gaps a contract's pings met, with what they sold.
    fn week() -> Vec<GapCount> {
        vec![
            row(None, 1000, 300, 600_000), // new consumers: never blocked by any window
            row(Some(0), 50, 0, 0),        // bought today
            row(Some(10), 40, 0, 0),
            row(Some(29), 30, 0, 0),
            row(Some(30), 20, 8, 16_000), // exactly 30 days: outside a 30-day window
            row(Some(45), 60, 20, 40_000),
            row(Some(59), 10, 5, 10_000),
            row(Some(60), 25, 10, 20_000),
            row(Some(45), 40, 10, 20_000), // another day's row with a gap already seen
        ]
    }

    #[test]
    fn sixty_days_instead_of_thirty_blocks_the_gaps_from_30_to_59_and_stops_their_sales() {
        let w = window_change(&week(), days(30), days(60));
        assert_eq!(
            w,
            WhatIf {
                reached: 1275,
                blocked_then: 120,  // gaps 0, 10, 29
                blocked_with: 250,  // and 30, 45 (×2), 59
                newly_blocked: 130, // 20 + 60 + 10 + 40
                newly_allowed: 0,
                sales_stopped: 43,                          // 8 + 20 + 5 + 10
                revenue_stopped: Money::from_minor(86_000), // 160 + 400 + 100 + 200 dollars
            }
        );
    }

    #[test]
    fn a_shorter_window_allows_what_it_no_longer_covers_and_stops_nothing() {
        let w = window_change(&week(), days(30), days(7));
        assert_eq!((w.blocked_then, w.blocked_with, w.newly_blocked, w.newly_allowed), (120, 50, 0, 70));
        assert_eq!((w.sales_stopped, w.revenue_stopped), (0, Money::ZERO));
        let same = window_change(&week(), days(30), days(30));
        assert_eq!((same.newly_blocked, same.newly_allowed, same.blocked_then), (0, 0, same.blocked_with));
        let off = window_change(&week(), days(30), None);
        assert_eq!((off.blocked_with, off.newly_allowed), (0, 120), "dedup off blocks nothing");
    }

    #[test]
    fn a_repeat_threshold_passes_the_gaps_between_it_and_the_window() {
        // Window 60; repeats after 30 days, then after 14: gaps 14..30 become repeats.
        let w = repeat_change(&week(), days(60).unwrap(), days(30), days(14));
        assert_eq!((w.blocked_then, w.blocked_with, w.newly_allowed, w.newly_blocked), (120, 90, 30, 0));
        // Turning repeats off blocks the whole window again, sales between 30 and 60 included.
        let off = repeat_change(&week(), days(60).unwrap(), days(30), None);
        assert_eq!((off.newly_blocked, off.sales_stopped, off.revenue_stopped), (130, 43, Money::from_minor(86_000)));
    }
}
