//! Crashes of real processes, each followed by the whole-store check of the sale guarantees
//! (SPEC.md "Sale guarantees"): an engine node `kill -9`ed while its buyer holds a post, or
//! aborting itself right after its buyer accepted, whose post the other node resumes; Redis
//! frozen (SIGSTOP) while a post settles; and Redis frozen, then killed (SIGKILL) and
//! restarted from its append-only file, under a steady stream of pings and posts on two nodes.
//!
//! Nothing here sleeps to synchronize: a test awaits what it can observe (a buyer received
//! the post, a process exited, a re-post stops answering 409, the ledger lists a sale, the
//! stream answers again), every wait bounded so that a hang fails with what was awaited. The
//! only sleeps are a fault's own length (how long Redis stays frozen or down) and the pacing
//! of polls and of the stream. Leases are short (buyer timeouts of 2 s and
//! `--lease-slack-ms 1500`), so a resumed post waits seconds rather than the default 36.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use chrono::{DateTime, Utc};
use common::process::{start_engine_with_metrics, temp_dir, Running, SharedBooks};
use common::wait::{eventually, within};
use futures_util::future::join_all;
use pingpost_buyersim::{Buyers, PostReply};
use pingpost_core::config::{load_files, Config, SaleMode, SourceFile};
use pingpost_core::ids::{ContractId, OfferId};
use pingpost_redis::{Keys, RedisOptions, RedisStore};
use pingpost_store::invariants::{assert_holds, Rules};
use pingpost_store::Upkeep;
use pingpost_testkit::RedisServer;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::Instant;

const KEY: &str = "crash-partner-key-00001";
/// The operator token `common::process` starts every node with.
const ADMIN_TOKEN: &str = "e2e-admin-token-000000000000";
/// Every buyer's delivery timeout. A sale's lease is its buyer's timeout plus the slack; a
/// post claim's, the sum over the ping's bids plus the slack.
const BUYER_TIMEOUT_MS: u32 = 2_000;
const LEASE_SLACK_MS: &str = "1500";
/// Often enough that a lapsed reservation is seen as unconfirmed well inside the test's bounds.
const SWEEP_INTERVAL_MS: &str = "300";
/// No single request may hang the test: past this it fails as unanswered.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// b1 outbids b2 on the exclusive offer; the multisell offer fills two slots from b1, b2
/// (who rejects in the stream test) and b3. Caps, a daily spend and a balance give every
/// sale counters for the whole-store check to account for.
fn market_toml(buyers_url: &str) -> String {
    let key_hash = hex::encode(Sha256::digest(KEY.as_bytes()));
    let buyer = |id: &str, extra: &str| {
        format!(
            "[[buyers]]\nid = \"{id}\"\npost_url = \"{buyers_url}/{id}/post\"\ntimeout_ms = {BUYER_TIMEOUT_MS}\n{extra}\n"
        )
    };
    let contract = |id: &str, buyer: &str, offer: &str, price: &str, extra: &str| {
        format!(
            "[[contracts]]\nid = \"{id}\"\nbuyer = \"{buyer}\"\noffer = \"{offer}\"\nprice = \"{price}\"\n{extra}\n"
        )
    };
    [
        "[[verticals]]\nid = \"auto\"\ndedup_window_days = 30\n".to_string(),
        "[[offers]]\nid = \"auto-excl\"\nvertical = \"auto\"\ndisclosure = \"full\"\n".to_string(),
        "[[offers]]\nid = \"auto-multi\"\nvertical = \"auto\"\ndisclosure = \"full\"\nmode = \"multisell\"\nmax_buyers = 2\n".to_string(),
        format!(
            "[[partners]]\nid = \"p1\"\napi_key_sha256 = \"{key_hash}\"\noffers = [\"auto-excl\", \"auto-multi\"]\n"
        ),
        buyer("b1", ""),
        buyer("b2", ""),
        buyer("b3", "balance = \"100000.00\""),
        contract("c1", "b1", "auto-excl", "20.00", "caps = { daily = 100000 }"),
        contract("c2", "b2", "auto-excl", "15.00", ""),
        contract("c3", "b1", "auto-multi", "12.00", "caps = { daily_spend = \"100000.00\" }"),
        contract("c4", "b2", "auto-multi", "11.00", ""),
        contract("c5", "b3", "auto-multi", "10.00", ""),
    ]
    .join("\n")
}

/// One request and its answer: `Err` when no HTTP answer came at all.
async fn send(http: reqwest::Client, url: String, body: Value) -> Result<(u16, Value), String> {
    let resp = http.post(&url).header("authorization", format!("Bearer {KEY}")).body(body.to_string()).send().await;
    let resp = resp.map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.map_err(|e| format!("{url}: reading the body: {e}"))?;
    let value = serde_json::from_slice(&bytes).map_err(|e| format!("{url}: non-JSON answer {status}: {e}"))?;
    Ok((status, value))
}

/// The value of an unlabelled metric in Prometheus text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// A Redis, simulated buyers, and the configuration every node of the test starts from.
struct Market {
    redis: RedisServer,
    buyers: Arc<Buyers>,
    dir: PathBuf,
    /// The configuration as the nodes load it, for the windows and slots of the check.
    config: Config,
    http: reqwest::Client,
    /// The books every node shares (a shared store refuses books in the process).
    books: SharedBooks,
}

impl Drop for Market {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A `pingpost serve` process and its base URL.
struct Node {
    process: Running,
    base: String,
    /// Its metrics address.
    metrics: String,
}

impl Node {
    /// `kill -9` (`Child::kill` sends SIGKILL on Unix), then reaps it.
    fn kill(&mut self) {
        self.process.0.kill().unwrap();
        self.process.0.wait().unwrap();
    }

    /// Awaits the process's own exit.
    async fn exited(&mut self, bound: Duration) -> std::process::ExitStatus {
        eventually(bound, "the node to exit", async || match self.process.0.try_wait() {
            Ok(Some(status)) => Ok(status),
            Ok(None) => Err("still running".into()),
            Err(e) => Err(e.to_string()),
        })
        .await
    }
}

impl Market {
    async fn start(name: &str, redis: RedisServer) -> Market {
        let buyers = Buyers::new();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(pingpost_buyersim::serve(listener, Arc::clone(&buyers), std::future::pending()));
        let dir = temp_dir(name);
        let text = market_toml(&url);
        std::fs::write(dir.join("market.toml"), &text).unwrap();
        let config = load_files(&[SourceFile { name: "market.toml".into(), text }]).unwrap();
        let http = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().unwrap();
        let books = tokio::task::block_in_place(SharedBooks::start);
        Market { redis, buyers, dir, config, http, books }
    }

    /// A node on the market's Redis with short leases and a frequent sweep; `env` adds to
    /// that (or overrides it).
    fn node(&self, env: &[(&str, &str)]) -> Node {
        let mut all =
            vec![("PINGPOST_LEASE_SLACK_MS", LEASE_SLACK_MS), ("PINGPOST_SWEEP_INTERVAL_MS", SWEEP_INTERVAL_MS)];
        all.extend_from_slice(&self.books.env());
        all.extend_from_slice(env);
        let (process, base, metrics) = start_engine_with_metrics(&self.dir, &self.redis.url(), &all);
        Node { process, base, metrics }
    }

    async fn call(&self, node: &Node, path: &str, body: Value) -> (u16, Value) {
        let url = format!("{}{path}", node.base);
        send(self.http.clone(), url, body).await.unwrap_or_else(|e| panic!("no answer: {e}"))
    }

    async fn ping(&self, node: &Node, offer: &str, lead: &Value) -> (u16, Value) {
        self.call(node, "/v1/ping", json!({"offer": offer, "lead": lead})).await
    }

    async fn post(&self, node: &Node, ping_id: &str, lead: &Value) -> (u16, Value) {
        self.call(node, "/v1/post", json!({"ping_id": ping_id, "lead": lead})).await
    }

    async fn admin_get(&self, node: &Node, path_and_query: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}/v1/admin{path_and_query}", node.base))
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .send()
            .await
            .expect("the node answers");
        let status = resp.status().as_u16();
        (status, serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap())
    }

    async fn metrics(&self, node: &Node) -> String {
        let resp = self.http.get(format!("{}/metrics", node.metrics)).send().await.expect("the node answers");
        resp.text().await.unwrap()
    }

    /// The sale guarantees over everything Redis holds (the nodes' namespace `pp`), with the
    /// windows and slots of the market; `swept_at` when a sweep is known to have run then.
    async fn assert_guarantees(&self, context: &str, swept_at: Option<DateTime<Utc>>) {
        let window =
            |c: &ContractId| self.config.contracts.get(c).and_then(|c| c.dedup.enabled.then_some(c.dedup.window));
        let slots = |o: &OfferId| match self.config.offers.get(o) {
            Some(o) if o.mode == SaleMode::Multisell => o.max_buyers,
            _ => 1,
        };
        let erased = HashSet::new();
        let rules = Rules { window: &window, slots: &slots, erased: &erased, swept_at };
        let snapshot =
            pingpost_redis::snapshot(&self.redis.url(), &Keys::new("pp")).await.expect("a snapshot of Redis");
        let mut states: BTreeMap<&str, usize> = BTreeMap::new();
        for sale in snapshot.sales.values() {
            *states.entry(sale.record.state.as_str()).or_default() += 1;
        }
        eprintln!(
            "{context}: ledger {states:?}, {} consumers, {} counters",
            snapshot.consumers.len(),
            snapshot.counters.len()
        );
        assert_holds(&snapshot, &rules, context);
    }
}

/// Pings on `node` and expects b1's bid first, then b2's.
async fn ping_won_by_b1(m: &Market, node: &Node, lead: &Value) -> Value {
    let (status, ping) = m.ping(node, "auto-excl", lead).await;
    assert_eq!((status, ping["status"].as_str()), (200, Some("accepted")), "{ping}");
    let buyers: Vec<&str> = ping["bids"].as_array().unwrap().iter().map(|b| b["buyer"].as_str().unwrap()).collect();
    assert_eq!(buyers, ["b1", "b2"], "{ping}");
    ping
}

/// Node `a` delivered the ping's lead to b1 and died before settling. Node `b` must refuse
/// the post while the dead node's claim may still be alive, then resume it from the
/// ledger: b1's sale is reported unconfirmed, b2 is never tried, a repeat answers the same,
/// and the sweep lists the sale as unconfirmed. Answers the sale's lease, which a sweep
/// that has run is then known to have passed.
async fn resume_on(m: &Market, b: &Node, ping: &Value, lead: &Value) -> DateTime<Utc> {
    let ping_id = ping["ping_id"].as_str().unwrap();
    let sale_id = ping["bids"][0]["bid_id"].as_str().unwrap();

    // (a) Inside the claim's lease (4 s of buyer timeouts + 1.5 s) the post is still the
    // dead node's: nobody may deliver it again yet.
    let (status, early) = m.post(b, ping_id, lead).await;
    assert_eq!((status, early["error"]["code"].as_str()), (409, Some("in_flight")), "{early}");

    // (b) Once the lease ran out, node B takes the claim over and reads the ledger.
    let (status, answer) = eventually(Duration::from_secs(30), "the re-post to stop answering 409", async || {
        match m.post(b, ping_id, lead).await {
            (409, body) => Err(body.to_string()),
            other => Ok(other),
        }
    })
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "sold", "{answer}");
    let sales = answer["sales"].as_array().unwrap();
    assert_eq!(sales.len(), 1, "one exclusive slot, taken by the attempt that may have reached b1: {answer}");
    assert_eq!(
        (sales[0]["sale_id"].as_str(), sales[0]["buyer"].as_str(), sales[0]["status"].as_str()),
        (Some(sale_id), Some("b1"), Some("unconfirmed")),
        "{answer}"
    );
    assert_eq!(answer["attempts"], json!([{"buyer": "b1", "contract": "c1", "outcome": "unconfirmed"}]), "{answer}");
    assert_eq!(m.buyers.count("b1", "post"), 1, "b1 got the lead once, from the dead node");
    assert_eq!(m.buyers.count("b2", "post"), 0, "the slot is taken: the lower bid is never tried");

    let again = m.post(b, ping_id, lead).await;
    assert_eq!(again, (200, answer.clone()), "a repeat of the resumed post answers the same");

    // The sweep turns the lapsed reservation unconfirmed: listed for operators and counted.
    let entry = eventually(Duration::from_secs(20), "the sweep to list the sale as unconfirmed", async || {
        let (status, listed) = m.admin_get(b, "/ledger?state=unconfirmed").await;
        let text = m.metrics(b).await;
        let counted = (metric(&text, "pingpost_sales_unconfirmed_total"), metric(&text, "pingpost_sales_unconfirmed"));
        match listed["sales"].as_array() {
            Some(s) if status == 200 && s.len() == 1 && counted == (Some(1.0), Some(1.0)) => Ok(s[0].clone()),
            _ => Err(format!("{status} {listed}; metrics (total, gauge) {counted:?}")),
        }
    })
    .await;
    assert_eq!(
        (entry["sale_id"].as_str(), entry["ping_id"].as_str(), entry["buyer"].as_str(), entry["state"].as_str()),
        (Some(sale_id), Some(ping_id), Some("b1"), Some("unconfirmed")),
        "{entry}"
    );
    assert_eq!(m.buyers.count("b2", "post"), 0);
    serde_json::from_value(entry["lease_until"].clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_while_its_buyer_holds_the_post_leaves_one_unconfirmed_sale_that_the_other_node_resumes() {
    let m = Market::start("crash-kill-node", RedisServer::start()).await;
    let mut a = m.node(&[]);
    let b = m.node(&[]);
    let lead = json!({"email": "held@example.com", "phone": "555-410-0001", "state": "CA"});
    let ping = ping_won_by_b1(&m, &a, &lead).await;

    // b1 takes the post and thinks until released: node A is mid-delivery when it dies.
    m.buyers.hold();
    let url = format!("{}/v1/post", a.base);
    let post = tokio::spawn(send(m.http.clone(), url, json!({"ping_id": ping["ping_id"], "lead": lead})));
    within(Duration::from_secs(30), "b1 to receive the post", m.buyers.received_at_least("b1", "post", 1)).await;
    a.kill();
    let lost = post.await.unwrap();
    assert!(lost.is_err(), "a node killed mid-post answers nothing: {lost:?}");

    let lease_until = resume_on(&m, &b, &ping, &lead).await;
    // b1 now answers "accepted" on a connection whose other end died with node A.
    m.buyers.release();
    assert_eq!(m.buyers.count("b1", "post"), 1);
    m.assert_guarantees("a node killed mid-post, resumed by another", Some(lease_until)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_aborting_after_its_buyer_accepted_leaves_the_sale_unconfirmed_and_no_other_buyer_is_tried() {
    let m = Market::start("crash-abort-node", RedisServer::start()).await;
    // The node aborts right after the buyer's answer, before it settles the sale.
    let mut a = m.node(&[("PINGPOST_FAILPOINTS", "post.delivered=abort")]);
    let b = m.node(&[]);
    let lead = json!({"email": "accepted@example.com", "phone": "555-410-0002", "state": "CA"});
    let ping = ping_won_by_b1(&m, &a, &lead).await;

    let url = format!("{}/v1/post", a.base);
    let lost = send(m.http.clone(), url, json!({"ping_id": ping["ping_id"], "lead": lead})).await;
    assert!(lost.is_err(), "the node died before answering: {lost:?}");
    let status = a.exited(Duration::from_secs(30)).await;
    assert_eq!(status.signal(), Some(6), "the failpoint's abort (SIGABRT) ended node A: {status}");
    assert_eq!(m.buyers.count("b1", "post"), 1, "b1 got the lead and accepted it");

    let lease_until = resume_on(&m, &b, &ping, &lead).await;
    m.assert_guarantees("a node aborted between delivery and settlement", Some(lease_until)).await;
}

/// Redis freezes while node A settles a sale its buyer has just accepted: each try of the
/// settlement script times out on the node, waits in Redis's socket buffer and runs on the
/// thaw. After the thaw the marks say what the ledger says (one script settles both).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_settling_while_redis_is_frozen_leaves_marks_that_follow_the_ledger() {
    let m = Market::start("crash-frozen-settle", RedisServer::start()).await;
    let a = m.node(&[]);
    // One whole sale first, so that Redis has every script of a post cached: a script first
    // sent while Redis is frozen is answered NOSCRIPT on the thaw, and would not run then.
    let warm = json!({"email": "warm@example.com", "phone": "555-410-0004", "state": "CA"});
    let warm_ping = ping_won_by_b1(&m, &a, &warm).await;
    let (status, sold) = m.post(&a, warm_ping["ping_id"].as_str().unwrap(), &warm).await;
    assert_eq!((status, sold["status"].as_str()), (200, Some("sold")), "{sold}");
    let lead = json!({"email": "frozen@example.com", "phone": "555-410-0003", "state": "CA"});
    let ping = ping_won_by_b1(&m, &a, &lead).await;
    let (ping_id, sale_id) = (ping["ping_id"].as_str().unwrap(), ping["bids"][0]["bid_id"].as_str().unwrap());

    m.buyers.hold();
    let url = format!("{}/v1/post", a.base);
    let post = tokio::spawn(send(m.http.clone(), url, json!({"ping_id": ping_id, "lead": lead})));
    within(Duration::from_secs(30), "b1 to receive the post", m.buyers.received_at_least("b1", "post", 2)).await;
    m.redis.freeze();
    m.buyers.release();
    // The node answers once its own store calls have timed out, Redis still frozen.
    let answered = within(Duration::from_secs(60), "the post's answer while Redis is frozen", post).await.unwrap();
    m.redis.thaw();
    let (status, answer) = answered.unwrap();
    assert_eq!((status, answer["status"].as_str()), (200, Some("sold")), "b1 accepted: {answer}");

    // What waited in Redis runs on the thaw: the ledger says sold.
    eventually(Duration::from_secs(20), "the ledger to record the sale", async || {
        let (_, listed) = m.admin_get(&a, &format!("/ledger?sale_id={sale_id}")).await;
        match listed["sales"][0]["state"].as_str() {
            Some("sold") => Ok(()),
            _ => Err(listed.to_string()),
        }
    })
    .await;
    let again = m.post(&a, ping_id, &lead).await;
    assert_eq!(again, (200, answer), "a repeat answers the first result");
    assert_eq!((m.buyers.count("b1", "post"), m.buyers.count("b2", "post")), (2, 0));

    let store = RedisStore::connect(&m.redis.url(), RedisOptions::default()).await.unwrap();
    let swept_at = Utc::now();
    store.sweep(swept_at).await.unwrap();
    m.assert_guarantees("a sale settled while Redis was frozen", Some(swept_at)).await;
}

/// What the stream sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// A fresh consumer's first ping.
    Ping,
    /// A consumer whose ping was accepted, pinged again: a vertical duplicate.
    Repeat,
    /// The post of an accepted ping.
    Post,
    /// A ping answered 503, sent again.
    RetriedPing,
    /// A post answered 503 or 409, sent again.
    RetriedPost,
    /// A post answered 200, sent again after everything.
    RepeatedPost,
}

/// One request of the stream and its answer (status 0: no HTTP answer at all).
#[derive(Clone, Debug)]
struct Exchange {
    kind: Kind,
    consumer: usize,
    status: u16,
    body: Value,
    /// When it was answered, since the stream started.
    at: Duration,
}

/// Consumer `n`: fresh, with an email and a phone of its own.
fn consumer_lead(n: usize) -> Value {
    json!({"email": format!("c{n}@crash.example"), "phone": format!("555{n:07}"), "state": "CA"})
}

fn consumer_offer(n: usize) -> &'static str {
    if n.is_multiple_of(3) {
        "auto-multi"
    } else {
        "auto-excl"
    }
}

/// The steady stream: its nodes, every exchange, and a count of 200 answers to await.
struct Stream {
    http: reqwest::Client,
    bases: [String; 2],
    started: Instant,
    next: AtomicUsize,
    stop: AtomicBool,
    log: Mutex<Vec<Exchange>>,
    /// Consumers whose first ping was accepted, for repeats.
    accepted: Mutex<Vec<usize>>,
    answered: watch::Sender<usize>,
}

impl Stream {
    fn since(&self) -> Duration {
        self.started.elapsed()
    }

    /// Sends, records and answers one exchange on node `node % 2`.
    async fn exchange(&self, kind: Kind, consumer: usize, node: usize, path: &str, body: Value) -> (u16, Value) {
        let url = format!("{}{path}", self.bases[node % 2]);
        let (status, body) = match send(self.http.clone(), url, body).await {
            Ok(answer) => answer,
            Err(e) => (0, json!({"no_answer": e})),
        };
        let at = self.since();
        self.log.lock().unwrap().push(Exchange { kind, consumer, status, body: body.clone(), at });
        if status == 200 {
            self.answered.send_modify(|n| *n += 1);
        }
        (status, body)
    }

    async fn ping(&self, kind: Kind, consumer: usize, node: usize) -> (u16, Value) {
        let body = json!({"offer": consumer_offer(consumer), "lead": consumer_lead(consumer)});
        self.exchange(kind, consumer, node, "/v1/ping", body).await
    }

    async fn post(&self, kind: Kind, consumer: usize, node: usize, ping_id: &str) -> (u16, Value) {
        let body = json!({"ping_id": ping_id, "lead": consumer_lead(consumer)});
        self.exchange(kind, consumer, node, "/v1/post", body).await
    }

    fn answered(&self) -> usize {
        *self.answered.borrow()
    }

    /// Awaits `n` answers of 200 in all.
    async fn answered_at_least(&self, n: usize, what: &str) {
        let mut answered = self.answered.subscribe();
        within(Duration::from_secs(60), what, answered.wait_for(|a| *a >= n)).await.unwrap();
    }

    fn exchanges(&self) -> Vec<Exchange> {
        self.log.lock().unwrap().clone()
    }
}

/// One client of the stream: mostly fresh consumers, pinged on one node and posted on the
/// other; every fifth request pings a consumer already accepted again.
async fn client(s: Arc<Stream>) {
    while !s.stop.load(Ordering::Relaxed) {
        let n = s.next.fetch_add(1, Ordering::Relaxed);
        let repeat = {
            let accepted = s.accepted.lock().unwrap();
            (n % 5 == 4 && !accepted.is_empty()).then(|| accepted[n % accepted.len()])
        };
        match repeat {
            Some(c) => {
                s.ping(Kind::Repeat, c, n).await;
            }
            None => {
                let (status, ping) = s.ping(Kind::Ping, n, n).await;
                if status == 200 && ping["status"] == "accepted" {
                    s.accepted.lock().unwrap().push(n);
                    s.post(Kind::Post, n, n + 1, ping["ping_id"].as_str().unwrap()).await;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await; // the stream's pace
    }
}

/// How a ping that failed must end once retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// A fresh consumer: sold to nobody, so its retry is accepted (and posted).
    Accepted,
    /// A consumer accepted before: its retry is still a vertical duplicate.
    VerticalDuplicate,
}

/// The spec lets a failed ping's pending vertical mark turn its retry away for 60 s; past
/// that (and a second of clock slack) a refusal is a mark that outlived its lease.
const ADMISSION_LEASE: Duration = Duration::from_secs(61);

/// Retries consumer `c`'s ping (same lead, same partner) until it is answered without an
/// error, by `deadline`. `failed_at` is when its last ping was answered with an error.
async fn retry_ping(s: &Stream, c: usize, mut failed_at: Duration, expect: Expect, deadline: Instant) {
    for attempt in 0.. {
        let (status, body) = s.ping(Kind::RetriedPing, c, c + attempt).await;
        match (status, body["status"].as_str(), body["reason"].as_str(), expect) {
            (200, Some("accepted"), _, Expect::Accepted) => {
                let (status, post) = s.post(Kind::Post, c, c + attempt + 1, body["ping_id"].as_str().unwrap()).await;
                assert_eq!(status, 200, "consumer {c}: the post of its retried ping: {post}");
                return;
            }
            (200, _, Some("vertical_duplicate"), Expect::VerticalDuplicate) => return,
            (200, _, Some("vertical_duplicate"), Expect::Accepted) => {
                let held = s.since().saturating_sub(failed_at);
                assert!(
                    held < ADMISSION_LEASE,
                    "consumer {c}: its ping was answered with an error {failed_at:?} into the stream, and {held:?} \
                     later its retry is still turned away as a vertical duplicate: {body}"
                );
            }
            (503, ..) => failed_at = s.since(), // its own vertical mark may be pending again
            _ => panic!("consumer {c}: a retry expected to end {expect:?} was answered {status} {body}"),
        }
        assert!(
            Instant::now() < deadline,
            "consumer {c}: its retried ping still not answered as {expect:?}; last {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await; // retry pacing
    }
}

/// Re-sends consumer `c`'s post until it is answered 200, by `deadline`: a 503 may leave a
/// reservation in doubt, whose claim answers 409 until its lease runs out.
async fn retry_post(s: &Stream, kind: Kind, c: usize, ping_id: &str, deadline: Instant) -> Value {
    for attempt in 0.. {
        let (status, body) = s.post(kind, c, c + attempt, ping_id).await;
        match status {
            200 => return body,
            409 | 503 => {}
            _ => panic!("consumer {c}: a retried post was answered {status} {body}"),
        }
        assert!(Instant::now() < deadline, "consumer {c}: its post still not answered 200; last {status} {body}");
        tokio::time::sleep(Duration::from_millis(250)).await; // retry pacing
    }
    unreachable!("the loop returns or fails")
}

fn sale_ids(post: &Value) -> BTreeSet<String> {
    post["sales"].as_array().unwrap().iter().map(|s| s["sale_id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_frozen_then_killed_and_restarted_under_a_stream_of_pings_and_posts_keeps_every_guarantee() {
    let mut m = Market::start("crash-redis", RedisServer::start_persistent()).await;
    m.buyers.update("b2", |b| b.post = PostReply::Reject);
    // Every failed request logs a warning; only errors are worth showing here.
    let quiet = [("PINGPOST_LOG", "error")];
    let nodes = [m.node(&quiet), m.node(&quiet)];
    let s = Arc::new(Stream {
        http: m.http.clone(),
        bases: [nodes[0].base.clone(), nodes[1].base.clone()],
        started: Instant::now(),
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        log: Mutex::default(),
        accepted: Mutex::default(),
        answered: watch::Sender::new(0),
    });
    let clients: Vec<_> = (0..4).map(|_| tokio::spawn(client(Arc::clone(&s)))).collect();

    s.answered_at_least(40, "the stream to get going").await;
    let frozen_at = s.since();
    m.redis.freeze();
    tokio::time::sleep(Duration::from_secs(2)).await; // how long Redis stays frozen
    m.redis.thaw();
    let thawed_at = s.since();
    s.answered_at_least(s.answered() + 40, "the stream to be answered again after Redis was thawed").await;

    let killed_at = s.since();
    m.redis.kill();
    tokio::time::sleep(Duration::from_secs(1)).await; // how long Redis stays down
    tokio::task::block_in_place(|| m.redis.restart());
    let restarted_at = s.since();
    s.answered_at_least(s.answered() + 40, "the stream to be answered again after Redis restarted").await;
    s.stop.store(true, Ordering::Relaxed);
    for c in join_all(clients).await {
        c.unwrap();
    }

    let streamed = s.exchanges();
    let no_answer: Vec<&Exchange> = streamed.iter().filter(|e| e.status == 0).collect();
    assert!(no_answer.is_empty(), "every request is answered, in a store outage too: {no_answer:#?}");
    let odd: Vec<&Exchange> = streamed
        .iter()
        .filter(|e| match e.kind {
            Kind::Post => ![200, 409, 503].contains(&e.status),
            _ => ![200, 503].contains(&e.status),
        })
        .collect();
    assert!(odd.is_empty(), "pings answer 200 or 503, posts also 409: {odd:#?}");
    let failed_in = |from: Duration, to: Duration| {
        streamed.iter().filter(|e| e.status == 503 && e.at >= from && e.at <= to).count()
    };
    assert!(failed_in(frozen_at, thawed_at + Duration::from_secs(10)) > 0, "the freeze reached no request");
    assert!(failed_in(killed_at, restarted_at + Duration::from_secs(10)) > 0, "the kill reached no request");
    for e in streamed.iter().filter(|e| e.status == 200) {
        match e.kind {
            Kind::Ping => assert_eq!(e.body["status"], "accepted", "consumer {} is fresh: {}", e.consumer, e.body),
            Kind::Repeat => {
                assert_eq!(
                    e.body["reason"], "vertical_duplicate",
                    "consumer {} was accepted before: {}",
                    e.consumer, e.body
                )
            }
            _ => {}
        }
    }

    // (a) Every ping answered with an error is retried until it is answered without one:
    // a fresh consumer's must end accepted (a pending mark may hold it up to 60 s, no more),
    // an accepted consumer's repeat still a vertical duplicate. Posts answered 503 or 409
    // are re-sent meanwhile until they are answered.
    let deadline = Instant::now() + Duration::from_secs(70);
    let st: &Stream = &s;
    let pings = streamed.iter().filter(|e| matches!(e.kind, Kind::Ping | Kind::Repeat) && e.status == 503).map(|e| {
        let expect = if e.kind == Kind::Ping { Expect::Accepted } else { Expect::VerticalDuplicate };
        retry_ping(st, e.consumer, e.at, expect, deadline)
    });
    let ping_of: HashMap<usize, String> = streamed
        .iter()
        .filter(|e| e.kind == Kind::Ping && e.status == 200)
        .map(|e| (e.consumer, e.body["ping_id"].as_str().unwrap().to_string()))
        .collect();
    let posts = streamed.iter().filter(|e| e.kind == Kind::Post && e.status != 200).map(|e| {
        let ping_id = &ping_of[&e.consumer];
        async move { (e.consumer, retry_post(st, Kind::RetriedPost, e.consumer, ping_id, deadline).await) }
    });
    let (_, retried_posts) = tokio::join!(join_all(pings), join_all(posts));
    let retried: HashMap<usize, Value> = retried_posts.into_iter().collect();

    // Every accepted ping's post answer, whichever request got it first.
    let everything = s.exchanges();
    let mut first_answer: BTreeMap<usize, (String, Value)> = BTreeMap::new();
    for e in everything.iter().filter(|e| e.kind == Kind::Post && e.status == 200) {
        let ping_id = e.body["ping_id"].as_str().unwrap().to_string();
        first_answer.entry(e.consumer).or_insert((ping_id, e.body.clone()));
    }
    for (c, answer) in retried {
        first_answer.entry(c).or_insert((answer["ping_id"].as_str().unwrap().to_string(), answer));
    }
    // A repeated post never sells again: it answers at least the sales already answered (a
    // resumed one may add a reservation whose outcome became unknown, as unconfirmed), within
    // the ping's slots; (c) below shows it delivered no bid a second time.
    let repeats = first_answer.iter().map(|(c, (ping_id, first))| async move {
        let again = retry_post(st, Kind::RepeatedPost, *c, ping_id, Instant::now() + Duration::from_secs(30)).await;
        let (before, after) = (sale_ids(first), sale_ids(&again));
        assert!(after.is_superset(&before), "consumer {c}: a repeated post lost sales: {first} then {again}");
        let sales = again["sales"].as_array().unwrap();
        let buyers: BTreeSet<&str> = sales.iter().map(|x| x["buyer"].as_str().unwrap()).collect();
        let slots = if consumer_offer(*c) == "auto-multi" { 2 } else { 1 };
        assert!(buyers.len() == sales.len() && sales.len() <= slots, "consumer {c}: over its slots: {again}");
    });
    join_all(repeats).await;

    let mut tally: BTreeMap<(Kind, u16, String), usize> = BTreeMap::new();
    for e in s.exchanges() {
        let outcome = e.body["status"].as_str().or(e.body["error"]["code"].as_str()).unwrap_or("?").to_string();
        *tally.entry((e.kind, e.status, outcome)).or_default() += 1;
    }
    eprintln!("stream: frozen {frozen_at:?}..{thawed_at:?}, killed {killed_at:?}..{restarted_at:?}; answers {tally:?}");

    // (c) No buyer received one sale twice, nor one consumer under two sales.
    let mut by_sale: HashMap<(String, String), usize> = HashMap::new();
    let mut by_consumer: HashMap<(String, String), BTreeSet<String>> = HashMap::new();
    for r in m.buyers.received().into_iter().filter(|r| r.kind == "post") {
        let sale = r.body["sale_id"].as_str().unwrap().to_string();
        let email = r.body["lead"]["email"].as_str().unwrap().to_string();
        *by_sale.entry((r.buyer.clone(), sale.clone())).or_default() += 1;
        by_consumer.entry((r.buyer, email)).or_default().insert(sale);
    }
    let twice: Vec<_> = by_sale.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sales delivered more than once: {twice:?}");
    let resold: Vec<_> = by_consumer.iter().filter(|(_, sales)| sales.len() > 1).collect();
    assert!(resold.is_empty(), "consumers delivered to one buyer under two sales: {resold:?}");

    // (b) The whole store after a sweep: no consumer sold twice to one buyer, no ping over
    // its slots, every mark as its ledger entry says, every counter exactly what its
    // standing sales took. The sweep runs here, at a known time, so that no reservation past
    // its lease may be left.
    let store = RedisStore::connect(&m.redis.url(), RedisOptions::default()).await.unwrap();
    let swept_at = Utc::now();
    let report = store.sweep(swept_at).await.unwrap();
    eprintln!("stream: {} posts delivered; sweep {report:?}", by_sale.len());
    m.assert_guarantees("Redis frozen, killed and restarted under a stream", Some(swept_at)).await;
}
