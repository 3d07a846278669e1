//! The store conformance suites (the store's and the secrets'), unchanged, on a single Redis
//! and on a 3-master Redis Cluster started by this test.

use pingpost_redis::{RedisOptions, RedisStore};
use pingpost_testkit::{RedisCluster, RedisServer};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// A fresh, empty store: a namespace no other check has used.
async fn fresh(urls: &str) -> Arc<RedisStore> {
    static N: AtomicU32 = AtomicU32::new(0);
    let opts = RedisOptions { namespace: format!("t{}", N.fetch_add(1, Ordering::Relaxed)), ..RedisOptions::default() };
    Arc::new(RedisStore::connect(urls, opts).await.expect("connect to the test's Redis"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_a_single_redis() {
    let server = RedisServer::start();
    let url = server.url();
    pingpost_store::conformance::run_all(|| fresh(&url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_a_redis_cluster() {
    let cluster = RedisCluster::start();
    let urls = cluster.urls();
    pingpost_store::conformance::run_all(|| fresh(&urls)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_conformance_on_a_single_redis() {
    let server = RedisServer::start();
    let url = server.url();
    pingpost_store::secrets::conformance::run_all(|| fresh(&url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_conformance_on_a_redis_cluster() {
    let cluster = RedisCluster::start();
    let urls = cluster.urls();
    pingpost_store::secrets::conformance::run_all(|| fresh(&urls)).await;
}

/// Redis keeps an event's bytes: bytes it cannot decode (a newer release's event, or damaged)
/// are read back as unreadable under their id, never as an error of the whole read, so that the
/// relay can drop that one and go on; the events around it read back whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_whose_bytes_cannot_be_read_comes_back_unreadable_and_alone() {
    use pingpost_core::events::LogEvent;
    use pingpost_store::{EventOutbox, QueuedEvent};
    let server = RedisServer::start();
    let store = fresh(&server.url()).await;
    let at = chrono::DateTime::from_timestamp(1_796_000_000, 0).unwrap();
    let counts = |id: &str| Arc::new(LogEvent::Counts { id: id.into(), at, rows: Vec::new() });
    let events: Vec<QueuedEvent> = ["a", "b", "c"].into_iter().map(|id| QueuedEvent::of(counts(id))).collect();
    store.queue_events(events.clone()).await.unwrap();
    let mut con = redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    for shard in 0..16 {
        let key = store.keys().events(shard);
        let held: bool = redis::cmd("HEXISTS").arg(&key).arg("counts:b").query_async(&mut con).await.unwrap();
        if held {
            let () = redis::cmd("HSET")
                .arg(&key)
                .arg("counts:b")
                .arg("{\"from\":\"a newer release\"}")
                .query_async(&mut con)
                .await
                .unwrap();
        }
    }
    let read = store.queued_events(10).await.unwrap();
    let ids: Vec<&str> = read.iter().map(|q| q.id.as_str()).collect();
    assert_eq!(ids, ["counts:a", "counts:b", "counts:c"]);
    assert_eq!((&read[0], &read[2]), (&events[0], &events[2]), "the others read back whole");
    assert!(read[1].event.as_ref().is_err_and(|why| why.starts_with("log event")), "{:?}", read[1].event);
}
