//! The dedup audit log (`leadDedup`): one entry per dedup hit, kept within an
//! [`AuditRetention`] and queried newest first, filtered, a page at a time. Entries carry
//! which kind of identifier matched, never an identifier.
//!
//! Pages are cut by an opaque cursor each sink chooses (a sequence number in memory, a stream
//! id on Redis), so a page never shifts when new entries arrive while an operator reads.

#[cfg(any(test, feature = "testing"))]
pub mod conformance;

use pingpost_core::checkpoint::Checkpoint;
use pingpost_core::identity::IdentKind;
use pingpost_core::ids::{BuyerId, ContractId, OfferId, PartnerId, VerticalId};
use pingpost_core::Timestamp;
use pingpost_store::StoreFuture;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

pub use pingpost_core::audit::{AuditEntry, AuditQuery, EntryParts};

/// One page, newest first. `next_cursor` is `None` once nothing older can match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

/// Whether `cursor` has a shape some sink's cursors have: up to three groups of digits
/// joined by `-` (`<seq>` in memory, `<ms>-<seq>-<taken>` on Redis). Lets the API refuse a mangled cursor (422) before asking a sink.
pub fn cursor_is_well_formed(cursor: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = cursor.split('-').collect();
    parts.len() <= 3 && parts.iter().all(|p| digits(p))
}

/// How much of the log is kept: at most `max_entries`, none older than `max_age` before
/// the newest entry. A config struct so callers cannot swap two bare numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditRetention {
    pub max_entries: usize,
    pub max_age: chrono::Duration,
}

impl AuditRetention {
    pub const DEFAULT_DAYS: u32 = 90;
    pub const DEFAULT_MAX_ENTRIES: usize = 1_000_000;

    pub fn new(max_entries: usize, days: u32) -> Self {
        AuditRetention { max_entries: max_entries.max(1), max_age: chrono::Duration::days(i64::from(days)) }
    }

    /// Entries with `at` before this are past the age limit, given the newest entry's time.
    pub fn cutoff(&self, newest: Timestamp) -> Timestamp {
        newest.checked_sub_signed(self.max_age).unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
    }
}

impl Default for AuditRetention {
    fn default() -> Self {
        AuditRetention::new(Self::DEFAULT_MAX_ENTRIES, Self::DEFAULT_DAYS)
    }
}

/// Where audit entries go. Recording never fails nor slows a ping: a sink that writes
/// somewhere remote queues the entries and writes them in batches.
pub trait AuditSink: Send + Sync + 'static {
    fn record(&self, entries: Vec<AuditEntry>);
    /// The newest `limit` entries, newest first.
    fn recent(&self, limit: usize) -> StoreFuture<'_, Vec<AuditEntry>>;
    /// The entries matching `q`, newest first, at most `q.limit` of them. A sink that bounds
    /// the work of one call (Redis reads at most 20 000 entries) may answer fewer, even none,
    /// with a `next_cursor`: only a `None` cursor says nothing older matches.
    fn query(&self, q: AuditQuery) -> StoreFuture<'_, AuditPage>;
    /// Resolves once every entry recorded before the call has been written.
    fn flush(&self) -> StoreFuture<'_, ()>;
}

/// Keeps the log in memory within its retention.
///
/// The age limit is measured from the newest entry's `at`, not from a clock: the log then
/// needs no clock of its own (tests move the engine's), behaves like the Redis stream (whose
/// ids follow `at`), and a quiet period never empties the log an operator is about to read.
/// Entries older than the newest by more than `max_age` leave from the old end; one written
/// late (out of `at` order) waits until it reaches that end, as on Redis.
#[derive(Debug)]
pub struct MemoryAudit {
    retention: AuditRetention,
    log: Mutex<Log>,
}

#[derive(Debug, Default)]
struct Log {
    /// Oldest first. An entry's sequence number, its cursor, is `first_seq` plus its place:
    /// numbers only grow, and entries leave from the old end only.
    entries: VecDeque<Kept>,
    first_seq: u64,
    newest_at: Option<Timestamp>,
    /// Every (buyer, contract) an entry named, once; entries hold its place. Configured ids
    /// only, so it grows with the configuration, not with traffic.
    pairs: Vec<Pair>,
    pair_index: FxHashMap<Pair, u32>,
}

type Pair = (Option<BuyerId>, Option<ContractId>);

/// What a ping's entries have in common, kept once for all of them.
#[derive(Debug, PartialEq, Eq)]
struct Ping {
    at: Timestamp,
    ping_id: Arc<str>,
    partner: PartnerId,
    vertical: VerticalId,
    offer: OfferId,
    /// A buyer's reason (post hits only, each recorded alone): kept here, not in every entry.
    reason: Option<Box<str>>,
    test: bool,
}

/// An entry as the log keeps it: its ping's part shared, its (buyer, contract) by number,
/// the rest inline. 32 bytes where a whole entry takes 136, and a 30-contract ping may
/// write twenty: the audit log was most of what the embedded store kept per ping (issue 13).
#[derive(Debug)]
struct Kept {
    ping: Arc<Ping>,
    prior_at: Option<Timestamp>,
    pair: u32,
    checkpoint: Checkpoint,
    matched: Option<IdentKind>,
}

impl Log {
    fn pair_of(&mut self, pair: Pair) -> u32 {
        if let Some(&n) = self.pair_index.get(&pair) {
            return n;
        }
        let n = u32::try_from(self.pairs.len()).unwrap_or(u32::MAX);
        self.pairs.push(pair.clone());
        self.pair_index.insert(pair, n);
        n
    }

    fn pair(&self, k: &Kept) -> (Option<&BuyerId>, Option<&ContractId>) {
        self.pairs.get(k.pair as usize).map_or((None, None), |(b, c)| (b.as_ref(), c.as_ref()))
    }

    fn entry(&self, k: &Kept) -> AuditEntry {
        let p = &k.ping;
        let (buyer, contract) = self.pair(k);
        AuditEntry {
            at: p.at,
            ping_id: Arc::clone(&p.ping_id),
            partner: p.partner.clone(),
            vertical: p.vertical.clone(),
            offer: p.offer.clone(),
            buyer: buyer.cloned(),
            contract: contract.cloned(),
            checkpoint: k.checkpoint,
            matched: k.matched,
            prior_at: k.prior_at,
            reason: p.reason.as_deref().map(String::from),
            test: p.test,
        }
    }

    fn parts<'a>(&'a self, k: &'a Kept) -> EntryParts<'a> {
        let p = &k.ping;
        EntryParts {
            at: p.at,
            partner: &p.partner,
            vertical: &p.vertical,
            offer: &p.offer,
            buyer: self.pair(k).0,
            checkpoint: k.checkpoint,
        }
    }
}

impl MemoryAudit {
    pub fn new(retention: AuditRetention) -> Self {
        MemoryAudit { retention, log: Mutex::new(Log::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl AuditSink for MemoryAudit {
    fn record(&self, entries: Vec<AuditEntry>) {
        if entries.is_empty() {
            return;
        }
        let mut log = self.lock();
        let mut ping: Option<Arc<Ping>> = None;
        for e in entries {
            log.newest_at = Some(log.newest_at.map_or(e.at, |n| n.max(e.at)));
            let shared = Ping {
                at: e.at,
                ping_id: e.ping_id,
                partner: e.partner,
                vertical: e.vertical,
                offer: e.offer,
                reason: e.reason.map(String::into_boxed_str),
                test: e.test,
            };
            let ping = match &ping {
                Some(p) if **p == shared => Arc::clone(p),
                _ => ping.insert(Arc::new(shared)).clone(),
            };
            let pair = log.pair_of((e.buyer, e.contract));
            log.entries.push_back(Kept {
                ping,
                prior_at: e.prior_at,
                pair,
                checkpoint: e.checkpoint,
                matched: e.matched,
            });
        }
        let excess = log.entries.len().saturating_sub(self.retention.max_entries);
        log.entries.drain(..excess);
        log.first_seq += excess as u64;
        if let Some(newest) = log.newest_at {
            let cutoff = self.retention.cutoff(newest);
            while log.entries.front().is_some_and(|k| k.ping.at < cutoff) {
                log.entries.pop_front();
                log.first_seq += 1;
            }
        }
    }

    fn recent(&self, limit: usize) -> StoreFuture<'_, Vec<AuditEntry>> {
        let log = self.lock();
        let newest: Vec<AuditEntry> = log.entries.iter().rev().take(limit).map(|k| log.entry(k)).collect();
        Box::pin(std::future::ready(Ok(newest)))
    }

    fn query(&self, q: AuditQuery) -> StoreFuture<'_, AuditPage> {
        // A cursor this sink did not hand out (e.g. a Redis stream id) reads as "nothing
        // older": the API refuses malformed ones before they get here.
        let before = match q.cursor.as_deref().map(str::parse::<u64>) {
            None => u64::MAX,
            Some(Ok(seq)) => seq,
            Some(Err(_)) => return Box::pin(std::future::ready(Ok(AuditPage::default()))),
        };
        let log = self.lock();
        let first = log.first_seq;
        let mut matching = log
            .entries
            .iter()
            .enumerate()
            .rev()
            .map(|(i, k)| (first + i as u64, k))
            .filter(|(seq, k)| *seq < before && q.matches_parts(log.parts(k)));
        let entries: Vec<(u64, AuditEntry)> =
            matching.by_ref().take(q.limit).map(|(seq, k)| (seq, log.entry(k))).collect();
        let more = !entries.is_empty() && matching.next().is_some();
        let next_cursor = if more { entries.last().map(|(seq, _)| seq.to_string()) } else { None };
        let page = AuditPage { entries: entries.into_iter().map(|(_, e)| e).collect(), next_cursor };
        Box::pin(std::future::ready(Ok(page)))
    }

    fn flush(&self) -> StoreFuture<'_, ()> {
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_kept_entry_is_a_quarter_of_a_whole_one() {
        assert!(std::mem::size_of::<Kept>() <= 32, "{}", std::mem::size_of::<Kept>());
        assert!(std::mem::size_of::<AuditEntry>() >= 128, "{}", std::mem::size_of::<AuditEntry>());
    }

    #[tokio::test]
    async fn one_pings_entries_share_their_common_part() {
        let log = MemoryAudit::new(AuditRetention::default());
        let one = |n| conformance::entry(n, "p1", "b1", Checkpoint::InAuctionDuplicate);
        let a = one(1);
        let b = AuditEntry { buyer: Some(BuyerId::new("b2")), contract: Some(ContractId::new("c-b2")), ..a.clone() };
        log.record(vec![a.clone(), b.clone(), one(3)]);
        let kept = log.lock();
        assert!(Arc::ptr_eq(&kept.entries[0].ping, &kept.entries[1].ping));
        assert!(!Arc::ptr_eq(&kept.entries[1].ping, &kept.entries[2].ping));
        assert_eq!(kept.entry(&kept.entries[1]), b);
        assert_eq!(kept.pairs.len(), 2, "b1's pair is kept once");
    }

    #[tokio::test]
    async fn memory_audit_conforms() {
        conformance::run_all(|retention| async move { Arc::new(MemoryAudit::new(retention)) }).await;
    }

    #[tokio::test]
    async fn count_retention_is_exact_in_memory() {
        let log = MemoryAudit::new(AuditRetention::new(3, 90));
        log.record((0..10).map(|i| conformance::entry(i, "p1", "b1", Checkpoint::VerticalDuplicate)).collect());
        let kept: Vec<String> = log.recent(100).await.unwrap().into_iter().map(|e| e.ping_id.to_string()).collect();
        assert_eq!(kept, ["ping-9", "ping-8", "ping-7"]);
    }

    #[tokio::test]
    async fn age_retention_is_measured_from_the_newest_entry() {
        let log = MemoryAudit::new(AuditRetention::new(100, 30));
        let day = |d: i64, n: i64| {
            let mut e = conformance::entry(n, "p1", "b1", Checkpoint::VerticalDuplicate);
            e.at = conformance::t0() + chrono::Duration::days(d);
            e
        };
        log.record(vec![day(0, 0), day(10, 1)]);
        assert_eq!(log.recent(100).await.unwrap().len(), 2, "no clock: nothing ages while the log is quiet");
        // Day 40: day 0 is 40 days older than the newest, day 10 exactly 30 (kept).
        log.record(vec![day(40, 2)]);
        let kept: Vec<String> = log.recent(100).await.unwrap().into_iter().map(|e| e.ping_id.to_string()).collect();
        assert_eq!(kept, ["ping-2", "ping-1"]);
    }

    #[tokio::test]
    async fn a_foreign_cursor_reads_as_nothing_older() {
        let log = MemoryAudit::new(AuditRetention::default());
        log.record(vec![conformance::entry(0, "p1", "b1", Checkpoint::Suppressed)]);
        let q = AuditQuery { cursor: Some("1700000000000-0".into()), ..AuditQuery::newest(10) };
        assert_eq!(log.query(q).await.unwrap(), AuditPage::default());
    }

    #[test]
    fn cursors_have_one_shape() {
        for ok in ["0", "17", "1700000000000-3", "1700000000000-3-2"] {
            assert!(cursor_is_well_formed(ok), "{ok}");
        }
        for bad in ["", "-", "1-", "-1", "a", "1-2-3-4", "1--2", "1 2", "+", "123456789012345678901"] {
            assert!(!cursor_is_well_formed(bad), "{bad}");
        }
    }
}
