//! One ping's event, as the lead event log keeps it: its time, partner, offer, vertical,
//! identifier hashes, outcome, and for each contract of the offer where it stopped (or its
//! bid), the days since its buyer last bought the consumer and its price — what the
//! statistics, the audit log and the what-if need, in one row per ping
//! (`crates/pingpost-events/migrations/0001_lead_events.sql`).

use crate::checkpoint::{Checkpoint, Ineligible};
use crate::identity::Sha256Hex;
use crate::ids::{ContractId, OfferId, PartnerId, VerticalId};
use crate::money::Money;
use crate::whatif::Gap;
use crate::Timestamp;
use chrono::NaiveDate;

/// How a ping was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Suppressed,
    VerticalDuplicate,
    NoBids,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [Outcome::Accepted, Outcome::Suppressed, Outcome::VerticalDuplicate, Outcome::NoBids];

    /// Its code in the log (`outcome`), fixed for good: rows outlive releases.
    pub fn code(self) -> i16 {
        match self {
            Outcome::Accepted => 0,
            Outcome::Suppressed => 1,
            Outcome::VerticalDuplicate => 2,
            Outcome::NoBids => 3,
        }
    }

    pub fn of_code(code: i16) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.code() == code)
    }
}

/// Where one contract's part in a ping ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// It bid (at `price`).
    Bid,
    /// A checkpoint dropped it (or, at `contract_repeat`, kept it as a repeat that then bid:
    /// such a contract is logged `Bid` with the ping's `repeat`).
    Dropped(Checkpoint),
    /// Not a candidate at all.
    Ineligible(Ineligible),
    /// A candidate that did not bid (no price, a payout below the partner's minimum).
    NoBid,
}

const INELIGIBLE: [Ineligible; 4] =
    [Ineligible::Paused, Ineligible::Filtered, Ineligible::OutOfSchedule, Ineligible::CapReached];

impl Fate {
    /// Its code in the log (`checkpoint[]`), fixed for good: 0 a bid, 1.. a checkpoint (its
    /// place in `Checkpoint::ALL`, which only grows at its end), 100.. a reason it was no
    /// candidate, 200 no bid.
    pub fn code(self) -> i16 {
        match self {
            Fate::Bid => 0,
            Fate::Dropped(c) => 1 + Checkpoint::ALL.iter().position(|x| *x == c).map_or(0, |i| i as i16),
            Fate::Ineligible(i) => 100 + INELIGIBLE.iter().position(|x| *x == i).map_or(0, |i| i as i16),
            Fate::NoBid => 200,
        }
    }

    pub fn of_code(code: i16) -> Option<Fate> {
        let index = |base: i16| usize::try_from(code - base).ok();
        match code {
            0 => Some(Fate::Bid),
            1..=99 => index(1).and_then(|i| Checkpoint::ALL.get(i)).map(|c| Fate::Dropped(*c)),
            100..=199 => index(100).and_then(|i| INELIGIBLE.get(i)).map(|i| Fate::Ineligible(*i)),
            200 => Some(Fate::NoBid),
            _ => None,
        }
    }
}

/// One contract's part in a ping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractFate {
    pub contract: ContractId,
    pub fate: Fate,
    /// Days since the contract's buyer last bought the consumer, as checkpoint 4 saw it.
    pub gap: Gap,
    /// Its bid (zero when it did not bid).
    pub price: Money,
}

/// One ping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeadEvent {
    pub at: Timestamp,
    pub ping_id: String,
    pub partner: PartnerId,
    pub offer: OfferId,
    pub vertical: VerticalId,
    pub email: Option<Sha256Hex>,
    pub phone: Option<Sha256Hex>,
    pub outcome: Outcome,
    pub repeat: bool,
    /// Days since the consumer's last submission on the vertical, as checkpoint 2 saw it.
    pub vertical_gap: Gap,
    pub contracts: Vec<ContractFate>,
}

impl LeadEvent {
    /// The UTC day whose partition holds it.
    pub fn day(&self) -> NaiveDate {
        self.at.date_naive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_and_fate_has_one_code_that_reads_back() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::of_code(o.code()), Some(o));
        }
        let fates = std::iter::once(Fate::Bid)
            .chain(Checkpoint::ALL.into_iter().map(Fate::Dropped))
            .chain(INELIGIBLE.into_iter().map(Fate::Ineligible))
            .chain(std::iter::once(Fate::NoBid));
        let mut codes = std::collections::BTreeSet::new();
        for f in fates {
            assert_eq!(Fate::of_code(f.code()), Some(f));
            assert!(codes.insert(f.code()), "{f:?} shares its code");
        }
        assert_eq!(Fate::Dropped(Checkpoint::ContractDuplicate).code(), 4, "codes are fixed for good");
        assert_eq!(Fate::of_code(99), None);
    }
}
