//! `--redis-wait-replicas`: with N > 0 the engine acts on an admission or a reservation only
//! once N replicas have it (Redis's `WAIT`), and answers 503 when fewer acknowledge in time;
//! with 0 it never waits. Replicas here are real `redis-server` processes, frozen (SIGSTOP)
//! to play one that stopped acknowledging: it stays connected, so only `WAIT` notices.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::process::{start_engine_with_flags, temp_dir, SharedBooks};
use common::*;
use pingpost_buyersim::Buyers;
use pingpost_redis::RedisOptions;
use pingpost_testkit::{RedisCluster, RedisServer};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The wait for a replica in sync: ample, so that a loaded test machine does not turn a slow
/// acknowledgement into a 503; a frozen replica makes each waited write take this long.
const SYNCED_WITHIN_MS: u64 = 1_000;

fn waiting_for(replicas: u32, timeout_ms: u64) -> RedisOptions {
    RedisOptions { wait_replicas: replicas, wait_timeout: Duration::from_millis(timeout_ms), ..RedisOptions::default() }
}

fn one_contract() -> String {
    let mut c = base_config();
    c.push_str(&contract("c1", "b1", "auto-excl", "20.00", ""));
    c
}

fn assert_store_unavailable(status: u16, body: &Value) {
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_one_replica_to_wait_for_a_sale_reaches_it_and_a_frozen_replica_fails_pings_and_posts_with_503() {
    let master = RedisServer::start();
    let replica = master.start_replica();
    let h = Harness::start_with_redis_options(
        Backend::Shared(master.url()),
        &one_contract(),
        waiting_for(1, SYNCED_WITHIN_MS),
    )
    .await;

    // In sync: the sale goes through, and what the engine acted on is on the replica.
    let sold = email("sold@example.com");
    let (_, post) = h.sell("auto-excl", sold).await;
    assert_eq!(sold_to(&post), ["b1"], "{post}");
    let sale_id = post["sales"][0]["sale_id"].as_str().unwrap();
    let on_replica = pingpost_testkit::dump(&replica.url(), &format!("*:{{b:b1}}:sale:{sale_id}")).await;
    assert!(on_replica.contains(sale_id), "the sale's ledger entry is not on the replica: {on_replica:?}");
    assert!(master.calls_of("wait") > 0, "the engine never sent WAIT");
    let later = email("later@example.com");
    let waiting = h.ping("auto-excl", later.clone()).await;
    assert_eq!(waiting["status"], "accepted", "{waiting}");

    // Frozen: the replica is still connected but acknowledges nothing.
    replica.freeze();
    let retried = email("retried@example.com");
    let (status, body) = h.ping_as(KEY_P1, "auto-excl", retried.clone()).await;
    assert_store_unavailable(status, &body);
    let ping_id = waiting["ping_id"].as_str().unwrap();
    let (status, body) = h.post_as(KEY_P1, ping_id, later.clone()).await;
    assert_store_unavailable(status, &body);
    assert_eq!(h.buyers.count("b1", "post"), 1, "only the first sale was delivered");

    // Thawed: the partner's retry of the failed ping is accepted (its vertical mark was
    // released, not left to turn the retry away as its own duplicate) and sells.
    replica.thaw();
    replica.wait_in_sync();
    let (_, post) = h.sell("auto-excl", retried).await;
    assert_eq!(sold_to(&post), ["b1"], "{post}");
    assert_eq!(h.buyers.count("b1", "post"), 2);

    // The post that failed gave its sale up with a release (whether the reservation stood
    // was unknown); its tombstone fences the sale id for good, so the retried post delivers
    // nothing to that buyer and says why.
    let (status, retry) = h.post_as(KEY_P1, ping_id, later).await;
    assert_eq!(status, 200, "{retry}");
    assert_eq!(retry["status"], "unsold", "{retry}");
    assert_eq!(outcomes(&retry), [("b1".to_string(), "error".to_string())], "{retry}");
    assert_eq!(retry["attempts"][0]["reason"], "store_unavailable", "{retry}");
    assert_eq!(h.buyers.count("b1", "post"), 2, "a released sale is never delivered");
    h.assert_guarantees("after a frozen replica", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_replica_to_wait_for_a_frozen_replica_changes_nothing() {
    let master = RedisServer::start();
    let replica = master.start_replica();
    let h = Harness::start_with_redis_options(
        Backend::Shared(master.url()),
        &one_contract(),
        waiting_for(0, SYNCED_WITHIN_MS),
    )
    .await;
    replica.freeze();
    let (_, post) = h.sell("auto-excl", email("unwaited@example.com")).await;
    assert_eq!(sold_to(&post), ["b1"], "{post}");
    assert_eq!(master.calls_of("wait"), 0, "WAIT sent though no replica is waited for");
    replica.thaw();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_waiting_for_its_replica_does_not_hold_up_the_other_store_calls() {
    let master = RedisServer::start();
    let replica = master.start_replica();
    // A long wait, so that the ping below is still waiting while the health check runs.
    let h =
        Harness::start_with_redis_options(Backend::Shared(master.url()), &one_contract(), waiting_for(1, 3_000)).await;
    h.ping("auto-excl", email("warm@example.com")).await; // scripts loaded
    replica.freeze();
    let base = h.base.clone();
    let ping = tokio::spawn(async move {
        let body = json!({"offer": "auto-excl", "lead": email("blocked@example.com")}).to_string();
        reqwest::Client::new()
            .post(format!("{base}/v1/ping"))
            .header("authorization", format!("Bearer {KEY_P1}"))
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    let mut polls = 0;
    while master.blocked_clients() == 0 {
        polls += 1;
        assert!(polls < 500, "the ping never reached its WAIT");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Redis reads nothing more from a client blocked in WAIT: a store call that shared its
    // connection would wait the full 3 s behind it and fail at its own timeout.
    h.engine.store().health().await.expect("the store answers while a write waits for its replica");
    assert!(!ping.is_finished(), "the ping stopped waiting before the health check answered");
    assert_eq!(ping.await.unwrap(), 503);
    replica.thaw();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_without_replicas_waiting_for_one_fails_every_admission_with_503() {
    let cluster = RedisCluster::start();
    let urls = cluster.urls();
    let h =
        Harness::start_with_redis_options(Backend::Shared(urls.clone()), &one_contract(), waiting_for(1, 100)).await;
    // One identifier, one admission: its WAIT goes to the master that has the write, not
    // to every master.
    let waits = || cluster.nodes().iter().map(|n| n.calls_of("wait")).collect::<Vec<_>>();
    let before = waits();
    let (status, body) = h.ping_as(KEY_P1, "auto-excl", email("one@example.com")).await;
    assert_store_unavailable(status, &body);
    let asked: Vec<u64> = waits().iter().zip(&before).map(|(after, before)| after - before).collect();
    assert_eq!(asked.iter().filter(|&&n| n > 0).count(), 1, "WAITs per master: {asked:?}");
    // Identifiers hashed all over the slots, hence over all three masters.
    for i in 0..6 {
        let l = lead(Some(&format!("cluster{i}@example.com")), Some(&format!("555-600-{i:04}")));
        let (status, body) = h.ping_as(KEY_P1, "auto-excl", l).await;
        assert_store_unavailable(status, &body);
    }
    assert_eq!(h.buyers.count("b1", "post"), 0);
    let store = h.dump_store().await;
    assert!(!store.contains("v:auto"), "a failed admission left its vertical mark: {store}");

    // The same cluster without waiting admits them: the 503s came from WAIT.
    let unwaited = Harness::start_with_redis_options(Backend::Shared(urls), &one_contract(), waiting_for(0, 100)).await;
    let (_, post) = unwaited.sell("auto-excl", lead(Some("cluster0@example.com"), Some("555-600-0000"))).await;
    assert_eq!(sold_to(&post), ["b1"], "{post}");
}

/// The binary reads `--redis-wait-replicas`: against a master without replicas its pings
/// fail with 503, and once a replica is in sync the partner's retry is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_waiting_for_a_replica_that_does_not_exist_answers_pings_503() {
    const KEY: &str = "failover-partner-key-0001";
    let buyers = Buyers::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(pingpost_buyersim::serve(listener, Arc::clone(&buyers), std::future::pending()));
    let dir = temp_dir("wait-replicas");
    let key_hash = hex::encode(Sha256::digest(KEY.as_bytes()));
    let config = format!(
        "[[verticals]]\nid = \"auto\"\n\n[[offers]]\nid = \"auto-excl\"\nvertical = \"auto\"\ndisclosure = \"full\"\n\n\
         [[partners]]\nid = \"p1\"\napi_key_sha256 = \"{key_hash}\"\noffers = [\"auto-excl\"]\n\n\
         [[buyers]]\nid = \"b1\"\npost_url = \"{url}/b1/post\"\n\n\
         [[contracts]]\nid = \"c1\"\nbuyer = \"b1\"\noffer = \"auto-excl\"\nprice = \"20.00\"\n"
    );
    std::fs::write(dir.join("market.toml"), config).unwrap();
    let master = RedisServer::start();
    let books = tokio::task::block_in_place(SharedBooks::start);
    let flags = ["--redis-wait-replicas", "1", "--redis-wait-timeout-ms", "1000", "--books", &books.url];
    let (_engine, base) = start_engine_with_flags(&dir, &master.url(), &flags);
    let http = reqwest::Client::new();
    let ping = || async {
        let resp = http
            .post(format!("{base}/v1/ping"))
            .header("authorization", format!("Bearer {KEY}"))
            .body(json!({"offer": "auto-excl", "lead": {"email": "binary@example.com"}}).to_string())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, serde_json::from_slice::<Value>(&resp.bytes().await.unwrap()).unwrap())
    };
    let (status, body) = ping().await;
    assert_store_unavailable(status, &body);
    assert!(master.calls_of("wait") > 0);

    let _replica = master.start_replica();
    let (status, body) = ping().await;
    assert_eq!((status, &body["status"]), (200, &json!("accepted")), "{body}");
}

/// `WAIT n 0` waits forever in Redis: the binary refuses a zero timeout instead.
#[test]
fn the_binary_refuses_a_wait_timeout_of_zero() {
    let dir = temp_dir("wait-timeout-zero");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pingpost"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store", "redis://127.0.0.1:1", "--redis-wait-timeout-ms", "0"])
        .arg("--contracts")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--redis-wait-timeout-ms"), "{stderr}");
}

/// A raw connection to the test's Redis, to leave the store as a failover would.
async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap()
}

async fn config_hash(con: &mut redis::aio::MultiplexedConnection) -> Vec<(String, Vec<u8>)> {
    redis::cmd("HGETALL").arg("pp:config").query_async(con).await.unwrap()
}

/// What a promoted replica holds when the master's last write never reached it.
async fn put_back(con: &mut redis::aio::MultiplexedConnection, hash: &[(String, Vec<u8>)]) {
    let _: () = redis::cmd("DEL").arg("pp:config").query_async(con).await.unwrap();
    let mut hset = redis::cmd("HSET");
    hset.arg("pp:config");
    for (field, value) in hash {
        hset.arg(field).arg(value);
    }
    let _: () = hset.query_async(con).await.unwrap();
}

fn has_vertical(h: &Harness, id: &str) -> bool {
    h.engine.config().verticals.contains_key(id)
}

/// A configuration edit the failover lost is dropped by every node that had it, and the
/// next edit, made at the version the lost one had, still reaches them: a node reloads
/// whenever the stored document is another than the one it holds, not only a newer one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_lost_configuration_write_every_node_takes_the_stored_document() {
    let mut h = Harness::start_on(Backend::Redis, &one_contract()).await;
    let other = h.another_node().await;
    let mut con = raw(&h.redis().unwrap().url()).await;
    let before = config_hash(&mut con).await;

    let (status, body) = h.admin("PUT", "/verticals/home", Some(json!({"dedup_window_days": 45}))).await;
    assert_eq!(status, 201, "{body}");
    assert!(other.engine.refresh_config().await.unwrap());
    assert!(has_vertical(&h, "home") && has_vertical(&other, "home"));

    put_back(&mut con, &before).await;
    assert!(h.engine.refresh_config().await.unwrap(), "the node that made the lost edit reloads");
    assert!(!has_vertical(&h, "home"), "the lost edit is still in force");

    let (status, body) = h.admin("PUT", "/verticals/boats", Some(json!({"dedup_window_days": 30}))).await;
    assert_eq!(status, 201, "{body}");
    assert!(other.engine.refresh_config().await.unwrap(), "the next edit has the lost one's version");
    assert!(has_vertical(&other, "boats") && !has_vertical(&other, "home"));
    assert!(!other.engine.refresh_config().await.unwrap(), "nothing more to take");
}

/// A store that lost the document altogether refuses edits: saving one edit as the whole
/// configuration would give every node a configuration of that one resource.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_configuration_document_lost_an_edit_answers_503_and_writes_nothing() {
    let mut h = Harness::start_on(Backend::Redis, &one_contract()).await;
    let mut con = raw(&h.redis().unwrap().url()).await;
    let _: () = redis::cmd("DEL").arg("pp:config").query_async(&mut con).await.unwrap();

    let (status, body) = h.admin("PUT", "/verticals/home", Some(json!({"dedup_window_days": 45}))).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "config_missing", "{body}");
    assert!(config_hash(&mut con).await.is_empty(), "the refused edit wrote a document");
    assert!(!h.engine.refresh_config().await.unwrap(), "nothing stored: the node keeps what it holds");
    assert!(h.engine.config().contracts.contains_key("c1"), "the node still runs its configuration");
}

/// b1 prepaid, with returns left pending for the operator.
fn prepaid_with_returns() -> String {
    one_contract().replace(
        "id = \"b1\"\npost_url",
        "id = \"b1\"\nbalance = \"100.00\"\nreturns = { auto_approve = false, max_rate_percent = \"100.00\" }\npost_url",
    )
}

/// Every write an operator is told is done — a suppression, its lifting, an erasure, a
/// top-up, a return opened or decided, a configuration edit — waits for the replicas like
/// admissions and sales: with the replica frozen each answers 503, so does its retry, and
/// once the replica is back in sync each goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_one_replica_to_wait_for_every_acknowledged_operator_write_waits_for_it() {
    let master = RedisServer::start();
    let replica = master.start_replica();
    let h = Harness::start_with_redis_options(
        Backend::Shared(master.url()),
        &prepaid_with_returns(),
        waiting_for(1, SYNCED_WITHIN_MS),
    )
    .await;
    let sale = |who: &'static str| {
        let h = &h;
        async move {
            let (_, post) = h.sell("auto-excl", email(&format!("{who}@example.com"))).await;
            post["sales"][0]["sale_id"].as_str().unwrap_or_else(|| panic!("sold: {post}")).to_string()
        }
    };
    // Before the freeze: what the writes below need.
    let (to_open, to_decide, open_later, decide_later) =
        (sale("r1").await, sale("r2").await, sale("r3").await, sale("r4").await);
    for id in [&to_decide, &decide_later] {
        let (status, body) = h.admin("POST", "/returns", Some(json!({"sale_id": id, "reason": "duplicate"}))).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = h.admin("POST", "/suppression", Some(json!({"emails": ["lifted@example.com"]}))).await;
    assert_eq!(status, 200, "{body}");
    let writes = |round: &str, open: &str, decide: &str| {
        vec![
            ("POST", "/suppression".to_string(), json!({"emails": [format!("opt-out-{round}@example.com")]})),
            ("DELETE", "/suppression".to_string(), json!({"emails": [format!("lifted@example.com")]})),
            (
                "POST",
                "/erasure".to_string(),
                json!({"email": format!("{}@example.com", if round == "a" { "r1" } else { "r2" })}),
            ),
            ("POST", "/buyers/b1/balance".to_string(), json!({"add": "5.00", "id": format!("top-up-{round}")})),
            ("POST", "/returns".to_string(), json!({"sale_id": open, "reason": "duplicate"})),
            ("POST", format!("/returns/ret-{decide}"), json!({"decision": "approve"})),
            ("PUT", format!("/verticals/v-{round}"), json!({"dedup_window_days": 30})),
        ]
    };

    replica.freeze();
    for (method, path, body) in writes("a", &to_open, &to_decide) {
        // The retry finds what the first call wrote on the master, and waits for it too.
        // (Lifting a suppression again writes nothing: the consumer stays suppressed should
        // a failover lose the first removal, the safe way.)
        let tries = if method == "DELETE" { 1 } else { 2 };
        for _ in 0..tries {
            let (status, answer) = h.admin(method, &path, Some(body.clone())).await;
            assert_eq!(status, 503, "{method} {path}: {answer}");
            assert_eq!(answer["error"]["code"], "store_unavailable", "{method} {path}: {answer}");
        }
    }
    replica.thaw();
    replica.wait_in_sync();

    let (status, body) = h.admin("POST", "/suppression", Some(json!({"emails": ["lifted@example.com"]}))).await;
    assert_eq!(status, 200, "{body}");
    for (method, path, body) in writes("b", &open_later, &decide_later) {
        let (status, answer) = h.admin(method, &path, Some(body)).await;
        assert!(status == 200 || status == 201, "{method} {path}: {status} {answer}");
    }
    let on_replica = pingpost_testkit::dump(&replica.url(), "*").await;
    let opt_out = hex::encode(Sha256::digest(b"opt-out-b@example.com"));
    assert!(on_replica.contains(&opt_out), "the acknowledged suppression is not on the replica");
}
