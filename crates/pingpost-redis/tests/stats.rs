//! The Redis statistics sink, on a single Redis and on a Redis Cluster started by this test:
//! increments are summed per counter, written under one hash per UTC hour with a TTL, and
//! read back per group over the hours a range overlaps.

#![allow(clippy::unwrap_used)]

use chrono::TimeZone;
use pingpost_core::Timestamp;
use pingpost_engine::stats::{GroupBy, Hour, Increment, Metric, StatsGroup, StatsSink};
use pingpost_redis::{RedisOptions, RedisStore};
use pingpost_testkit::{RedisCluster, RedisServer};
use redis::AsyncCommands;
use std::collections::HashMap;

fn at(d: u32, h: u32, m: u32) -> Timestamp {
    chrono::Utc.with_ymd_and_hms(2026, 11, d, h, m, 0).unwrap()
}

fn inc(t: Timestamp, by: GroupBy, key: &str, metric: Metric, n: u64) -> Increment {
    Increment { hour: Hour::of(t), by, key: key.into(), metric, n }
}

fn group(key: &str, set: &[(Metric, u64)]) -> StatsGroup {
    let mut g = StatsGroup::new(key);
    for (m, n) in set {
        g.add(*m, *n);
    }
    g
}

/// `single`: the URL of a standalone server whose keys the test may read directly.
async fn check_sink(urls: &str, single: Option<&str>) {
    let opts = RedisOptions { namespace: "st".into(), ..RedisOptions::default() };
    let store = RedisStore::connect(urls, opts).await.unwrap();
    let sink = store.stats_sink(chrono::Duration::days(400));
    sink.record(vec![
        inc(at(23, 9, 59), GroupBy::Partner, "p1", Metric::Pings, 1),
        inc(at(23, 10, 0), GroupBy::Partner, "p1", Metric::Pings, 2),
        inc(at(23, 10, 0), GroupBy::Partner, "p2", Metric::VerticalDuplicate, 1),
        inc(at(23, 10, 5), GroupBy::Buyer, "b1", Metric::Sales, 1),
    ]);
    sink.record(vec![
        inc(at(23, 10, 30), GroupBy::Partner, "p1", Metric::Pings, 1),
        inc(at(23, 11, 0), GroupBy::Partner, "p1", Metric::Bids, 4),
        // Another day: another hash, on another slot of a cluster, in the same batch.
        inc(at(24, 0, 0), GroupBy::Vertical, "auto", Metric::Rollbacks, 1),
    ]);
    sink.flush().await.unwrap();

    let got = sink.query(GroupBy::Partner, at(23, 10, 0), at(23, 11, 0)).await.unwrap();
    assert_eq!(got, [group("p1", &[(Metric::Pings, 3)]), group("p2", &[(Metric::VerticalDuplicate, 1)])]);
    let got = sink.query(GroupBy::Partner, at(23, 9, 30), at(23, 11, 1)).await.unwrap();
    assert_eq!(got[0], group("p1", &[(Metric::Pings, 4), (Metric::Bids, 4)]));
    let got = sink.query(GroupBy::Buyer, at(23, 0, 0), at(25, 0, 0)).await.unwrap();
    assert_eq!(got, [group("b1", &[(Metric::Sales, 1)])]);
    let got = sink.query(GroupBy::Vertical, at(23, 0, 0), at(24, 0, 0)).await.unwrap();
    assert_eq!(got, [], "until is exclusive: 24th 00:00 is outside");
    assert_eq!(sink.query(GroupBy::Vertical, at(24, 0, 0), at(24, 0, 1)).await.unwrap().len(), 1);

    // The layout `keys.rs` documents: one hash per hour, `kind|key|metric`, a TTL.
    if let Some(url) = single {
        let mut con = redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap();
        let hash: HashMap<String, i64> = con.hgetall("st:stats:{2026112310}").await.unwrap();
        let want: HashMap<String, i64> = [
            ("partner|p1|pings".to_string(), 3),
            ("partner|p2|vertical_duplicate".to_string(), 1),
            ("buyer|b1|sales".to_string(), 1),
        ]
        .into();
        assert_eq!(hash, want);
        let ttl: i64 = con.ttl("st:stats:{2026112310}").await.unwrap();
        assert!(ttl > 399 * 86_400 && ttl <= 400 * 86_400, "{ttl}");
    }

    // Increments recorded before a flush are all written when it returns.
    for _ in 0..100 {
        sink.record(vec![inc(at(23, 12, 0), GroupBy::Buyer, "b2", Metric::Pings, 1)]);
    }
    sink.flush().await.unwrap();
    let got = sink.query(GroupBy::Buyer, at(23, 12, 0), at(23, 13, 0)).await.unwrap();
    assert_eq!(got, [group("b2", &[(Metric::Pings, 100)])]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_on_a_single_redis() {
    let server = RedisServer::start();
    check_sink(&server.url(), Some(&server.url())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_on_a_redis_cluster() {
    let cluster = RedisCluster::start();
    check_sink(&cluster.urls(), None).await;
}

/// A batch whose reply was lost is retried by the writer, and its marker keeps the retry
/// from counting it a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_retried_after_a_lost_reply_is_counted_once() {
    let server = RedisServer::start();
    let faults = pingpost_store::Faults::new();
    faults.arm("redis.stats_add", pingpost_store::Fault::DropReply, 1, 0);
    let opts = RedisOptions { namespace: "retry".into(), faults: faults.clone(), ..RedisOptions::default() };
    let store = RedisStore::connect(&server.url(), opts).await.unwrap();
    let sink = store.stats_sink(chrono::Duration::days(400));
    sink.record(vec![inc(at(23, 10, 0), GroupBy::Partner, "p1", Metric::Pings, 3)]);
    sink.flush().await.unwrap();
    assert_eq!((faults.fired("redis.stats_add"), faults.reached("redis.stats_add")), (1, 2), "lost, then retried");
    let got = sink.query(GroupBy::Partner, at(23, 10, 0), at(23, 11, 0)).await.unwrap();
    assert_eq!(got, [group("p1", &[(Metric::Pings, 3)])]);
}
