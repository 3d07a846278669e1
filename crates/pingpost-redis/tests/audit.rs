//! The audit log's conformance suite on a Redis this test starts, and what only the Redis
//! log does: its entries survive the writer, a scan is bounded, ids follow entries' times.

use pingpost_engine::audit::{conformance, AuditQuery, AuditRetention, AuditSink};
use pingpost_redis::{RedisAudit, RedisOptions, RedisStore};
use pingpost_testkit::RedisServer;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// A fresh, empty log: a namespace no other check has used.
async fn fresh(url: &str, retention: AuditRetention) -> Arc<RedisAudit> {
    static N: AtomicU32 = AtomicU32::new(0);
    let opts = RedisOptions { namespace: format!("a{}", N.fetch_add(1, Ordering::Relaxed)), ..RedisOptions::default() };
    let store = RedisStore::connect(url, opts).await.expect("connect to the test's Redis");
    Arc::new(store.audit_log(retention))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_conformance_on_redis() {
    let server = RedisServer::start();
    let url = server.url();
    conformance::run_all(|retention| {
        let url = url.clone();
        async move { fresh(&url, retention).await }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_scans_a_bounded_number_of_entries_and_says_where_to_continue() {
    let server = RedisServer::start();
    let log = fresh(&server.url(), AuditRetention::default()).await;
    let n = pingpost_redis::audit::SCAN_BUDGET as i64 + 500;
    for i in 0..n {
        let buyer = if i < 10 { "rare" } else { "b1" };
        log.record(vec![conformance::entry(i, "p1", buyer, pingpost_core::checkpoint::Checkpoint::ContractDuplicate)]);
        // Faster than any node pings: the writer's queue would drop entries past its bound.
        if (i + 1) % 5_000 == 0 {
            log.flush().await.expect("flush");
        }
    }
    log.flush().await.expect("flush");
    let q = AuditQuery { buyer: Some(pingpost_core::ids::BuyerId::new("rare")), ..AuditQuery::newest(100) };
    let first = log.query(q.clone()).await.expect("query");
    assert!(first.entries.is_empty(), "the ten matches lie beyond the first scan");
    let cursor = first.next_cursor.expect("a cursor to continue from");
    let second = log.query(AuditQuery { cursor: Some(cursor), ..q }).await.expect("query");
    assert_eq!(second.entries.len(), 10);
    assert_eq!(&*second.entries[0].ping_id, "ping-9");
    assert_eq!(second.next_cursor, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pings_hits_are_one_stream_entry_and_pages_may_end_inside_it() {
    use pingpost_core::checkpoint::Checkpoint;
    let server = RedisServer::start();
    let log = fresh(&server.url(), AuditRetention::default()).await;
    // Two pings: one that dropped 300 contracts, then one that dropped 2.
    log.record((0..300).map(|i| conformance::entry(i, "p1", "b1", Checkpoint::InAuctionDuplicate)).collect());
    log.record((300..302).map(|i| conformance::entry(i, "p1", "b1", Checkpoint::ContractDuplicate)).collect());
    log.flush().await.expect("flush");
    let mut con = redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*:{audit}").query_async(&mut con).await.unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let len: usize = redis::cmd("XLEN").arg(&keys[0]).query_async(&mut con).await.unwrap();
    assert_eq!(len, 2, "one XADD per ping, whatever its number of hits");

    let mut seen = Vec::new();
    let mut q = AuditQuery::newest(7);
    loop {
        let page = log.query(q.clone()).await.expect("query");
        seen.extend(page.entries.iter().map(|e| e.ping_id.to_string()));
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    let expected: Vec<String> = (0..302).rev().map(|i| format!("ping-{i}")).collect();
    assert_eq!(seen, expected, "every hit once, newest first, across pages that split a ping's hits");
}

/// A batch whose reply was lost is retried by the writer, and its marker keeps the retry
/// from appending the entries a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_retried_after_a_lost_reply_is_appended_once() {
    let server = RedisServer::start();
    let faults = pingpost_store::Faults::new();
    faults.arm("redis.audit_append", pingpost_store::Fault::DropReply, 1, 0);
    let opts = RedisOptions { namespace: "retry".into(), faults: faults.clone(), ..RedisOptions::default() };
    let store = RedisStore::connect(&server.url(), opts).await.expect("connect to the test's Redis");
    let log = store.audit_log(AuditRetention::default());
    log.record(vec![conformance::entry(1, "p1", "b1", pingpost_core::checkpoint::Checkpoint::ContractDuplicate)]);
    log.flush().await.expect("flush");
    assert_eq!(
        (faults.fired("redis.audit_append"), faults.reached("redis.audit_append")),
        (1, 2),
        "lost, then retried"
    );
    let page = log.query(AuditQuery::newest(10)).await.expect("query");
    assert_eq!(page.entries.len(), 1, "{:?}", page.entries);
}

/// An engine on the embedded store whose audit log is `audit`: one offer `o` of p1's with a
/// fixed-price contract, so that a consumer's second ping is a vertical duplicate, one hit.
fn engine_with(audit: Arc<dyn AuditSink>) -> pingpost_engine::Engine {
    use pingpost_core::config::{load_files, SourceFile};
    let text = r#"
[[verticals]]
id = "auto"
dedup_window_days = 30

[[offers]]
id = "o"
vertical = "auto"
ping_budget_ms = 1000

[[partners]]
id = "p1"
api_key = "audit-partner-key-0001"
offers = ["o"]

[[buyers]]
id = "b1"
post_url = "http://127.0.0.1:9/post"
timeout_ms = 1000

[[contracts]]
id = "c1"
buyer = "b1"
offer = "o"
price = "10.00"
"#;
    let config = load_files(&[SourceFile { name: "audit.toml".into(), text: text.into() }]).expect("valid config");
    let clock = pingpost_engine::clock::ManualClock::new(conformance::t0());
    pingpost_engine::Engine::new(pingpost_engine::EngineParts {
        config,
        config_stamp: None,
        store: Arc::new(pingpost_store::MemoryStore::new()),
        clock: Arc::new(clock),
        ids: Arc::new(pingpost_engine::ids::RandomIds),
        audit,
        stats: Arc::new(pingpost_engine::stats::MemoryStats::default()),
        books: Arc::new(pingpost_books::MemoryBooks::new()),
        faults: pingpost_store::Faults::none(),
        lease_slack: pingpost_engine::DEFAULT_LEASE_SLACK,
        secrets: pingpost_engine::secrets::Secrets::new(
            Arc::new(pingpost_store::MemoryStore::new()),
            pingpost_engine::secrets::EnvSecrets::default(),
        ),
        events: std::sync::Arc::new(pingpost_events::MemoryEvents::new()),
    })
    .expect("engine")
}

async fn ping(engine: &pingpost_engine::Engine, who: &str) -> pingpost_engine::records::PingAnswer {
    use pingpost_core::identity::{Identity, Sha256Hex};
    let identity = Identity::new(Some(Sha256Hex::digest(who)), None).expect("an identifier");
    let req = pingpost_engine::PingRequest {
        offer: "o".into(),
        identity,
        fields: Default::default(),
        idempotency_key: None,
        test: false,
    };
    engine.ping(&pingpost_core::ids::PartnerId::new("p1"), req).await.expect("answered")
}

/// While only the audit log's Redis is stuck, pings are answered, the writer's queue holds
/// at most its bound and what does not fit is dropped and counted; what was queued is
/// written once Redis answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_writer_queues_at_most_its_bound_and_counts_what_it_drops() {
    use pingpost_engine::records::{PingStatus, RejectReason};
    let server = RedisServer::start();
    let faults = pingpost_store::Faults::new();
    // Long enough that the writer waits on the frozen Redis for the whole test.
    let stuck = std::time::Duration::from_secs(300);
    let opts = RedisOptions {
        namespace: "stall".into(),
        faults: faults.clone(),
        op_timeout: stuck,
        response_timeout: stuck,
        ..RedisOptions::default()
    };
    let store = RedisStore::connect(&server.url(), opts).await.expect("connect to the test's Redis");
    let log = Arc::new(store.audit_log(AuditRetention::default()));
    let engine = engine_with(Arc::clone(&log) as Arc<dyn AuditSink>);
    assert_eq!(ping(&engine, "x").await.status, PingStatus::Accepted);

    server.freeze();
    // The writer takes this ping's hit and waits on Redis with it.
    assert_eq!(ping(&engine, "x").await.reason, Some(RejectReason::VerticalDuplicate));
    faults.reached_times("redis.audit_append", 1).await;
    let queue = pingpost_redis::audit::QUEUE;
    let one = |n| vec![conformance::entry(n, "p1", "b1", pingpost_core::checkpoint::Checkpoint::ContractDuplicate)];
    for n in 0..queue as i64 {
        log.record(one(n));
    }
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        for n in 0..3 {
            log.record(one(n));
        }
    });
    let counted = metrics.render();
    assert!(counted.contains(r#"pingpost_audit_dropped_total{reason="queue_full"} 3"#), "{counted}");
    for _ in 0..5 {
        let answer = ping(&engine, "x").await;
        assert_eq!(answer.reason, Some(RejectReason::VerticalDuplicate), "answered while the log is stuck");
    }

    server.thaw();
    log.flush().await.expect("flush");
    let written = log.recent(usize::MAX).await.expect("read the log");
    assert_eq!(written.len(), 1 + queue, "the first ping's hit and a full queue; nothing dropped was kept");
}
