//! The ping on Redis: the same `Engine::ping` as `checkpoints`, with the production store,
//! audit log and statistics sink, against a redis-server this bench starts on a free
//! loopback port (`redis-server` must be on the PATH). The difference from
//! `ping_memory_*` is the store round trips: the admission script and the counter read (in
//! parallel), then the ping record write for an accepted ping.
//!
//! - `ping_redis_fresh/N`: a consumer never seen before, N contracts all bidding.
//! - `ping_redis_vertical_duplicate/N`: a consumer already submitted; checkpoint 2 stops it.
//!
//! `cargo bench -p pingpost-benches --bench redis_ping`

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use pingpost_engine::audit::AuditRetention;
use pingpost_engine::Engine;
use pingpost_redis::{RedisOptions, RedisStore};
use pingpost_testkit::RedisServer;
use std::sync::Arc;
use support::{Expect, NoHttp};

/// Fewer points than on the embedded store: each costs a real server's time, and these
/// three show the shape (one, the spec's 30, and ten times that).
const CONTRACT_COUNTS: [usize; 3] = [1, 30, 300];

async fn redis_engine(n: usize, url: &str, no_http: &NoHttp) -> Engine {
    let store = RedisStore::connect(url, RedisOptions::default()).await.expect("connect to the bench's Redis");
    let audit = store.audit_log(AuditRetention::default());
    let stats = store.stats_sink(pingpost_engine::stats::DEFAULT_RETENTION);
    support::engine(support::config(n, no_http), Arc::new(store), Arc::new(audit), Arc::new(stats))
}

/// Empties Redis between samples, outside the timed loop: an accepted ping with 300 bids
/// leaves a ~40 KB record for 20 minutes, so a whole run would otherwise fill memory. The
/// audit log is flushed first so that its writer does not write into the next sample.
async fn reset(engine: &Engine, client: &redis::Client) {
    engine.audit().flush().await.expect("audit flushed");
    let mut conn = client.get_multiplexed_async_connection().await.expect("connect to the bench's Redis");
    redis::cmd("FLUSHDB").query_async::<()>(&mut conn).await.expect("FLUSHDB");
}

fn ping_redis(c: &mut Criterion) {
    let rt = support::runtime();
    let no_http = NoHttp::new();
    // Dropped (and the process killed) at the end of this function.
    let server = RedisServer::start();
    let client = redis::Client::open(server.url()).expect("redis URL");

    for (group, expect_dup) in [("ping_redis_fresh", false), ("ping_redis_vertical_duplicate", true)] {
        let mut g = support::ping_group(c, group);
        // A millisecond-scale ping leaves ~3000 pings for 100 samples, too few at 300
        // contracts; 50 samples of more pings each keep the run short and the interval tight.
        g.sample_size(50);
        for n in CONTRACT_COUNTS {
            let engine = rt.block_on(redis_engine(n, &server.url(), &no_http));
            let (engine, client) = (&engine, &client);
            g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
                b.to_async(&rt).iter_custom(|iters| async move {
                    reset(engine, client).await;
                    if expect_dup {
                        support::timed_duplicate_pings(engine, iters).await
                    } else {
                        support::timed_pings(engine, support::fresh_requests(iters), Expect::Bids(n)).await
                    }
                })
            });
        }
        g.finish();
    }
    no_http.assert_untouched();
}

criterion_group!(benches, ping_redis);
criterion_main!(benches);
