//! Several engine nodes on one Redis: two real `pingpost` processes share a redis-server
//! this test starts, and requests are split across them.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::process::{start_engine_with, temp_dir, Running, SharedBooks};
use futures_util::future::join_all;
use pingpost_buyersim::Buyers;
use pingpost_testkit::{RedisCluster, RedisServer};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tokio::net::TcpListener;

const KEY: &str = "nodes-partner-key-00001";

/// The Redis the nodes share, kept alive as long as they run.
enum Shared {
    Single(RedisServer),
    Cluster(RedisCluster),
}

impl Shared {
    fn urls(&self) -> String {
        match self {
            Shared::Single(s) => s.url(),
            Shared::Cluster(c) => c.urls(),
        }
    }
}

struct TwoNodes {
    nodes: [String; 2],
    buyers: Arc<Buyers>,
    http: reqwest::Client,
    engines: [Running; 2],
    redis: Shared,
    books: SharedBooks,
    dir: std::path::PathBuf,
}

async fn two_nodes(name: &str) -> TwoNodes {
    two_nodes_on(name, Shared::Single(RedisServer::start())).await
}

async fn two_nodes_on(name: &str, redis: Shared) -> TwoNodes {
    let buyers = Buyers::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(pingpost_buyersim::serve(listener, Arc::clone(&buyers), std::future::pending()));
    let dir = temp_dir(name);
    let key_hash = hex::encode(Sha256::digest(KEY.as_bytes()));
    let config = format!(
        "[[verticals]]\nid = \"auto\"\ndedup_window_days = 30\n\n\
         [[offers]]\nid = \"auto-excl\"\nvertical = \"auto\"\ndisclosure = \"full\"\n\n\
         [[offers]]\nid = \"auto-cap\"\nvertical = \"auto\"\ndisclosure = \"full\"\n\n\
         [[verticals]]\nid = \"home\"\n\n\
         [[offers]]\nid = \"home-excl\"\nvertical = \"home\"\ndisclosure = \"full\"\n\n\
         [[partners]]\nid = \"p1\"\napi_key_sha256 = \"{key_hash}\"\noffers = [\"auto-excl\", \"auto-cap\", \"home-excl\"]\n\n\
         [[buyers]]\nid = \"b1\"\npost_url = \"{url}/b1/post\"\n\n\
         [[buyers]]\nid = \"b2\"\npost_url = \"{url}/b2/post\"\n\n\
         [[buyers]]\nid = \"b3\"\npost_url = \"{url}/b3/post\"\n\n\
         [[contracts]]\nid = \"c1\"\nbuyer = \"b1\"\noffer = \"auto-excl\"\nprice = \"20.00\"\n\n\
         [[contracts]]\nid = \"c2\"\nbuyer = \"b2\"\noffer = \"auto-excl\"\nprice = \"15.00\"\n\n\
         [[contracts]]\nid = \"c3\"\nbuyer = \"b3\"\noffer = \"auto-cap\"\nprice = \"10.00\"\ncaps = {{ daily = 3 }}\n\n\
         [[contracts]]\nid = \"c4\"\nbuyer = \"b1\"\noffer = \"home-excl\"\nprice = \"9.00\"\n"
    );
    std::fs::write(dir.join("market.toml"), config).unwrap();
    let books = tokio::task::block_in_place(SharedBooks::start);
    let (a, base_a) = start_engine_with(&dir, &redis.urls(), &books.env());
    let (b, base_b) = start_engine_with(&dir, &redis.urls(), &books.env());
    TwoNodes { nodes: [base_a, base_b], buyers, http: reqwest::Client::new(), engines: [a, b], redis, books, dir }
}

impl TwoNodes {
    async fn call(&self, node: usize, path: &str, body: Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.nodes[node % 2]))
            .header("authorization", format!("Bearer {KEY}"))
            .body(body.to_string())
            .send()
            .await
            .expect("engine answers");
        let status = resp.status().as_u16();
        (status, serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap())
    }

    /// An admin API call with the operator token the nodes were started with.
    async fn admin(&self, node: usize, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}/v1/admin{path}", self.nodes[node % 2]))
            .header("authorization", "Bearer e2e-admin-token-000000000000");
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        let resp = req.send().await.expect("engine answers");
        let status = resp.status().as_u16();
        (status, serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap())
    }

    /// Replaces node `node` by a fresh process on the same files and Redis.
    fn restart(&mut self, node: usize) {
        let (engine, base) = start_engine_with(&self.dir, &self.redis.urls(), &self.books.env());
        self.engines[node] = engine;
        self.nodes[node] = base;
    }

    async fn ping(&self, node: usize, offer: &str, lead: &Value) -> (u16, Value) {
        self.call(node, "/v1/ping", json!({"offer": offer, "lead": lead})).await
    }

    async fn post(&self, node: usize, ping_id: &str, lead: &Value) -> (u16, Value) {
        self.call(node, "/v1/post", json!({"ping_id": ping_id, "lead": lead})).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_identical_pings_across_two_nodes_accept_exactly_one() {
    let t = two_nodes("fifty").await;
    let lead = json!({"email": "race@example.com", "phone": "555-300-0001"});
    let answers = join_all((0..50).map(|i| t.ping(i, "auto-excl", &lead))).await;
    assert!(answers.iter().all(|(status, _)| *status == 200), "{answers:?}");
    let accepted = answers.iter().filter(|(_, a)| a["status"] == "accepted").count();
    let duplicates = answers.iter().filter(|(_, a)| a["reason"] == "vertical_duplicate").count();
    assert_eq!((accepted, duplicates), (1, 49));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_of_one_ping_to_both_nodes_make_exactly_one_sale() {
    let t = two_nodes("posts").await;
    let lead = json!({"email": "posted@example.com"});
    let (_, ping) = t.ping(0, "auto-excl", &lead).await;
    assert_eq!(ping["status"], "accepted", "{ping}");
    let ping_id = ping["ping_id"].as_str().unwrap();
    let answers = join_all((0..20).map(|i| t.post(i, ping_id, &lead))).await;
    let sold: Vec<&Value> =
        answers.iter().filter(|(s, a)| *s == 200 && a["status"] == "sold").map(|(_, a)| a).collect();
    assert!(!sold.is_empty(), "{answers:?}");
    assert!(sold.iter().all(|a| a["sales"] == sold[0]["sales"]), "every answer reports the one sale");
    assert!(answers.iter().all(|(s, _)| *s == 200 || *s == 409), "{answers:?}");
    assert_eq!(t.buyers.count("b1", "post") + t.buyers.count("b2", "post"), 1, "the lead was delivered once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cap_of_three_holds_under_concurrent_posts_across_both_nodes() {
    let t = two_nodes("cap").await;
    let leads: Vec<Value> = (0..12).map(|i| json!({"email": format!("capped{i}@example.com")})).collect();
    let pings = join_all(leads.iter().enumerate().map(|(i, l)| t.ping(i, "auto-cap", l))).await;
    let ping_ids: Vec<&str> = pings.iter().map(|(_, p)| p["ping_id"].as_str().unwrap()).collect();
    assert!(pings.iter().all(|(_, p)| p["status"] == "accepted"), "before any sale every ping has room: {pings:?}");
    // Each post goes to the node that did not take its ping.
    let posts = join_all(ping_ids.iter().zip(&leads).enumerate().map(|(i, (id, l))| t.post(i + 1, id, l))).await;
    let sold = posts.iter().filter(|(_, p)| p["status"] == "sold").count();
    assert_eq!(sold, 3, "{posts:?}");
    assert_eq!(t.buyers.count("b3", "post"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_a_redis_cluster_accept_one_of_identical_pings_and_sell_it_once() {
    let t = two_nodes_on("cluster", Shared::Cluster(RedisCluster::start())).await;
    let lead = json!({"email": "cluster@example.com", "phone": "555-300-0002"});
    let answers = join_all((0..20).map(|i| t.ping(i, "auto-excl", &lead))).await;
    let accepted: Vec<&Value> = answers.iter().filter(|(_, a)| a["status"] == "accepted").map(|(_, a)| a).collect();
    assert_eq!(accepted.len(), 1, "{answers:?}");
    let ping_id = accepted[0]["ping_id"].as_str().unwrap();
    let posts = join_all((0..6).map(|i| t.post(i, ping_id, &lead))).await;
    assert!(posts.iter().any(|(_, p)| p["status"] == "sold"), "{posts:?}");
    assert_eq!(t.buyers.count("b1", "post") + t.buyers.count("b2", "post"), 1);
}

/// Sells `n` consumers to b1 (through c1 on the auto vertical) and answers their leads.
async fn sold_to_b1(t: &TwoNodes, n: usize, tag: &str) -> Vec<Value> {
    let leads: Vec<Value> = (0..n).map(|i| json!({"email": format!("{tag}{i}@example.com")})).collect();
    for lead in &leads {
        let (_, ping) = t.ping(0, "auto-excl", lead).await;
        let (_, post) = t.post(0, ping["ping_id"].as_str().unwrap(), lead).await;
        assert_eq!(post["sales"][0]["buyer"], "b1", "{post}");
    }
    leads
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dedup_edit_on_one_node_is_honoured_by_the_other_within_a_second() {
    let t = two_nodes("live-edit").await;
    // Every sale here is seconds old, inside any window of 1 day or more, so what a ping on
    // the real clock can show of a window edit is dedup switched off for the contract.
    let leads = sold_to_b1(&t, 40, "live").await;
    let (_, before) = t.ping(1, "home-excl", &leads[0]).await;
    assert_eq!(before["reason"], "no_bids", "c4's buyer already bought this consumer: {before}");

    let patch = json!({"dedup": {"enabled": false, "window_days": 7}});
    let (status, patched) = t.admin(0, reqwest::Method::PATCH, "/contracts/c4", Some(patch)).await;
    assert_eq!(status, 200, "{patched}");
    let edited = tokio::time::Instant::now();
    let mut seen = None;
    for lead in &leads[1..] {
        // Measured to when the ping that honoured the edit was sent: propagation, not the
        // ping's own latency on a loaded machine.
        let sent = edited.elapsed();
        let (_, ping) = t.ping(1, "home-excl", lead).await;
        if ping["bids"][0]["contract"] == "c4" {
            seen = Some(sent);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(30)).await; // poll pacing, not synchronization
    }
    let seen = seen.expect("node B never honoured the edit");
    assert!(seen <= std::time::Duration::from_secs(1), "node B honoured the edit after {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_edits_survive_a_restart_and_the_files_do_not_override_them() {
    let mut t = two_nodes("restart-config").await;
    let (status, _) = t.admin(0, reqwest::Method::PATCH, "/contracts/c1", Some(json!({"price": "33.00"}))).await;
    assert_eq!(status, 200);
    let new_contract = json!({"buyer": "b3", "offer": "home-excl", "price": "4.00"});
    let (status, _) = t.admin(1, reqwest::Method::PUT, "/contracts/c5", Some(new_contract)).await;
    assert_eq!(status, 201);

    t.restart(0);
    t.restart(1);
    let (_, c1) = t.admin(0, reqwest::Method::GET, "/contracts/c1", None).await;
    assert_eq!(c1["price"], "33.00", "the edit, not the file's 20.00: {c1}");
    let (status, _) = t.admin(1, reqwest::Method::GET, "/contracts/c5", None).await;
    assert_eq!(status, 200);
    let (_, ping) = t.ping(1, "auto-excl", &json!({"email": "after-restart@example.com"})).await;
    assert_eq!(ping["bids"][0]["price"], "33.00", "{ping}");
}
