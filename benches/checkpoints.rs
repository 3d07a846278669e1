//! The checkpoint pipeline and the whole ping on the embedded store, for 1 to 300
//! fixed-price contracts on the offer.
//!
//! - `pipeline/N`: the pure core of checkpoints 3-5 (`eligible`, `counter_keys`, `screen`)
//!   for a fresh consumer, no store and no runtime: the CPU the contracts cost.
//! - `ping_memory_fresh/N`: `Engine::ping` of a consumer never seen before: checkpoints 1-2
//!   admit it, caps are read, every contract bids, the ping record is written.
//! - `ping_memory_vertical_duplicate/N`: `Engine::ping` of a consumer already submitted on
//!   the vertical: checkpoint 2 stops it (and writes an audit entry).
//!
//! `cargo bench -p pingpost-benches --bench checkpoints`

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pingpost_core::checkpoint::{counter_keys, eligible, screen, ConsumerHistory};
use pingpost_core::ids::OfferId;
use pingpost_engine::audit::{AuditRetention, MemoryAudit};
use pingpost_engine::stats::MemoryStats;
use pingpost_engine::Engine;
use pingpost_store::MemoryStore;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;
use support::{Expect, NoHttp, CONTRACT_COUNTS};

fn pipeline(c: &mut Criterion) {
    let no_http = NoHttp::new();
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(1));
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    let fields = support::fields();
    let now = support::start_time();
    let offer = OfferId::new(support::OFFER);
    let history = ConsumerHistory::default();
    for n in CONTRACT_COUNTS {
        let config = support::config(n, &no_http);
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter(|| {
                let (eligible, _) = eligible(config.contracts_of(&offer), &fields, now);
                let keys = counter_keys(&eligible);
                // The engine builds this map from the store's answer; all caps have room.
                let counters: HashMap<String, i64> = keys.into_iter().map(|k| (k, 0)).collect();
                let screening = screen(eligible, &counters, &history, None, now);
                assert_eq!(screening.candidates.len(), n);
                black_box(screening)
            })
        });
    }
    g.finish();
}

/// An engine on a new, empty embedded store. Each sample gets its own so that the store
/// (ping records of up to 300 bids each, audit entries) does not grow without bound over
/// the run; building it is outside the timed loop.
fn memory_engine(n: usize, no_http: &NoHttp) -> Engine {
    support::engine(
        support::config(n, no_http),
        Arc::new(MemoryStore::new()),
        Arc::new(MemoryAudit::new(AuditRetention::default())),
        Arc::new(MemoryStats::default()),
    )
}

fn ping_memory(c: &mut Criterion) {
    let rt = support::runtime();
    let no_http = NoHttp::new();

    let mut g = support::ping_group(c, "ping_memory_fresh");
    for n in CONTRACT_COUNTS {
        let no_http = &no_http;
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.to_async(&rt).iter_custom(|iters| async move {
                let engine = memory_engine(n, no_http);
                let requests = support::fresh_requests(iters);
                support::timed_pings(&engine, requests, Expect::Bids(n)).await
            })
        });
    }
    g.finish();
    no_http.assert_untouched();

    let mut g = support::ping_group(c, "ping_memory_vertical_duplicate");
    for n in CONTRACT_COUNTS {
        let no_http = &no_http;
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.to_async(&rt).iter_custom(|iters| async move {
                support::timed_duplicate_pings(&memory_engine(n, no_http), iters).await
            })
        });
    }
    g.finish();
    no_http.assert_untouched();
}

criterion_group!(benches, pipeline, ping_memory);
criterion_main!(benches);
