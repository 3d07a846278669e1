//! Listing entries: filters, newest-first order and the cursor that pages through it.

use crate::entry::{Entry, EntryKind};
use chrono::{DateTime, Utc};
use pingpost_core::ids::BuyerId;
use pingpost_core::Timestamp;
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// The largest page [`crate::Books::entries`] answers, whatever `limit` asks for.
pub const MAX_PAGE: usize = 1_000;

/// Entries matching every given filter, with `since <= at < until`, newest first: by `at`
/// descending, then `entry_id` descending (byte order), so that entries of one instant still
/// have one fixed order for the cursor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntryQuery {
    pub sale_id: Option<String>,
    pub ping_id: Option<String>,
    pub buyer: Option<BuyerId>,
    pub kind: Option<EntryKind>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Page size, held to `1..=MAX_PAGE`.
    pub limit: usize,
    /// Where the previous page ended: this page starts after it.
    pub after: Option<Cursor>,
}

impl EntryQuery {
    pub fn page_size(&self) -> usize {
        self.limit.clamp(1, MAX_PAGE)
    }

    /// Whether `e` passes every filter and comes after the cursor.
    pub fn matches(&self, e: &Entry) -> bool {
        self.sale_id.as_ref().is_none_or(|s| e.sale_id.as_ref() == Some(s))
            && self.ping_id.as_ref().is_none_or(|p| e.ping_id.as_ref() == Some(p))
            && self.buyer.as_ref().is_none_or(|b| &e.buyer == b)
            && self.kind.is_none_or(|k| e.kind == k)
            && self.since.is_none_or(|t| e.at >= t)
            && self.until.is_none_or(|t| e.at < t)
            && self.after.as_ref().is_none_or(|c| c.precedes(e))
    }
}

/// One page; `next` is `Some` when more entries may follow (the page was full).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryPage {
    pub entries: Vec<Entry>,
    pub next: Option<Cursor>,
}

impl EntryPage {
    /// A page of `entries` (in order, at most `size`), with a cursor after its last when full.
    pub fn of(entries: Vec<Entry>, size: usize) -> EntryPage {
        let next = if entries.len() >= size { entries.last().map(Cursor::after) } else { None };
        EntryPage { entries, next }
    }
}

/// The position of an entry in the newest-first order. Its text form (`<µs since the
/// epoch>:<entry id>`) is what an API hands its clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub at: Timestamp,
    pub entry_id: String,
}

impl Cursor {
    pub fn after(e: &Entry) -> Cursor {
        Cursor { at: e.at, entry_id: e.entry_id.clone() }
    }

    /// Whether `e` comes after this position, newest first.
    pub fn precedes(&self, e: &Entry) -> bool {
        match e.at.cmp(&self.at) {
            Ordering::Less => true,
            Ordering::Equal => e.entry_id.as_str() < self.entry_id.as_str(),
            Ordering::Greater => false,
        }
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.at.timestamp_micros(), self.entry_id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a cursor of the books: {0:?}")]
pub struct BadCursor(pub String);

impl FromStr for Cursor {
    type Err = BadCursor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadCursor(s.to_string());
        let (micros, entry_id) = s.split_once(':').ok_or_else(bad)?;
        let micros: i64 = micros.parse().map_err(|_| bad())?;
        let at: DateTime<Utc> = DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
        if entry_id.is_empty() {
            return Err(bad());
        }
        Ok(Cursor { at, entry_id: entry_id.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn cursors_read_back_what_they_wrote() {
        let at = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).single().unwrap_or_default()
            + chrono::Duration::microseconds(7);
        let c = Cursor { at, entry_id: "sale:p1-0".into() };
        assert_eq!(c.to_string().parse::<Cursor>(), Ok(c.clone()), "{c}");
        for bad in ["", "x:y", "12", "12:", ":id"] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad}");
        }
    }

    #[test]
    fn page_size_is_bounded() {
        let q = |limit| EntryQuery { limit, ..EntryQuery::default() }.page_size();
        assert_eq!((q(0), q(1), q(50), q(MAX_PAGE), q(MAX_PAGE + 1)), (1, 1, 50, MAX_PAGE, MAX_PAGE));
    }
}
