//! A seeded random run across two engine nodes on one Redis: many concurrent pings, posts
//! (with fewer identifiers than the ping, on either node), re-posts, buyers answering
//! accepted, rejected, duplicate, slowly or with 5xx, erasures, failpoints armed on either
//! node and a clock that jumps past leases while posts are in flight. Afterwards every post
//! is driven to an answer, the sweep runs, and the sale guarantees are checked over the
//! whole store. The seed is printed; `PINGPOST_CHAOS_SEED=<seed>` replays a run.

#![allow(clippy::unwrap_used)] // a test that unwraps fails with the value in its message

mod common;

use common::*;
use pingpost_buyersim::PostReply;
use pingpost_core::identity::Sha256Hex;
use pingpost_store::Fault;
use pingpost_testkit::RedisServer;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WORKERS: u64 = 6;
const OPS_PER_WORKER: usize = 40;
const CONSUMERS: u64 = 24;
const BUYERS: [&str; 4] = ["b1", "b2", "b3", "b6"];
const OFFERS: [&str; 4] = ["auto-excl", "auto-2", "auto-multi", "solar-excl"];
const POINTS: &[&str] = &[
    "store.admit",
    "store.confirm_admission",
    "store.put_blob",
    "store.claim",
    "store.reserve_sale",
    "store.settle_sale",
    "store.complete_claim",
    "post.delivered",
    "redis.admit.phone",
    "redis.confirm.phone",
    "redis.reserve_sale",
    "redis.settle_sale",
];

/// splitmix64: small, seedable, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}

fn config() -> String {
    let mut c = base_config();
    c.push_str("\n[[buyers]]\nid = \"b6\"\npost_url = \"{buyers}/b6/post\"\ntimeout_ms = 1000\nbalance = \"200.00\"\n");
    let caps = "caps = { daily = 6, daily_spend = \"90.00\", time_zone = \"America/New_York\" }";
    for (offer, tag) in [("auto-excl", "x"), ("auto-2", "y"), ("auto-multi", "m"), ("solar-excl", "s")] {
        c.push_str(&contract(&format!("{tag}-b1"), "b1", offer, "20.00", caps));
        c.push_str(&contract(&format!("{tag}-b2"), "b2", offer, "15.00", "dedup = { window_days = 7 }"));
        c.push_str(&contract(&format!("{tag}-b3"), "b3", offer, "12.00", ""));
        c.push_str(&contract(&format!("{tag}-b6"), "b6", offer, "11.00", ""));
    }
    c
}

fn email(i: u64) -> String {
    format!("chaos{i}@example.com")
}

fn phone(i: u64) -> String {
    format!("1415555{i:04}")
}

/// A consumer's lead with both identifiers, or one of them.
fn consumer_lead(i: u64, variant: u64) -> Value {
    match variant {
        0 => lead(Some(&email(i)), Some(&phone(i))),
        1 => lead(Some(&email(i)), None),
        _ => lead(None, Some(&phone(i))),
    }
}

/// What the post may repeat of a pinged lead: all of it, or one identifier of two.
fn posted_lead(pinged: &Value, rng: &mut Rng) -> Value {
    let mut l = pinged.clone();
    if l.get("email").is_some() && l.get("phone").is_some() {
        match rng.below(3) {
            0 => drop(l.as_object_mut().map(|o| o.remove("phone"))),
            1 => drop(l.as_object_mut().map(|o| o.remove("email"))),
            _ => {}
        }
    }
    l
}

#[derive(Default)]
struct World {
    /// Accepted pings: (ping id, pinged lead).
    pinged: Vec<(String, Value)>,
    erased: HashSet<Sha256Hex>,
}

async fn worker(nodes: Arc<[Harness; 2]>, world: Arc<Mutex<World>>, mut rng: Rng) {
    for _ in 0..OPS_PER_WORKER {
        let node = &nodes[rng.below(2) as usize];
        match rng.below(100) {
            0..40 => {
                let l = consumer_lead(rng.below(CONSUMERS), rng.below(3));
                let (status, answer) = node.ping_as(KEY_P1, rng.pick(&OFFERS), l.clone()).await;
                if status == 200 && answer["status"] == "accepted" {
                    let id = answer["ping_id"].as_str().unwrap().to_string();
                    world.lock().unwrap().pinged.push((id, l));
                }
            }
            40..78 => {
                let chosen = {
                    let w = world.lock().unwrap();
                    (!w.pinged.is_empty()).then(|| w.pinged[rng.below(w.pinged.len() as u64) as usize].clone())
                };
                if let Some((ping_id, pinged)) = chosen {
                    let (status, answer) = node.post_as(KEY_P1, &ping_id, posted_lead(&pinged, &mut rng)).await;
                    assert!([200, 409, 410, 500, 503].contains(&status), "post answered {status}: {answer}");
                }
            }
            78..86 => {
                let buyer = rng.pick(&BUYERS);
                let reply = match rng.below(5) {
                    0 | 1 => PostReply::Accept,
                    2 => PostReply::Reject,
                    3 => PostReply::Duplicate,
                    _ => PostReply::Raw(503, "{}".into()),
                };
                let delay = Duration::from_millis(rng.below(4) * 100);
                node.buyers.update(buyer, |b| {
                    b.post = reply;
                    b.delay = delay;
                });
            }
            86..90 => {
                let i = rng.below(CONSUMERS);
                let (body, hash) = if rng.below(2) == 0 {
                    (json!({"email": email(i)}), Sha256Hex::digest(&email(i)))
                } else {
                    (json!({"phone": phone(i)}), Sha256Hex::digest(&phone(i)))
                };
                // Recorded first: a sale racing the erasure may already lack the mark.
                world.lock().unwrap().erased.insert(hash);
                let (status, answer) = node.admin("POST", "/erasure", Some(body)).await;
                assert!([200, 503].contains(&status), "erasure answered {status}: {answer}");
            }
            90..96 => {
                let fault = rng.pick(&Fault::ALL);
                node.faults.arm(rng.pick(POINTS), fault, 1, rng.below(3) as u32);
            }
            // The clock jumps while other requests run: not `advance_secs`, which waits for them.
            _ => node.clock.advance(chrono::Duration::seconds(5 + rng.below(36) as i64)),
        }
    }
}

/// Posts every accepted ping until it has an answer, as partners retrying would.
async fn settle_every_post(nodes: &[Harness; 2], world: &World) -> HashMap<String, Value> {
    let mut answers = HashMap::new();
    for (ping_id, pinged) in &world.pinged {
        for attempt in 0..8 {
            let (status, answer) = nodes[attempt % 2].post_as(KEY_P1, ping_id, pinged.clone()).await;
            match status {
                200 | 410 => {
                    answers.insert(ping_id.clone(), answer);
                    break;
                }
                409 => nodes[0].advance_secs(40).await,
                500 | 503 => {}
                other => panic!("post of {ping_id} answered {other}: {answer}"),
            }
        }
        assert!(answers.contains_key(ping_id), "the post of {ping_id} never got an answer");
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_random_run_across_two_nodes_keeps_every_guarantee() {
    let seed = std::env::var("PINGPOST_CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    });
    println!("chaos seed {seed}: replay with PINGPOST_CHAOS_SEED={seed}");
    eprintln!("chaos seed {seed}: replay with PINGPOST_CHAOS_SEED={seed}");

    let server = RedisServer::start();
    let a = Harness::start_on(Backend::Shared(server.url()), &config()).await;
    let b = a.another_node().await;
    let nodes = Arc::new([a, b]);
    let world = Arc::new(Mutex::new(World::default()));
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| tokio::spawn(worker(Arc::clone(&nodes), Arc::clone(&world), Rng(seed ^ (w + 1) << 32))))
        .collect();
    for w in workers {
        w.await.unwrap_or_else(|e| panic!("seed {seed}: a worker failed: {e}"));
    }

    for node in nodes.iter() {
        node.faults.disarm_all();
    }
    for buyer in BUYERS {
        nodes[0].buyers.update(buyer, |b| b.delay = Duration::ZERO);
    }
    let world = std::mem::take(&mut *world.lock().unwrap());
    let answers = settle_every_post(&nodes, &world).await;
    // Every answer a repeat gets is the answer of record: the same sales again.
    for (ping_id, first) in &answers {
        let (status, again) = nodes[1].post_as(KEY_P1, ping_id, json!({})).await;
        if status == 200 {
            assert_eq!(again["sales"], first["sales"], "seed {seed}: a repeat of {ping_id} answered other sales");
        }
    }

    let mut delivered: HashMap<String, usize> = HashMap::new();
    for r in nodes[0].buyers.received().into_iter().filter(|r| r.kind == "post") {
        *delivered.entry(r.body["sale_id"].as_str().unwrap_or("").to_string()).or_default() += 1;
    }
    let twice: Vec<_> = delivered.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "seed {seed}: sales delivered more than once: {twice:?}");

    nodes[0].advance_secs(120).await;
    for node in nodes.iter() {
        node.engine.sweep().await.unwrap();
    }
    let context = format!("seed {seed}, {} pings posted, {} deliveries", answers.len(), delivered.len());
    nodes[0].assert_guarantees_erased(&context, Some(nodes[0].engine.now()), &world.erased).await;
    assert!(answers.len() >= 10 && delivered.len() >= 10, "{context}: the run must have sold something");
    println!("{context}");
}
