//! The behaviour every [`AuditSink`] must show: filters, time bounds, newest-first pages
//! continued by cursor, and retention by count and by age. One suite, run on the memory
//! sink here and on Redis by `pingpost-redis`'s tests.
//!
//! Retention is checked with the slack Redis's approximate trimming (`MAXLEN ~`,
//! `MINID ~`, which drop whole stream nodes of at most 100 entries) needs; the memory
//! sink's exact trimming is pinned by its own unit tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failing check shows the value

use super::*;
use chrono::{Duration, TimeZone, Utc};
use std::future::Future;
use std::sync::Arc;

/// Slack of approximate trimming: the most entries one Redis stream node holds.
const TRIM_SLACK: usize = 100;

/// Runs every check, each on a fresh (empty) sink from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: AuditSink,
    F: Fn(AuditRetention) -> Fut,
    Fut: Future<Output = Arc<S>>,
{
    filters_match_every_field(&*make(AuditRetention::default()).await).await;
    time_bounds_are_since_inclusive_until_exclusive(&*make(AuditRetention::default()).await).await;
    pages_run_newest_first_and_end_without_a_cursor(&*make(AuditRetention::default()).await).await;
    an_entry_written_a_little_late_is_found_by_time(&*make(AuditRetention::default()).await).await;
    count_retention_keeps_the_newest(&*make(AuditRetention::new(100, 90)).await).await;
    age_retention_drops_what_is_older_than_the_newest_by_max_age(&*make(AuditRetention::new(10_000, 30)).await).await;
}

pub fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).single().expect("valid time")
}

/// Entry number `n`, at `t0 + n` seconds, by `partner`, for `buyer` (`""`: none); a test
/// lead's when `n % 4 == 3`.
pub fn entry(n: i64, partner: &str, buyer: &str, checkpoint: Checkpoint) -> AuditEntry {
    let buyer = (!buyer.is_empty()).then(|| BuyerId::new(buyer));
    AuditEntry {
        at: t0() + Duration::seconds(n),
        ping_id: format!("ping-{n}").into(),
        partner: PartnerId::new(partner),
        vertical: VerticalId::new(if n % 2 == 0 { "auto" } else { "solar" }),
        offer: OfferId::new(if n % 2 == 0 { "auto-excl" } else { "solar-excl" }),
        contract: buyer.as_ref().map(|b| ContractId::new(format!("c-{b}"))),
        buyer,
        checkpoint,
        matched: Some(if n % 3 == 0 { IdentKind::Phone } else { IdentKind::Email }),
        prior_at: Some(t0() - Duration::days(1)),
        reason: None,
        // Some are a test lead's, so the flag is shown to come back from every sink.
        test: n % 4 == 3,
    }
}

/// Every page of `q`, as the ping ids of each page.
async fn pages(sink: &impl AuditSink, q: AuditQuery) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = sink.query(AuditQuery { cursor: cursor.clone(), ..q.clone() }).await.expect("query");
        out.push(page.entries.into_iter().map(|e| e.ping_id.to_string()).collect());
        match page.next_cursor {
            Some(c) => {
                assert_ne!(Some(&c), cursor.as_ref(), "a cursor must move");
                cursor = Some(c);
            }
            None => return out,
        }
        assert!(out.len() < 1000, "pages never end");
    }
}

/// One page holding everything `q` matches.
async fn all(sink: &impl AuditSink, q: AuditQuery) -> Vec<String> {
    pages(sink, AuditQuery { limit: 10_000, ..q }).await.concat()
}

fn ids(ns: &[i64]) -> Vec<String> {
    ns.iter().map(|n| format!("ping-{n}")).collect()
}

/// Twelve entries, 0..12: partners p1/p2 alternate, buyers b1, b2, none rotate, and the
/// checkpoint follows the buyer (none: vertical duplicate).
async fn twelve(sink: &impl AuditSink) {
    let entries = (0..12)
        .map(|n| {
            let partner = if n % 2 == 0 { "p1" } else { "p2" };
            match n % 3 {
                0 => entry(n, partner, "b1", Checkpoint::ContractDuplicate),
                1 => entry(n, partner, "b2", Checkpoint::InAuctionDuplicate),
                _ => entry(n, partner, "", Checkpoint::VerticalDuplicate),
            }
        })
        .collect();
    sink.record(entries);
    sink.flush().await.expect("flush");
}

async fn filters_match_every_field(sink: &impl AuditSink) {
    twelve(sink).await;
    let q = AuditQuery::default();
    assert_eq!(all(sink, q.clone()).await, ids(&[11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]), "newest first");
    let by_buyer = AuditQuery { buyer: Some(BuyerId::new("b1")), ..q.clone() };
    assert_eq!(all(sink, by_buyer).await, ids(&[9, 6, 3, 0]));
    let by_partner = AuditQuery { partner: Some(PartnerId::new("p2")), ..q.clone() };
    assert_eq!(all(sink, by_partner).await, ids(&[11, 9, 7, 5, 3, 1]));
    let by_checkpoint = AuditQuery { checkpoint: Some(Checkpoint::VerticalDuplicate), ..q.clone() };
    assert_eq!(all(sink, by_checkpoint).await, ids(&[11, 8, 5, 2]));
    let by_vertical = AuditQuery { vertical: Some(VerticalId::new("solar")), ..q.clone() };
    assert_eq!(all(sink, by_vertical).await, ids(&[11, 9, 7, 5, 3, 1]));
    let by_offer = AuditQuery { offer: Some(OfferId::new("auto-excl")), buyer: Some(BuyerId::new("b2")), ..q.clone() };
    assert_eq!(all(sink, by_offer).await, ids(&[10, 4]));
    let none = AuditQuery { buyer: Some(BuyerId::new("nobody")), ..q };
    assert_eq!(pages(sink, AuditQuery { limit: 5, ..none }).await, [Vec::<String>::new()]);
}

async fn time_bounds_are_since_inclusive_until_exclusive(sink: &impl AuditSink) {
    twelve(sink).await;
    let at = |n: i64| Some(t0() + Duration::seconds(n));
    let range = AuditQuery { since: at(3), until: at(7), ..AuditQuery::default() };
    assert_eq!(all(sink, range).await, ids(&[6, 5, 4, 3]));
    let since = AuditQuery { since: at(10), ..AuditQuery::default() };
    assert_eq!(all(sink, since).await, ids(&[11, 10]));
    let until = AuditQuery { until: at(2), ..AuditQuery::default() };
    assert_eq!(all(sink, until).await, ids(&[1, 0]));
    let empty = AuditQuery { since: at(5), until: at(5), ..AuditQuery::default() };
    assert!(all(sink, empty).await.is_empty());
}

async fn pages_run_newest_first_and_end_without_a_cursor(sink: &impl AuditSink) {
    twelve(sink).await;
    let p1 = AuditQuery { partner: Some(PartnerId::new("p1")), limit: 4, ..AuditQuery::default() };
    assert_eq!(pages(sink, p1.clone()).await, [ids(&[10, 8, 6, 4]), ids(&[2, 0])]);
    // A page that takes exactly the last matches says there is nothing more.
    assert_eq!(pages(sink, AuditQuery { limit: 6, ..p1.clone() }).await, [ids(&[10, 8, 6, 4, 2, 0])]);
    assert_eq!(pages(sink, AuditQuery { limit: 3, ..p1 }).await, [ids(&[10, 8, 6]), ids(&[4, 2, 0])]);
    // Entries recorded while an operator pages do not shift the pages already cut.
    let first = sink.query(AuditQuery::newest(5)).await.expect("query");
    sink.record(vec![entry(12, "p1", "b1", Checkpoint::DqDuplicate)]);
    sink.flush().await.expect("flush");
    let next = sink.query(AuditQuery { cursor: first.next_cursor, ..AuditQuery::newest(5) }).await.expect("query");
    assert_eq!(next.entries.iter().map(|e| e.ping_id.to_string()).collect::<Vec<_>>(), ids(&[6, 5, 4, 3, 2]));
    // Entries come back whole.
    assert_eq!(first.entries[0], entry(11, "p2", "", Checkpoint::VerticalDuplicate));
}

async fn an_entry_written_a_little_late_is_found_by_time(sink: &impl AuditSink) {
    // Nodes write their batches a moment after the hit: an entry may reach the log after a
    // newer one. Found by a time range all the same (within seconds of lateness).
    sink.record(vec![entry(600, "p1", "b1", Checkpoint::ContractDuplicate)]);
    sink.flush().await.expect("flush");
    sink.record(vec![entry(590, "p2", "b2", Checkpoint::DqDuplicate)]);
    sink.flush().await.expect("flush");
    let at = |n: i64| Some(t0() + Duration::seconds(n));
    assert_eq!(all(sink, AuditQuery { since: at(585), until: at(595), ..AuditQuery::default() }).await, ids(&[590]));
    assert_eq!(all(sink, AuditQuery { since: at(595), ..AuditQuery::default() }).await, ids(&[600]));
}

async fn count_retention_keeps_the_newest(sink: &impl AuditSink) {
    // One hit per `record`, as pings with one drop each: a sink may count its retention
    // in records (Redis keeps one stream entry per record).
    for n in 0..1000 {
        sink.record(vec![entry(n, "p1", "b1", Checkpoint::Suppressed)]);
    }
    sink.flush().await.expect("flush");
    let kept = all(sink, AuditQuery::default()).await;
    assert!(kept.len() >= 100 && kept.len() <= 100 + TRIM_SLACK, "kept {} of 1000 with max 100", kept.len());
    assert_eq!(kept[..100], ids(&(900..1000).rev().collect::<Vec<_>>()), "the newest are kept");
}

async fn age_retention_drops_what_is_older_than_the_newest_by_max_age(sink: &impl AuditSink) {
    let aged = |n: i64, days: i64| {
        let mut e = entry(n, "p1", "b1", Checkpoint::ContractDuplicate);
        e.at += Duration::days(days);
        e
    };
    sink.record((0..300).map(|n| aged(n, 0)).collect());
    sink.flush().await.expect("flush");
    assert_eq!(all(sink, AuditQuery::default()).await.len(), 300, "nothing ages while the log is quiet");
    sink.record((300..310).map(|n| aged(n, 60)).collect());
    sink.flush().await.expect("flush");
    let kept = all(sink, AuditQuery::default()).await;
    assert_eq!(kept[..10], ids(&(300..310).rev().collect::<Vec<_>>()));
    assert!(kept.len() <= 10 + TRIM_SLACK, "kept {} entries older than 30 days", kept.len() - 10);
}
