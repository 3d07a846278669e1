//! The kinds of money movement the marketplace records: named once here, for the store that
//! writes a movement's entry in the same step as the movement, and for the books that keep it.

use std::fmt;
use std::str::FromStr;

/// What an entry records. Stored and serialized by its snake_case name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A lead sold: the buyer is charged, the partner earns its payout.
    Sale,
    /// A sale undone because the buyer answered "duplicate": the exact negation of its sale.
    Rollback,
    /// An approved return: the sale's price given back to the buyer.
    ReturnRefund,
    /// An approved return whose reason claws the partner's payout back.
    PayoutClawback,
    /// An operator's credit to a buyer's prepaid balance.
    TopUp,
}

impl EntryKind {
    pub const ALL: [EntryKind; 5] =
        [EntryKind::Sale, EntryKind::Rollback, EntryKind::ReturnRefund, EntryKind::PayoutClawback, EntryKind::TopUp];

    pub const fn as_str(self) -> &'static str {
        match self {
            EntryKind::Sale => "sale",
            EntryKind::Rollback => "rollback",
            EntryKind::ReturnRefund => "return_refund",
            EntryKind::PayoutClawback => "payout_clawback",
            EntryKind::TopUp => "top_up",
        }
    }

    /// Its position in [`EntryKind::ALL`], for per-kind tables.
    pub const fn index(self) -> usize {
        match self {
            EntryKind::Sale => 0,
            EntryKind::Rollback => 1,
            EntryKind::ReturnRefund => 2,
            EntryKind::PayoutClawback => 3,
            EntryKind::TopUp => 4,
        }
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown entry kind {0:?} (sale, rollback, return_refund, payout_clawback, top_up)")]
pub struct UnknownKind(pub String);

impl FromStr for EntryKind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EntryKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| UnknownKind(s.to_string()))
    }
}
