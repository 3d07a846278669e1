//! `GET /v1/admin/stats`: exact counts per partner, buyer and vertical for a day of traffic
//! that hits every checkpoint, a sale and a rollback; retries that must not count again;
//! the hour-granular time range; and the operator token and parameter errors.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use pingpost_buyersim::PostReply;
use pingpost_core::identity::Sha256Hex;
use serde_json::{json, Value};

const METRICS: [&str; 13] = [
    "pings",
    "suppressed",
    "vertical_duplicate",
    "in_auction_duplicate",
    "contract_duplicate",
    "dq_duplicate",
    "bids",
    "sales",
    "rollbacks",
    "repeat_pings",
    "vertical_repeat",
    "contract_repeat",
    "repeat_sales",
];

/// A group as the API answers it: every metric present, those not named zero.
fn group(key: &str, counts: &[(&str, u64)]) -> Value {
    let mut g = json!({"key": key});
    for m in METRICS {
        g[m] = json!(counts.iter().find(|(name, _)| *name == m).map_or(0, |(_, n)| *n));
    }
    g
}

fn config() -> String {
    let mut c = base_config();
    c.push_str(&contract("c1", "b1", "auto-excl", "20.00", "dedup = { window_days = 90 }"));
    c.push_str(&contract("c2", "b1", "auto-excl", "12.00", "dedup = { window_days = 90 }"));
    c.push_str(&contract("c3", "b2", "auto-excl", "15.00", "dedup = { window_days = 90 }"));
    c.push_str(&contract(
        "c4",
        "b3",
        "auto-excl",
        "10.00",
        "dq = { url = \"{buyers}/b3/dq\", window_days = 60, timeout_ms = 500 }",
    ));
    c.push_str(&contract("s1", "b4", "solar-excl", "5.00", ""));
    c
}

async fn stats(h: &Harness, query: &str) -> Vec<Value> {
    let (status, body) = h.admin("GET", &format!("/stats?{query}"), None).await;
    assert_eq!(status, 200, "{body}");
    body["groups"].as_array().unwrap().clone()
}

/// Day 0, 15:00-16:00 UTC.
const HOUR_0: &str = "since=2026-11-23T15:00:00Z&until=2026-11-23T16:00:00Z";

/// Day 0: every kind of fact once, and retries that must not count again.
async fn day_zero(h: &Harness) {
    // p1, auto: c2 loses to c1 in the auction (in-auction duplicate), b3 disqualifies the
    // consumer on its DQ question (a DQ drop at checkpoint 5, like a recorded one); c1
    // and c3 bid. b1 answers the post "duplicate" (rolled back); the waterfall sells to b2.
    h.buyers.update("b1", |b| b.post = PostReply::Duplicate);
    h.buyers.update("b3", |b| b.disqualify = true);
    let a = email("alice@example.com");
    let ping = h.ping("auto-excl", a.clone()).await;
    assert_eq!(bid_contracts(&ping), ["c1", "c3"]);
    let post = h.post(ping["ping_id"].as_str().unwrap(), a.clone()).await;
    assert_eq!(outcomes(&post), [("b1".into(), "duplicate".into()), ("b2".into(), "accepted".into())]);
    // The repeated post gets the first answer and counts nothing.
    assert_eq!(h.post(ping["ping_id"].as_str().unwrap(), a.clone()).await, post);

    // p2, same consumer on another offer of the vertical: vertical duplicate.
    let (_, dup) = h.ping_as(KEY_P2, "auto-2", a.clone()).await;
    assert_eq!(dup["reason"], "vertical_duplicate");
    // Refused before checkpoint 1 (offer not allowed, invalid lead): not pings.
    assert_eq!(h.ping_as(KEY_P2, "solar-excl", email("x@example.com")).await.0, 403);
    assert_eq!(h.ping_as(KEY_P1, "solar-excl", email("not-an-email")).await.0, 422);

    // p1, solar: a suppressed consumer.
    h.engine.store().suppress(vec![Sha256Hex::digest("opted.out@example.com")], h.engine.now()).await.unwrap();
    assert_eq!(h.ping("solar-excl", email("opted.out@example.com")).await["reason"], "suppressed");

    // p1, solar: an idempotent ping and its retry, which returns the first answer.
    let body = json!({"offer": "solar-excl", "lead": email("bob@example.com"), "idempotency_key": "k-1"});
    let (s1, first) = h.call("/v1/ping", Some(KEY_P1), body.to_string().into_bytes()).await;
    let (s2, again) = h.call("/v1/ping", Some(KEY_P1), body.to_string().into_bytes()).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(bid_contracts(&first), ["s1"]);
    assert_eq!(first["ping_id"], again["ping_id"]);
}

#[tokio::test]
async fn counts_per_partner_buyer_and_vertical_each_fact_once() {
    let h = Harness::start(&config()).await;
    each_fact_counted_once(&h).await;
}

/// The same counts read from the lead event log in PostgreSQL (SPEC: the statistics read from
/// it when it is there): every node's counters reach it once per batch, however often sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_per_partner_buyer_and_vertical_each_fact_once_from_the_event_log_in_postgresql() {
    let (h, log, _server) = Harness::start_with_postgres_events(Backend::from_env(), &config()).await;
    each_fact_counted_once(&h).await;
    let batches: i64 = sqlx::query_scalar("SELECT count(*) FROM count_batches").fetch_one(log.pool()).await.unwrap();
    assert!(batches > 0, "the counts are the log's");
}

/// The log's counters are kept as long as the store keeps its own (400 days), not for the
/// events' retention: once the day's events are dropped (90 days), its statistics are still
/// answered, until the 400 days are past.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_logs_counters_outlive_its_events_as_long_as_the_stores_counters() {
    let (h, log, _server) = Harness::start_with_postgres_events(Backend::from_env(), &config()).await;
    h.engine.event_upkeep(90).await.unwrap();
    day_zero(&h).await;
    let answered = stats(&h, &format!("by=partner&{HOUR_0}")).await;
    assert_eq!(answered.len(), 2, "{answered:?}");

    h.advance_days(120).await;
    h.engine.event_upkeep(90).await.unwrap();
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM lead_events").fetch_one(log.pool()).await.unwrap();
    assert_eq!(events, 0, "the day's events are past their retention");
    assert_eq!(stats(&h, &format!("by=partner&{HOUR_0}")).await, answered, "its statistics are not");

    h.advance_days(281).await;
    h.engine.event_upkeep(90).await.unwrap();
    assert!(stats(&h, &format!("by=partner&{HOUR_0}")).await.is_empty(), "past 400 days they are gone");
}

async fn each_fact_counted_once(h: &Harness) {
    h.engine.event_upkeep(90).await.unwrap();
    day_zero(h).await;

    assert_eq!(
        stats(h, &format!("by=partner&{HOUR_0}")).await,
        [
            group(
                "p1",
                &[
                    ("pings", 3),
                    ("suppressed", 1),
                    ("in_auction_duplicate", 1),
                    ("dq_duplicate", 1),
                    ("bids", 3),
                    ("sales", 1),
                    ("rollbacks", 1)
                ]
            ),
            group("p2", &[("pings", 1), ("vertical_duplicate", 1)]),
        ]
    );
    assert_eq!(
        stats(h, &format!("by=vertical&{HOUR_0}")).await,
        [
            group(
                "auto",
                &[
                    ("pings", 2),
                    ("vertical_duplicate", 1),
                    ("in_auction_duplicate", 1),
                    ("dq_duplicate", 1),
                    ("bids", 2),
                    ("sales", 1),
                    ("rollbacks", 1)
                ]
            ),
            group("solar", &[("pings", 2), ("suppressed", 1), ("bids", 1)]),
        ]
    );
    // By buyer, "pings" are the pings a buyer's contracts took part in (b3 was asked its DQ
    // question); suppression and vertical dedup stop a ping before any buyer is considered.
    assert_eq!(
        stats(h, &format!("by=buyer&{HOUR_0}")).await,
        [
            group("b1", &[("pings", 1), ("in_auction_duplicate", 1), ("bids", 1), ("rollbacks", 1)]),
            group("b2", &[("pings", 1), ("bids", 1), ("sales", 1)]),
            group("b3", &[("pings", 1), ("dq_duplicate", 1)]),
            group("b4", &[("pings", 1), ("bids", 1)]),
        ]
    );

    // 31 days on, past the vertical window, inside the contracts' and the DQ window: b1
    // (which answered "duplicate") and b2 (which bought) are contract duplicates, b3 a DQ
    // duplicate; c2 still loses to c1 first.
    h.advance_days(31).await;
    h.engine.event_upkeep(90).await.unwrap();
    let ping = h.ping("auto-excl", email("alice@example.com")).await;
    assert_eq!(ping["reason"], "no_bids");
    h.advance_secs(600).await;
    // The default range, the last 24 hours, holds only today.
    assert_eq!(
        stats(h, "by=partner").await,
        [group("p1", &[("pings", 1), ("in_auction_duplicate", 1), ("contract_duplicate", 2), ("dq_duplicate", 1)])]
    );
    assert_eq!(
        stats(h, "by=buyer").await,
        [
            group("b1", &[("pings", 1), ("in_auction_duplicate", 1), ("contract_duplicate", 1)]),
            group("b2", &[("pings", 1), ("contract_duplicate", 1)]),
            group("b3", &[("pings", 1), ("dq_duplicate", 1)]),
        ]
    );
    // A range over both days sums them.
    let both = stats(h, "by=vertical&since=2026-11-23T00:00:00Z&until=2026-12-25T00:00:00Z").await;
    assert_eq!(
        both[0],
        group(
            "auto",
            &[
                ("pings", 3),
                ("vertical_duplicate", 1),
                ("in_auction_duplicate", 2),
                ("contract_duplicate", 2),
                ("dq_duplicate", 2),
                ("bids", 2),
                ("sales", 1),
                ("rollbacks", 1)
            ]
        )
    );
}

#[tokio::test]
async fn ranges_count_whole_utc_hours_and_until_is_exclusive() {
    let h = Harness::start(&config()).await;
    let pings = |groups: Vec<Value>| groups.iter().map(|g| g["pings"].as_u64().unwrap()).sum::<u64>();
    h.ping("solar-excl", email("one@example.com")).await; // 15:00:00
    h.advance_secs(3599).await;
    h.ping("solar-excl", email("two@example.com")).await; // 15:59:59
    h.advance_secs(1).await;
    h.ping("solar-excl", email("three@example.com")).await; // 16:00:00

    // A range inside an hour counts that whole hour.
    assert_eq!(pings(stats(&h, "by=vertical&since=2026-11-23T15:30:00Z&until=2026-11-23T15:31:00Z").await), 2);
    assert_eq!(pings(stats(&h, "by=vertical&since=2026-11-23T15:59:00Z&until=2026-11-23T16:00:01Z").await), 3);
    assert_eq!(pings(stats(&h, &format!("by=vertical&{HOUR_0}")).await), 2);
    assert_eq!(pings(stats(&h, "by=vertical&since=2026-11-23T16:00:00Z&until=2026-11-23T17:00:00%2B00:00").await), 1);
    // Other time zones are the same instants; an unencoded "+" (a space once decoded) is
    // read as the "+" it was meant to be.
    assert_eq!(pings(stats(&h, "by=vertical&since=2026-11-23T16:00:00+00:00&until=2026-11-23T17:00:00Z").await), 1);
    assert_eq!(
        pings(stats(&h, "by=vertical&since=2026-11-23T10:00:00-05:00&until=2026-11-23T11:00:00-05:00").await),
        2
    );
    assert_eq!(
        stats(&h, "by=vertical&since=2026-11-22T00:00:00Z&until=2026-11-23T15:00:00Z").await,
        Vec::<Value>::new()
    );
    // The default range ends now (16:00:00), so the hour that starts now is not in it yet.
    assert_eq!(pings(stats(&h, "by=partner").await), 2);
    // The longest range allowed: 366 days.
    assert_eq!(pings(stats(&h, "by=partner&since=2025-11-22T16:00:00Z").await), 2);
}

#[tokio::test]
async fn the_operator_token_is_required_and_bad_parameters_name_the_field() {
    let h = Harness::start(&config()).await;
    for token in [None, Some(KEY_P1), Some("operator-token-000")] {
        let (status, body) = h.admin_with(token, "GET", "/stats?by=partner", None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")), "{token:?}");
    }
    for (query, field) in [
        ("", "by"),
        ("by=", "by"),
        ("by=offer", "by"),
        ("by=partner&since=yesterday", "since"),
        ("by=partner&until=2026-11-23", "until"),
        ("by=partner&since=2026-11-23T16:00:00Z&until=2026-11-23T16:00:00Z", "until"),
        ("by=partner&since=2026-11-24T00:00:00Z&until=2026-11-23T00:00:00Z", "until"),
        ("by=partner&since=2025-11-22T15:59:59Z&until=2026-11-23T16:00:00Z", "since"),
        ("by=buyer&since=2024-01-01T00:00:00Z&until=2026-01-01T00:00:00Z", "since"),
    ] {
        let (status, body) = h.admin("GET", &format!("/stats?{query}"), None).await;
        assert_eq!((status, body["error"]["field"].as_str()), (422, Some(field)), "{query}: {body}");
    }
    assert_eq!(h.admin("POST", "/stats?by=partner", None).await.0, 405);
}
