//! What the ping benches share: the configuration (one offer, N fixed-price contracts, one
//! buyer per contract), consumers, and a timed loop of pings that checks every answer.
#![allow(dead_code)] // each bench uses a different part

use chrono::TimeZone;
use pingpost_core::config::{load_files, Config, SourceFile};
use pingpost_core::identity::{Identity, RawIdentity};
use pingpost_core::ids::PartnerId;
use pingpost_core::lead::{FieldValue, LeadFields};
use pingpost_core::Timestamp;
use pingpost_engine::audit::AuditSink;
use pingpost_engine::clock::ManualClock;
use pingpost_engine::records::{PingStatus, RejectReason};
use pingpost_engine::stats::StatsSink;
use pingpost_engine::{Engine, EngineParts, PingRequest};
use pingpost_store::Store;
use std::hint::black_box;
use std::io::ErrorKind;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
// tokio's Instant, as the workspace's clippy.toml asks; time is never paused in a bench,
// so it reads the same monotonic clock as std's.
use tokio::time::Instant;

pub const PARTNER: &str = "p1";
pub const OFFER: &str = "auto-excl";
/// The contract counts of the spec's question (20-30 contracts) and well beyond it.
pub const CONTRACT_COUNTS: [usize; 5] = [1, 10, 30, 100, 300];

/// A vertical, an exclusive offer, a partner, and `n` buyers each with one fixed-price
/// contract. Every contract has a filter and a daily cap, as a production contract would,
/// so the ping reads one counter per contract (in one store call) and evaluates filters;
/// prices differ so ranking has work to do. No contract has a bid URL or a DQ URL, so a
/// ping makes no HTTP call: the buyers' URLs point at `no_http`, which checks that.
pub fn config(n: usize, no_http: &NoHttp) -> Config {
    let mut text = format!(
        r#"
[[verticals]]
id = "auto"
dedup_window_days = 30

[[offers]]
id = "{OFFER}"
vertical = "auto"
ping_budget_ms = 100

[[partners]]
id = "{PARTNER}"
api_key = "bench-partner-key-0001"
offers = ["{OFFER}"]
"#
    );
    for i in 0..n {
        text.push_str(&format!(
            r#"
[[buyers]]
id = "b{i:04}"
post_url = "{url}/b{i:04}/post"
timeout_ms = 1000

[[contracts]]
id = "c{i:04}"
buyer = "b{i:04}"
offer = "{OFFER}"
price = "{dollars}.{cents:02}"
filters = {{ state = {{ in = ["CA", "NV", "AZ", "TX"] }}, age = {{ min = 18, max = 75 }} }}
caps = {{ daily = 100000, time_zone = "America/New_York" }}
dedup = {{ enabled = true, window_days = 30 }}
"#,
            url = no_http.url(),
            dollars = 10 + i / 100,
            cents = i % 100,
        ));
    }
    match load_files(&[SourceFile { name: "bench.toml".into(), text }]) {
        Ok(config) => config,
        Err(errors) => panic!("bench configuration invalid: {errors:#?}"),
    }
}

/// A Monday, 10:00 in New York: inside any schedule, and fixed, so that the vertical window
/// never lets a duplicate through mid-run.
pub fn start_time() -> Timestamp {
    chrono::Utc.with_ymd_and_hms(2026, 11, 23, 15, 0, 0).single().expect("valid time")
}

pub fn engine(config: Config, store: Arc<dyn Store>, audit: Arc<dyn AuditSink>, stats: Arc<dyn StatsSink>) -> Engine {
    let clock = Arc::new(ManualClock::new(start_time()));
    Engine::new(EngineParts {
        config,
        config_stamp: None,
        store,
        clock,
        ids: Arc::new(pingpost_engine::ids::RandomIds),
        audit,
        stats,
        books: Arc::new(pingpost_books::MemoryBooks::new()),
        faults: pingpost_store::Faults::none(),
        lease_slack: pingpost_engine::DEFAULT_LEASE_SLACK,
        secrets: pingpost_engine::secrets::Secrets::new(
            Arc::new(pingpost_store::MemoryStore::new()),
            pingpost_engine::secrets::EnvSecrets::default(),
        ),
        events: Arc::new(pingpost_events::MemoryEvents::new()),
    })
    .expect("engine")
}

pub fn fields() -> LeadFields {
    [
        ("state".to_string(), FieldValue::Text("CA".into())),
        ("zip".to_string(), FieldValue::Text("90210".into())),
        ("age".to_string(), FieldValue::Number(34.0)),
    ]
    .into_iter()
    .collect()
}

/// Consumer number `n`: its own email and phone, hashed as the server would.
pub fn consumer(n: u64) -> Identity {
    let email = format!("consumer{n}@bench.example");
    let phone = format!("1555{:07}", n % 10_000_000);
    Identity::from_raw(&RawIdentity { email: Some(&email), phone: Some(&phone), ..Default::default() })
        .expect("valid identity")
}

pub fn request(identity: Identity) -> PingRequest {
    PingRequest { offer: OFFER.into(), identity, fields: fields(), idempotency_key: None, test: false }
}

/// Numbers consumers across samples and benches, so a "fresh" consumer never repeats even
/// when the store is not emptied between samples.
static NEXT_CONSUMER: AtomicU64 = AtomicU64::new(1);

/// `count` pings, each of a consumer never seen before (so each passes vertical dedup).
pub fn fresh_requests(count: u64) -> Vec<PingRequest> {
    let first = NEXT_CONSUMER.fetch_add(count, Ordering::Relaxed);
    (first..first + count).map(|n| request(consumer(n))).collect()
}

/// A consumer that nobody else uses, for the duplicate benches to submit once first.
pub fn one_consumer() -> PingRequest {
    request(consumer(NEXT_CONSUMER.fetch_add(1, Ordering::Relaxed)))
}

/// What every ping of a timed loop must answer.
#[derive(Clone, Copy, Debug)]
pub enum Expect {
    /// Accepted with one bid per contract: checkpoint 3 kept every contract.
    Bids(usize),
    VerticalDuplicate,
}

/// Runs the pings one after the other (a single partner connection's view: latency, not
/// concurrency) and answers the time they took. Requests are built before the clock starts,
/// so identity hashing is not counted here (the `identity` bench measures it).
pub async fn timed_pings(engine: &Engine, requests: Vec<PingRequest>, expect: Expect) -> Duration {
    let partner = PartnerId::new(PARTNER);
    let start = Instant::now();
    for req in requests {
        let answer = engine.ping(&partner, req).await.expect("ping answered");
        // Checking the answer costs nanoseconds and proves the bench measures what it says.
        match expect {
            Expect::Bids(n) => assert!(answer.status == PingStatus::Accepted && answer.bids.len() == n, "{answer:?}"),
            Expect::VerticalDuplicate => {
                assert_eq!(answer.reason, Some(RejectReason::VerticalDuplicate), "{answer:?}")
            }
        }
        black_box(answer);
    }
    start.elapsed()
}

/// The buyers' URLs point here. Nothing accepts, but the kernel completes any connection
/// into the backlog, so a non-blocking `accept` finding one proves a ping called a buyer.
pub struct NoHttp(TcpListener);

impl NoHttp {
    pub fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener.set_nonblocking(true).expect("non-blocking listener");
        NoHttp(listener)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.0.local_addr().expect("local address"))
    }

    pub fn assert_untouched(&self) {
        match self.0.accept() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Ok((_, from)) => panic!("a fixed-price ping made an HTTP call to a buyer (from {from})"),
            Err(e) => panic!("checking the buyers' port: {e}"),
        }
    }
}

/// Two workers, like the server on this two-core machine: the Redis connection's driver
/// task then runs beside the ping, as it does in production.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime")
}

/// A group of whole-ping benches: one ping per element, short enough runs that the set
/// finishes in minutes on two cores.
pub fn ping_group<'a>(
    c: &'a mut criterion::Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(criterion::Throughput::Elements(1));
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g
}

/// Submits one consumer, then times `iters` pings of it again: each a vertical duplicate.
pub async fn timed_duplicate_pings(engine: &Engine, iters: u64) -> Duration {
    let first = one_consumer();
    engine.ping(&PartnerId::new(PARTNER), first.clone()).await.expect("first submission");
    let repeats = (0..iters).map(|_| first.clone()).collect();
    timed_pings(engine, repeats, Expect::VerticalDuplicate).await
}
