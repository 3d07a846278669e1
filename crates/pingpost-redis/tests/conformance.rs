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
